"""Worker processes behind one port, each page's websocket relayed to the process that drew it.

Bokeh's own ``--num-procs`` forks processes that share the listening socket, so a page
request and the websocket that follows it land on either process at random: Bokeh has no
session affinity (bokeh/bokeh#5582). A websocket that reaches the other process makes it
build the session again, and that second document names its models with other ids than
the page's HTML, so the template's roots stay empty and the page loses its styling
(half the pages with two processes; measured in docs/dashboard-speed.md).

Here the parent process listens on the public port and relays. A page request goes to
the worker with the fewest sessions; the session id in the page's Bokeh token is kept,
and the websocket that presents that token (Bokeh's second subprotocol) goes to the same
worker. Static files (Bokeh's and Panel's scripts and stylesheets, the same in every
worker) are fetched from a worker once and then answered by the relay itself, so twenty
pages opening at once cost the workers no file requests. Workers listen on 127.0.0.1 only, on ports the
system picks, and check ``Host`` and ``Origin`` like a single-process server; the relay
checks them first.

Example
-------
>>> balancer = Balancer([Worker(pid=1, port=5101), Worker(pid=2, port=5102)])
>>> [balancer.for_page().port for _ in range(3)]
[5101, 5102, 5101]
"""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bokeh.util.token import get_session_id
from tornado import httpclient, httputil, ioloop, iostream, tcpclient, web

#: seconds a page's session is kept for its websocket to arrive (Bokeh discards an unused
#: session after 15 s by default)
PENDING_S = 60
#: bytes a websocket relay reads at once
_CHUNK_BYTES = 256 * 1024
#: hop-by-hop headers (RFC 9110 7.6.1) and those the relay sets itself
_NOT_RELAYED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer", "content-length"}
)
#: where Bokeh and Panel serve their scripts, stylesheets and fonts
STATIC_PREFIX = "/static/"
#: static files kept by the relay at most (a page loads about twenty)
MAX_STATIC_FILES = 500
#: requests relayed at once. Tornado's shared client queues all beyond 10 and fails a
#: request after 20 s in its queue: twenty pages opened together got a 500.
MAX_RELAYED = 256
#: seconds a relayed request may wait and take (a page is a whole session build)
RELAY_TIMEOUT_S = 300
_TOKEN = re.compile(rb'"token"\s*:\s*"([A-Za-z0-9_.\-]+)"')


@dataclass
class Worker:
    """One worker process: its pid, its port on 127.0.0.1 and its open sessions."""

    pid: int
    port: int
    #: pages this worker draws, or drew and whose websocket is open or still expected
    sessions: int = 0
    #: pages given to this worker since the start
    pages: int = 0


@dataclass
class Balancer:
    """Which worker serves a new page, and which one a websocket belongs to."""

    workers: list[Worker]
    #: session id -> (worker, time the page was drawn), until its websocket arrives
    pending: dict[str, tuple[Worker, float]] = field(default_factory=dict)
    #: (request URI, whether the browser accepts gzip) -> (headers, body) of a static file
    #: a worker answered with 200 (gzipped when accepted: the workers compress)
    static: dict[tuple[str, bool], tuple[list[tuple[str, str]], bytes]] = field(
        default_factory=dict
    )
    #: the same key -> a future done once a worker answered it (its request is in flight)
    fetching: dict[tuple[str, bool], asyncio.Future] = field(default_factory=dict)
    _next_static: int = 0
    _client: httpclient.AsyncHTTPClient | None = None

    def client(self) -> httpclient.AsyncHTTPClient:
        """The relay's own HTTP client to the workers (made on the serving loop)."""
        if self._client is None:
            self._client = httpclient.AsyncHTTPClient(force_instance=True, max_clients=MAX_RELAYED)
        return self._client

    def for_page(self) -> Worker:
        """The worker with the fewest sessions, counting this page from now, so pages
        requested together spread over the workers; of equals, the one given the fewest
        pages, so pages opened one after another alternate too (a worker builds tabs ahead
        only while it holds few live sessions, dashboards/idle.py)."""
        self._expire()
        worker = min(self.workers, key=lambda w: (w.sessions, w.pages))
        worker.sessions += 1
        worker.pages += 1
        return worker

    def drew(self, worker: Worker, page: bytes | None) -> None:
        """Keep the session of the page ``worker`` answered, from the token in its HTML;
        an answer that holds no session (an error, a refusal) no longer counts."""
        match = _TOKEN.search(page or b"")
        if match is None:
            worker.sessions -= 1
            return
        self.pending[get_session_id(match.group(1).decode())] = (worker, time.monotonic())

    def for_socket(self, token: str) -> Worker:
        """The worker whose page carries ``token``.

        An unknown token (its page is older than :data:`PENDING_S`, or came before a
        restart) goes to the least busy worker, which builds the session anew, as Bokeh
        does with a websocket whose session it does not hold.
        """
        try:
            session_id = get_session_id(token)
        except Exception:  # a malformed token: the worker refuses it
            session_id = ""
        known = self.pending.pop(session_id, None)
        return self.for_page() if known is None else known[0]

    def for_static(self) -> Worker:
        """Workers in turn: static files are the same in every one."""
        self._next_static = (self._next_static + 1) % len(self.workers)
        return self.workers[self._next_static]

    def _expire(self) -> None:
        now = time.monotonic()
        for session_id, (worker, drawn) in list(self.pending.items()):
            if now - drawn > PENDING_S:
                del self.pending[session_id]
                worker.sessions -= 1


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether a ``Host`` header (``name`` or ``name:port``, IPv6 in brackets) names one of
    ``allowed``, whatever the port.

    Example
    -------
    >>> host_allowed("localhost:5006", ["localhost"]), host_allowed("evil.example", ["localhost"])
    (True, False)
    """
    name = host.strip().lower()
    name = name[1 : name.index("]")] if name.startswith("[") and "]" in name else name
    name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    return name in {h.lower() for h in allowed}


def origin_allowed(origin: str | None, hosts: Iterable[str]) -> bool:
    """Whether a websocket's ``Origin`` header names one of ``hosts`` (any port).

    Example
    -------
    >>> origin_allowed("http://localhost:5006", ["localhost"]), origin_allowed(None, ["localhost"])
    (True, False)
    """
    return bool(origin) and host_allowed(urlsplit(origin).netloc, hosts)


def _forwarded_headers(request) -> httputil.HTTPHeaders:
    """The browser's request headers to send on to a worker (``Host`` too: the worker
    checks it)."""
    headers = httputil.HTTPHeaders()
    for name, value in request.headers.get_all():
        if name.lower() not in _NOT_RELAYED:
            headers.add(name, value)
    return headers


class _PageRelay(web.RequestHandler):
    """Relays an HTTP request to a worker: a page to the least busy one, the rest in turn."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST")

    def initialize(self, balancer: Balancer, page_paths: frozenset[str]) -> None:
        self.balancer = balancer
        self.page_paths = page_paths

    async def get(self, *_args) -> None:
        static = self.request.method == "GET" and self.request.path.startswith(STATIC_PREFIX)
        gzipped = "gzip" in self.request.headers.get("Accept-Encoding", "")
        key = (self.request.uri, gzipped)
        while static and key in self.balancer.fetching:
            # pages opened together ask for the same files at once: a worker reads and
            # gzips each once, not once per page (a file it failed to answer is asked
            # for again, by one request at a time)
            await self.balancer.fetching[key]
        if static and key in self.balancer.static:
            self._answer(200, None, *self.balancer.static[key])
            return
        if static:
            self.balancer.fetching[key] = asyncio.get_running_loop().create_future()
        try:
            await self._relay(static, key)
        finally:
            if static:
                self.balancer.fetching.pop(key).set_result(None)

    async def _relay(self, static: bool, key: tuple[str, bool]) -> None:
        page = self.request.path.rstrip("/") in self.page_paths
        worker = self.balancer.for_page() if page else self.balancer.for_static()
        response = await self.balancer.client().fetch(
            f"http://127.0.0.1:{worker.port}{self.request.uri}",
            method=self.request.method,
            headers=_forwarded_headers(self.request),
            body=self.request.body if self.request.method == "POST" else None,
            follow_redirects=False,
            decompress_response=False,
            raise_error=False,
            connect_timeout=RELAY_TIMEOUT_S,
            request_timeout=RELAY_TIMEOUT_S,
        )
        if page:
            body = response.body
            if response.code == 200 and response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)  # the session token is read from the HTML
            self.balancer.drew(worker, body if response.code == 200 else None)
        if response.code == 599:  # no answer: the worker died or timed out
            raise web.HTTPError(502, reason=f"dashboard worker {worker.pid} did not answer")
        headers = [
            (k, v)
            for k, v in response.headers.get_all()
            if k.lower() not in _NOT_RELAYED | {"date"}
        ]
        if static and response.code == 200 and len(self.balancer.static) < MAX_STATIC_FILES:
            self.balancer.static[key] = (headers, response.body)
        self._answer(response.code, response.reason, headers, response.body)

    def _answer(self, code: int, reason: str | None, headers, body: bytes | None) -> None:
        self.set_status(code, reason)
        for name in ("Content-Type", "Server"):  # the worker's own replace Tornado's
            self.clear_header(name)
        for name, value in headers:
            self.add_header(name, value)
        if body and self.request.method != "HEAD":
            self.write(body)

    head = post = get


class _SocketRelay(web.RequestHandler):
    """Passes a page's websocket, as bytes both ways, to the worker that drew the page.

    The relay reads only the upgrade request's headers (``Origin`` and the token); the
    handshake, every frame and the close are the browser's and the worker's own. (Parsed
    and re-framed message by message, as a websocket of its own, the relay added 35-60
    ms to each update of an open tab on the loaded 2-core machine.)
    """

    def initialize(self, balancer: Balancer, hosts: tuple[str, ...]) -> None:
        self.balancer = balancer
        self.hosts = hosts

    async def get(self, *_args) -> None:
        if not origin_allowed(self.request.headers.get("Origin"), self.hosts):
            raise web.HTTPError(403, reason="websocket origin not allowed")
        # Bokeh's page offers the subprotocols "bokeh, <token>"
        offered = [
            p.strip() for p in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")
        ]
        worker = self.balancer.for_socket(offered[1] if len(offered) == 2 else "")
        try:
            upstream = await tcpclient.TCPClient().connect("127.0.0.1", worker.port)
        except OSError as error:
            worker.sessions -= 1
            raise web.HTTPError(502, reason=f"dashboard worker {worker.pid}: {error}") from None
        lines = [f"{self.request.method} {self.request.uri} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.request.headers.get_all()]
        browser = self.detach()
        try:
            for stream in (browser, upstream):
                stream.set_nodelay(True)  # small interactive messages: no Nagle delay
            await upstream.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            await asyncio.gather(_pipe(browser, upstream), _pipe(upstream, browser))
        finally:
            worker.sessions -= 1
            browser.close()
            upstream.close()


async def _pipe(source: iostream.IOStream, target: iostream.IOStream) -> None:
    """Copy bytes from ``source`` to ``target`` until either closes; then close both."""
    try:
        while True:
            await target.write(await source.read_bytes(_CHUNK_BYTES, partial=True))
    except iostream.StreamClosedError:
        source.close()
        target.close()


def relay_app(
    balancer: Balancer, *, hosts: tuple[str, ...], app_paths: Iterable[str], rules: list = ()
) -> web.Application:
    """The parent's Tornado application: ``rules`` first (e.g. a Host check), then for
    each app path its websocket (``<path>/ws``), then every other request relayed."""
    paths = frozenset(p.rstrip("/") for p in app_paths)
    handlers = [
        *rules,
        *(
            (rf"{re.escape(p)}/ws", _SocketRelay, {"balancer": balancer, "hosts": hosts})
            for p in paths
        ),
        (r"/.*", _PageRelay, {"balancer": balancer, "page_paths": paths}),
    ]
    return web.Application(handlers)


def fork_workers(count: int, start_worker: Callable[[], object]) -> list[Worker]:
    """Fork ``count`` workers; each calls ``start_worker()``, which must return a started
    Bokeh/Panel server listening on 127.0.0.1 (its ``port`` and ``io_loop``), and serves
    until its parent exits. Returns once every worker listens."""
    workers = []
    for _ in range(count):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _run_worker(write_end, start_worker)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            port = pipe.read().decode()
        if not port:
            raise RuntimeError(f"dashboard worker {pid} exited before it listened")
        workers.append(Worker(pid=pid, port=int(port)))
    return workers


def _run_worker(write_end: int, start_worker: Callable[[], object]) -> None:
    """A forked worker's whole life: start, tell the parent its port, serve, exit."""
    code = 1
    try:
        server = start_worker()
        os.write(write_end, str(server.port).encode())
        os.close(write_end)
        parent = os.getppid()

        def end_with_parent() -> None:  # however the parent ended
            if os.getppid() != parent:
                server.io_loop.stop()

        ioloop.PeriodicCallback(end_with_parent, 1000).start()
        server.io_loop.start()
        code = 0
    finally:
        os._exit(code)


def watch_workers(workers: list[Worker], loop: ioloop.IOLoop) -> ioloop.PeriodicCallback:
    """Stop ``loop`` (the relay) as soon as a worker exits: a server with a dead worker
    would answer half its pages with errors."""

    def check() -> None:
        for worker in workers:
            pid, status = os.waitpid(worker.pid, os.WNOHANG)
            if pid:
                print(
                    f"dashboard worker {worker.pid} exited (status {status}); stopping",
                    file=sys.stderr,
                    flush=True,
                )
                loop.stop()

    watcher = ioloop.PeriodicCallback(check, 1000)
    watcher.start()
    return watcher
