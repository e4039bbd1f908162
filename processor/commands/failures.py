"""A command's failure as the operator meets it: one line and a documented exit status.

A problem of the configuration, the cluster, a topic, a file or the pipeline is the operator's
to fix, and a traceback would bury the one line that says how. Anything else is a bug of ours
and keeps its traceback (exit status 1).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)

from processor.commands.common import EXIT_USAGE
from processor.commands.groups import UnknownGroupError
from processor.commands.scan import UnknownTopicError
from processor.config import ConfigError
from processor.connect import MAX_REASON_CHARS, ClusterUnreachable
from processor.engine.processor import EXIT_STARTUP, StartupError
from processor.pipeline import PipelineLoadError
from processor.security.permissions import PermissionMissing
from processor.security.refusals import AuthenticationRefused

AUTHORIZATION_FAILED = (
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    ClusterAuthorizationFailedError,
)

# The cluster, or a topic the settings name, could not be had (``run``: in time).
EXIT_UNAVAILABLE = EXIT_STARTUP
# The cluster answered and refused who we are: credentials or a certificate.
EXIT_AUTHENTICATION = 5
# A permission (ACL) the command needs is not granted.
EXIT_PERMISSION = 6
# An error line is one line of this many characters at most, whatever it quotes.
MAX_LINE_CHARS = 500


@dataclass(frozen=True, slots=True)
class Failure:
    exit_code: int
    message: str  # one line


def failure_of(error: BaseException) -> Failure | None:
    """The operator's line and exit status for ``error``; None for a bug."""
    if isinstance(error, ConfigError | PipelineLoadError | UnknownTopicError | UnknownGroupError):
        return _failure(EXIT_USAGE, str(error))
    if isinstance(error, ssl.SSLError):
        return _failure(EXIT_USAGE, f"TLS: {error}")
    if isinstance(error, PermissionMissing):
        return _failure(EXIT_PERMISSION, str(error))
    if isinstance(error, AUTHORIZATION_FAILED):
        return _failure(EXIT_PERMISSION, f"permission missing: {_authorization(error)}")
    if isinstance(error, AuthenticationRefused):
        return _failure(EXIT_AUTHENTICATION, str(error))
    if isinstance(error, StartupError | ClusterUnreachable):
        return _failure(EXIT_UNAVAILABLE, str(error))
    if isinstance(error, KafkaError):  # after a good start: the cluster went away or refused
        return _failure(EXIT_UNAVAILABLE, f"the cluster failed: {_cut(str(error))}")
    if isinstance(error, OSError) and error.filename is not None:
        return _failure(EXIT_USAGE, f"cannot use {error.filename}: {error.strerror}")
    return None


def _failure(code: int, message: str) -> Failure:
    line = " ".join(message.split())
    if len(line) > MAX_LINE_CHARS:
        line = line[: MAX_LINE_CHARS - 1] + "…"
    return Failure(code, line)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def _authorization(error: KafkaError) -> str:
    """What the cluster refused, in words: the resource kind, and its name when the error has
    it (aiokafka puts the topics or the group in its arguments, when it knows them)."""
    kind = {
        TopicAuthorizationFailedError: "a topic",
        GroupAuthorizationFailedError: "the consumer group",
        TransactionalIdAuthorizationFailed: "a transactional id",
        ClusterAuthorizationFailedError: "the cluster",
    }.get(type(error), "a resource")
    named = ", ".join(str(arg) for arg in error.args if arg)
    return f"the cluster refused access to {kind}" + (f" ({_cut(named)})" if named else "")
