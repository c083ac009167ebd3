"""A real Milvus server for the tests: the `milvus` package's Milvus 2.3 standalone (its own
binaries, with embedded etcd and local storage, no Docker), one per pytest session, its data
under the session's temporary folder.

`milvus_server` (a session fixture) yields a MilvusTestServer: `.uri` for `--uri`, and `stop()`
and `start()` for the tests that take it away between writes (it comes back on the same ports,
with its data). The package starts `milvus run standalone` as a child process that outlives a
killed parent, so nothing here may leave one running:
- the child gets SIGKILL from the kernel when the process that started it dies (PR_SET_PDEATHSIG,
  Linux), so a `kill -9` of pytest takes it along;
- every server started is recorded (tempdir/vecsearch-milvus-servers/<pid>.json, with its
  owner's pid and its folder); the fixture first stops any recorded server whose owner has died;
- the fixture stops it at the end of the session, atexit does if that did not run, and both check
  that the process is gone (SIGKILL after a grace period).

Install: `pip install 'milvus>=2.3,<2.4'` (the `milvus-server` extra). Without it, if the server
does not start, or with VECSEARCH_TEST_MILVUS_SERVER=0, the tests that need it are skipped with the
reason (the Milvus Lite ones still run).
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

RECORDS = Path(tempfile.gettempdir()) / "vecsearch-milvus-servers"
SERVER_IDS = Path("/tmp/milvus")  # Milvus 2.3 writes server_id_<pid> here whatever its folder; ours are removed
SWITCH = "VECSEARCH_TEST_MILVUS_SERVER"  # =0 skips the server's tests (they add ~3 min to the suite)
START_SECONDS = 90  # ~8 s here (a first start unpacks the binaries); a restart waits ~10 s for etcd sessions
STOP_SECONDS = 10  # after the package's stop, should the process still be there
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the forked child, before exec: SIGKILL when the parent dies (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class _Subprocess:
    """What the `milvus` package uses of `subprocess`, with Popen children that die with us."""

    TimeoutExpired = subprocess.TimeoutExpired

    @staticmethod
    def Popen(*args, **kwargs):
        return subprocess.Popen(*args, preexec_fn=_die_with_parent, **kwargs)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _is_our_server(pid: int, base_dir: str) -> bool:
    """Whether `pid` is still a `milvus run standalone` started in `base_dir` (not a reused pid)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        return command[-2:] == [b"run", b"standalone"] and os.readlink(f"/proc/{pid}/cwd") == base_dir
    except (OSError, IndexError):
        return False


def servers_in(base_dir) -> list[int]:
    """The pids of the `milvus run standalone` processes running in `base_dir` (the final check)."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if _is_our_server(pid, str(base_dir)) and _alive(pid)]


def _terminate(pid: int, seconds: float = STOP_SECONDS) -> None:
    """SIGTERM, then SIGKILL if it has not gone after `seconds`."""
    for sig, wait in ((signal.SIGTERM, seconds), (signal.SIGKILL, 10)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def _records() -> list[tuple[Path, dict]]:
    found = []
    for record in sorted(RECORDS.glob("*.json")):
        try:
            found.append((record, json.loads(record.read_text())))
        except (OSError, ValueError):
            record.unlink(missing_ok=True)
    return found


def stop_stale_servers() -> list[int]:
    """Stop the servers recorded by test sessions that died without stopping them; their pids."""
    stopped = []
    for record, entry in _records():
        if _alive(entry["owner"]):
            continue  # a live session's server (tests running in parallel)
        if _is_our_server(entry["pid"], entry["base_dir"]):
            _terminate(entry["pid"])
            stopped.append(entry["pid"])
        record.unlink(missing_ok=True)
    return stopped


def other_servers() -> list[int]:
    """The pids of the servers that live test sessions are running."""
    return [entry["pid"] for _, entry in _records()
            if _alive(entry["owner"]) and _is_our_server(entry["pid"], entry["base_dir"])]


class _ReusableConfig:
    """Mixed into the package's MilvusServerConfig: its check that a port is free binds without
    SO_REUSEADDR, so it refuses a port that only has connections in TIME_WAIT - which a restart on
    the same ports always meets. Milvus itself (Go) binds with SO_REUSEADDR; a port that something
    listens on is still refused."""

    def try_bind_port(self, port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            return sock
        except (OSError, OverflowError, ValueError):
            sock.close()
            return None


class MilvusTestServer:
    """One Milvus standalone server in `base_dir`: `uri`, `start()`, `stop()`, `version`."""

    def __init__(self, base_dir: Path):
        import milvus

        milvus.subprocess = _Subprocess  # the package's only use of subprocess is starting the server
        config_class = type("Config", (_ReusableConfig, milvus.MilvusServerConfig), {})
        self.package_version = milvus.__version__
        self.base_dir = Path(base_dir).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.server = milvus.MilvusServer(config_class(), wait_for_started=False)  # waited for below
        self.server.set_base_dir(str(self.base_dir))
        # a shorter etcd session lease: a restart waits for the previous run's sessions to expire
        self.server.config.set("common.session.ttl", 10)
        self.ports: dict[str, int] = {}
        self.version = ""
        atexit.register(self.stop)

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.ports['proxy_port']}"

    @property
    def pid(self) -> int | None:
        return self.server.server_proc.pid if self.server.server_proc else None

    def start(self) -> None:
        """Start it (again: on the same ports, with its data) and wait until it answers."""
        if self.ports:
            self.server.config.update(**self.ports)
        started = time.monotonic()
        try:
            self.server.start()
            self._record()
            self._wait_until_healthy()
            if not self.ports:
                self.ports = {key: int(value[1]) for key, value in self.server.config.configurable_items.items()
                              if key.endswith("_port")}
            self.version = self._ask_version()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def _wait_until_healthy(self) -> None:
        """Until /healthz says OK; an error at once if the process exits (the package's own wait does not
        notice that, and waits out its timeout)."""
        url = f"http://127.0.0.1:{self.server.webservice_port}/healthz"
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            status = self.server.server_proc.poll()
            if status is not None:
                raise RuntimeError(f"milvus exited with status {status} while starting ({_last_error(self.base_dir)})")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if b"OK" in response.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"milvus did not answer within {START_SECONDS} s")

    def _ask_version(self) -> str:
        import pymilvus

        client = pymilvus.MilvusClient(uri=self.uri, timeout=60)
        try:
            return client.get_server_version()
        finally:
            client.close()

    def _record(self) -> None:
        RECORDS.mkdir(exist_ok=True)
        (RECORDS / f"{self.pid}.json").write_text(
            json.dumps({"pid": self.pid, "owner": os.getpid(), "base_dir": str(self.base_dir)})
        )

    def stop(self) -> None:
        """Stop it with the package's own stop (SIGTERM, then SIGKILL after 1 s: Milvus's graceful stop
        takes ~30 s, and every version's collection was flushed before it was published), and make sure
        that the process has gone."""
        pid = self.pid
        if pid is None:
            return
        self.server.stop()
        if _alive(pid) and _is_our_server(pid, str(self.base_dir)):
            _terminate(pid, STOP_SECONDS)
        (RECORDS / f"{pid}.json").unlink(missing_ok=True)
        (SERVER_IDS / f"server_id_{pid}").unlink(missing_ok=True)

    @property
    def running(self) -> bool:
        return bool(servers_in(self.base_dir))


def _last_error(base_dir: Path) -> str:
    """The last error line of the server's log, shortened (why it did not start)."""
    try:
        lines = (base_dir / "logs" / "milvus-stdout.log").read_text(errors="replace").splitlines()
    except OSError:
        return "no log"
    errors = [line for line in lines if "[ERROR]" in line or "[FATAL]" in line]
    return errors[-1][:300] if errors else "no error logged"


def _start_session_server(base_dir: Path) -> MilvusTestServer:
    if os.environ.get(SWITCH) == "0":
        pytest.skip(f"{SWITCH}=0: no Milvus server tests")
    try:
        import milvus  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as missing:
        pytest.skip(f"no Milvus server: {missing.name} is not installed (pip install 'milvus>=2.3,<2.4' pymilvus)")
    stop_stale_servers()
    others = other_servers()
    if others:  # its embedded etcd listens on a fixed port (2380): two servers cannot run side by side
        pytest.skip(f"another test session's Milvus server is running (pid {others[0]}); one at a time per machine")
    server = MilvusTestServer(base_dir)
    try:
        server.start()
    except Exception as error:  # noqa: BLE001  (the reason is the skip's message)
        pytest.skip(f"the Milvus server did not start: {type(error).__name__}: {error} (logs: {base_dir / 'logs'})")
    return server


# One server per pytest process, however many test modules import the fixture: pytest makes each
# import a fixture of its own, so the server (or the reason it could not start) is kept here.
_session: dict = {"server": None, "skip": None, "users": 0}


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A Milvus 2.3 standalone server for the session (skipped, with the reason, if it cannot run)."""
    if _session["skip"]:
        pytest.skip(_session["skip"])
    if _session["server"] is None:
        try:
            _session["server"] = _start_session_server(tmp_path_factory.mktemp("milvus-server"))
        except pytest.skip.Exception as skipped:
            _session["skip"] = str(skipped.msg)
            raise
    server = _session["server"]
    _session["users"] += 1
    try:
        yield server
    finally:
        _session["users"] -= 1
        if _session["users"] == 0:
            server.stop()
            _session["server"] = None
            left = servers_in(server.base_dir)
            assert not left, f"the Milvus server is still running: pids {left}"
