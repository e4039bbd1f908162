"""A plain HTTP client for the tests (the standard library's, so it does not share our code)."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of ``GET http://127.0.0.1:<port><path>``."""
    return await asyncio.to_thread(_get, f"http://127.0.0.1:{port}{path}")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def wait_for_status(port: int, path: str, status: int, timeout_s: float = 60) -> str:
    """Poll ``path`` until it answers ``status``; returns that body."""
    async with asyncio.timeout(timeout_s):
        while True:
            try:
                code, body = await get(port, path)
            except OSError:  # not listening yet
                code, body = 0, ""
            if code == status:
                return body
            await asyncio.sleep(0.1)
