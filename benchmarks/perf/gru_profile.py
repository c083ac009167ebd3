"""Where an encoder batch's time goes: why the GRU reaches ~1/3 of the GEMM roofline.

    python -m benchmarks.perf.gru_profile [--batch 32] [--steps 150]

torch's `nn.GRU` is one opaque operator to the profiler, so this writes the same
recurrence (both reading directions stacked, as `numpy_encoder` does) in torch operators,
checks it against `nn.GRU` and times both on one thread, then profiles the hand-written
one: the input projection and the recurrent products are the FLOPs the roofline counts;
the layout copies and the gate maths are what it leaves out.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
from torch.profiler import ProfilerActivity, profile


def stacked_gru(grus: list[nn.GRU]):
    """The recurrence of these one-layer GRUs (one per direction) as a loop of torch operators."""
    hidden = grus[0].hidden_size
    w_input = torch.stack([g.weight_ih_l0.detach().T for g in grus])  # (D, E, 3H)
    w_hidden = torch.stack([g.weight_hh_l0.detach().T for g in grus])  # (D, H, 3H)
    b_input = torch.stack([g.bias_ih_l0.detach() for g in grus])
    b_hidden = torch.stack([g.bias_hh_l0.detach() for g in grus])
    b_input[:, : 2 * hidden] += b_hidden[:, : 2 * hidden]  # r and z take both biases
    b_new = b_hidden[:, None, 2 * hidden :].contiguous()  # n's recurrent bias sits inside r * (...)

    def run(x: torch.Tensor) -> torch.Tensor:  # x: (B, T, E), the same text for every direction
        directions, (batch, steps, embed) = len(grus), x.shape
        time_major = x.transpose(0, 1).reshape(steps * batch, embed)  # copies the (small) inputs, not the projections
        projected = torch.baddbmm(b_input[:, None], time_major.expand(directions, -1, -1), w_input)  # (D, T*B, 3H)
        projected = projected.view(directions, steps, batch, -1)
        h = x.new_zeros(directions, batch, hidden)
        out = x.new_empty(directions, steps, batch, hidden)
        for t in range(steps):
            recurrent = torch.bmm(h, w_hidden)
            step = projected[:, t]
            rz = torch.sigmoid(step[..., : 2 * hidden] + recurrent[..., : 2 * hidden])
            n = torch.tanh(torch.addcmul(step[..., 2 * hidden :], rz[..., :hidden], recurrent[..., 2 * hidden :] + b_new))
            h = torch.lerp(n, h, rz[..., hidden:])  # (1 - z) * n + z * h
            out[:, t] = h
        return out

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=150, help="tokens per text (passages average ~146)")
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # as `encode` runs each batch
    x = torch.randn(args.batch, args.steps, args.hidden)
    grus = [nn.GRU(args.hidden, args.hidden, batch_first=True) for _ in range(2)]
    loop = stacked_gru(grus)
    with torch.inference_mode():
        reference = [gru(x)[0] for gru in grus]
        mine = loop(x)
        error = max((mine[d].transpose(0, 1) - reference[d]).abs().max().item() for d in range(2))
        print(f"hand-written loop vs nn.GRU: max difference {error:.1e}")
        for name, function in (("nn.GRU x2", lambda: [gru(x) for gru in grus]), ("hand-written", lambda: loop(x))) * 2:
            started = time.perf_counter()
            for _ in range(5):
                function()
            print(f"{name}: {(time.perf_counter() - started) / 5 * 1000:.1f} ms per batch of {args.batch} x {args.steps} tokens")
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            loop(x)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))


if __name__ == "__main__":
    main()
