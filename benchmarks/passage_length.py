"""How passage length changes retrieval: all-MiniLM-L6-v2 (exact search) and BM25 on passages of each length.

    python benchmarks/passage_length.py ../shared/data/cranfield 128 256

No training involved, so it answers in a couple of minutes whether the default
128-word passages (32-word overlap) cost quality on a collection. Prints one JSON line
per length. Needs the [bench] or [distill] extra (the teacher model).
"""

import json
import sys

import numpy as np

from vecsearch.corpus import read_corpus
from vecsearch.distillation import load_teacher
from vecsearch.evaluation import load_collection, score_run
from vecsearch.lexical import LexicalIndex


def documents(passage_ids, doc_of) -> list[str]:
    return list(dict.fromkeys(doc_of[p] for p in passage_ids))[:100]


def main() -> None:
    corpus, queries, qrels = load_collection(sys.argv[1])
    teacher = load_teacher("all-MiniLM-L6-v2")
    query_ids = list(queries)
    query_vectors = teacher.encode([queries[q] for q in query_ids], batch_size=64, normalize_embeddings=True)
    for words in map(int, sys.argv[2:] or ["128", "256"]):
        _, passages = read_corpus(corpus, words=words, overlap=32)
        texts, doc_of = [p.text for p in passages], [p.doc_id for p in passages]
        vectors = teacher.encode(texts, batch_size=64, normalize_embeddings=True)
        lexical = LexicalIndex.build(texts)
        dense_run, lexical_run = {}, {}
        for qid, vector in zip(query_ids, query_vectors):
            dense_run[qid] = documents(np.argsort(-(vectors @ vector), kind="stable")[:400], doc_of)
            lexical_run[qid] = documents(lexical.search(queries[qid], 400)[0], doc_of)
        print(json.dumps({"words": words, "passages": len(texts),
                          "minilm": {k: round(v, 4) for k, v in score_run(dense_run, qrels).items()},
                          "bm25": {k: round(v, 4) for k, v in score_run(lexical_run, qrels).items()}}), flush=True)


if __name__ == "__main__":
    main()
