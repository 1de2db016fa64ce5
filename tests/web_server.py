"""A real HTTP server on 127.0.0.1, in a thread, serving what a test puts on it.

Web sources are tested against real HTTP, never a mocked client: the fetcher's timeouts,
redirects, conditional requests and body caps only mean something on a real socket.
Each route is either a canned response (``route``) or a function of the request
(``handle``); every request is logged, so a test can count what a re-sync costs.
"""

from __future__ import annotations

import gzip
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0  # seconds before the response starts
    gzip: bool = False  # send with Content-Encoding: gzip


@dataclass(frozen=True)
class Hit:
    path: str  # with the query string
    headers: dict[str, str]


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client closing a kept-alive connection (every fetcher at the end of a sync)
        # is normal, not a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Site:
    """``with Site() as site: site.route("/feed.xml", xml, content_type=...)``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Route | Handler] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        site = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        self.server = _QuietServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.base = f"http://{host}:{self.port}"
        # shutdown() waits for the serve loop's next poll: 0.5 s by default, at every test's end.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> Site:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what the test sets up ---------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, body: bytes | str = b"", **options: object) -> str:
        """Serve ``body`` at ``path`` (options: the fields of ``Route``); returns the URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def handle(self, path: str, handler: Handler) -> str:
        """Answer requests for ``path`` with ``handler(request)``; returns the URL."""
        self.routes[path] = handler
        return self.url(path)

    def remove(self, path: str) -> None:
        self.routes.pop(path, None)

    # --- what the test checks ----------------------------------------------------------
    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for h in self.hits if path is None or h.path == path)

    def paths(self) -> list[str]:
        with self._lock:
            return [h.path for h in self.hits]

    def reset(self) -> None:
        with self._lock:
            self.hits.clear()

    # --- serving -----------------------------------------------------------------------
    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.hits.append(Hit(request.path, dict(request.headers.items())))
        route = self.routes.get(request.path) or self.routes.get(urlsplit(request.path).path)
        if route is None:
            send(request, 404, b"not found", "text/plain")
        elif isinstance(route, Route):
            self._send_route(request, route)
        else:
            route(request)

    def _send_route(self, request: BaseHTTPRequestHandler, route: Route) -> None:
        if route.delay:
            time.sleep(route.delay)
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if (route.etag and request.headers.get("If-None-Match") == route.etag) or (
            route.last_modified
            and not route.etag
            and request.headers.get("If-Modified-Since") == route.last_modified
        ):
            send(request, 304, b"", None, headers)
            return
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        send(request, route.status, body, route.content_type, headers)


def send(
    request: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str | None,
    headers: dict[str, str] | None = None,
) -> None:
    """Write one complete response."""
    request.send_response(status)
    if content_type:
        request.send_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    if status != 304:
        request.wfile.write(body)
