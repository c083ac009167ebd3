#!/usr/bin/env bash
# Set up from scratch and run the default test suite (slow tests: add -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh train,test,serve,plot,milvus,milvus-server,bench  # every extra
# The browser test of `vecsearch serve` drives Debian's chromium through chromedriver;
# install them when missing and we may (as root with apt, e.g. in CI). Elsewhere it is skipped.
if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (apt-get) for the browser test" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: chromium or chromedriver missing; the browser test will be skipped" >&2
  fi
fi
status=0
.venv/bin/python -m pytest "$@" || status=$?
# the Milvus server tests stop their server; one left behind would hold its ports for the next run
if pgrep -af 'milvus run standalone' >&2; then
  echo "a Milvus server was left running (above)" >&2
  exit 1
fi
exit $status
