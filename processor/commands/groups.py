"""A consumer group as its coordinator describes it: state, members, and each one's partitions.

aiokafka's admin client asks DescribeGroups at v3 at most, which has no group instance ids
(static membership); they came in v4. This module adds v4 (its schema from Kafka's protocol
definition) and falls back to aiokafka's versions on a broker without it. It sends through
aiokafka's client, not public API: the one place here that does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import (
    NoError,
    for_code,
)
from aiokafka.protocol.admin import (
    DescribeGroupsRequest_v1,
    DescribeGroupsRequest_v2,
    DescribeGroupsRequest_v3,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Bytes, Int16, Int32, Schema, String

from processor.commands.coordinator import once_ready

# What a coordinator says of a group it does not know.
NO_SUCH_GROUP = "Dead"


class UnknownGroupError(LookupError):
    """The cluster knows nothing of the group: no members and no committed offsets."""


# aiokafka's types are Any to mypy (pyproject.toml): subclassing them needs the ignores.
class DescribeGroupsResponse_v4(Response):  # type: ignore[misc]
    API_KEY = 15
    API_VERSION = 4
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "groups",
            Array(
                ("error_code", Int16),
                ("group", String("utf-8")),
                ("state", String("utf-8")),
                ("protocol_type", String("utf-8")),
                ("protocol", String("utf-8")),
                (
                    "members",
                    Array(
                        ("member_id", String("utf-8")),
                        ("group_instance_id", String("utf-8")),  # nullable
                        ("client_id", String("utf-8")),
                        ("client_host", String("utf-8")),
                        ("member_metadata", Bytes),
                        ("member_assignment", Bytes),
                    ),
                ),
                ("authorized_operations", Int32),
            ),
        ),
    )


class DescribeGroupsRequest_v4(RequestStruct):  # type: ignore[misc]
    API_KEY = 15
    API_VERSION = 4
    RESPONSE_TYPE = DescribeGroupsResponse_v4
    SCHEMA = Schema(("groups", Array(String("utf-8"))), ("include_authorized_operations", Boolean))


VERSIONS = (
    DescribeGroupsRequest_v1 | DescribeGroupsRequest_v2 | DescribeGroupsRequest_v3
    | DescribeGroupsRequest_v4
)  # fmt: skip


class DescribeGroup(Request[VERSIONS]):  # type: ignore[misc]
    """DescribeGroups for one group, at the highest version both sides know."""

    API_KEY = 15

    def __init__(self, group_id: str) -> None:
        self._group_id = group_id

    def build(self, request_struct_class: type[Any]) -> Any:
        if request_struct_class.API_VERSION < 3:
            return request_struct_class([self._group_id])
        return request_struct_class([self._group_id], False)


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    client_id: str
    host: str
    instance_id: str | None  # static membership; None when dynamic (or the broker is old)
    partitions: tuple[tuple[str, int], ...]  # (topic, partition), sorted


@dataclass(frozen=True, slots=True)
class Group:
    group_id: str
    state: str  # Stable, Empty, PreparingRebalance, CompletingRebalance, Dead
    protocol_type: str
    members: tuple[Member, ...]


async def describe_group(admin: AIOKafkaAdminClient, group_id: str) -> Group:
    """``group_id`` as its coordinator describes it (state ``Dead`` when it has none)."""

    async def ask() -> Group:
        node = await admin.find_coordinator(group_id)
        response = await admin._client.send(node, DescribeGroup(group_id))
        return group_of(response.to_object())

    return await once_ready(ask)


def group_of(response: dict[str, Any]) -> Group:
    """A DescribeGroups response (any version, as ``to_object`` gives it) for one group."""
    [described] = response["groups"]
    error = for_code(described["error_code"])
    if error is not NoError:
        raise error(f"describing group {described['group']!r}")
    consumer = described["protocol_type"] == "consumer"
    members = tuple(
        Member(
            member["member_id"],
            member["client_id"],
            member["client_host"].lstrip("/"),
            member.get("group_instance_id"),
            assigned(member["member_assignment"]) if consumer else (),
        )
        for member in described["members"]
    )
    return Group(described["group"], described["state"], described["protocol_type"], members)


def assigned(data: bytes | None) -> tuple[tuple[str, int], ...]:
    """The partitions a consumer's assignment names; none while a rebalance has not given one."""
    if not data:
        return ()
    assignment = ConsumerProtocolMemberAssignment.decode(data)
    return tuple(
        sorted((topic, p) for topic, partitions in assignment.assignment for p in partitions)
    )
