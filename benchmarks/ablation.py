"""Run `vecsearch eval` with training settings that the CLI does not expose, for ablations.

    python benchmarks/ablation.py ../shared/data/cranfield '{"teacher_weight": 0}' '{"cell": "lstm"}'

Keys of TrainConfig go to training, keys of EncoderConfig to the encoder. Prints one JSON
line per setting.
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
    train = TrainConfig(**{k: v for k, v in overrides.items() if k not in encoder_fields})
    encoder = {k: v for k, v in overrides.items() if k in encoder_fields}
    results = run_eval(sys.argv[1], encoder_config=encoder, train_config=train, show_progress=False)
    summary = {name: system["ndcg@10"] for name, system in results["systems"].items()}
    print(json.dumps({"setting": overrides, "ndcg@10": summary, "systems": results["systems"],
                      "train_seconds": results["seconds"]["train"], "steps": results["training"]["steps"]}), flush=True)
