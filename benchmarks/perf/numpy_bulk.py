"""Bulk encoding with the numpy encoder (what a light install indexes with) against the torch
encoder, on the same passages, in one run, rounds alternating.

    python -m benchmarks.perf.numpy_bulk [--texts 2048] [--rounds 3] [--batches 32,64,128]

Passages: the first --texts passages (192 words) of ../shared/data/cranfield, embedded by the
shipped base encoder. Arms, each round in turn: `NumpyEncoder.encode` (batches side by side,
as `vecsearch index` runs without torch), the same one batch at a time (one BLAS thread: what
side by side gains, or loses on a CPU that other work shares), `RNNEncoder.encode` in float32,
and `RNNEncoder.encode` as `vecsearch index` runs it with torch (indexing.encoding_precision:
bfloat16 on a CPU with bfloat16 units). A round's ratio is numpy's texts/s over torch's in that round; the median of
the rounds is reported. Then numpy's batch size, once each (model/numpy_encoder.ENCODE_BATCH).
Writes benchmarks/results/numpy_bulk.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from contextlib import contextmanager

import numpy as np
import torch

from benchmarks.tables import DATA, markdown_table, write_results  # noqa: E402

from vecsearch.corpus import read_corpus  # noqa: E402
from vecsearch.indexing import encoding_precision  # noqa: E402
from vecsearch.model.bases import BASE_DIR  # noqa: E402
from vecsearch.model.encoder import RNNEncoder  # noqa: E402
from vecsearch.model import numpy_encoder  # noqa: E402
from vecsearch.model.numpy_encoder import ENCODE_BATCH, NumpyEncoder  # noqa: E402


def one_batch_at_a_time(encoder: NumpyEncoder, texts: list[str]):
    """`encoder.encode(texts)` with its batches run one after another on one BLAS thread."""
    side_by_side = numpy_encoder._side_by_side

    @contextmanager
    def in_turn():
        with numpy_encoder._one_blas_thread():
            yield lambda function, batches: map(function, batches)

    numpy_encoder._side_by_side = in_turn
    try:
        return encoder.encode(texts)
    finally:
        numpy_encoder._side_by_side = side_by_side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", default="16,32,64,128", help="numpy batch sizes to time once each")
    args = parser.parse_args()
    _, passages = read_corpus(DATA / "cranfield" / "corpus.jsonl")
    texts = [p.text for p in passages][: args.texts]
    numpy_twin, torch_encoder = NumpyEncoder.load(BASE_DIR), RNNEncoder.load(BASE_DIR)
    precision = encoding_precision("auto", torch_encoder.config.cell)
    tokens = sum(len(ids) for ids in torch_encoder.tokenize(texts))
    arms = {
        "numpy": lambda: numpy_twin.encode(texts),
        "numpy, one batch at a time": lambda: one_batch_at_a_time(numpy_twin, texts),
        "torch float32": lambda: torch_encoder.encode(texts),
        f"torch {precision} (as index)": lambda: torch_encoder.encode(texts, bfloat16=precision == "bfloat16"),
    }
    for run in arms.values():  # warm-up
        run()
    seconds: dict[str, list[float]] = {name: [] for name in arms}
    vectors = {}
    for _ in range(args.rounds):
        for name, run in arms.items():
            started = time.perf_counter()
            vectors[name] = run()
            seconds[name].append(time.perf_counter() - started)
    torch_arms = [name for name in arms if name.startswith("torch")]
    ratios = {name: statistics.median(b / a for a, b in zip(seconds["numpy"], seconds[name])) for name in torch_arms}
    batches = {}
    for size in (int(b) for b in args.batches.split(",")):
        started = time.perf_counter()
        numpy_twin.encode(texts, batch_size=size)
        batches[size] = time.perf_counter() - started
    agreement = {name: {"max_abs_difference": float(np.abs(vectors["numpy"] - vectors[name]).max()),
                        "min_cosine": float((vectors["numpy"] * vectors[name]).sum(axis=1).min())} for name in torch_arms}
    result = {
        "texts": len(texts), "tokens": tokens, "rounds": args.rounds, "cpus": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(), "load_average_1min": os.getloadavg()[0],
        "seconds": seconds, "texts_per_second": {n: len(texts) / statistics.median(s) for n, s in seconds.items()},
        "ratio_numpy_over": ratios, "numpy_batch_seconds": batches, "default_batch": ENCODE_BATCH, "agreement": agreement,
    }
    rows = [[name, f"{len(texts) / statistics.median(values):,.0f}", f"{tokens / statistics.median(values):,.0f}",
             " / ".join(f"{v:.2f}" for v in values), f"{ratios[name]:.2f}" if name in ratios else ""]
            for name, values in seconds.items()]
    batch_rows = [[size, f"{len(texts) / value:,.0f}", f"{value:.2f}"] for size, value in batches.items()]
    markdown = (
        f"# Bulk encoding: numpy against torch\n\nCommand: `python -m benchmarks.perf.numpy_bulk --texts {args.texts} "
        f"--rounds {args.rounds}`; the shipped base encoder on {len(texts)} Cranfield passages of up to 192 words "
        f"({tokens:,} tokens), {args.rounds} rounds, the arms alternating within each; {result['cpus']} CPUs, torch on "
        f"{torch.get_num_threads()} threads, load average {result['load_average_1min']:.2f} at the end.\n\n"
        + markdown_table(["encoder", "texts/s (median)", "tokens/s", "seconds per round", "numpy's speed / this"], rows)
        + f"\n\nThe ratio is numpy's texts/s over the arm's, the median of the rounds' ratios.\n\n## numpy's batch size "
        f"(default {ENCODE_BATCH}), once each\n\n" + markdown_table(["batch", "texts/s", "seconds"], batch_rows)
        + "\n\n## Agreement (last round)\n\n" + markdown_table(
            ["numpy against", "max abs difference", "min cosine"],
            [[n, f"{a['max_abs_difference']:.1e}", f"{a['min_cosine']:.6f}"] for n, a in agreement.items()]) + "\n")
    write_results("numpy_bulk", result, markdown)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
