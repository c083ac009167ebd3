"""Property-based run of the OpenAPI description against a live `vecsearch serve` on loopback.

Schemathesis (its command line: its pytest plugin does not load under pytest 9) reads
/openapi.json, generates requests from it - valid ones and, in its coverage phase,
invalid ones such as out-of-range `k` or unknown modes - and runs all its checks on
every response: never a 5xx, a documented status code, content type and headers, a
body matching the documented schema, invalid data refused and valid data accepted.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("schemathesis", reason="needs vecsearch[test]")
pytest.importorskip("fastapi", reason="needs vecsearch[serve]")


def schemathesis_command() -> str:
    beside = Path(sys.executable).parent / "schemathesis"
    return str(beside) if beside.exists() else shutil.which("schemathesis")


# Over-long query strings get 414 and large bodies 413 (both documented); schemathesis does
# not count those as rejections of invalid data unless told.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 404, 405, 406, 413, 414, 415, 422]
"""


def test_every_response_conforms_and_none_is_a_server_error(live_server, tmp_path):
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    command = [
        schemathesis_command(), "--config-file", str(tmp_path / "schemathesis.toml"),
        "run", f"{live_server}/openapi.json", "--checks", "all",
        "--max-examples", "60", "--seed", "7", "--workers", "1", "--generation-database", "none",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout
    assert "7 selected / 7 total" in run.stdout  # /explain (issue 33) is the seventh
