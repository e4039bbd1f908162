"""The archive of one processor run over 20,000 records, made once for the archive tests."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from processor.config import Settings
from processor.pipelines.transactions import pipeline as transactions
from tests.archive.support import archive_once
from tests.kafka_support import create_topics, mixed_samples, produce, settings_for
from tests.tools.support import process_all

RECORDS = 20_000
FILE_RECORDS = 1_500


@dataclass(frozen=True)
class Archived:
    settings: Settings
    root: Path
    outputs: list[str]
    stdout: str


@pytest.fixture(scope="session")
def archived(bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Archived:
    """The processor's run over 20,000 records, archived once: input, outputs, dead letters."""
    name = "t-archive-" + uuid.uuid4().hex[:12]
    settings = settings_for(bootstrap_servers, name, archive_file_max_records=FILE_RECORDS)
    asyncio.run(create_topics(settings))
    asyncio.run(produce(bootstrap_servers, name, mixed_samples(RECORDS)))
    process_all(settings)
    root = tmp_path_factory.mktemp("archive")
    outputs = list(transactions.output_topics(name))
    topics = [name, *outputs, settings.dead_letter_topic]
    done = archive_once(
        settings, root, *topics, env={"PROCESSOR_ARCHIVE_FILE_MAX_RECORDS": str(FILE_RECORDS)}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return Archived(settings, root, outputs, done.stdout)
