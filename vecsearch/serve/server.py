"""`vecsearch serve`: a JSON API over an index, and a search page with a map (FastAPI).

    GET /search?q=...&k=10&mode=hybrid   the hits `vecsearch query --json` prints
    GET /info, GET /health               what `vecsearch info --json` shows; liveness
    GET /map, GET /map/search?q=...      the 2-D map of the passages; a query and its hits on it (both take where)
    GET /explain?q=...&passage_id=N      which words of a passage carried its cosine with the query
    GET /                                the search page (vecsearch/serve/static: plain HTML/JS/CSS)
    GET /openapi.json                    the API's description (no /docs: Swagger UI would need a CDN)

Requests are answered by the index's live version (live.py): a new version is picked
up without a restart, and a request finishes on the version it started with. Bad
requests get a 4xx whose `detail` is one clear sentence. What a request may hold is
bounded: its head while it arrives and the time to send it (BoundedHttp), then its
headers, query string and body (RequestLimits) before the app sees them; a server bound
to loopback answers only requests naming it by a loopback name (AllowedHosts).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from importlib import resources
from typing import Annotated, Any, Iterable, Literal

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from annotated_types import Len
from pydantic import BaseModel, StringConstraints
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from ..errors import VecsearchError
from ..retriever import MAX_QUERY_CHARS, MAX_QUERY_WORDS
from ..storage.filters import CLI_PATTERN, parse_cli
from ..version import __version__
from .live import LiveIndex
from .projection import embedding_map

MAX_K = 100
MAX_QUERY_STRING = 56 * 1024  # bytes: room for a MAX_QUERY_CHARS query of 4-byte characters, percent-encoded (48 KiB); uvicorn itself refuses request lines over ~64 KiB
MAX_BODY = 16 * 1024  # no endpoint reads a body; anything larger is refused unread
MAX_HEADERS = 100  # header fields in one request
MAX_HEADER_BYTES = 32 * 1024  # their names and values together: room for a browser's cookies
MAX_HEAD = MAX_QUERY_STRING + MAX_HEADER_BYTES + 4 * 1024  # a request line and headers, held while they arrive
REQUEST_TIMEOUT = 10.0  # seconds to send a request, from connecting (kept alive: from its first byte)
LINGER = 1.0  # seconds a refused connection is drained before it is closed
GRACEFUL_SHUTDOWN = 5  # seconds a stopping server gives the requests in flight
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
logger = logging.getLogger(__name__)
STATIC = resources.files("vecsearch.serve") / "static"


class SnippetOut(BaseModel):
    """The window text[start:end] of the hit's passage to show, and the (start, end) of each query word in it;
    `semantic`: the (start, end) of the few other words carrying most of the cosine, when explained."""

    start: int
    end: int
    marks: list[tuple[int, int]]
    semantic: list[tuple[int, int]] = []


class ExplanationOut(BaseModel):
    """A passage's cosine with the query split among its words: (start, end, share) with offsets into
    the passage's text; `rest` is what no word carries (the projection's bias); all add up to `score`."""

    score: float
    rest: float
    # [start, end, share], written as three numbers: schema checkers refuse a tuple of mixed types
    words: list[Annotated[list[float], Len(3, 3)]]


class HitOut(BaseModel):
    rank: int
    id: str
    score: float
    text: str
    source: str
    position: int
    passage_id: int
    metadata: dict[str, Any] | None = None
    score_kind: Literal["cosine", "bm25", "rrf"]
    snippet: SnippetOut
    explanation: ExplanationOut | None = None  # with explain=true, for dense and hybrid hits


class PassageSpan(BaseModel):
    passage_id: int
    position: int
    start: int  # in the document's text
    end: int


class DocumentOut(BaseModel):
    id: str
    source: str
    metadata: dict[str, Any] | None
    text: str
    passages: list[PassageSpan]


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
    backend: dict[str, Any]
    encoder: dict[str, Any]
    base: dict[str, Any] | None
    default_mode: str
    fusion: dict[str, Any]
    size_bytes: int
    created: str


class MapOut(BaseModel):
    """Sampled passages on the map: parallel lists, one entry per point."""

    version: str
    passages: int
    layout: Literal["tsne", "pca"]
    clusters: list[str]  # each cluster's label: its most distinctive words
    groups: list[str]  # source folders
    x: list[float]
    y: list[float]
    cluster: list[int]
    group: list[int]
    passage_id: list[int]
    doc_id: list[str]


POINT_FIELDS = ("x", "y", "cluster", "group", "passage_id", "doc_id")  # MapOut's lists, one entry per point


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
Explain = Query(False, description="Dense and hybrid: give each hit the words carrying its cosine with the query "
                                   "(`explanation`), and a snippet where they are (`snippet.semantic`).")
# Bounded so that the longest query with the most filters, percent-encoded, stays under the query
# string limit (414) and uvicorn's request-line limit
MAX_WHERE, MAX_WHERE_CHARS = 8, 100
WhereItem = Annotated[str, StringConstraints(pattern=CLI_PATTERN, max_length=MAX_WHERE_CHARS)]
Where = Query([], max_length=MAX_WHERE, description="Only documents whose metadata matches: field=value, field=a,b (any of), "
                              f"field>=v, field<=v; repeat to combine, at most {MAX_WHERE} (as `vecsearch query --where`).")


class BadRequest(Exception):
    """A request the API refuses with a 422 and this message."""


def create_app(index_dir: str, reload_interval: float = 0.25, concurrent_searches: int = 1,
               allowed_hosts: Iterable[str] | None = None) -> FastAPI:
    """The app serving `index_dir`; raises VecsearchError at once if there is no index.

    `allowed_hosts`: None answers any Host header; a list (even empty) answers loopback
    names (localhost, 127.0.0.1, [::1]) and the names it holds ("search.example",
    "*.example" for its subdomains, "*" for any), and refuses others with a 400.

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
    if allowed_hosts is not None:
        app.add_middleware(AllowedHosts, patterns=allowed_hosts)
    app.add_exception_handler(RequestValidationError, _invalid_parameters)
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(VecsearchError, _bad_request)

    def hits(q: str, k: int, mode: str | None, where: list[str], explain: bool) -> list[dict]:
        with live.use() as retriever:
            found = retriever.search(_checked(q), k=k, mode=mode, where=parse_cli(where), explain=explain)
            return [hit.to_dict() for hit in found]

    @app.get("/search", response_model=list[HitOut], responses=ERRORS, summary="Search the index")
    async def search(q: str = QueryText, k: int = TopK, mode: Literal["dense", "lexical", "hybrid"] | None = Mode,
                     where: list[WhereItem] = Where, explain: bool = Explain):
        """The `k` best documents for `q`, one hit each: what `vecsearch query --json` prints."""
        return JSONResponse(await in_search_slot(hits, q, k, mode, where, explain))  # already the model's shape: skip re-validating it

    @app.get("/info", response_model=Info, summary="Describe the index")
    def info():
        """Documents, passages, encoder, index type and size of the live version."""
        with live.use() as retriever:
            return retriever.info()

    @app.get("/health", response_model=Health, summary="Liveness")
    async def health():  # on the event loop: answers even while every search slot is busy
        return {"status": "ok", "version": live.version}

    _add_map_and_document_routes(app, live, in_search_slot)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def _add_map_and_document_routes(app: FastAPI, live: LiveIndex, in_search_slot) -> None:
    """The map (/map, /map/search), one document (/document, and its page /doc/{id}) and the page (/)."""
    @app.get("/map", response_model=MapOut, responses=ERRORS, summary="The map of the passages")
    def passage_map(where: list[WhereItem] = Where):
        """The passages on a 2-D map (t-SNE, or PCA without scikit-learn; a sample of at most 2,000 /
        5,000), with clusters and their labels, computed once per version; `where` keeps the points
        of the documents whose metadata matches (the same map, fewer points)."""
        with live.use() as retriever:
            drawn = live.cached(retriever, "map-json", lambda r: _map_json(live.cached(r, "map", embedding_map), r))
            if where:
                drawn = _points_of(drawn, retriever.store.passage_ids_where(parse_cli(where)))
            return JSONResponse(drawn)

    @app.get("/map/search", response_model=MapSearchOut, responses=ERRORS, summary="Search, placed on the map")
    async def map_search(q: str = QueryText, k: int = TopK, mode: Literal["dense", "lexical", "hybrid"] | None = Mode,
                         where: list[WhereItem] = Where, explain: bool = Explain):
        """Like /search, plus the map coordinates of the query and of each hit's passage."""
        return await in_search_slot(placed_hits, q, k, mode, where, explain)

    def placed_hits(q: str, k: int, mode: str | None, where: list[str], explain: bool) -> dict:
        with live.use() as retriever:
            q = _checked(q)
            hits = retriever.search(q, k=k, mode=mode, where=parse_cli(where), explain=explain)
            emap = live.cached(retriever, "map", embedding_map)
            query_point = emap.place(retriever.query_encoder.encode([q]))[0]
            passage_ids = [hit.passage_id for hit in hits]
            hit_points = emap.place(retriever.index.vectors(passage_ids), passage_ids)
            return {
                "version": retriever.version_dir.name,
                "hits": [hit.to_dict() for hit in hits],
                "query": _rounded(query_point),
                "points": [_rounded(point) for point in hit_points],
            }

    @app.get("/document", response_model=DocumentOut, responses={**ERRORS, 404: {"model": Problem, "description": "No such document"}},
             summary="One document, rebuilt from its passages")
    def document(id: str = Query(..., min_length=1, max_length=MAX_QUERY_CHARS, description="The document's id.")):
        """The document's text, with where each of its passages lies in it."""
        with live.use() as retriever:
            try:
                return retriever.document(id)
            except VecsearchError as error:
                return JSONResponse({"detail": str(error)}, status_code=404)

    @app.get("/explain", response_model=ExplanationOut,
             responses={**ERRORS, 404: {"model": Problem, "description": "No such passage"}},
             summary="Which words of a passage carried its cosine with a query")
    async def explain(q: str = QueryText, passage_id: int = Query(..., ge=0, description="The passage's id (a hit's passage_id).")):
        """The passage's cosine with the query's vector split among its words (what the document page tints)."""
        return await in_search_slot(explained, q, passage_id)

    def explained(q: str, passage_id: int):
        with live.use() as retriever:
            q = _checked(q)
            try:
                return JSONResponse(retriever.explain(q, passage_id).to_dict())  # offsets stay integers
            except VecsearchError as error:
                if "no passage" not in str(error):
                    raise
                return JSONResponse({"detail": str(error)}, status_code=404)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/doc/{doc_id:path}", include_in_schema=False)
    def document_page(doc_id: str):  # the page fetches /document itself
        return FileResponse(str(STATIC / "doc.html"))


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
        "layout": emap.layout,
        "clusters": emap.clusters,
        "groups": emap.groups,
        "x": [round(v, 5) for v in emap.points[:, 0].tolist()],
        "y": [round(v, 5) for v in emap.points[:, 1].tolist()],
        "cluster": emap.cluster.tolist(),
        "group": emap.group.tolist(),
        "passage_id": emap.passage_ids.tolist(),
        "doc_id": emap.doc_ids,
    }


def _points_of(drawn: dict, passage_ids) -> dict:
    """The map's JSON with only the points of these passages."""
    wanted = set(passage_ids.tolist())
    keep = [passage_id in wanted for passage_id in drawn["passage_id"]]
    return {**drawn, **{name: [value for value, kept in zip(drawn[name], keep) if kept] for name in POINT_FIELDS}}


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
    """ASGI middleware: refuse too many or too large headers (431), over-long query strings (414)
    and large bodies (413) unread."""

    def __init__(self, app, max_query_string: int = MAX_QUERY_STRING, max_body: int = MAX_BODY,
                 max_headers: int = MAX_HEADERS, max_header_bytes: int = MAX_HEADER_BYTES):
        self.app = app
        self.max_query_string = max_query_string
        self.max_body = max_body
        self.max_headers = max_headers
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        fields = scope.get("headers", ())
        if len(fields) > self.max_headers:
            return await _refuse(send, 431, f"too many header fields (at most {self.max_headers})")
        if sum(len(name) + len(value) for name, value in fields) > self.max_header_bytes:
            return await _refuse(send, 431, f"header fields too large (at most {self.max_header_bytes} bytes)")
        if len(scope.get("query_string", b"")) > self.max_query_string:
            return await _refuse(send, 414, f"query string too long (at most {self.max_query_string} bytes)")
        headers = dict(fields)
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_body or b"transfer-encoding" in headers:
            return await _refuse(send, 413, f"request body too large (at most {self.max_body} bytes)")
        return await self.app(scope, receive, send)


class AllowedHosts:
    """ASGI middleware: answer only requests whose Host is a loopback name or matches one of
    `patterns` ("name", "*.domain", "*"); refuse the others with a 400.

    A page elsewhere can have a browser send requests here under its own name, once its
    DNS answers 127.0.0.1 for that name (DNS rebinding), and read the answers as its own:
    the Host header gives it away. A request with no Host header comes from no browser.
    """

    def __init__(self, app, patterns: Iterable[str]):
        self.app = app
        self.patterns = [_host_name(pattern) for pattern in patterns]  # "name:8000" means name

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            for host in (_host_name(value.decode("latin-1")) for name, value in scope.get("headers", ()) if name == b"host"):
                if not self.allows(host):
                    host = host[:100]
                    return await _refuse(send, 400, f"host not allowed: {host} (serve --allow-host {host} allows it)")
        return await self.app(scope, receive, send)

    def allows(self, host: str) -> bool:
        """Whether `host` (a name, lower case, without port) may be answered."""
        return _is_loopback_name(host) or any(
            pattern in ("*", host) or (pattern.startswith("*.") and host.endswith(pattern[1:]))
            for pattern in self.patterns)


def _host_name(header: str) -> str:
    """The name in a Host header, lower case, without port, brackets or final dot: '[::1]:8000' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0].rstrip(".")


def _is_loopback_name(name: str) -> bool:
    """localhost, its subdomains (RFC 6761: never sent to DNS) and loopback addresses."""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _refusal(status: int, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of a refusal: {"detail": message}, and the connection closes."""
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    return headers, body


async def _refuse(send, status: int, message: str) -> None:
    headers, body = _refusal(status, message)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BoundedHttp(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools), bounding what a request holds while it arrives.

    uvicorn bounds neither: an 8 MB header was read whole, an idle connection kept its
    partial head in memory, and a request sent halfway kept its connection open for good.
    Here a head still incomplete after MAX_HEAD bytes gets a 431, and a request not
    received within `request_timeout` seconds a 408; both close the connection.
    RequestLimits then checks the complete headers exactly.
    """

    def __init__(self, *args, request_timeout: float = REQUEST_TIMEOUT, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self._head_bytes: int | None = 0  # of the head arriving; None from its end to the next request's first byte
        self._requests_received = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._start_deadline()

    def connection_lost(self, exc) -> None:
        self._stop_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # read and dropped until the connection closes
            return
        received_before = self._requests_received
        super().data_received(data)
        # All of this read is head if no request ended in it. (One that did: a pipelined
        # head began inside it, of a size unknown; its later reads count.)
        if self._head_bytes is not None and self._requests_received == received_before:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._refuse(431, f"request head too large (at most {MAX_HEAD} bytes)")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._start_deadline()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._requests_received += 1
        self._stop_deadline()
        super().on_message_complete()

    def _start_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        self._refuse(408, f"request not received within {self.request_timeout:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` and close. Until then (LINGER), what the client still sends is read and
        dropped: closing with it unread would reset the connection, and the answer be lost."""
        self._refused = True
        self._stop_deadline()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:  # an answer is under way: no room for this one
            self.transport.close()
            return
        headers, body = _refusal(status, message)
        self.transport.write(STATUS_LINE[status] + b"".join(name + b": " + value + b"\r\n" for name, value in headers)
                             + b"\r\n" + body)
        self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)


def serve(index_dir: str, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, access_log: bool = False,
          on_ready=None, allowed_hosts: Iterable[str] | None = None, request_timeout: float = REQUEST_TIMEOUT) -> None:
    """Serve `index_dir` with uvicorn until interrupted, in `workers` processes.

    The index is opened and the address bound here first, so that a missing or damaged
    index, or a port in use, is one clear error before anything listens. `on_ready(url,
    version)` is called then. Each worker opens the index itself and follows its new
    versions on its own, and stops when this process does, even killed.

    Each worker has its own listening socket on the same address (SO_REUSEPORT), and the
    kernel spreads new connections over them. With one shared socket, as uvicorn's own
    `--workers` has, an idle worker accepts every pending connection at once: 8 clients
    connecting together often all landed on one worker, leaving the other core idle.

    Bound to a loopback address, the server answers only requests naming it by a loopback
    name, or by one of `allowed_hosts` (see create_app); bound to another, any Host unless
    `allowed_hosts` is given. A request must arrive within `request_timeout` seconds.
    """
    import uvicorn

    make_app = functools.partial(create_app, str(index_dir), allowed_hosts=_host_patterns(host, allowed_hosts))
    server_options = dict(access_log=access_log, request_timeout=request_timeout)
    app = make_app()
    sockets = _listening_sockets(host, port, workers)
    if on_ready is not None:
        shown = f"[{host}]" if ":" in host else host
        on_ready(f"http://{shown}:{sockets[0].getsockname()[1]}/", app.state.live.version)
    if workers == 1:
        uvicorn.Server(uvicorn_config(app, **server_options)).run(sockets=sockets)
        return
    app.state.live.close()
    _supervise(make_app, sockets, server_options)


def uvicorn_config(app, access_log: bool = False, request_timeout: float = REQUEST_TIMEOUT):
    """The uvicorn settings `serve` runs `app` with: bounded requests (BoundedHttp), warnings only,
    no Server header."""
    import uvicorn

    return uvicorn.Config(app, http=functools.partial(BoundedHttp, request_timeout=request_timeout),
                          log_level="warning", access_log=access_log,
                          timeout_graceful_shutdown=GRACEFUL_SHUTDOWN, server_header=False)


def _host_patterns(host: str, allowed_hosts: Iterable[str] | None) -> list[str] | None:
    """create_app's `allowed_hosts` for a server bound to `host`: None (any Host) only off loopback."""
    if allowed_hosts is None and not _is_loopback_name(host.strip("[]").lower()):
        return None
    return list(allowed_hosts or ())


def _listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on (host, port), which nothing else may be listening on.

    Several share the port through SO_REUSEPORT. That option would also let a later
    process of the same user join them and take a share of their connections: a second
    `vecsearch serve` on the port started silently, and requests were split between the
    two indexes. So the port is first bound alone, without the option, which fails if
    anything listens there, and only then by the shared sockets; every `vecsearch serve`
    does so under a lock on the port, so that two starting at once cannot both pass.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        with _port_lock(port):
            alone = _bound(family, host, port, shared=False)
            if count == 1:
                sockets.append(alone)
            else:
                port = alone.getsockname()[1]  # port 0: the shared sockets take the one it was given
                alone.close()
                for _ in range(count):
                    sockets.append(_bound(family, host, port, shared=True))
            for listener in sockets:  # still under the lock: bound sockets not listening yet would pass the next check
                listener.listen(2048)
    except OSError as error:
        for listener in sockets:
            listener.close()
        raise VecsearchError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sockets


def _bound(family: int, host: str, port: int, shared: bool) -> socket.socket:
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a stopped server's old connections do not hold the port
        if shared:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


@contextmanager
def _port_lock(port: int, wait: float = 10.0):
    """Held while a server checks that `port` is free and binds it (see _listening_sockets).

    On Linux, an abstract Unix socket named after the port: it goes with its process, even
    a killed one, and lives in the network namespace the port does. Elsewhere no lock.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                lock.bind(f"\0vecsearch-serve-port-{port}")
                break
            except OSError:  # another server is binding this port: it takes milliseconds
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        yield
    finally:
        lock.close()


def _supervise(make_app, sockets: list[socket.socket], server_options: dict) -> None:
    """Run one worker process per socket until SIGINT/SIGTERM; replace a worker that dies."""
    import multiprocessing

    multiprocessing.allow_connection_pickling()  # the sockets are handed to the spawned workers
    spawn = multiprocessing.get_context("spawn")  # not fork: this process has loaded numpy, FAISS and threads
    stop = threading.Event()

    def start(listener):
        worker = spawn.Process(target=_worker, args=(make_app, listener, server_options, os.getpid()), daemon=True)
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


def _worker(make_app, listener: socket.socket, server_options: dict, parent: int) -> None:
    """One worker process: the app, on its own socket, for as long as `parent` (serve) lives."""
    import uvicorn

    _exit_with_parent(parent)
    uvicorn.Server(uvicorn_config(make_app(), **server_options)).run(sockets=[listener])


def _exit_with_parent(parent: int) -> None:
    """Stop this process (SIGTERM: uvicorn finishes the requests in flight) when `parent` dies.

    A serve process killed by SIGKILL cannot stop its workers, and they went on answering
    on the port, unsupervised. Linux sends the signal when the parent exits (PR_SET_PDEATHSIG);
    a thread also looks every second, for other systems and a parent gone before the call.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(GRACEFUL_SHUTDOWN + 5)
        os._exit(1)  # the graceful stop did not end in time

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
