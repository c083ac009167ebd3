"""Encoding throughput of the shipped base encoder against all-MiniLM-L6-v2 at its fastest
setting here (bfloat16 autocast), on the same passages, in one run, rounds alternating.

    python -m benchmarks.perf.base_speed [--texts 2048] [--rounds 3]

Passages: the first --texts passages (192 words) of ../shared/data/cranfield. The base
encodes as `vecsearch index` does (indexing.encoding_precision: bfloat16 on CPUs with
bfloat16 units). Writes benchmarks/results/base_speed.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.tables import DATA, RESULTS, markdown_table  # noqa: E402

from vecsearch.model.bases import BASE_DIR  # noqa: E402
from vecsearch.corpus import read_corpus  # noqa: E402
from vecsearch.training.teacher import load_teacher  # noqa: E402
from vecsearch.model.encoder import RNNEncoder  # noqa: E402
from vecsearch.indexing import encoding_precision  # noqa: E402


MINILM = "minilm_bfloat16"


def timed_rounds(encoders: dict[str, Path], texts: list[str], rounds: int) -> dict[str, list[float]]:
    """Seconds of each round for each encoder folder (encoding as `vecsearch index` does) and for
    all-MiniLM-L6-v2 under bfloat16 autocast (as MINILM), on the same texts: one warm-up, then
    `rounds` rounds, each running every arm once in turn."""
    runs = {}
    for name, directory in encoders.items():
        encoder = RNNEncoder.load(directory)
        bfloat16 = encoding_precision("auto", encoder.config.cell) == "bfloat16"
        runs[name] = lambda encoder=encoder, bfloat16=bfloat16: encoder.encode(texts, bfloat16=bfloat16)
    teacher = load_teacher("all-MiniLM-L6-v2")

    def run_minilm():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            teacher.encode(texts, batch_size=64, normalize_embeddings=True)

    runs[MINILM] = run_minilm
    for run in runs.values():  # warm-up
        run()
    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _, passages = read_corpus(DATA / "cranfield" / "corpus.jsonl")
    texts = [p.text for p in passages][: args.texts]
    precision = encoding_precision("auto", RNNEncoder.load(BASE_DIR).config.cell)
    seconds = timed_rounds({"base": BASE_DIR}, texts, args.rounds)
    rate = {name: len(texts) / min(values) for name, values in seconds.items()}
    result = {"texts": len(texts), "precision": precision, "threads": torch.get_num_threads(),
              "seconds": seconds, "texts_per_second": rate, "ratio": rate["base"] / rate[MINILM]}
    (RESULTS / "base_speed.json").write_text(json.dumps(result, indent=1))
    rows = [["vecsearch base (" + precision + ")", f"{rate['base']:,.0f}", f"{result['ratio']:.1f}x"],
            ["all-MiniLM-L6-v2 (bfloat16 autocast, batch 64)", f"{rate[MINILM]:,.0f}", "1.0x"]]
    (RESULTS / "base_speed.md").write_text(
        f"# Base encoder throughput\n\nCommand: `python -m benchmarks.perf.base_speed --texts {args.texts} --rounds {args.rounds}`; "
        f"{len(texts)} Cranfield passages of up to 192 words, best of {args.rounds} alternating rounds, "
        f"{torch.get_num_threads()} threads.\n\n" + markdown_table(["encoder", "texts/s", "vs MiniLM"], rows) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
