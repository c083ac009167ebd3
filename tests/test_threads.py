"""On a shared CPU, OpenMP threads must not spin for long while they wait (issue: a loaded
2-core machine took ~6x the CPU time to index the demo), nor sleep at once (training then ran
~2x slower on a quiet machine). libgomp reads its settings once, when torch or faiss first loads
it, so vecsearch sets a short spin count on import, before either."""

import os
import subprocess
import sys


def _settings_seen_by_torch(env: dict) -> tuple[str, str]:
    code = ("import vecsearch, os; from vecsearch.model.encoder import RNNEncoder; import faiss; "
            "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         timeout=120).stdout.split()
    return out[0], out[1]


def _without(*names: str) -> dict:
    return {k: v for k, v in os.environ.items() if k not in names}


def test_openmp_threads_spin_briefly_by_default():
    assert _settings_seen_by_torch(_without("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")) == ("None", "2000")


def test_the_users_own_settings_win():
    assert _settings_seen_by_torch({**_without("GOMP_SPINCOUNT"), "OMP_WAIT_POLICY": "ACTIVE"}) == ("ACTIVE", "None")
    assert _settings_seen_by_torch({**_without("OMP_WAIT_POLICY"), "GOMP_SPINCOUNT": "50"}) == ("None", "50")
