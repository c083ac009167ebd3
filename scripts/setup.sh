#!/usr/bin/env bash
# Create .venv and install vecsearch into it: the light install (no torch) unless EXTRAS say more.
# Usage: bash scripts/setup.sh [EXTRAS]    e.g. bash scripts/setup.sh train,test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# The train extra (test and distill bring it too) needs torch, and a bare `torch` requirement
# would pull a multi-GB CUDA build: pin the CPU wheel first.
case ",$extras," in
  *,train,*|*,test,*|*,distill,*) python -m pip install --quiet "torch==2.13.0" ;;
esac
python -m pip install --quiet -e ".${extras:+[$extras]}"
