"""Header names the processor writes: the one place they are spelled."""

# On every output record, so a downstream consumer can drop duplicates.
EVENT_ID = "event-id"
SOURCE = "source"

# Added to every dead letter, next to the original headers.
DLQ_STAGE = "dlq.error.stage"
DLQ_CLASS = "dlq.error.class"
DLQ_MESSAGE = "dlq.error.message"
DLQ_DETAIL = "dlq.error.detail"
DLQ_SOURCE_TOPIC = "dlq.source.topic"
DLQ_SOURCE_PARTITION = "dlq.source.partition"
DLQ_SOURCE_OFFSET = "dlq.source.offset"
DLQ_SOURCE_TIMESTAMP = "dlq.source.timestamp"
DLQ_GROUP = "dlq.consumer.group"
DLQ_ATTEMPTS = "dlq.attempts"
DLQ_FAILED_AT = "dlq.failed.at"
# Only on a dead letter that had to be cut to fit its topic: what was cut, with original sizes.
DLQ_CUT = "dlq.cut"

# Added by `processor dlq replay`; kept when a replayed record fails again.
DLQ_REPLAYED_AT = "dlq.replayed.at"
DLQ_REPLAY_COUNT = "dlq.replay.count"

# Every dead letter carries each of these exactly once.
DLQ_HEADERS = (
    DLQ_STAGE,
    DLQ_CLASS,
    DLQ_MESSAGE,
    DLQ_DETAIL,
    DLQ_SOURCE_TOPIC,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_TIMESTAMP,
    DLQ_GROUP,
    DLQ_ATTEMPTS,
    DLQ_FAILED_AT,
)
# Every header a dead letter may get from us: the ones it always has, and the optional ones.
DLQ_OWN = (*DLQ_HEADERS, DLQ_CUT)
