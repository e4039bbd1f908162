"""The processor with its default settings, started as operators start it: ``processor run``.

By default that is a supervisor with one consumer process per CPU, so it cannot count what the
whole group committed; the harness stops it (SIGTERM) once the group has committed everything.
``PROCESSOR_*`` variables still apply (the curves set ``PROCESSOR_CONCURRENCY``, ``_PROCESSES``,
``_PIPELINE``...).
"""

from __future__ import annotations

from bench.contenders.common import ContenderArgs, parse_args
from processor.commands.cli import main


def run_argv(args: ContenderArgs) -> list[str]:
    # Several contenders share the machine: no metrics server, no summary line.
    return [
        "run", "--bootstrap-servers", args.bootstrap, "--input-topic", args.input,
        "--group-id", args.group, "--log-level", "warning", "--log-format", "console",
        "--http-port", "0", "--summary-interval-s", "0",
    ]  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main(run_argv(parse_args(__doc__ or ""))))
