"""Fetch Apache Kafka's jars from Maven Central once, with Maven, and keep them in a cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

KAFKA_VERSION = "4.1.1"
# Kafka logs through slf4j 1.x; log4j-core comes with Kafka, the binding does not.
LOG4J_VERSION = "2.24.3"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.processor</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""


class BrokerError(RuntimeError):
    """The local broker cannot be fetched, started or stopped; the message says why."""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "processor" / f"kafka-{KAFKA_VERSION}"
    return Path(os.environ.get("PROCESSOR_BROKER_CACHE", default))


def ensure_jars(cache: Path | None = None) -> Path:
    """The folder of Kafka's jars, resolved with Maven on first use. Returns ``<cache>/libs``."""
    cache = cache or cache_dir()
    libs, done = cache / "libs", cache / "libs.complete"
    if done.exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError("Maven ('mvn') is not on PATH: it is needed once to fetch Kafka's jars")
    cache.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(libs, ignore_errors=True)  # a half-finished earlier copy
    (cache / "pom.xml").write_text(_POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
    command = ["mvn", "-q", "-B", "-f", str(cache / "pom.xml"),
               "dependency:copy-dependencies", f"-DoutputDirectory={libs}"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise BrokerError(f"Maven could not fetch Kafka {KAFKA_VERSION}: {' | '.join(tail)}")
    done.write_text(KAFKA_VERSION)
    return libs
