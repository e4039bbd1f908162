"""Enrich each order with its customer, looked up over HTTP: an async pipeline (executor "loop").

What it shows:

- ``start()`` opens what every call of the route shares (here a small pool of keep-alive HTTP
  connections) and ``close()`` closes it;
- an ``async`` route that awaits I/O: the processor routes up to ``PROCESSOR_CONCURRENCY``
  records at once on one event loop, the records of one key one at a time and in input order;
- the record's fault, a customer the service does not know (HTTP 404), is a ``Reject``: a dead
  letter at stage ``route`` with error class ``UnknownCustomer``;
- the environment's fault, the service failing (5xx, a refused or dropped connection, no answer
  in time), raises: the processor retries with back-off, then dead-letters the record at stage
  ``handler``.

No HTTP library needed: one GET over HTTP/1.1 is a few lines of asyncio streams (:class:`HttpPool`).
With aiohttp or httpx installed, open their client session in ``start()`` instead.

Input, on ``PROCESSOR_INPUT_TOPIC``::

    {"order_id": "o-1", "customer_id": "c-7", "total_cents": 1250}

The service answers ``GET <CUSTOMER_SERVICE_URL>/customers/c-7`` with 404 or with::

    {"id": "c-7", "name": "Ada", "tier": "gold", "country": "DE"}

Output, on ``<input topic>.enriched`` keyed by customer id: the order with its ``customer``.

Run it from the repository root (so that ``examples`` is importable)::

    CUSTOMER_SERVICE_URL=http://127.0.0.1:8000 PYTHONPATH=. \\
        PROCESSOR_PIPELINE=examples.pipelines.enrich_http:pipeline processor run
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, Field

from processor import Output, Pipeline, Reject, Source
from processor.config import Settings

URL_VARIABLE = "CUSTOMER_SERVICE_URL"
DEFAULT_URL = "http://127.0.0.1:8000"
MAX_CONNECTIONS = 16
REQUEST_TIMEOUT_S = 5.0


class Order(BaseModel):
    order_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    total_cents: int = Field(ge=0)


class Customer(BaseModel):
    """What the customer service answers."""

    id: str
    name: str
    tier: str
    country: str


class EnrichedOrder(Order):
    """What the output carries: the order and its customer."""

    customer: Customer


class ServiceError(Exception):
    """The customer service failed: not the record's fault, so the route raises and is retried."""


class EnrichOrders(Pipeline[Order]):
    """Adds the customer to each order; unknown customers become dead letters."""

    model = Order
    executor = "loop"

    def __init__(self, base_url: str, pool_size: int = MAX_CONNECTIONS) -> None:
        self.base_url = base_url
        self.pool_size = pool_size
        self._customers: HttpPool | None = None

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (f"{input_topic}.enriched",)

    async def start(self) -> None:
        self._customers = HttpPool(self.base_url, self.pool_size, REQUEST_TIMEOUT_S)

    async def close(self) -> None:
        if self._customers is not None:
            await self._customers.close()

    async def route(self, record: Order, source: Source) -> Output | Reject:
        if self._customers is None:
            raise RuntimeError("start() was not called")
        response = await self._customers.get(f"/customers/{quote(record.customer_id, safe='')}")
        if response.status == 404:
            return Reject(f"unknown customer {record.customer_id!r}", error_class="UnknownCustomer")
        if response.status != 200:
            raise ServiceError(f"customer service answered {response.status}")
        customer = Customer.model_validate_json(response.body)
        return Output(
            topic=f"{source.topic}.enriched",
            key=record.customer_id,
            value=EnrichedOrder(**record.model_dump(), customer=customer),
            event_id=record.order_id,
        )


def pipeline(settings: Settings) -> EnrichOrders:
    """What ``PROCESSOR_PIPELINE`` names: the service at ``$CUSTOMER_SERVICE_URL``, with a
    connection for each record routed at once (``PROCESSOR_CONCURRENCY``), up to 16."""
    base_url = os.environ.get(URL_VARIABLE, DEFAULT_URL)
    return EnrichOrders(base_url, pool_size=min(settings.concurrency, MAX_CONNECTIONS))


class Response(NamedTuple):
    status: int
    body: bytes


class _Connection(NamedTuple):
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class HttpPool:
    """GET requests to one HTTP/1.1 server over at most ``size`` keep-alive connections.

    Just enough HTTP for a JSON service: no TLS, no redirects, bodies with a Content-Length.
    """

    def __init__(self, base_url: str, size: int, timeout_s: float) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"expected an http:// URL, got {base_url!r}")
        self._host, self._port = url.hostname, url.port or 80
        self._prefix = url.path.rstrip("/")
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []

    async def get(self, path: str) -> Response:
        async with self._slots, asyncio.timeout(self._timeout_s):
            # A kept-alive connection may have been closed by the server since its last use:
            # then the (idempotent) GET goes again on the next one, or on a new one.
            while self._idle:
                with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                    return await self._exchange(self._idle.pop(), path)
            reader, writer = await asyncio.open_connection(self._host, self._port)
            return await self._exchange(_Connection(reader, writer), path)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _exchange(self, connection: _Connection, path: str) -> Response:
        reader, writer = connection
        request = (
            f"GET {self._prefix}{path} HTTP/1.1\r\n"
            f"Host: {self._host}:{self._port}\r\n"
            "Accept: application/json\r\n\r\n"
        )
        try:
            writer.write(request.encode("ascii"))
            await writer.drain()
            response, keep_alive = await _read_response(reader)
        except BaseException:
            # Failed, timed out or cancelled half-way: what is left on it is unknown.
            writer.close()
            raise
        if keep_alive:
            self._idle.append(connection)
        else:
            writer.close()
        return response


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """One response, and whether its connection may be used again."""
    status_line = await reader.readuntil(b"\r\n")
    version, status, *_ = status_line.decode("latin-1").split()
    headers: dict[str, str] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise ServiceError("the customer service answered without a Content-Length")
    body = await reader.readexactly(int(headers["content-length"]))
    keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return Response(int(status), body), keep_alive
