"""Records a topic refuses for their size: dead letters, and the partition keeps flowing."""

from __future__ import annotations

import json

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from processor import headers as h
from tests.kafka_support import (
    Sample,
    all_committed,
    collect,
    create_topics,
    header,
    produce,
    running,
    settings_for,
    valid_value,
)


async def test_an_output_the_topic_refuses_becomes_a_dead_letter_and_later_records_still_flow(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, topic_partitions=1)
    await create_topics(settings, partitions=1)
    additions = f"{settings.input_topic}.additions"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        limit = {"max.message.bytes": "2000"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, additions, limit)])
    finally:
        await admin.close()
    huge = json.loads(valid_value("big", "acct", "add"))
    huge["id"] = "big-" + "x" * 3000  # fine as input, too large for the output topic
    samples = [Sample(huge["id"], b"acct", json.dumps(huge).encode(), True, "add")]
    samples += [Sample(f"ok-{i}", b"acct", valid_value(f"ok-{i}", "acct", "add"), True, "add")
                for i in range(20)]  # fmt: skip
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings):
        assert await all_committed(settings, timeout_s=60)
    delivery = await collect(settings)

    assert [header(r, h.DLQ_CLASS) for r in delivery.dead_letters] == [b"RecordTooLarge"]
    assert [header(r, h.DLQ_STAGE) for r in delivery.dead_letters] == [b"route"]
    ids = [(header(r, h.EVENT_ID) or b"").decode() for r in delivery.outputs[additions]]
    assert ids == [f"ok-{i}" for i in range(20)]
