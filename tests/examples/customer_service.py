"""A tiny customer service for the HTTP enrichment example: HTTP/1.1 with keep-alive on
127.0.0.1, counting what it sees."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from types import TracebackType


class CustomerService:
    """``GET /customers/<id>`` answers the customer as JSON, 404 when unknown, and 503 the first
    ``failures[id]`` times it is asked for ``id``."""

    def __init__(
        self,
        customers: dict[str, dict[str, str]],
        delay_s: float = 0.0,
        failures: dict[str, int] | None = None,
        keep_alive: bool = True,
    ) -> None:
        self.customers = customers
        self.delay_s = delay_s
        self.failures = Counter(failures or {})
        self.keep_alive = keep_alive  # False: drop each connection after one answer, unannounced
        self.requests: Counter[str] = Counter()
        self.connections = 0
        self.in_flight = self.max_in_flight = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def __aenter__(self) -> CustomerService:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while request_line := await reader.readline():
                while await reader.readline() not in (b"\r\n", b""):
                    pass  # the request's headers
                status, body = await self._answer(request_line.split()[1].decode())
                head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
                writer.write(f"{head}Content-Type: application/json\r\n\r\n".encode() + body)
                await writer.drain()
                if not self.keep_alive:
                    break
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, path: str) -> tuple[str, bytes]:
        customer_id = path.removeprefix("/customers/")
        self.requests[customer_id] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if self.failures[customer_id] > 0:
            self.failures[customer_id] -= 1
            return "503 Service Unavailable", b'{"error": "try again"}'
        if customer_id not in self.customers:
            return "404 Not Found", b'{"error": "no such customer"}'
        return "200 OK", json.dumps(self.customers[customer_id]).encode()


def customers(count: int) -> dict[str, dict[str, str]]:
    """``count`` customers ``c-0``, ``c-1``, ..."""
    tiers, countries = ("gold", "silver", "bronze"), ("DE", "FR", "US", "JP")
    return {
        f"c-{n}": {
            "id": f"c-{n}",
            "name": f"Customer {n}",
            "tier": tiers[n % 3],
            "country": countries[n % 4],
        }
        for n in range(count)
    }
