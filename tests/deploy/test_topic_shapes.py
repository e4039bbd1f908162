"""What `processor topics ensure` wants of each topic, and how it words a difference (pure)."""

from __future__ import annotations

from processor.commands.topics import TopicShape, differences, report, wanted_shapes
from processor.config import Settings
from processor.pipelines.transactions import pipeline as transactions


def test_every_topic_gets_the_topic_settings_and_the_dead_letters_their_own_retention() -> None:
    settings = Settings(
        input_topic="orders",
        topic_partitions=6,
        topic_replication_factor=3,
        topic_retention_ms=1_000,
        dlq_retention_ms=9_000,
    )
    assert wanted_shapes(settings, transactions) == {
        "orders": TopicShape(6, 3, 1_000),
        "orders.additions": TopicShape(6, 3, 1_000),
        "orders.refunds": TopicShape(6, 3, 1_000),
        "orders.dlq": TopicShape(6, 3, 9_000),
    }


def test_retention_defaults_to_a_week_for_topics_and_a_month_for_dead_letters() -> None:
    settings = Settings()
    assert settings.topic_retention_ms == 7 * 24 * 3600 * 1000
    assert settings.dlq_retention_ms == 30 * 24 * 3600 * 1000


def test_a_topic_that_matches_is_ok() -> None:
    shape = TopicShape(4, 1, 604_800_000)
    assert differences(shape, shape) == []
    assert report("t", shape, shape).line() == (
        "t: ok (partitions=4, replication=1, retention.ms=604800000)"
    )


def test_each_difference_is_named_with_both_values() -> None:
    actual, wanted = TopicShape(2, 1, 100), TopicShape(4, 3, 100)
    assert differences(actual, wanted) == [
        "partitions=2, settings say 4",
        "replication=1, settings say 3",
    ]
    assert report("t", actual, wanted).state == "differs"


def test_an_unknown_retention_differs() -> None:
    assert differences(TopicShape(4, 1, None), TopicShape(4, 1, 100)) == [
        "retention.ms=None, settings say 100"
    ]
