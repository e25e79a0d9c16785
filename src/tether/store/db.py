"""Opening the SQLite store: WAL mode, busy timeout, schema migrations.

Many CLI processes, the agent and job supervisors use the same file at once. WAL lets readers
run beside one writer; every write is a short ``BEGIN IMMEDIATE`` transaction, and
``busy_timeout`` makes a writer wait its turn instead of failing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tether.errors import TetherError
from tether.store.schema import MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 30_000
#: Overrides the busy timeout (milliseconds): fault tests shorten it to hold the lock briefly.
BUSY_TIMEOUT_ENV = "TETHER_DB_BUSY_TIMEOUT_MS"


def connect(path: Path) -> sqlite3.Connection:
    """Open the store at ``path``, creating or migrating it as needed."""
    busy_ms = _busy_timeout_ms()
    conn = sqlite3.connect(
        str(path), timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {busy_ms}")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        _migrate(conn, path)
    return conn


def _busy_timeout_ms() -> int:
    try:
        return max(1, int(os.environ.get(BUSY_TIMEOUT_ENV, BUSY_TIMEOUT_MS)))
    except ValueError:
        return BUSY_TIMEOUT_MS


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    with transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise TetherError(
                f"the store {path} was written by a newer tether (schema {version}, this one "
                f"knows {SCHEMA_VERSION}); upgrade tether or set TETHER_HOME to another folder"
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction taken at once (``BEGIN IMMEDIATE``), committed or rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
