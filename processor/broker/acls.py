"""Grant and revoke ACLs on a running broker, through its admin (super-user) address.

aiokafka has the CreateAcls and DeleteAcls requests but no admin method for them; these are the
thin calls. Codes are Kafka's protocol numbers (``AclOperation``, ``ResourceType``, …).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

from processor.broker.jars import BrokerError
from processor.broker.probe import in_thread

CLUSTER = "kafka-cluster"  # the one name of the cluster resource
ANY_HOST = "*"
WILDCARD = "*"


class Resource(enum.IntEnum):
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5


class Operation(enum.IntEnum):
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10
    IDEMPOTENT_WRITE = 12


class Pattern(enum.IntEnum):
    LITERAL = 3
    PREFIXED = 4


_ALLOW = 3


@dataclass(frozen=True, slots=True)
class Acl:
    """Allow ``principal`` (``User:name``) ``operation`` on a resource, from any host."""

    principal: str
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = Pattern.LITERAL

    def line(self) -> str:
        """``User:x READ TOPIC orders``, as people read it."""
        pattern = "" if self.pattern is Pattern.LITERAL else " (prefix)"
        return f"{self.principal} {self.operation.name} {self.resource.name} {self.name}{pattern}"


def full_access(user: str) -> list[Acl]:
    """Everything a client needs on every topic, group and transactional id."""
    principal = f"User:{user}"
    return [
        Acl(principal, resource, WILDCARD, Operation.ALL)
        for resource in (Resource.TOPIC, Resource.GROUP, Resource.TRANSACTIONAL_ID)
    ]


def grant(admin_bootstrap: str, acls: Iterable[Acl]) -> None:
    """Create ``acls`` (creating one that exists changes nothing)."""
    in_thread(_send(admin_bootstrap, [_create(acl) for acl in acls], "creation_responses"))


def revoke(admin_bootstrap: str, acls: Iterable[Acl]) -> None:
    """Delete ``acls`` (an absent one is no error)."""
    in_thread(_send(admin_bootstrap, [_delete(acl) for acl in acls], "filter_responses"))


def _create(acl: Acl) -> CreateAclsRequest:
    return CreateAclsRequest(
        acl.resource, acl.name, acl.pattern, acl.principal, ANY_HOST, acl.operation, _ALLOW
    )


def _delete(acl: Acl) -> DeleteAclsRequest:
    return DeleteAclsRequest(
        acl.resource, acl.name, acl.pattern, acl.principal, ANY_HOST, acl.operation, _ALLOW
    )


async def _send(
    bootstrap: str, requests: list[CreateAclsRequest | DeleteAclsRequest], answers: str
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        for request in requests:
            response = await admin._send_request(request)  # aiokafka has no public method
            for answer in getattr(response, answers):
                code, message = answer[0], answer[1]
                if code:
                    raise BrokerError(f"the broker refused an ACL change (error {code}): {message}")
    finally:
        await admin.close()
