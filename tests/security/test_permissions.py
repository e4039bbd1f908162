"""ACLs: with one permission missing, each command names it and the resource in one line and
exits 6; a permission revoked while the processor runs makes it unready with the reason, commits
nothing past the records it could not write, and it recovers, losing nothing, once granted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from processor.broker import LocalBroker
from processor.broker.acls import Acl, Operation, Pattern, Resource, grant, revoke
from processor.broker.certificates import issue
from processor.commands.failures import EXIT_PERMISSION
from processor.pipelines.transactions import pipeline as transactions
from tests.kafka_support import (
    all_committed,
    collect,
    committed,
    create_topics,
    end_offsets,
    mixed_samples,
    produce,
    running,
    settings_for,
    wait_until,
)
from tests.security.support import secure_settings
from tests.tools.test_one_line_errors import one_line, processor


class Principal:
    """A user of its own (a client certificate ``CN=<name>``) with the processor's ACLs, on a
    test's own topics and group."""

    def __init__(self, broker: LocalBroker, name: str, folder: Path) -> None:
        self.broker, self.name = broker, name
        self.admin = settings_for(broker.bootstrap, name)  # the super user's address
        issued = issue(broker.credentials.authority, folder, name)
        self.settings = secure_settings(
            broker, "SSL", "", ssl_certfile=issued.cert, ssl_keyfile=issued.key,
            input_topic=name, group_id=self.admin.group_id, commit_interval_ms=200,
        )  # fmt: skip
        user = f"User:{name}"
        outputs = transactions.output_topics(name)
        self.acls = {
            "read input": Acl(user, Resource.TOPIC, name, Operation.READ),
            "write input": Acl(user, Resource.TOPIC, name, Operation.WRITE),
            "write additions": Acl(user, Resource.TOPIC, outputs[0], Operation.WRITE),
            "write refunds": Acl(user, Resource.TOPIC, outputs[1], Operation.WRITE),
            "write dead letters": Acl(user, Resource.TOPIC, f"{name}.dlq", Operation.WRITE),
            "read dead letters": Acl(user, Resource.TOPIC, f"{name}.dlq", Operation.READ),
            "read group": Acl(user, Resource.GROUP, self.admin.group_id, Operation.READ),
        }
        grant(broker.bootstrap, self.acls.values())

    def environment(self) -> dict[str, Any]:
        s = self.settings
        return {
            **self.broker.client_settings("SSL"),
            "PROCESSOR_SSL_CERTFILE": str(s.ssl_certfile),
            "PROCESSOR_SSL_KEYFILE": str(s.ssl_keyfile),
            "PROCESSOR_INPUT_TOPIC": s.input_topic,
            "PROCESSOR_GROUP_ID": s.group_id,
        }


@pytest.fixture
def principal(secure_broker: LocalBroker, unique_name: str, tmp_path: Path) -> Principal:
    user = Principal(secure_broker, unique_name, tmp_path)
    asyncio.run(create_topics(user.admin, partitions=2))
    return user


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("read input", "may not READ topic '{name}'"),
        ("write additions", "may not WRITE topic '{name}.additions'"),
        ("write dead letters", "may not WRITE topic '{name}.dlq'"),
        ("read group", "may not READ group '{name}-group'"),
    ],
)
def test_run_names_the_missing_permission_and_exits_6(
    principal: Principal, secure_broker: LocalBroker, missing: str, expected: str
) -> None:
    revoke(secure_broker.bootstrap, [principal.acls[missing]])

    done = processor("run", "--startup-timeout-s", "30", **principal.environment())

    assert done.returncode == EXIT_PERMISSION, done.stderr
    line = one_line(done)
    assert expected.format(name=principal.name) in line
    assert f"principal of {principal.settings.ssl_certfile}" in line


@pytest.mark.parametrize(
    ("command", "missing", "expected"),
    [
        (["produce", "-"], "write input", "may not WRITE topic '{name}'"),
        (["dlq", "list"], "read dead letters", "may not READ topic '{name}.dlq'"),
        (["dlq", "show", "0"], "read dead letters", "may not READ topic '{name}.dlq'"),
        (["audit"], None, "may not READ topic '{name}.additions'"),
        (["archive", "{name}.dlq", "--to", "{tmp}", "--once"], "read dead letters", "READ topic"),
        (["topics", "ensure"], None, "may not DESCRIBE_CONFIGS topic '{name}'"),
        (["status"], "read group", "may not DESCRIBE group '{name}-group'"),
        (
            ["archive", "{name}.dlq", "--to", "{tmp}", "--once", "--group", "{name}-group"],
            "read group",
            "may not READ group '{name}-group'",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_a_tool_command_names_the_missing_permission_and_exits_6(
    principal: Principal,
    secure_broker: LocalBroker,
    tmp_path: Path,
    command: list[str],
    missing: str | None,
    expected: str,
) -> None:
    if missing is not None:
        revoke(secure_broker.bootstrap, [principal.acls[missing]])
    argv = [part.format(name=principal.name, tmp=tmp_path / "archive") for part in command]

    done = processor(*argv, **principal.environment())

    assert done.returncode == EXIT_PERMISSION, done.stderr
    assert expected.format(name=principal.name) in one_line(done)


def test_audit_names_the_group_it_may_not_describe(
    principal: Principal, secure_broker: LocalBroker
) -> None:
    user, name = f"User:{principal.name}", principal.name
    readable = [*transactions.output_topics(name), f"{name}.dlq"]  # all the audit reads
    grant(secure_broker.bootstrap, [Acl(user, Resource.TOPIC, t, Operation.READ) for t in readable])
    revoke(secure_broker.bootstrap, [principal.acls["read group"]])

    done = processor("audit", **principal.environment())

    assert done.returncode == EXIT_PERMISSION, done.stderr
    assert f"may not DESCRIBE group '{principal.admin.group_id}'" in one_line(done)


@pytest.mark.parametrize(
    ("revoked", "reason"),
    [("write additions", "may not WRITE topic '{name}.additions'"),
     ("read input", "may not READ topic '{name}'")],
)  # fmt: skip
async def test_a_permission_revoked_while_running_stalls_then_recovers_without_loss(
    principal: Principal, secure_broker: LocalBroker, revoked: str, reason: str
) -> None:
    admin, settings = principal.admin, principal.settings
    first, second = mixed_samples(400)[:200], mixed_samples(400)[200:]
    await produce(admin.bootstrap_servers, admin.input_topic, first)
    write = principal.acls[revoked]
    expected = reason.format(name=principal.name)

    async with running(settings) as (processor, _):
        assert await all_committed(admin, timeout_s=60)
        await asyncio.to_thread(revoke, secure_broker.bootstrap, [write])
        await produce(admin.bootstrap_servers, admin.input_topic, second)

        async def unready() -> bool:
            return expected in (processor.trouble or "")

        assert await wait_until(unready, timeout_s=30)
        await asyncio.sleep(1.0)  # several commit intervals
        ends = await end_offsets(admin.bootstrap_servers, admin.input_topic)
        assert await committed(admin.bootstrap_servers, admin.group_id, admin.input_topic) != {
            partition: end for partition, end in ends.items() if end
        }

        await asyncio.to_thread(grant, secure_broker.bootstrap, [write])
        assert await all_committed(admin, timeout_s=60)
        assert processor.trouble is None

    delivery = await collect(admin)
    assert sorted(delivery.ids()) == sorted(sample.test_id for sample in first + second)


def test_exactly_once_names_the_missing_transactional_id_permission_and_exits_6(
    principal: Principal,
) -> None:
    environment = principal.environment() | {"PROCESSOR_GUARANTEE": "exactly-once"}

    done = processor("run", "--startup-timeout-s", "30", **environment)

    assert done.returncode == EXIT_PERMISSION, done.stderr
    expected = f"may not WRITE transactional id '{principal.admin.group_id}-{principal.name}-0'"
    assert expected in one_line(done)


async def test_exactly_once_runs_with_a_prefixed_transactional_id_permission(
    principal: Principal, secure_broker: LocalBroker
) -> None:
    group = principal.admin.group_id
    transactions_acl = Acl(
        f"User:{principal.name}", Resource.TRANSACTIONAL_ID, f"{group}-", Operation.WRITE,
        Pattern.PREFIXED,
    )  # fmt: skip
    await asyncio.to_thread(grant, secure_broker.bootstrap, [transactions_acl])
    samples = mixed_samples(200)
    await produce(principal.admin.bootstrap_servers, principal.name, samples)
    settings = principal.settings.model_copy(update={"guarantee": "exactly-once"})

    async with running(settings):
        assert await all_committed(principal.admin, timeout_s=60)

    delivery = await collect(principal.admin)
    assert sorted(delivery.ids()) == sorted(sample.test_id for sample in samples)
