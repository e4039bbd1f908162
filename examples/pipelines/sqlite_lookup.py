"""Route each order line by what a SQLite product catalogue says: a blocking pipeline (executor
"thread").

What it shows:

- a route that blocks (a database driver, a file, a synchronous client) runs in a thread pool of
  ``PROCESSOR_EXECUTOR_WORKERS`` threads (default 32), so the event loop keeps reading, writing
  and committing meanwhile; the records of one key still go one at a time and in input order;
- one connection per thread (``threading.local``): a sqlite3 connection belongs to the thread
  that opened it, and the threads never wait on each other's connection;
- ``start()`` checks the database once, so a wrong path stops the processor at start with one
  line instead of dead-lettering every record;
- routing by what the lookup finds: enough stock goes to ``<input topic>.fulfil``, too little to
  ``<input topic>.backorder`` (both keyed by order id), a discontinued product is a ``Drop`` and
  an unknown SKU a ``Reject`` (dead letter class ``UnknownSku``).

Input, on ``PROCESSOR_INPUT_TOPIC``::

    {"order_id": "o-1", "line_id": "o-1/1", "sku": "KB-101", "quantity": 2}

The catalogue is a table ``products(sku, stock, warehouse, discontinued)``; write a small one
and run the pipeline on it, from the repository root (so that ``examples`` is importable)::

    .venv/bin/python -m examples.pipelines.sqlite_lookup catalogue.sqlite3
    CATALOGUE_DB=catalogue.sqlite3 PYTHONPATH=. \\
        PROCESSOR_PIPELINE=examples.pipelines.sqlite_lookup:pipeline processor run
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, Field

from processor import Drop, Output, Pipeline, Reject, Source
from processor.pipeline import Outcome

DATABASE_VARIABLE = "CATALOGUE_DB"
DEFAULT_DATABASE = "catalogue.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY,
    stock INTEGER NOT NULL,
    warehouse TEXT NOT NULL,
    discontinued INTEGER NOT NULL DEFAULT 0
)
"""
FIND_PRODUCT = "SELECT sku, stock, warehouse, discontinued FROM products WHERE sku = ?"


class OrderLine(BaseModel):
    order_id: str = Field(min_length=1)
    line_id: str = Field(min_length=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class Product(NamedTuple):
    """One row of the catalogue."""

    sku: str
    stock: int
    warehouse: str
    discontinued: bool


class PlacedLine(OrderLine):
    """What the outputs carry: the line, where it ships from and what was in stock."""

    warehouse: str
    in_stock: int


class CatalogueLookup(Pipeline[OrderLine]):
    """Sends each order line to fulfilment or to the backorders, as the catalogue says."""

    model = OrderLine
    executor = "thread"

    def __init__(self, database: str | Path) -> None:
        self.database = Path(database)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()

    def output_topics(self, input_topic: str) -> Sequence[str]:
        return (f"{input_topic}.fulfil", f"{input_topic}.backorder")

    async def start(self) -> None:
        await asyncio.to_thread(self._check_database)

    async def close(self) -> None:
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()

    def route(self, record: OrderLine, source: Source) -> Outcome:
        product = self.find(record.sku)
        if product is None:
            return Reject(f"unknown SKU {record.sku!r}", error_class="UnknownSku")
        if product.discontinued:
            return Drop(f"{record.sku} is discontinued")
        destination = "fulfil" if product.stock >= record.quantity else "backorder"
        placed = PlacedLine(
            **record.model_dump(), warehouse=product.warehouse, in_stock=product.stock
        )
        return Output(
            topic=f"{source.topic}.{destination}",
            key=record.order_id,
            value=placed,
            event_id=record.line_id,
        )

    def find(self, sku: str) -> Product | None:
        """The catalogue's row for ``sku``; blocks, so it runs in a pool thread."""
        row = self._connection().execute(FIND_PRODUCT, (sku,)).fetchone()
        return None if row is None else Product(row[0], row[1], row[2], bool(row[3]))

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def _connect(self) -> sqlite3.Connection:
        # Read-only: the pipeline never writes, and a missing file is an error, not a new database.
        # check_same_thread=False only so that close() may close it from the event loop's thread;
        # it is used by its own pool thread alone.
        uri = f"{self.database.resolve().as_uri()}?mode=ro"
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    def _check_database(self) -> None:
        try:
            with contextlib.closing(self._connect()) as connection:
                connection.execute(FIND_PRODUCT, ("",)).fetchall()
        except sqlite3.Error as exc:
            raise RuntimeError(f"cannot read the catalogue {str(self.database)!r}: {exc}") from None


def pipeline() -> CatalogueLookup:
    """What ``PROCESSOR_PIPELINE`` names: the catalogue at ``$CATALOGUE_DB``."""
    return CatalogueLookup(os.environ.get(DATABASE_VARIABLE, DEFAULT_DATABASE))


def write_catalogue(database: str | Path, products: Iterable[Product]) -> None:
    """Create (or add to) the catalogue at ``database``."""
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(SCHEMA)
        connection.executemany(
            "INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?)",
            [(p.sku, p.stock, p.warehouse, int(p.discontinued)) for p in products],
        )


if __name__ == "__main__":
    write_catalogue(
        sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATABASE,
        [
            Product("KB-101", 40, "berlin", False),
            Product("MS-202", 0, "berlin", False),
            Product("MN-303", 5, "lyon", False),
            Product("CB-404", 100, "lyon", True),
        ],
    )
