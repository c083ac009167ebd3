"""`vecsearch serve`: a JSON API over an index, and a search page with a map (FastAPI).

    GET /search?q=...&k=10&mode=hybrid   the hits `vecsearch query --json` prints
    GET /info, GET /health               what `vecsearch info --json` shows; liveness
    GET /map, GET /map/search?q=...      the 2-D map of the passages; a query and its hits on it
    GET /                                the search page (vecsearch/static: plain HTML/JS/CSS)
    GET /openapi.json                    the API's description (no /docs: Swagger UI would need a CDN)

Requests are answered by the index's live version (live.py): a new version is picked
up without a restart, and a request finishes on the version it started with. Bad
requests get a 4xx whose `detail` is one clear sentence; query strings and request
bodies are bounded before the app sees them.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Literal

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from . import __version__
from .errors import VecsearchError
from .live import LiveIndex
from .projection import embedding_map
from .retriever import MAX_QUERY_CHARS, MAX_QUERY_WORDS

MAX_K = 100
MAX_QUERY_STRING = 56 * 1024  # bytes: room for a MAX_QUERY_CHARS query of 4-byte characters, percent-encoded (48 KiB); uvicorn itself refuses request lines over ~64 KiB
MAX_BODY = 16 * 1024  # no endpoint reads a body; anything larger is refused unread
logger = logging.getLogger(__name__)
STATIC = resources.files("vecsearch") / "static"


class HitOut(BaseModel):
    rank: int
    id: str
    score: float
    text: str
    source: str
    position: int
    passage_id: int


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Info(BaseModel):
    index: str
    version: str
    documents: int
    passages: int
    dimension: int
    index_type: str
    encoder: dict[str, Any]
    default_mode: str
    fusion: dict[str, Any]
    size_bytes: int
    created: str


class MapOut(BaseModel):
    """Sampled passages on the map: parallel lists, one entry per point."""

    version: str
    passages: int
    groups: list[str]
    x: list[float]
    y: list[float]
    group: list[int]
    passage_id: list[int]


class MapSearchOut(BaseModel):
    """A query's hits, and where the query and each hit lie on the map."""

    version: str
    hits: list[HitOut]
    query: list[float]
    points: list[list[float]]


class Problem(BaseModel):
    detail: str


ERRORS = {
    413: {"model": Problem, "description": "Request body too large"},
    414: {"model": Problem, "description": "Query string too long"},
    422: {"model": Problem, "description": "Bad parameter"},
}

QueryText = Query(..., min_length=1, max_length=MAX_QUERY_CHARS,
                  description=f"The query: at most {MAX_QUERY_CHARS} characters and {MAX_QUERY_WORDS} words.")
TopK = Query(10, ge=1, le=MAX_K, description=f"Number of documents to return (1-{MAX_K}).")
Mode = Query(None, description="dense, lexical or hybrid; default: the index's choice.")


class BadRequest(Exception):
    """A request the API refuses with a 422 and this message."""


def create_app(index_dir: str, reload_interval: float = 0.25, concurrent_searches: int = 1) -> FastAPI:
    """The app serving `index_dir`; raises VecsearchError at once if there is no index.

    Searches run in a worker thread, `concurrent_searches` at a time. They are CPU-bound
    and mostly hold the GIL (small numpy steps, tokenizer, BM25, JSON), so more at once in
    one process only fight over it: on a 10k index with 8 clients, 40 threads (FastAPI's
    default) cost 6.6 ms of CPU per hybrid search, one at a time 3.0 ms. Parallelism
    comes from worker processes instead (`serve(workers=...)`).
    """
    live = LiveIndex(index_dir, reload_interval)
    search_slots = anyio.CapacityLimiter(concurrent_searches)

    async def in_search_slot(function, *args):
        if live.refresh_due():  # opening a new version happens outside the slots: searches go on meanwhile
            await anyio.to_thread.run_sync(live.refresh)
        return await anyio.to_thread.run_sync(function, *args, limiter=search_slots)

    @asynccontextmanager
    async def lifespan(app):
        yield
        live.close()

    app = FastAPI(
        lifespan=lifespan,
        title="vecsearch", version=__version__,
        description="Semantic search with an RNN encoder: dense (FAISS), lexical (BM25) and hybrid.",
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN; the page must work offline
    )
    app.state.live = live
    app.add_middleware(RequestLimits)
    app.add_exception_handler(RequestValidationError, _invalid_parameters)
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(VecsearchError, _bad_request)

    def hits(q: str, k: int, mode: str | None) -> list[dict]:
        with live.use() as retriever:
            return [hit.to_dict() for hit in retriever.search(_checked(q), k=k, mode=mode)]

    @app.get("/search", response_model=list[HitOut], responses=ERRORS, summary="Search the index")
    async def search(q: str = QueryText, k: int = TopK, mode: Literal["dense", "lexical", "hybrid"] | None = Mode):
        """The `k` best documents for `q`, one hit each: what `vecsearch query --json` prints."""
        return JSONResponse(await in_search_slot(hits, q, k, mode))  # already the model's shape: skip re-validating it

    @app.get("/info", response_model=Info, summary="Describe the index")
    def info():
        """Documents, passages, encoder, index type and size of the live version."""
        with live.use() as retriever:
            return retriever.info()

    @app.get("/health", response_model=Health, summary="Liveness")
    async def health():  # on the event loop: answers even while every search slot is busy
        return {"status": "ok", "version": live.version}

    @app.get("/map", response_model=MapOut, summary="The map of the passages")
    def passage_map():
        """A PCA projection of (a sample of at most 5,000) passage vectors, computed once per version."""
        with live.use() as retriever:
            return JSONResponse(live.cached(retriever, "map-json", lambda r: _map_json(live.cached(r, "map", embedding_map), r)))

    @app.get("/map/search", response_model=MapSearchOut, responses=ERRORS, summary="Search, placed on the map")
    async def map_search(q: str = QueryText, k: int = TopK, mode: Literal["dense", "lexical", "hybrid"] | None = Mode):
        """Like /search, plus the map coordinates of the query and of each hit's passage."""
        return await in_search_slot(placed_hits, q, k, mode)

    def placed_hits(q: str, k: int, mode: str | None) -> dict:
        with live.use() as retriever:
            q = _checked(q)
            hits = retriever.search(q, k=k, mode=mode)
            projection = live.cached(retriever, "map", embedding_map).projection
            query_point = projection.project(retriever.query_encoder.encode([q]))[0]
            hit_points = projection.project(retriever.index.vectors([hit.passage_id for hit in hits]))
            return {
                "version": retriever.version_dir.name,
                "hits": [hit.to_dict() for hit in hits],
                "query": _rounded(query_point),
                "points": [_rounded(point) for point in hit_points],
            }

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(str(STATIC / "index.html"))

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def _checked(query: str) -> str:
    if not query.strip():
        raise BadRequest("q: empty query")
    if len(query.split()) > MAX_QUERY_WORDS:
        raise BadRequest(f"q: query too long (at most {MAX_QUERY_WORDS} words)")
    return query


def _rounded(point) -> list[float]:
    return [round(float(value), 5) for value in point]


def _map_json(emap, retriever) -> dict:
    return {
        "version": retriever.version_dir.name,
        "passages": emap.passages,
        "groups": emap.groups,
        "x": [round(v, 5) for v in emap.points[:, 0].tolist()],
        "y": [round(v, 5) for v in emap.points[:, 1].tolist()],
        "group": emap.group.tolist(),
        "passage_id": emap.passage_ids.tolist(),
    }


async def _invalid_parameters(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's validation errors as one sentence: 'k: Input should be less than or equal to 100'."""
    messages = []
    for item in error.errors():
        where = item.get("loc", ())[-1] if item.get("loc") else "request"
        messages.append(f"{where}: {item.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(messages) or "invalid request"}, status_code=422)


async def _bad_request(request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=422)


class RequestLimits:
    """ASGI middleware: refuse over-long query strings (414) and large bodies (413) unread."""

    def __init__(self, app, max_query_string: int = MAX_QUERY_STRING, max_body: int = MAX_BODY):
        self.app = app
        self.max_query_string = max_query_string
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if len(scope.get("query_string", b"")) > self.max_query_string:
            return await _refuse(send, 414, f"query string too long (at most {self.max_query_string} bytes)")
        headers = dict(scope.get("headers", ()))
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_body or b"transfer-encoding" in headers:
            return await _refuse(send, 413, f"request body too large (at most {self.max_body} bytes)")
        return await self.app(scope, receive, send)


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def serve(index_dir: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, access_log: bool = False,
          on_ready=None) -> None:
    """Serve `index_dir` with uvicorn until interrupted, in `workers` processes.

    The index is opened and the address bound here first, so that a missing or damaged
    index, or a port in use, is one clear error before anything listens. `on_ready(url,
    version)` is called then. Each worker opens the index itself and follows its new
    versions on its own.

    Each worker has its own listening socket on the same address (SO_REUSEPORT), and the
    kernel spreads new connections over them. With one shared socket, as uvicorn's own
    `--workers` has, an idle worker accepts every pending connection at once: 8 clients
    connecting together often all landed on one worker, leaving the other core idle.
    """
    import uvicorn

    app = create_app(index_dir)
    sockets = _listening_sockets(host, port, workers)
    if on_ready is not None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{sockets[0].getsockname()[1]}/", app.state.live.version)
    options = dict(log_level="warning", access_log=access_log, timeout_graceful_shutdown=5, server_header=False)
    if workers == 1:
        uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=sockets)
        return
    app.state.live.close()
    _supervise(index_dir, sockets, options)


def _listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on (host, port); several share it through SO_REUSEPORT."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            listener = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if count > 1:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((host, port))
            port = listener.getsockname()[1]  # port 0: the others take the one the first was given
            listener.listen(2048)
    except OSError as error:
        for listener in sockets:
            listener.close()
        raise VecsearchError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sockets


def _supervise(index_dir: str, sockets: list[socket.socket], options: dict) -> None:
    """Run one worker process per socket until SIGINT/SIGTERM; replace a worker that dies."""
    import multiprocessing
    import signal
    import threading

    multiprocessing.allow_connection_pickling()  # the sockets are handed to the spawned workers
    spawn = multiprocessing.get_context("spawn")  # not fork: this process has loaded numpy, FAISS and threads
    stop = threading.Event()

    def start(listener):
        worker = spawn.Process(target=_worker, args=(index_dir, listener, options), daemon=True)
        worker.start()
        return worker, time.monotonic()

    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    workers = [start(listener) for listener in sockets]
    try:
        while not stop.wait(0.5):
            for number, (worker, started) in enumerate(workers):
                if worker.is_alive():
                    continue
                if time.monotonic() - started < 10:  # it failed while starting: a new one would too
                    raise VecsearchError(f"a server worker stopped while starting (exit code {worker.exitcode})")
                logger.warning("server worker %s stopped (exit code %s); starting another", worker.pid, worker.exitcode)
                workers[number] = start(sockets[number])  # its socket stayed open here: queued connections wait
    finally:
        for worker, _ in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for worker, _ in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()
        for listener in sockets:
            listener.close()


def _worker(index_dir: str, listener: socket.socket, options: dict) -> None:
    """One worker process: the app, on its own socket."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(create_app(index_dir), **options)).run(sockets=[listener])
