"""A small bounded load run of benchmarks/perf/serve_load.py's client against a live server on loopback:
a fixed number of requests from 8 concurrent clients, then it stops; all answered, none failed.
(The measured figures come from `python -m benchmarks.perf.serve_load --index DIR` on a 10k index.)"""

import pytest

pytest.importorskip("fastapi", reason="needs vecsearch[serve]")
from benchmarks.perf import serve_load  # noqa: E402  (the repository root is on pytest's pythonpath)


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
def test_a_bounded_run_answers_every_request(live_server, mode):
    port = int(live_server.rsplit(":", 1)[1])
    paths = [f"/search?q={word}+flow&k=10&mode={mode}" for word in ("laminar", "shock", "heat", "wing", "drag")]
    latencies, errors, seconds = serve_load.run_load(port, paths, clients=8, count=240, max_seconds=60)
    assert len(latencies) == 240 and errors == []
    assert seconds < 60 and max(latencies) < 30
