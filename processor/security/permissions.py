"""Which permissions (ACLs) a client needs, and which one the cluster does not grant.

A topic the principal may not even describe is not in the cluster's metadata, so without this
check a missing ACL reads as a missing topic. Metadata version 8 and later tells, per topic,
which operations the principal may perform (KIP-430); aiokafka asks up to version 5, so the
request is declared here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import GroupAuthorizationFailedError, IncompatibleBrokerVersion, KafkaError
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.coordination import FindCoordinatorRequest
from aiokafka.protocol.types import Array, Boolean, Int16, Int32, Schema, String

from processor.config import Settings

# Kafka's AclOperation codes; an authorized-operations field has bit 1 << code set for each.
OPERATION_CODES = {"READ": 3, "WRITE": 4, "CREATE": 5, "DESCRIBE": 8, "DESCRIBE_CONFIGS": 10}
TOPIC_AUTHORIZATION_FAILED = 29
UNKNOWN_TOPIC = 3
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
TRANSACTION_COORDINATOR = 1  # FindCoordinator's key type for a transactional id
# The broker did not compute the operations (not asked, or an old broker).
NOT_PROVIDED = -(2**31)


class PermissionMissing(Exception):
    """The cluster does not allow an operation we need; the message names it and the resource."""


@dataclass(frozen=True, slots=True)
class Need:
    """An operation a client performs on a topic."""

    operation: str  # a key of OPERATION_CODES
    topic: str


@dataclass(frozen=True, slots=True)
class TopicAccess:
    """What the metadata says of one topic for this principal."""

    error_code: int
    operations: int  # the authorized-operations bit field, or NOT_PROVIDED

    def allows(self, operation: str) -> bool | None:
        """Whether ``operation`` is allowed; None when the broker did not say."""
        if self.operations == NOT_PROVIDED:
            return None
        return bool(self.operations & (1 << OPERATION_CODES[operation]))


def principal(settings: Settings) -> str:
    """How an error line names who we are to the cluster."""
    if settings.sasl_mechanism is not None:
        return f"User:{settings.sasl_username}"
    if settings.ssl_certfile is not None:
        return f"the principal of {settings.ssl_certfile}"
    return "this client"


def processor_needs(settings: Settings, outputs: Iterable[str]) -> list[Need]:
    """What ``processor run`` does to topics: read the input, write the outputs and dead letters.

    The group (READ) is checked when the consumer joins. An idempotent producer needs no
    cluster permission on Kafka 3.0 and later: WRITE on a topic is enough (KIP-679).
    """
    written = dict.fromkeys([*outputs, settings.dead_letter_topic])
    return [Need("READ", settings.input_topic), *(Need("WRITE", topic) for topic in written)]


def first_refused(needs: Iterable[Need], access: Mapping[str, TopicAccess]) -> Need | None:
    """The first need the metadata refuses (pure); unknown topics and silence refuse nothing."""
    for need in needs:
        found = access.get(need.topic)
        if found is None or found.error_code == UNKNOWN_TOPIC:
            continue
        if found.error_code == TOPIC_AUTHORIZATION_FAILED or found.allows(need.operation) is False:
            return need
    return None


def refusal_line(settings: Settings, need: Need) -> str:
    """One line naming who lacks which permission on which topic."""
    return (
        f"permission missing: {principal(settings)} may not {need.operation} topic "
        f"{need.topic!r}; grant it with an ACL"
    )


def group_refusal_line(settings: Settings, group: str, operation: str = "READ") -> str:
    return (
        f"permission missing: {principal(settings)} may not {operation} group {group!r}; "
        "grant it with an ACL"
    )


@contextmanager
def group_named(settings: Settings, group: str, operation: str) -> Iterator[None]:
    """A refusal of ``group`` inside the block becomes :class:`PermissionMissing` naming it
    (the library's error names no group)."""
    try:
        yield
    except GroupAuthorizationFailedError:
        raise PermissionMissing(group_refusal_line(settings, group, operation)) from None


async def require(client: Any, settings: Settings, needs: list[Need]) -> None:
    """Raise :class:`PermissionMissing` for the first of ``needs`` the cluster refuses.

    ``client`` is a started aiokafka client (``producer.client``, ``consumer._client``).
    """
    need = first_refused(needs, await topic_access(client, [need.topic for need in needs]))
    if need is not None:
        raise PermissionMissing(refusal_line(settings, need))


async def require_transactional_id(client: Any, settings: Settings, transactional_id: str) -> None:
    """Raise :class:`PermissionMissing` when the principal may not use ``transactional_id``.

    The coordinator lookup is refused without it; later, aiokafka's sender would only log that
    refusal, again and again, in a background task.
    """
    request = FindCoordinatorRequest(transactional_id, TRANSACTION_COORDINATOR)
    try:
        response = await client.send(client.get_random_node(), request)
    except (KafkaError, IncompatibleBrokerVersion, NotImplementedError):
        return  # the caller's own requests meet the same trouble and report it
    if response.error_code == TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        raise PermissionMissing(
            f"permission missing: {principal(settings)} may not WRITE transactional id "
            f"{transactional_id!r} (exactly-once: <group>-<topic>-<partition>); "
            "grant it with an ACL"
        )


async def topic_access(client: Any, topics: list[str]) -> dict[str, TopicAccess]:
    """Each topic's error code and authorized operations; empty if the broker cannot say."""
    request = _TopicAccessRequest(list(dict.fromkeys(topics)))
    try:
        response = await client.send(client.get_random_node(), request)
    except (IncompatibleBrokerVersion, NotImplementedError):
        return {}
    except KafkaError:
        return {}  # the caller's own requests meet the same trouble and report it
    return {
        topic[1]: TopicAccess(topic[0], topic[4])
        for topic in response.topics  # (error_code, name, internal, partitions, operations)
    }


class _MetadataResponse_v8(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 3
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("brokers", Array(("node_id", Int32), ("host", String("utf-8")), ("port", Int32),
                          ("rack", String("utf-8")))),
        ("cluster_id", String("utf-8")),
        ("controller_id", Int32),
        ("topics", Array(
            ("error_code", Int16), ("name", String("utf-8")), ("is_internal", Boolean),
            ("partitions", Array(
                ("error_code", Int16), ("partition_index", Int32), ("leader_id", Int32),
                ("leader_epoch", Int32), ("replica_nodes", Array(Int32)),
                ("isr_nodes", Array(Int32)), ("offline_replicas", Array(Int32)),
            )),
            ("topic_authorized_operations", Int32),
        )),
        ("cluster_authorized_operations", Int32),
    )  # fmt: skip


class _MetadataRequest_v8(RequestStruct):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 8
    RESPONSE_TYPE = _MetadataResponse_v8
    SCHEMA = Schema(
        ("topics", Array(String("utf-8"))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
    )


class _TopicAccessRequest(Request[_MetadataRequest_v8]):  # type: ignore[misc]
    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[_MetadataRequest_v8]) -> _MetadataRequest_v8:
        return request_struct_class(self._topics, False, False, True)
