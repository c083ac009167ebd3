#!/usr/bin/env bash
# Set up from scratch and run the default test suite (slow tests: add -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,distill,milvus
.venv/bin/python -m pytest "$@"
