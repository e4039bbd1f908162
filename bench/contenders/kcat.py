"""``kcat`` consuming into ``kcat`` producing through a pipe: the librdkafka ceiling.

No validation: every record is copied unchanged (key and value, as unbuffered text lines) to
``<input>.additions``. The consumer commits automatically every second; this is a ceiling for
moving bytes, not a peer.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

from bench.contenders.common import ContenderArgs, parse_args


def commands(args: ContenderArgs) -> tuple[list[str], list[str]]:
    consume = [
        "kcat", "-C", "-q", "-u", "-b", args.bootstrap, "-G", args.group, args.input,
        "-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=1000",
        "-f", "%k\t%s\n",
    ]  # fmt: skip
    if args.expect:
        consume[2:2] = ["-c", str(args.expect)]
    produce = [
        "kcat", "-P", "-q", "-b", args.bootstrap, "-t", args.topics.additions, "-K", "\t",
        "-X", "acks=all", "-X", "linger.ms=5",
    ]  # fmt: skip
    return consume, produce


def run(args: ContenderArgs) -> int:
    if shutil.which("kcat") is None:
        print("kcat is not installed", file=sys.stderr)
        return 2
    consume, produce = commands(args)
    consumer = subprocess.Popen(consume, stdout=subprocess.PIPE)
    producer = subprocess.Popen(produce, stdin=consumer.stdout)
    assert consumer.stdout is not None
    consumer.stdout.close()  # the producer owns the read end now

    def stop(signum: int, frame: object) -> None:
        consumer.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer.wait()
    return producer.wait()  # flushes everything piped before it exits


if __name__ == "__main__":
    raise SystemExit(run(parse_args(__doc__ or "")))
