"""``processor status --watch``: with stdout not a terminal, one snapshot per interval and no
escape codes; on a terminal (a pseudo-terminal here), redrawn in place; Ctrl-C ends it with exit
0. Run as operators run it, stopped by SIGINT."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from processor.config import Settings
from tests.kafka_support import mixed_samples, produce
from tests.processes import ROOT
from tests.tools.support import flags, process_all

INTERVAL_S = 0.3
SNAPSHOTS = 3


def watched(settings: Settings, *options: str) -> tuple[int, str, str]:
    """Run ``status --watch`` until it printed ``SNAPSHOTS`` snapshots, then send SIGINT."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PROCESSOR_")},
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    command = [sys.executable, "-m", "processor", "status", "--watch", str(INTERVAL_S),
               *options, *flags(settings)]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    out = b""
    deadline = time.monotonic() + 60
    # Once a snapshot: the JSON document's time, the text's summary line.
    while len(re.findall(rb'"taken_at"|total lag', out)) < SNAPSHOTS:
        assert time.monotonic() < deadline, out
        out += process.stdout.read() or b""
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=30)
    out += rest
    return process.returncode, out.decode(), err.decode()


def processed(settings: Settings) -> Settings:
    asyncio.run(produce(settings.bootstrap_servers, settings.input_topic, mixed_samples(20)))
    process_all(settings)
    return settings


def test_watch_json_prints_one_document_a_line_per_interval_and_ctrl_c_exits_0(
    settings: Settings,
) -> None:
    code, out, err = watched(processed(settings), "--json")
    assert code == 0, err
    documents = [json.loads(line) for line in out.splitlines()]
    assert len(documents) >= SNAPSHOTS
    assert {d["group"] for d in documents} == {settings.group_id}
    times = [d["taken_at"] for d in documents]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert "Traceback" not in err


def test_watch_without_a_terminal_prints_snapshots_without_escape_codes(
    settings: Settings,
) -> None:
    code, out, err = watched(processed(settings))
    assert code == 0, err
    assert "\x1b" not in out
    snapshots = [s for s in out.split("\n\n\n") if s.strip()]
    assert len(snapshots) >= SNAPSHOTS
    assert all(s.lstrip("\n").startswith(f"group {settings.group_id}: ") for s in snapshots)


def test_watch_on_a_terminal_redraws_in_place(settings: Settings) -> None:
    processed(settings)
    main_fd, terminal_fd = pty.openpty()
    fcntl.ioctl(terminal_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "processor", "status", "--watch", str(INTERVAL_S),
               *flags(settings)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=terminal_fd)
    os.close(terminal_fd)
    out = b""
    deadline = time.monotonic() + 60
    while out.count(b"total lag") < SNAPSHOTS:
        assert time.monotonic() < deadline, out
        ready, _, _ = select.select([main_fd], [], [], 1)
        if ready:
            out += os.read(main_fd, 65536)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    os.close(main_fd)
    text = out.decode()
    assert text.startswith("\x1b[2J\x1b[H")  # cleared once, then each frame from the top
    assert text.count("\x1b[H") >= SNAPSHOTS
    frame = text.split("\x1b[H")[1]
    lines = frame.replace("\r", "").split("\x1b[K\n")
    assert lines[0].startswith(f"group {settings.group_id}: ")
    assert max(len(line) for line in lines if "\x1b" not in line) <= 100
