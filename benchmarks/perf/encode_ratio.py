"""Encoding speed of the default RNN encoder against all-MiniLM-L6-v2, on the same passages, in one run.

    python -m benchmarks.perf.encode_ratio [../shared/data/cranfield/corpus.jsonl]

The RNN has the default shape (and the distilled student's 384-d projection); its
speed does not depend on its weights, so it is timed untrained. Prints JSON.
"""

import json
import sys
import time

import torch

from vecsearch.corpus import read_corpus
from vecsearch.training.teacher import load_teacher
from vecsearch.model.encoder import EncoderConfig, RNNEncoder
from vecsearch.model.tokenizer import train_tokenizer

corpus = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/cranfield/corpus.jsonl"
_, passages = read_corpus(corpus)
texts = [p.text for p in passages]
tokenizer = train_tokenizer(texts)
results = {"passages": len(texts), "threads": torch.get_num_threads()}
for name, output_dim in (("rnn", None), ("rnn_student_384", 384)):
    encoder = RNNEncoder(EncoderConfig(tokenizer.get_vocab_size(), output_dim=output_dim), tokenizer)
    tokens = sum(len(ids) for ids in encoder.tokenize(texts))
    encoder.encode(texts[:256])  # warm-up
    started = time.perf_counter()
    encoder.encode(texts)
    seconds = time.perf_counter() - started
    results[name] = {"seconds": round(seconds, 3), "passages_per_s": round(len(texts) / seconds, 1),
                     "tokens_per_s": round(tokens / seconds)}
teacher = load_teacher("all-MiniLM-L6-v2")
teacher.encode(texts[:64])
started = time.perf_counter()
teacher.encode(texts, batch_size=64)
seconds = time.perf_counter() - started
results["minilm"] = {"seconds": round(seconds, 3), "passages_per_s": round(len(texts) / seconds, 1)}
results["speed_ratio_student_vs_minilm"] = round(seconds / results["rnn_student_384"]["seconds"], 1)
print(json.dumps(results))
