"""How passage length changes retrieval: all-MiniLM-L6-v2 (exact search) and BM25 on passages of each length.

    python -m benchmarks.quality.passage_length ../shared/data/cranfield 128 192 256

No training involved, so it answers in a couple of minutes whether a passage length
(the default is 192 words, 32 shared: corpus.PASSAGE_WORDS) costs quality on a collection. Prints one JSON line
per length. Needs the [bench] or [distill] extra (the teacher model).
"""

import json
import sys
from pathlib import Path

from benchmarks.quality.quality import teacher_reference


def main() -> None:
    for words in map(int, sys.argv[2:] or ["128", "256"]):
        reference = teacher_reference(Path(sys.argv[1]), passage_words=words)
        print(json.dumps({"words": words, "passages": reference["passages"],
                          "minilm": reference["dense"], "bm25": reference["lexical"]}), flush=True)


if __name__ == "__main__":
    main()
