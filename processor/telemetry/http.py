"""A minimal HTTP/1.1 server for metrics and probes, on asyncio's own streams.

It answers GET and HEAD, one request per connection (``Connection: close``): scrapers and probes
open a connection per request anyway, and it keeps the server free of keep-alive bookkeeping.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from processor.logs import get_logger

log = get_logger("processor.telemetry.http")

MAX_HEAD_BYTES = 16 * 1024
READ_TIMEOUT_S = 5.0
TEXT = "text/plain; charset=utf-8"
# What the instance serves: one place for the paths and Prometheus' text format (0.0.4, which
# generate_latest writes), shared by a process and the supervisor that merges its processes.
METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
ALLOWED_METHODS = ("GET", "HEAD")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = TEXT


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # without the query string


Route = Callable[[], Response | Awaitable[Response]]


def parse_request_line(line: bytes) -> Request | None:
    """``GET /metrics?x=1 HTTP/1.1`` -> Request("GET", "/metrics"); None if it is not one."""
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        return None
    method, target, version = parts
    if not (method.isalpha() and method.isupper()):
        return None
    if not target.startswith("/") or version not in ("HTTP/1.0", "HTTP/1.1"):
        return None
    return Request(method, target.split("?", 1)[0])


async def respond(request: Request | None, routes: Mapping[str, Route]) -> Response:
    """The response for ``request`` (None: a request line that could not be parsed)."""
    if request is None:
        return Response(400, b"bad request\n")
    if request.method not in ALLOWED_METHODS:
        return Response(405, b"method not allowed\n")
    route = routes.get(request.path)
    if route is None:
        return Response(404, b"not found\n")
    try:
        response = route()
        return await response if inspect.isawaitable(response) else response
    except Exception as exc:  # a bug in a route must not take the server down
        log.exception("http_route_failed", path=request.path, error=repr(exc))
        return Response(500, b"internal error\n")


def encode(response: Response, *, with_body: bool = True) -> bytes:
    """The response as bytes on the wire; HEAD gets the same head without the body."""
    lines = [
        f"HTTP/1.1 {response.status} {HTTPStatus(response.status).phrase}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Connection: close",
    ]
    if response.status == 405:
        lines.append("Allow: " + ", ".join(ALLOWED_METHODS))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + response.body if with_body else head


class HttpServer:
    """Serves ``routes`` (path -> handler) on ``host:port``, or on the Unix socket ``unix_path``
    when one is given, until stopped."""

    def __init__(
        self, routes: Mapping[str, Route], host: str, port: int, unix_path: Path | None = None
    ) -> None:
        self._routes = routes
        self._host = host
        self._port = port
        self._unix_path = unix_path
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        if self._unix_path is not None:
            self._server = await asyncio.start_unix_server(
                self._serve, self._unix_path, limit=MAX_HEAD_BYTES
            )
            log.info("http_listening", unix_socket=str(self._unix_path))
            return
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_HEAD_BYTES
        )
        log.info("http_listening", host=self._host, port=self.port)

    @property
    def port(self) -> int:
        """The bound port (differs from the one asked for only when that was 0)."""
        if self._server is None or not self._server.sockets or self._unix_path is not None:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            request = parse_request_line(head.split(b"\r\n", 1)[0])
            response = await respond(request, self._routes)
            writer.write(encode(response, with_body=request is None or request.method != "HEAD"))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # a client that went away or sent garbage gets no answer
        finally:
            writer.close()
