"""Write the help topics that ship with Python (pydoc_data) as Markdown files: a demo corpus.

Usage: python examples/python_docs.py OUTPUT_DIR
"""

import sys
from pathlib import Path

from pydoc_data.topics import topics

output = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus/python-docs")
output.mkdir(parents=True, exist_ok=True)
for name, text in sorted(topics.items()):
    (output / f"{name}.md").write_text(text)
print(f"wrote {len(topics)} Python help topics to {output}/")
