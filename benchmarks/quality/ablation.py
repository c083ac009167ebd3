"""Run `vecsearch eval` with settings that the CLI does not expose, for ablations.

    python -m benchmarks.quality.ablation ../shared/data/cranfield '{"teacher_weight": 0}' '{"base": "none", "cell": "gru"}'
    python -m benchmarks.quality.ablation ../shared/data/cranfield \
        '{"teacher": "all-MiniLM-L6-v2", "distil_negatives": true, "lexical_share": 0.3}'

Keys of TrainConfig go to training, keys of EncoderConfig to the encoder (with "base": "none":
the base encoder has its own shape), "base" and "adapt" choose the start as `--base` and
`--adapt` do, "teacher" picks the distillation track, "passage_words" sets the passage
length, and "model" (an encoder from `vecsearch train`) skips training: e.g. one encoder at
several passage lengths,

    python -m benchmarks.quality.ablation ../shared/data/cisi '{"model": "M", "passage_words": 128}' '{"model": "M", "passage_words": 192}'

Besides every mode's metrics, reports hybrid nDCG@10 at each dense weight of the fusion (the labelled view of
the choice that calibration makes without labels). Prints one JSON line per setting.
"""

import dataclasses
import json
import sys
import tempfile

from vecsearch.search.calibration import WEIGHTS
from vecsearch.model.encoder import EncoderConfig
from vecsearch.evaluation import evaluate, load_collection
from vecsearch.retriever import Retriever
from vecsearch.training.config import TrainConfig

encoder_fields = {f.name for f in dataclasses.fields(EncoderConfig)}
build_fields = {"teacher", "passage_words", "model", "base", "adapt"}
corpus, queries, qrels = load_collection(sys.argv[1])
for setting in sys.argv[2:] or ["{}"]:
    overrides = json.loads(setting)
    encoder = {k: v for k, v in overrides.items() if k in encoder_fields}
    build = {k: v for k, v in overrides.items() if k in build_fields}
    train = TrainConfig(**{k: v for k, v in overrides.items() if k not in encoder_fields | build_fields})
    with tempfile.TemporaryDirectory(prefix="vecsearch-ablation-") as index_dir:
        retriever = Retriever.build(corpus, index_dir, encoder_config=encoder, train_config=train, show_progress=False, **build)
        systems, _ = evaluate(retriever, queries, qrels)
        fusion = retriever.manifest.fusion
        by_weight = {}
        for weight in WEIGHTS:
            retriever.manifest.fusion = dataclasses.replace(fusion, dense_weight=weight)
            by_weight[weight] = evaluate(retriever, queries, qrels, modes=("hybrid",))[0]["hybrid"]["ndcg@10"]
        training = retriever.manifest.training or {}  # None when "model" skipped training
        timings = retriever.manifest.timings
        retriever.close()
    print(json.dumps({"setting": overrides, "ndcg@10": {name: system["ndcg@10"] for name, system in systems.items()},
                      "systems": systems, "hybrid_ndcg@10_by_weight": by_weight,
                      "fusion": {"dense_weight": fusion.dense_weight, "default_mode": fusion.default_mode},
                      "calibration": (fusion.calibration or {}).get("mrr@10"),
                      "train_seconds": training.get("seconds"), "steps": training.get("steps"),
                      "timings": timings}), flush=True)
