"""Run `vecsearch eval` with training settings that the CLI does not expose, for ablations.

    python benchmarks/ablation.py ../shared/data/cranfield '{"teacher_weight": 0}' '{"cell": "lstm"}'

Keys of TrainConfig go to training, keys of EncoderConfig to the encoder, "teacher" picks
the distillation track. Prints one JSON line per setting.
"""

import dataclasses
import json
import sys

from vecsearch.encoder import EncoderConfig
from vecsearch.evaluation import run_eval
from vecsearch.training import TrainConfig

encoder_fields = {f.name for f in dataclasses.fields(EncoderConfig)}
for setting in sys.argv[2:] or ["{}"]:
    overrides = json.loads(setting)
    encoder = {k: v for k, v in overrides.items() if k in encoder_fields}
    teacher = overrides.get("teacher")
    train = TrainConfig(**{k: v for k, v in overrides.items() if k not in encoder_fields | {"teacher"}})
    results = run_eval(sys.argv[1], encoder_config=encoder, train_config=train, teacher=teacher, show_progress=False)
    summary = {name: system["ndcg@10"] for name, system in results["systems"].items()}
    print(json.dumps({"setting": overrides, "ndcg@10": summary, "systems": results["systems"],
                      "fusion": {k: results["fusion"][k] for k in ("dense_weight", "default_mode")},
                      "calibration": results["fusion"]["calibration"]["mrr@10"],
                      "train_seconds": results["seconds"]["train"], "steps": results["training"]["steps"]}), flush=True)
