"""``python -m bench.archive``: ``processor archive --once`` draining a backlog, beside kcat.

Each row drains the same preloaded topic into files and is timed from its start to its exit
(start-up and the group join included: the archive is a batch job here). Rows:

- ``archive raw``: a topic of generated transactions (about 400 bytes, 1% invalid), raw columns;
- ``archive typed``: the ledger entries the built-in pipeline makes of them, written to
  ``<topic>.additions``, so every record is validated into typed columns (decimals, timestamps);
- ``kcat to file``: ``kcat -C -e -f '%k\\t%s\\n'`` into a file: no columns, no compression, no
  commits; the librdkafka ceiling for moving the bytes (skipped when kcat is not installed).

Peak RSS is sampled over the process tree every 50 ms (psutil; without it, wait4's high-water
mark). Results go to ``bench/results/archive.md`` and ``archive.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.data import InputRecord, records
from bench.kafka import create_topics, delete_topics, preload
from bench.measure import Child
from processor.pipelines.transactions import Transaction, ledger_entry

RESULTS = Path(__file__).parent / "results"
MIB = 1024 * 1024


@dataclass
class ArchiveRow:
    name: str
    status: str  # ok, failed, skipped
    records: int
    input_mib: float
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    output_mib: float = 0.0
    note: str = ""

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def mib_per_s(self) -> float:
        return self.input_mib / self.seconds if self.seconds else 0.0


def ledger_records(data: list[InputRecord]) -> list[InputRecord]:
    """What the built-in pipeline writes to its additions topic for each valid record."""
    entries = []
    for record in data:
        if record.valid:
            value = ledger_entry(Transaction.model_validate_json(record.value))
            entries.append(InputRecord(record.key, value, True))
    return entries


def size_mib(data: list[InputRecord]) -> float:
    return sum(len(r.key) + len(r.value) for r in data) / MIB


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / MIB


async def measure(name: str, argv: list[str], work: Path, count: int, mib: float,
                  out: Path, timeout_s: float) -> ArchiveRow:  # fmt: skip
    started = time.perf_counter()
    child = Child(argv, work / f"{name.replace(' ', '-')}.log")
    try:
        await asyncio.wait_for(child.exited.wait(), timeout_s)
    except TimeoutError:
        measured = await child.finish(wait=False)
        return ArchiveRow(name, "failed", count, mib, note=f"timed out after {timeout_s:.0f} s")
    measured = await child.finish()
    seconds = time.perf_counter() - started
    row = ArchiveRow(
        name, "ok", count, mib, seconds, measured.peak_rss_bytes / MIB, folder_mib(out)
    )
    if measured.exit_code != 0:
        row.status, row.note = "failed", child.log_tail()
    return row


def archive_argv(bootstrap: str, topic: str, input_topic: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "processor", "archive", topic, "--to", str(out), "--once",
            "--bootstrap-servers", bootstrap, "--input-topic", input_topic, "--http-port", "0",
            "--log-level", "warning"]  # fmt: skip


async def run(args: argparse.Namespace, work: Path) -> list[ArchiveRow]:
    name = f"bench-archive-{uuid.uuid4().hex[:8]}"
    data = list(records(args.records, size=args.record_bytes))
    entries = ledger_records(data)
    topics = [name, f"{name}.additions"]
    await create_topics(args.bootstrap, topics, args.partitions)
    try:
        await preload(args.bootstrap, name, data, args.partitions)
        await preload(args.bootstrap, topics[1], entries, args.partitions)
        rows = []
        for label, topic, batch in (
            ("archive raw", name, data),
            ("archive typed", topics[1], entries),
        ):
            out = work / label.replace(" ", "-")
            argv = archive_argv(args.bootstrap, topic, name, out)
            rows.append(
                await measure(label, argv, work, len(batch), size_mib(batch), out, args.timeout)
            )
        rows.append(await kcat_row(args, name, data, work))
        return rows
    finally:
        await delete_topics(args.bootstrap, topics)


async def kcat_row(
    args: argparse.Namespace, topic: str, data: list[InputRecord], work: Path
) -> ArchiveRow:
    if shutil.which("kcat") is None:
        return ArchiveRow(
            "kcat to file", "skipped", len(data), size_mib(data), note="kcat is not installed"
        )
    out = work / "kcat"
    out.mkdir()
    command = (f"kcat -C -q -e -o beginning -b {args.bootstrap} -t {topic} "
               f"-f '%k\\t%s\\n' > {out}/records.txt")  # fmt: skip
    return await measure(
        "kcat to file", ["sh", "-c", command], work, len(data), size_mib(data), out, args.timeout
    )


def table(rows: list[ArchiveRow]) -> str:
    lines = ["| row | records | records/s | input MB/s | peak RSS MiB | files MiB | status |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        status = r.status + (f": {r.note}" if r.note else "")
        lines.append(f"| {r.name} | {r.records:,} | {r.records_per_s:,.0f} | {r.mib_per_s:.1f} | "
                     f"{r.peak_rss_mib:.0f} | {r.output_mib:.1f} | {status} |")  # fmt: skip
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__)
    p.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19592")
    )
    p.add_argument("--records", type=int, default=1_000_000, help="the backlog each row drains")
    p.add_argument("--record-bytes", type=int, default=400)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--timeout", type=float, default=900.0, help="per row (s)")
    p.add_argument("--smoke", action="store_true", help="20,000 records, for CI")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.smoke:
        args.records, args.timeout = 20_000, 120.0
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as work:
        rows = asyncio.run(run(args, Path(work)))
    command = " ".join(["python -m bench.archive", *(sys.argv[1:] if argv is None else argv)])
    text = (f"# Archive benchmark\n\n`{command}` on {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{os.cpu_count()} CPUs, {args.records:,} records of about {args.record_bytes} bytes, "
            f"{args.partitions} partitions\n\n{table(rows)}\n")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "archive.md").write_text(text)
    document = {"command": command, "records": args.records, "rows": [asdict(r) for r in rows]}
    (args.out / "archive.json").write_text(json.dumps(document, indent=2) + "\n")
    print(text)
    return 0 if all(r.status in ("ok", "skipped") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
