"""``processor dlq list --follow``: the newest, then each new dead letter as it arrives, until
Ctrl-C (exit 0). Run as operators run it: a separate process, stopped by SIGINT."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from processor import headers as h
from processor.config import Settings
from tests.kafka_support import Sample, produce
from tests.processes import ROOT
from tests.tools.support import flags

LINE_WAIT_S = 60


def forged(number: int) -> Sample:
    """A dead letter as the processor writes one, enough for the dlq commands."""
    own = ((h.DLQ_STAGE, b"validate"), (h.DLQ_CLASS, b"ValidationError"),
           (h.DLQ_MESSAGE, f"letter {number}".encode()), (h.DLQ_SOURCE_TOPIC, b"tx"))  # fmt: skip
    return Sample(f"f-{number}", b"k", b'{"n": %d}' % number, False, headers=own)


class Following:
    """A running ``dlq list --follow`` whose output lines arrive on a queue."""

    def __init__(self, settings: Settings, *options: str) -> None:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("PROCESSOR_")},
               "PYTHONPATH": str(ROOT)}  # fmt: skip
        command = [sys.executable, "-m", "processor", "dlq", "list", "--follow", *options,
                   *flags(settings)]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self) -> str:
        return self.lines.get(timeout=LINE_WAIT_S)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


@pytest.fixture
def following(settings: Settings) -> Iterator[list[Following]]:
    started: list[Following] = []
    yield started
    for each in started:
        if each.process.poll() is None:
            each.process.kill()
            each.process.wait()


def send(settings: Settings, *numbers: int) -> None:
    samples = [forged(n) for n in numbers]
    asyncio.run(produce(settings.bootstrap_servers, settings.dead_letter_topic, samples))


def test_follow_prints_the_newest_then_each_new_one_and_ctrl_c_exits_0(
    settings: Settings, following: list[Following]
) -> None:
    send(settings, 1, 2, 3)
    follow = Following(settings, "--json", "--tail", "2")
    following.append(follow)
    first = [json.loads(follow.next_line())["message"] for _ in range(2)]
    assert first == ["letter 2", "letter 3"]  # the newest two, the newest last as it grows
    send(settings, 4)
    arrived = json.loads(follow.next_line())
    assert (arrived["message"], arrived["value"]) == ("letter 4", {"n": 4})
    assert follow.interrupt() == 0
    assert follow.process.stderr is not None
    assert "Traceback" not in follow.process.stderr.read()


def test_follow_as_a_table_keeps_its_columns_for_rows_that_arrive(
    settings: Settings, following: list[Following]
) -> None:
    follow = Following(settings)
    following.append(follow)
    header = follow.next_line()
    assert header.split()[0] == "P/OFFSET"
    send(settings, 7)
    row = follow.next_line()
    assert row.index("validate") == header.index("STAGE")
    assert "letter 7" in row
    assert len(row) <= 80
    assert follow.interrupt() == 0
