#!/usr/bin/env bash
# Set up the light install (no torch: the base encoder runs in numpy), index the documentation
# that ships with Python itself, and query it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/python_docs.py corpus/python-docs
.venv/bin/vecsearch index corpus/python-docs --index indexes/python-docs
.venv/bin/vecsearch query "how do I catch an exception and clean up afterwards?" --index indexes/python-docs -k 5
