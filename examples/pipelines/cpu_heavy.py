"""Moderate comments on every CPU: a CPU-heavy pipeline (executor "process").

Each comment's author e-mail is replaced by a pseudonym, stretched through a keyed SHA-256 hash
chain (about a millisecond of CPU) so that the outputs carry no personal data and guessing an
address back from its pseudonym is slow; the text gets a spam score, and comments over the
threshold are held for a moderator.

What it shows:

- a route that computes runs in a process pool of ``PROCESSOR_EXECUTOR_WORKERS`` processes
  (default one per CPU): every core works and the event loop stays free. Each round of the chain
  is a short hash that holds the GIL, so threads would only take turns;
- what crosses to the worker processes must pickle: the pipeline (a module-level class with
  plain attributes and nothing open), each record and each outcome. ``start()`` and ``close()``,
  if a pipeline has them, run in the processor's own process, not in the workers;
- the worker's pid in a ``worker-pid`` header, to tell which process handled a record.

Input, on ``PROCESSOR_INPUT_TOPIC``::

    {"comment_id": "cm-1", "post_id": "p-9", "author_email": "ada@example.org",
     "text": "Great write-up, thanks!"}

Output, keyed by post id: published comments on ``<input topic>.published``, the rest on
``<input topic>.held``, with ``author`` (the pseudonym) instead of the e-mail and the
``spam_score``.

Run it from the repository root (so that ``examples`` is importable); set ``PSEUDONYM_KEY`` to a
secret of your own::

    PSEUDONYM_KEY=... PYTHONPATH=. \\
        PROCESSOR_PIPELINE=examples.pipelines.cpu_heavy:pipeline processor run
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from processor import Output, Pipeline, Source

KEY_VARIABLE = "PSEUDONYM_KEY"
ROUNDS = 1000  # about 1 ms of CPU
HOLD_AT_SCORE = 0.5
SPAM_WORDS = frozenset(
    {"bitcoin", "casino", "cheap", "click", "crypto", "free", "offer", "prize", "viagra", "winner"}
)
WORD = re.compile(r"[a-z0-9']+")
LINK = re.compile(r"https?://")


class Comment(BaseModel):
    comment_id: str = Field(min_length=1)
    post_id: str = Field(min_length=1)
    author_email: str = Field(min_length=3)
    text: str = Field(min_length=1, max_length=10_000)


class ModeratedComment(BaseModel):
    """What the outputs carry."""

    comment_id: str
    post_id: str
    author: str
    text: str
    spam_score: float


class ModerateComments(Pipeline[Comment]):
    """Pseudonymises each comment's author and publishes it or holds it by its spam score."""

    model = Comment
    executor = "process"

    def __init__(self, key: bytes, rounds: int = ROUNDS, hold_at: float = HOLD_AT_SCORE) -> None:
        self.key = key
        self.rounds = rounds
        self.hold_at = hold_at

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (f"{input_topic}.published", f"{input_topic}.held")

    def route(self, record: Comment, source: Source) -> Output:
        score = spam_score(record.text)
        moderated = ModeratedComment(
            comment_id=record.comment_id,
            post_id=record.post_id,
            author=pseudonym(record.author_email, self.key, self.rounds),
            text=record.text,
            spam_score=score,
        )
        destination = "held" if score >= self.hold_at else "published"
        return Output(
            topic=f"{source.topic}.{destination}",
            key=record.post_id,
            value=moderated,
            headers=(("worker-pid", str(os.getpid()).encode()),),
            event_id=record.comment_id,
        )


def pseudonym(email: str, key: bytes, rounds: int) -> str:
    """The same e-mail always gives the same pseudonym; reversing it costs ``rounds`` hashes per
    guess."""
    digest = hashlib.sha256(key + email.strip().lower().encode()).digest()
    for _ in range(rounds):
        digest = hashlib.sha256(key + digest).digest()
    return digest.hex()[:32]


def spam_score(text: str) -> float:
    """From 0 (clean) to 1: the share of spam words, plus links and shouting."""
    words = WORD.findall(text.lower())
    spam_share = sum(word in SPAM_WORDS for word in words) / max(len(words), 1)
    links = len(LINK.findall(text))
    letters = [c for c in text if c.isalpha()]
    shouting = sum(c.isupper() for c in letters) / len(letters) if len(letters) >= 10 else 0.0
    return round(min(1.0, 2 * spam_share + 0.25 * links + 0.5 * max(shouting - 0.5, 0.0)), 3)


# A plain instance: it pickles, so each worker process gets its own copy.
pipeline = ModerateComments(key=os.environ.get(KEY_VARIABLE, "").encode())
