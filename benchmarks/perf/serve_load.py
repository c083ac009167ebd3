"""Load test of `vecsearch serve` on loopback: throughput and latency with N concurrent clients.

    python -m benchmarks.perf.serve_load [--index DIR | --passages 10000] [--clients 8] [--requests 4000]
                                    [--modes hybrid dense lexical] [--json]

Without --index, first builds an index of --passages passages of real sentences
(synthetic_corpus.py) with a quickly trained encoder (`vecsearch index --steps 50`: the
encoder's quality does not change the cost of a query) in --work or a temporary folder.
Then starts `vecsearch serve` on the index in a child process (127.0.0.1, a free port), waits
for /health, then for each mode sends a fixed number of GET /search requests (k=10; the
queries of ../shared/data, in turn) from N clients at once, each on its own keep-alive
connection, and stops - after the count, or after --max-seconds at the latest. Reports
requests/s, p50/p95/p99 latency (send to last byte of the response), errors, and the CPU
time the server and this client used. The client is a few lines of asyncio over raw
HTTP/1.1, so that it takes as little as possible of the CPU it shares with the server.
A warm-up of --warmup requests per mode is not counted.
Writes benchmarks/results/serve_load.{md,json,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

from benchmarks.data.synthetic_corpus import write_corpus  # noqa: E402
from benchmarks.tables import RESULTS, chart, markdown_table, real_queries, save_chart, write_results  # noqa: E402

from vecsearch.retriever import truncate_query  # noqa: E402  (the API refuses what the CLI would cut)

HOST = "127.0.0.1"  # loopback only


def build_index(passages: int, work: Path) -> str:
    """An index of `passages` synthetic passages under `work` (reused if already there)."""
    corpus, index_dir = work / f"corpus-{passages}.jsonl", work / f"index-{passages}"
    if not (index_dir / "CURRENT").exists():
        work.mkdir(parents=True, exist_ok=True)
        write_corpus(corpus, passages)
        command = [sys.executable, "-m", "vecsearch", "index", str(corpus), "--index", str(index_dir), "--steps", "50"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return str(index_dir)


def queries() -> list[str]:
    return [truncate_query(text)[0] for text in real_queries(None)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(index_dir: str, port: int, workers: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "vecsearch", "serve", "--index", index_dir, "--host", HOST, "--port", str(port),
               "--workers", str(workers)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"vecsearch serve exited: {server.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("vecsearch serve did not answer /health within 60 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live children, e.g. uvicorn's workers (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += cpu_seconds(int(child))
    return total


async def _client(port: int, paths: list[str], next_request, latencies: list[float], errors: list[str], stop_at: float):
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < stop_at:
            number = next_request()
            if number is None:
                return
            request = f"GET {paths[number % len(paths)]} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            status = int(head[9:12])
            if status != 200:
                errors.append(f"{status} for {paths[number % len(paths)][:80]}")
    finally:
        writer.close()


async def _run(port: int, paths: list[str], clients: int, count: int, max_seconds: float) -> tuple[list[float], list[str], float]:
    issued = iter(range(count))
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(
        _client(port, paths, lambda: next(issued, None), latencies, errors, started + max_seconds)
        for _ in range(clients)
    ))
    return latencies, errors, time.perf_counter() - started


def run_load(port: int, paths: list[str], clients: int, count: int, max_seconds: float, loop_factory=None) -> tuple:
    runner = asyncio.Runner(loop_factory=loop_factory) if loop_factory else asyncio.Runner()
    with runner:
        return runner.run(_run(port, paths, clients, count, max_seconds))


def measure(port: int, server_pid: int, mode: str, texts: list[str], args, loop_factory) -> dict:
    paths = [f"/search?{urllib.parse.urlencode({'q': text, 'k': 10, 'mode': mode})}" for text in texts]
    run_load(port, paths[::-1], args.clients, args.warmup, args.max_seconds, loop_factory)
    server_cpu, client_cpu = cpu_seconds(server_pid), resource.getrusage(resource.RUSAGE_SELF)
    latencies, errors, wall = run_load(port, paths, args.clients, args.requests, args.max_seconds, loop_factory)
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    ms = np.asarray(latencies) * 1000
    row = {
        "mode": mode,
        "clients": args.clients,
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        **{f"p{p}_ms": round(float(np.percentile(ms, p)), 2) for p in (50, 95, 99)},
        "max_ms": round(float(ms.max()), 2),
        "server_cpu_s": round(cpu_seconds(server_pid) - server_cpu, 2),
        "client_cpu_s": round((client_after.ru_utime + client_after.ru_stime) - (client_cpu.ru_utime + client_cpu.ru_stime), 2),
        "first_errors": errors[:3],
    }
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def write_chart(results: dict, path: Path) -> None:
    rows = results["runs"]
    figure, axes = chart((8, 4))
    positions = np.arange(len(rows))
    axes.bar(positions - 0.2, [r["p50_ms"] for r in rows], 0.4, label="p50 latency")
    axes.bar(positions + 0.2, [r["p95_ms"] for r in rows], 0.4, label="p95 latency")
    axes.axhline(50, color="grey", linestyle="--", linewidth=1, label="p95 target 50 ms")
    axes.set_xticks(positions, [f"{r['mode']}\n{r['requests_per_s']:.0f} req/s" for r in rows])
    axes.set_ylabel("ms")
    axes.set_title(f"vecsearch serve, {results['passages']:,} passages, {rows[0]['clients']} clients on loopback\n"
                   f"(2 CPUs; machine load average {results['load_average'][0]} -> {results['load_average'][1]})"
                   if rows else "vecsearch serve")
    axes.legend()
    save_chart(figure, path)


def markdown(results: dict) -> str:
    rows = [[r["mode"], r["clients"], r["requests"], r["errors"], r["requests_per_s"], r["p50_ms"], r["p95_ms"],
             r["p99_ms"], r["server_cpu_s"], r["client_cpu_s"]] for r in results["runs"]]
    table = markdown_table(["mode", "clients", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms",
                            "server CPU s", "client CPU s"], rows)
    return (
        "# vecsearch serve under load (loopback)\n\n"
        f"`{results['command']}`\n\n"
        f"Index: {results['passages']:,} passages ({results['index_type']}), k=10, queries from ../shared/data; "
        f"{results['cpus']} CPUs shared by the server and the load generator; "
        f"`vecsearch serve --workers {results['workers']}`; OMP_NUM_THREADS={results['omp_num_threads']}; "
        f"{results['date']}. The machine's 1-minute load average was {results['load_average'][0]} before "
        f"and {results['load_average'][1]} after the run (other work shares the CPUs).\n\n"
        f"{table}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", help="index directory to serve (default: build one, see --passages)")
    parser.add_argument("--passages", type=int, default=10_000, help="size of the index built without --index")
    parser.add_argument("--work", type=Path, default=None, help="where to build (and keep) that index")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=4000, help="requests per mode (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="vecsearch serve --workers")
    parser.add_argument("--modes", nargs="+", default=["hybrid", "dense", "lexical"])
    parser.add_argument("--max-seconds", type=float, default=120, help="stop a mode's run after this long")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    index_dir = args.index or build_index(args.passages, args.work or Path(tempfile.mkdtemp(prefix="vecsearch-serve-")))
    load_before = os.getloadavg()[0]
    port = free_port()
    server = start_server(index_dir, port, args.workers)
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/info", timeout=10) as response:
            info = json.load(response)
        texts = queries()
        runs = [measure(port, server.pid, mode, texts, args, loop_factory) for mode in args.modes]
    finally:
        server.terminate()
        server.wait(10)
    results = {
        "command": "python -m benchmarks.perf.serve_load " + " ".join(sys.argv[1:]),
        "passages": info["passages"],
        "index_type": info["index_type"],
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
        "python": platform.python_version(),
        "client_loop": "uvloop" if loop_factory else "asyncio",
        "workers": args.workers,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1-minute, before and after: other work on the machine
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "runs": runs,
    }
    write_results("serve_load", results, markdown(results), args.out)
    write_chart(results, args.out / "serve_load.png")
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(markdown(results))


if __name__ == "__main__":
    main()
