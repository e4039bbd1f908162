"""The CPU-heavy example: comments are pseudonymised and scored in worker processes, then
published or held."""

from __future__ import annotations

import json
import os
import random

from examples.pipelines.cpu_heavy import (
    ROUNDS,
    Comment,
    ModerateComments,
    ModeratedComment,
    pseudonym,
    spam_score,
)
from processor import Source
from processor import headers as h
from processor.config import load_settings
from processor.testing import run_pipeline
from tests.examples.support import event_ids_by_key, sample_ids_by_key
from tests.kafka_support import (
    Sample,
    all_committed,
    create_topics,
    header,
    produce,
    read_all,
    running,
    settings_for,
)

KEY = b"test-key"
CLEAN = "Thanks for the write-up, the second part on retries was really useful."
SPAM = "FREE crypto prize for every winner, click https://spam.example now!"


def comment(comment_id: str, post_id: str, text: str, email: str = "ada@example.org") -> bytes:
    body = {"comment_id": comment_id, "post_id": post_id, "author_email": email, "text": text}
    return json.dumps(body).encode()


def test_plain_text_scores_low_and_spam_scores_high() -> None:
    assert spam_score(CLEAN) == 0.0
    assert spam_score(SPAM) >= 0.5
    assert spam_score("CAN ANYONE HELP ME WITH THIS PLEASE") > spam_score("Can anyone help?")


def test_a_pseudonym_is_stable_keyed_and_hides_the_address() -> None:
    one = pseudonym("Ada@Example.org ", KEY, rounds=10)

    assert one == pseudonym("ada@example.org", KEY, rounds=10)
    assert one != pseudonym("ada@example.org", b"other key", rounds=10)
    assert one != pseudonym("bob@example.org", KEY, rounds=10)
    assert "ada" not in one


def test_route_is_a_plain_function() -> None:
    record = Comment(comment_id="cm-1", post_id="p-1", author_email="ada@example.org", text=SPAM)
    source = Source("comments", 0, 0, None, (), 0)

    output = ModerateComments(KEY, rounds=10).route(record, source)

    assert (output.topic, output.key, output.event_id) == ("comments.held", "p-1", "cm-1")


def test_comments_are_scored_in_worker_processes() -> None:
    records = [comment("cm-1", "p-1", CLEAN), comment("cm-2", "p-1", SPAM), comment("cm-3", "", "")]
    settings = load_settings(input_topic="input", executor_workers=2)

    result = run_pipeline(ModerateComments(KEY), records, settings)

    assert [(o.topic, o.header(h.EVENT_ID)) for o in result.outputs] == [
        ("input.published", "cm-1"),
        ("input.held", "cm-2"),
    ]
    published = ModeratedComment.model_validate_json(result.outputs[0].value or b"")
    assert published.author == pseudonym("ada@example.org", KEY, rounds=ROUNDS)
    assert b"ada@example.org" not in (result.outputs[0].value or b"")
    assert {o.header("worker-pid") for o in result.outputs}.isdisjoint({str(os.getpid())})
    [invalid] = result.dead_letters
    assert invalid.stage == "validate"


def comment_samples(count: int, posts: int, spam_every: int) -> list[Sample]:
    rng = random.Random(count)
    samples = []
    for n in range(count):
        spam = n % spam_every == 0
        text = f"{SPAM} #{n}" if spam else f"{CLEAN} #{n}"
        post_id = f"p-{rng.randrange(posts)}"
        value = comment(f"cm-{n}", post_id, text, email=f"user{n % 17}@example.org")
        samples.append(Sample(f"cm-{n}", post_id.encode(), value, valid=True))
    return samples


async def test_comments_are_moderated_by_other_processes_through_a_real_broker(
    bootstrap_servers: str, unique_name: str
) -> None:
    settings = settings_for(bootstrap_servers, unique_name, concurrency=16, executor_workers=2)
    samples = comment_samples(300, posts=20, spam_every=10)
    pipeline = ModerateComments(KEY)
    await create_topics(settings, pipeline=pipeline)
    await produce(bootstrap_servers, settings.input_topic, samples)

    async with running(settings, pipeline):
        assert await all_committed(settings)

    by_id = {s.test_id: json.loads(s.value or b"") for s in samples}
    held = [s for s in samples if SPAM in by_id[s.test_id]["text"]]
    published = [s for s in samples if s not in held]
    pids = set()
    for topic, expected in (("held", held), ("published", published)):
        outputs = await read_all(bootstrap_servers, f"{settings.input_topic}.{topic}")
        assert event_ids_by_key(outputs) == sample_ids_by_key(expected)
        for output in outputs:
            moderated = ModeratedComment.model_validate_json(output.value)
            original = by_id[moderated.comment_id]
            assert moderated.author == pseudonym(original["author_email"], KEY, rounds=ROUNDS)
            assert moderated.text == original["text"]
            pids.add(int(header(output, "worker-pid") or b"0"))
    assert pids
    assert os.getpid() not in pids
    assert await read_all(bootstrap_servers, settings.dead_letter_topic) == []
