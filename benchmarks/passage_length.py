"""How passage length changes retrieval, one JSON line per length.

    python benchmarks/passage_length.py ../shared/data/cranfield 128 256
    python benchmarks/passage_length.py ../shared/data/cranfield 128 192 256 --model MODEL

Without --model: all-MiniLM-L6-v2 (exact search) and BM25 on passages of each length; no
training involved, so it answers in a couple of minutes whether the default 128-word
passages (32-word overlap) cost quality on a collection. Needs the [bench] or [distill]
extra (the teacher model).

With --model (an encoder from `vecsearch train`): the collection indexed with that encoder
at each length (overlap a quarter of the length, at most 32 words), and nDCG@10 of
dense, lexical and hybrid search - with the weight calibration chose, and with each of
a range of fixed dense weights, to show what the label-free choice leaves on the table.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import teacher_reference  # noqa: E402

WEIGHTS = (0.1, 0.2, 0.35, 0.5, 0.7, 1.0)


def with_model(data_dir: Path, model: Path, words: int) -> dict:
    from vecsearch.evaluation import evaluate, load_collection
    from vecsearch.retriever import Retriever

    corpus, queries, qrels = load_collection(data_dir)
    with tempfile.TemporaryDirectory(prefix="vecsearch-passages-") as index_dir:
        retriever = Retriever.build(corpus, index_dir, model=model, passage_words=words,
                                    passage_overlap=min(32, words // 4), show_progress=False)
        try:
            ndcg = lambda systems: {mode: metrics["ndcg@10"] for mode, metrics in systems.items()}  # noqa: E731
            fusion = retriever.manifest["fusion"]
            result = {"words": words, "calibrated_weight": fusion["dense_weight"], "default_mode": fusion["default_mode"],
                      **ndcg(evaluate(retriever, queries, qrels)[0]), "hybrid_by_weight": {}}
            for weight in WEIGHTS:
                fusion["dense_weight"] = weight  # what search reads the fusion weight from
                result["hybrid_by_weight"][str(weight)] = ndcg(evaluate(retriever, queries, qrels, modes=("hybrid",))[0])["hybrid"]
            return result
        finally:
            retriever.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("words", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--model", type=Path, help="a trained encoder: index with it instead of scoring the teacher")
    args = parser.parse_args()
    for words in args.words:
        if args.model:
            print(json.dumps({"collection": args.data.name, "model": str(args.model), **with_model(args.data, args.model, words)}), flush=True)
        else:
            reference = teacher_reference(args.data, passage_words=words)
            print(json.dumps({"words": words, "passages": reference["passages"],
                              "minilm": reference["dense"], "bm25": reference["lexical"]}), flush=True)


if __name__ == "__main__":
    main()
