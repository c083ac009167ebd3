#!/usr/bin/env bash
# Create .venv and install vecsearch into it, with the CPU build of torch.
# Usage: bash scripts/setup.sh [EXTRAS]    e.g. bash scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# A bare `torch` requirement would pull a multi-GB CUDA build; pin the CPU wheel first.
python -m pip install --quiet "torch==2.13.0"
python -m pip install --quiet -e ".${extras:+[$extras]}"
