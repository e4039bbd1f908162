"""``processor audit --isolation`` against the real broker: outputs written in committed, aborted
and open transactions, counted as each isolation level reads them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from processor import headers as h
from processor.commands.cli import main
from processor.config import Settings
from processor.engine.deadletter import source_header
from processor.pipeline import Source
from processor.pipelines.transactions import pipeline as transactions
from tests.kafka_support import end_offsets, mixed_samples, produce, read_all
from tests.tools.support import flags

INPUTS = 6
ABORTED = 2  # the first inputs' outputs written again, in a transaction then aborted


def inputs_of(settings: Settings) -> list[Any]:
    """Valid samples sent to the input topic and committed by the group as if processed, read
    back with their coordinates."""
    samples = [s for s in mixed_samples(INPUTS * 2) if s.valid][:INPUTS]
    asyncio.run(produce(settings.bootstrap_servers, settings.input_topic, samples))
    asyncio.run(commit_every_input(settings))
    return asyncio.run(read_all(settings.bootstrap_servers, settings.input_topic))


async def commit_every_input(settings: Settings) -> None:
    # Also makes sure the group has a coordinator before the audit asks it for offsets.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.group_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        ends = await end_offsets(settings.bootstrap_servers, settings.input_topic)
        tps = {TopicPartition(settings.input_topic, p): end for p, end in ends.items() if end}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()


async def start_transaction(settings: Settings, name: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        transactional_id=f"{settings.input_topic}-{name}",
    )
    await producer.start()
    await producer.begin_transaction()
    return producer


async def send_outputs(producer: AIOKafkaProducer, settings: Settings, records: list[Any]) -> None:
    """An output per input record, as the processor writes it: with its ``source`` header."""
    topic = transactions.output_topics(settings.input_topic)[0]
    for record in records:
        source = Source(record.topic, record.partition, record.offset, record.key, (), 0)
        headers = [(h.SOURCE, source_header(source))]
        await (await producer.send(topic, record.value, key=record.key, headers=headers))


async def write_outputs(settings: Settings, records: list[Any], *, commit: bool) -> None:
    producer = await start_transaction(settings, "committed" if commit else "aborted")
    try:
        await send_outputs(producer, settings, records)
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
    finally:
        await producer.stop()


def audited(settings: Settings, capsys: pytest.CaptureFixture[str], *options: str) -> Any:
    """The JSON report, after checking that the audit exits 0."""
    capsys.readouterr()
    assert main(["audit", "--json", *options, *flags(settings)]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def committed_and_aborted(settings: Settings) -> Settings:
    """Every input's output committed, then outputs of the first inputs again in an aborted
    transaction."""
    records = inputs_of(settings)
    asyncio.run(write_outputs(settings, records, commit=True))
    asyncio.run(write_outputs(settings, records[:ABORTED], commit=False))
    return settings


def test_read_committed_counts_aborted_outputs_apart_from_the_outputs(
    committed_and_aborted: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    report = audited(committed_and_aborted, capsys, "--isolation", "read_committed")
    assert report["isolation"] == "read_committed"
    assert (report["outputs"], report["duplicates"]) == (INPUTS, 0)
    assert (report["aborted"], report["open"], report["lost"]) == (ABORTED, 0, 0)


def test_read_uncommitted_counts_aborted_outputs_as_duplicates_too(
    committed_and_aborted: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    report = audited(committed_and_aborted, capsys, "--isolation", "read_uncommitted")
    assert report["isolation"] == "read_uncommitted"
    assert (report["outputs"], report["duplicates"]) == (INPUTS + ABORTED, ABORTED)
    assert (report["aborted"], report["open"], report["lost"]) == (ABORTED, 0, 0)


def test_the_isolation_defaults_to_the_isolation_level_setting(
    committed_and_aborted: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    report = audited(committed_and_aborted, capsys, "--isolation-level", "read_uncommitted")
    assert (report["isolation"], report["outputs"]) == ("read_uncommitted", INPUTS + ABORTED)


def test_outputs_of_a_transaction_still_open_are_counted_as_open(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    records = inputs_of(settings)
    asyncio.run(write_outputs(settings, records, commit=True))
    with asyncio.Runner() as runner:  # the transaction stays open while the audit runs
        producer = runner.run(start_transaction(settings, "open"))
        try:
            runner.run(send_outputs(producer, settings, records[:1]))
            assert main(["audit", *flags(settings)]) == 0
        finally:
            runner.run(producer.abort_transaction())
            runner.run(producer.stop())
    lines = capsys.readouterr().out.splitlines()
    assert "aborted: 0" in [line.strip() for line in lines]
    assert "open: 1" in [line.strip() for line in lines]


def test_an_unknown_isolation_is_a_one_line_error_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["audit", "--isolation", "bogus"])
    assert exit_info.value.code == 2
    [error] = capsys.readouterr().err.splitlines()
    assert error == (
        "processor: error: --isolation: invalid choice: 'bogus' "
        "(choose from 'read_committed', 'read_uncommitted')"
    )
