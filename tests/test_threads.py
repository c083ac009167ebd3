"""On a shared CPU, OpenMP threads must sleep while they wait, not spin (issue: a loaded
2-core machine took ~6x the CPU time to index the demo). libgomp reads OMP_WAIT_POLICY once,
when torch or faiss first loads it, so vecsearch sets it on import, before either."""

import os
import subprocess
import sys


def _policy_seen_by_torch(env: dict) -> str:
    code = ("import vecsearch, os; from vecsearch.encoder import RNNEncoder; import faiss; "
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


def test_openmp_threads_wait_passively_by_default():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _policy_seen_by_torch(env) == "PASSIVE"


def test_the_users_own_wait_policy_wins():
    assert _policy_seen_by_torch({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
