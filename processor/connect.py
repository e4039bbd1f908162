"""Reaching the cluster: start an aiokafka client, or say in one line why it could not be done.

When a client cannot bootstrap, aiokafka raises a bare "Unable to bootstrap" and logs the real
cause (connection refused, a TLS handshake, bad credentials) as a separate error line. The
operator should get one line with the cause in it: the library's lines are held back while a
client starts, and the last one becomes the reason.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from aiokafka.errors import KafkaError

from processor.config import Settings
from processor.security.permissions import Need, require
from processor.security.refusals import refusal

LIBRARY_LOGGER = "aiokafka"
# The reason in an error line is a few words, never a page.
MAX_REASON_CHARS = 200


class ClusterUnreachable(Exception):
    """A client could not reach the cluster; the message is one line naming the address."""

    def __init__(self, bootstrap_servers: str, reason: str) -> None:
        super().__init__(f"cannot reach the cluster at {bootstrap_servers}: {reason}")


class _Holder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def held_library_logs() -> Iterator[list[logging.LogRecord]]:
    """Hold aiokafka's warnings and errors back for the block; they are let through only when
    it succeeds (on failure the caller names the cause itself)."""
    logger = logging.getLogger(LIBRARY_LOGGER)
    holder, propagate = _Holder(), logger.propagate
    logger.addHandler(holder)
    logger.propagate = False
    try:
        yield holder.records
    finally:
        logger.removeHandler(holder)
        logger.propagate = propagate
    for record in holder.records:  # reached only when the block succeeded
        logger.handle(record)


def reason(error: BaseException, held: list[logging.LogRecord]) -> str:
    """Why a client failed to start: the library's last word if it said one, else the error."""
    if held:
        text = held[-1].getMessage()
    elif isinstance(error, TimeoutError):
        text = "no answer"
    else:
        text = str(error) or type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


async def start_client(client: Any, settings: Settings, needs: Sequence[Need] = ()) -> None:
    """Start an aiokafka producer, consumer or admin client made with ``settings``. When it
    cannot reach the cluster it is closed again (no "Unclosed" warning later) and
    :class:`ClusterUnreachable` is raised, or :class:`AuthenticationRefused` when the cluster
    answered and refused the credentials or a certificate; or :class:`PermissionMissing` when
    it does not allow one of ``needs`` (checked up front: a refused read or write later would
    only be a log line of the library's, or an endless retry)."""
    try:
        with held_library_logs() as held:
            await client.start()
    except (KafkaError, OSError, TimeoutError) as exc:
        await close_client(client)
        refused = await refusal(settings, exc, held)
        if refused is not None:
            raise refused from None
        raise ClusterUnreachable(settings.bootstrap_servers, reason(exc, held)) from None
    except BaseException:
        await close_client(client)
        raise
    if needs:
        try:
            await require(cluster_client(client), settings, list(needs))
        except BaseException:
            await close_client(client)
            raise


def cluster_client(client: Any) -> Any:
    """The connection pool under a producer (``client``), consumer or admin client
    (``_client``): what metadata requests of our own go through."""
    return getattr(client, "client", None) or client._client


async def close_client(client: Any) -> None:
    """Stop (or, for the admin client, close) ``client``, whatever state it is in."""
    stop = getattr(client, "stop", None) or client.close
    with contextlib.suppress(Exception):
        await stop()
