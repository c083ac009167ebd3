"""`vecsearch serve` against hostile or careless clients and operators, on loopback.

A busy port is one clear error, even for a server whose workers share their port; killing
the serve process stops its workers; heads, header counts and the time to send a request
are bounded; Host names are checked (DNS rebinding); a published version that fails to
open is retried with backoff, not at every check.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs vecsearch[serve]")

from fastapi.testclient import TestClient  # noqa: E402

from vecsearch.serve import server  # noqa: E402

from .conftest import server_in_thread  # noqa: E402
from vecsearch.serve.live import LiveIndex  # noqa: E402
from vecsearch.serve.server import (  # noqa: E402
    MAX_HEAD, MAX_HEADER_BYTES, MAX_HEADERS, MAX_QUERY_STRING, create_app, uvicorn_config,
)

TIMEOUT = 1.0  # the bounded server's request timeout: short, for the test
STARTUP = 180  # seconds a `vecsearch serve` may take to start on a busy machine


# --- servers -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bounded_server(small_index):
    """What `serve` runs on loopback (its uvicorn settings, loopback Host names only), in a
    thread, with a TIMEOUT-second request timeout: yields its port."""
    app = create_app(str(small_index), allowed_hosts=[])
    with server_in_thread(uvicorn_config(app, request_timeout=TIMEOUT)) as port:
        yield port


class ServeProcess:
    """`vecsearch serve --port PORT --workers N` in a subprocess; `ready` is its first stderr line."""

    def __init__(self, index_dir, port: int = 0, workers: int = 2):
        command = [sys.executable, "-m", "vecsearch", "serve", "--index", str(index_dir),
                   "--port", str(port), "--workers", str(workers)]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "OMP_NUM_THREADS": "1"})
        guard = threading.Timer(STARTUP, self.process.kill)  # a server that never says a word
        guard.start()
        self.ready = self.process.stderr.readline()
        guard.cancel()

    @property
    def port(self) -> int:
        assert self.ready.startswith("serving "), self.ready
        return int(self.ready.split(" at http://127.0.0.1:")[1].split("/")[0])

    def workers(self) -> list[int]:
        """Its worker processes (not multiprocessing's resource tracker)."""
        children = [int(child) for task in Path(f"/proc/{self.process.pid}/task").iterdir()
                    for child in (task / "children").read_text().split()]
        return [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process.stderr.close()


@pytest.fixture(scope="module")
def serve_process(small_index):
    """`vecsearch serve` with its defaults (loopback, two workers sharing the port)."""
    running = ServeProcess(small_index)
    yield running
    running.stop()


def exchange(port: int, request: bytes, timeout: float = 20) -> tuple[int, bytes, float]:
    """Send `request` on a new connection; (status, whole answer, seconds until the server closed).

    Whatever the server leaves unread once it has answered is not sent (a broken pipe)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        try:
            connection.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer, time.monotonic() - started


def get(path: str = "/health", host: str | None = "127.0.0.1", headers: list[bytes] = ()) -> bytes:
    lines = [f"GET {path} HTTP/1.1".encode()] + ([f"Host: {host}".encode()] if host else []) + list(headers)
    return b"\r\n".join(lines + [b"Connection: close", b"", b""])


def answered(port: int, path: str = "/health", host: str = "127.0.0.1") -> int:
    return exchange(port, get(path, host))[0]


# --- item 3: a busy port, orphaned workers ---------------------------------------------------

def test_a_second_server_on_a_port_its_workers_share_is_one_clear_line(serve_process, small_index):
    port = serve_process.port
    second = ServeProcess(small_index, port=port, workers=2)
    try:  # before: it said "serving", and the kernel split the connections between the two
        assert second.ready == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
        assert second.process.wait(60) == 1 and second.process.stderr.read() == ""
    finally:
        second.stop()
    assert answered(port) == 200


def test_servers_starting_at_once_check_the_port_one_after_the_other(small_index):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    bound: list = []
    with server._port_lock(port):  # as if another server were between its check and its binds
        other = threading.Thread(target=lambda: bound.extend(server._listening_sockets("127.0.0.1", port, 2)))
        other.start()
        other.join(0.5)
        assert other.is_alive() and bound == []  # it waits, rather than checking a port about to be taken
    other.join(10)
    try:
        assert len(bound) == 2 and all(listener.getsockname()[1] == port for listener in bound)
    finally:
        for listener in bound:
            listener.close()


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie serves nothing
    except FileNotFoundError:
        return True


def test_workers_stop_when_the_serve_process_is_killed(small_index):
    running = ServeProcess(small_index)
    try:
        port = running.port
        deadline = time.monotonic() + STARTUP
        while len(running.workers()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = running.workers()
        assert len(workers) == 2
        while time.monotonic() < deadline:  # they answer once they have opened the index
            try:
                if answered(port) == 200:
                    break
            except OSError:
                time.sleep(0.2)
        running.process.kill()  # SIGKILL: it cannot stop them itself
        running.process.wait(10)
        deadline = time.monotonic() + 20
        while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_gone(pid) for pid in workers)  # before: they kept answering as orphans
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        running.stop()


# --- item 9: heads, header counts, time, Host ------------------------------------------------

def test_an_8_mb_header_gets_431_before_it_is_read(bounded_server):
    status, answer, seconds = exchange(bounded_server, get(headers=[b"X-Big: " + b"a" * (8 << 20)]))
    assert status == 431 and b"request head too large" in answer and seconds < 5


def test_100000_headers_get_431(bounded_server):
    status, answer, _ = exchange(bounded_server, get(headers=[b"X-%d: 1" % n for n in range(100_000)]))
    assert status == 431


@pytest.mark.parametrize("fields, status, message", [
    (MAX_HEADERS - 2, 200, b"ok"),  # with Host and Connection: the most allowed
    (MAX_HEADERS - 1, 431, b"too many header fields"),
])
def test_header_fields_are_counted(bounded_server, fields, status, message):
    headers = [b"X-%d: 1" % n for n in range(fields)]
    answer = exchange(bounded_server, get(headers=headers))
    assert answer[0] == status and message in answer[1]


def test_large_header_fields_get_431_even_in_one_read(bounded_server):
    cookie = b"Cookie: " + b"c" * (MAX_HEADER_BYTES + 1)
    status, answer, _ = exchange(bounded_server, get(headers=[cookie]))
    assert status == 431 and b"header fields too large" in answer


def test_a_maximal_query_string_still_reaches_the_app(bounded_server):
    status, answer, _ = exchange(bounded_server, get("/search?q=" + "a" * (MAX_QUERY_STRING + 1)))
    assert status == 414 and b"query string too long" in answer  # the app's own answer, not the head bound's
    assert answered(bounded_server, "/search?q=flow&k=2") == 200


def _answer_and_close(connection: socket.socket) -> tuple[bytes, float]:
    """What the server answers on `connection` until it closes it, and when the answer began."""
    answer = connection.recv(65536)  # before: nothing came, and this timed out
    began = time.monotonic()
    while chunk := connection.recv(65536):
        answer += chunk
    return answer, began


def test_idle_connections_cannot_keep_partial_heads(bounded_server):
    connections = [socket.create_connection(("127.0.0.1", bounded_server), timeout=10) for _ in range(20)]
    try:
        for connection in connections:  # over the bound, and never finished
            connection.sendall(get().removesuffix(b"\r\n") + b"X-Big: " + b"a" * (2 * MAX_HEAD))
        for connection in connections:  # refused for their size as they came (a 431), not once the time was up
            assert _answer_and_close(connection)[0].startswith(b"HTTP/1.1 431 ")
    finally:
        for connection in connections:
            connection.close()


def test_half_sent_requests_get_408_and_are_closed(bounded_server):
    started = time.monotonic()  # before connecting: each connection's time runs from its start
    half_sent = [socket.create_connection(("127.0.0.1", bounded_server), timeout=20) for _ in range(50)]
    silent = socket.create_connection(("127.0.0.1", bounded_server), timeout=20)
    kept_alive = socket.create_connection(("127.0.0.1", bounded_server), timeout=20)
    try:
        for connection in half_sent:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        kept_alive.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # answered, then half a second one
        assert kept_alive.recv(65536).startswith(b"HTTP/1.1 200 ")
        kept_alive.sendall(b"GET /health HTTP/1.1\r\n")
        answers = [_answer_and_close(connection) for connection in [*half_sent, silent, kept_alive]]
        closed = time.monotonic() - started
        for answer, _ in answers:
            assert answer.startswith(b"HTTP/1.1 408 ") and b"request not received within 1 s" in answer
        assert min(began for _, began in answers) - started > TIMEOUT * 0.9 and closed < TIMEOUT + server.LINGER + 5
    finally:
        for connection in [*half_sent, silent, kept_alive]:
            connection.close()


@pytest.mark.parametrize("host, status", [
    ("127.0.0.1", 200), ("localhost:8000", 200), ("LocalHost.", 200), ("[::1]:8000", 200), ("app.localhost", 200),
    ("127.0.0.2", 200), (None, 200),  # no Host header: not a browser
    ("evil.example", 400), ("evil.example:8000", 400), ("127.0.0.1.evil.example", 400), ("0.0.0.0", 400),
])
def test_a_server_on_loopback_answers_loopback_names_only(bounded_server, host, status):
    request = get(host=host).replace(b"HTTP/1.1", b"HTTP/1.0") if host is None else get(host=host)
    code, answer, _ = exchange(bounded_server, request)
    assert code == status
    if status == 400:
        assert b"host not allowed" in answer


def test_serve_checks_host_names_by_default(serve_process):
    assert answered(serve_process.port, host="evil.example") == 400  # a DNS-rebinding page reads nothing
    assert answered(serve_process.port, host=f"localhost:{serve_process.port}") == 200


def test_allowed_hosts_adds_names_and_patterns(small_index):
    app = create_app(str(small_index), allowed_hosts=["Search.Example:8080", "*.corp.example"])
    for base_url, status in [("http://search.example", 200), ("http://a.b.corp.example:8000", 200),
                             ("http://localhost", 200), ("http://corp.example", 400), ("http://testserver", 400)]:
        with TestClient(app, base_url=base_url) as client:
            assert client.get("/health").status_code == status, base_url
    with TestClient(create_app(str(small_index), allowed_hosts=["*"]), base_url="http://any.example") as client:
        assert client.get("/health").status_code == 200


@pytest.mark.parametrize("host, allowed, patterns", [
    ("127.0.0.1", None, []), ("localhost", None, []), ("::1", ["a.example"], ["a.example"]),
    ("0.0.0.0", None, None), ("0.0.0.0", ["a.example"], ["a.example"]),
])
def test_which_host_names_serve_allows(host, allowed, patterns):
    assert server._host_patterns(host, allowed) == patterns


# --- item 9: a published version that fails to open ------------------------------------------

def _publish(index_dir: Path, version: str) -> None:
    (index_dir / "CURRENT.tmp").write_text(version + "\n")
    os.replace(index_dir / "CURRENT.tmp", index_dir / "CURRENT")


def test_a_version_that_fails_to_open_is_retried_with_backoff(small_index, tmp_path, caplog):
    index_dir = tmp_path / "idx"
    shutil.copytree(small_index, index_dir)
    live = LiveIndex(index_dir, interval=0.01)
    try:
        shutil.copytree(index_dir / "v000001", index_dir / "v000002")
        (index_dir / "v000002" / "dense.faiss").write_bytes(b"")  # published, and damaged
        _publish(index_dir, "v000002")
        with caplog.at_level(logging.WARNING, logger="vecsearch.serve.live"):
            finish = time.monotonic() + 2.5
            while time.monotonic() < finish:  # a busy server: a check every 10 ms
                live.refresh()
                time.sleep(0.01)
        tries = [record.getMessage() for record in caplog.records if "could not open v000002" in record.getMessage()]
        assert 1 <= len(tries) <= 3, len(tries)  # at 0 s, 1 s (then 3 s); before: at every check
        assert tries[0].endswith("still serving v000001; trying again in 1 s")
        assert len(tries) == 1 or tries[1].endswith("trying again in 2 s")
        assert live.version == "v000001"
        shutil.copytree(index_dir / "v000001", index_dir / "v000003")
        _publish(index_dir, "v000003")
        time.sleep(0.02)
        live.refresh()  # a new CURRENT is tried at once, whatever the backoff
        assert live.version == "v000003"
    finally:
        live.close()
