"""The processor with its default settings (``PROCESSOR_*`` variables still apply, e.g. workers).

It runs in this process, so it can stop itself once the group has committed ``--expect`` records.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.contenders.common import ContenderArgs, on_stop_signals, parse_args
from processor.app import Processor
from processor.config import Settings, load_settings
from processor.logs import configure_logging
from processor.pipelines.transactions import pipeline


def settings_for(args: ContenderArgs) -> Settings:
    overrides: dict[str, Any] = {
        "bootstrap_servers": args.bootstrap,
        "input_topic": args.input,
        "group_id": args.group,
        "log_level": "warning",
    }
    # Several contenders share the machine: no metrics server, no summary line.
    quiet = {"http_port": 0, "summary_interval_s": 0}
    overrides.update({k: v for k, v in quiet.items() if k in Settings.model_fields})
    return load_settings(**overrides)


async def run(args: ContenderArgs) -> int:
    settings = settings_for(args)
    configure_logging(settings.log_level, "console")
    processor = Processor(settings, pipeline)
    on_stop_signals(processor.stop)

    async def stop_when_committed() -> None:
        while sum(processor.stats.committed.values()) < args.expect:
            await asyncio.sleep(0.02)
        processor.stop()

    watcher = asyncio.create_task(stop_when_committed()) if args.expect else None
    code = await processor.run()
    if watcher is not None:
        watcher.cancel()
    return code


if __name__ == "__main__":
    raise SystemExit(asyncio.run(run(parse_args(__doc__ or ""))))
