"""The notification outbox: every notification is a row here before any channel sees it.

Rows are written in the same transaction as the watcher's progress for the job
(``notify_state``), so a crash never loses an event nor queues it twice; the notifier then
sends due rows and marks each ``sent``, or schedules a retry, or gives up (``failed``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tether.store.db import transaction
from tether.store.jobs import iso

PENDING = "pending"
SENT = "sent"
FAILED = "failed"


@dataclass
class NewRow:
    """A notification to queue: one event of one job for one channel."""

    key: str
    event: str
    channel: str
    channel_display: str
    payload: dict[str, Any]


@dataclass
class OutboxRow:
    """One queued notification as stored."""

    id: int
    job: int | None
    key: str
    event: str
    channel: str
    channel_display: str
    created: float
    attempts: int
    next_attempt: float
    sent_at: float | None
    last_error: str | None
    status: str
    payload: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxRow:
        data = dict(row)
        data["payload"] = json.loads(data["payload"] or "{}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form of ``tether notifications --json`` (no secrets, no payload)."""
        return {
            "id": self.id,
            "job": self.job,
            "event": self.event,
            "channel": self.channel_display,
            "status": self.status,
            "attempts": self.attempts,
            "created": iso(self.created),
            "sent": iso(self.sent_at),
            "next_attempt": iso(self.next_attempt) if self.status == PENDING else None,
            "error": self.last_error,
        }


@dataclass
class WatchState:
    """How far the watcher got with one job."""

    job: int
    started_done: bool = False
    events_offset: int = 0
    last_interval: float | None = None
    stall_mark: float | None = None
    done: bool = False


class Outbox:
    """Reads and writes of ``outbox`` and ``notify_state`` on an open store connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- watching jobs -------------------------------------------------------------------
    def watched_jobs(self) -> list[int]:
        """Numbers of jobs that have started and whose notifications are not all queued."""
        rows = self.conn.execute(
            "SELECT j.number FROM jobs j LEFT JOIN notify_state s ON s.job = j.number"
            " WHERE (s.done IS NULL OR s.done = 0) AND j.status != 'queued' ORDER BY j.number"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def state(self, job: int) -> WatchState:
        row = self.conn.execute("SELECT * FROM notify_state WHERE job = ?", (job,)).fetchone()
        if row is None:
            return WatchState(job)
        return WatchState(
            job=row["job"],
            started_done=bool(row["started_done"]),
            events_offset=row["events_offset"],
            last_interval=row["last_interval"],
            stall_mark=row["stall_mark"],
            done=bool(row["done"]),
        )

    def commit(self, state: WatchState, rows: Iterable[tuple[int | None, NewRow]]) -> int:
        """Queue ``rows`` (job, row) and save ``state`` in one transaction; returns rows added."""
        now = time.time()
        added = 0
        with transaction(self.conn):
            for job, row in rows:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO outbox (job, key, event, channel, channel_display,"
                    " created, next_attempt, payload) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        job,
                        row.key,
                        row.event,
                        row.channel,
                        row.channel_display,
                        now,
                        now,
                        json.dumps(row.payload, default=str),
                    ),
                )
                added += cur.rowcount
            self.conn.execute(
                "INSERT INTO notify_state (job, started_done, events_offset, last_interval,"
                " stall_mark, done) VALUES (?,?,?,?,?,?) ON CONFLICT(job) DO UPDATE SET"
                " started_done = excluded.started_done, events_offset = excluded.events_offset,"
                " last_interval = excluded.last_interval, stall_mark = excluded.stall_mark,"
                " done = excluded.done",
                (
                    state.job,
                    int(state.started_done),
                    state.events_offset,
                    state.last_interval,
                    state.stall_mark,
                    int(state.done),
                ),
            )
        return added

    # -- delivering ------------------------------------------------------------------------
    def due(self, now: float | None = None, limit: int = 20) -> list[OutboxRow]:
        """Pending rows whose next attempt is due, oldest first."""
        rows = self.conn.execute(
            "SELECT * FROM outbox WHERE status = ? AND next_attempt <= ? ORDER BY id LIMIT ?",
            (PENDING, time.time() if now is None else now, limit),
        ).fetchall()
        return [OutboxRow.from_row(r) for r in rows]

    def next_due(self) -> float | None:
        """When the next pending row is due (None when nothing is pending)."""
        row = self.conn.execute(
            "SELECT min(next_attempt) FROM outbox WHERE status = ?", (PENDING,)
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def mark_sent(self, row_id: int) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE outbox SET status = ?, sent_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE id = ?",
                (SENT, time.time(), row_id),
            )

    def mark_attempt_failed(self, row_id: int, error: str, retry_at: float | None) -> None:
        """Record a failed attempt; ``retry_at=None`` gives up on the row (``failed``)."""
        with transaction(self.conn):
            if retry_at is None:
                self.conn.execute(
                    "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?"
                    " WHERE id = ?",
                    (FAILED, error, row_id),
                )
            else:
                self.conn.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt = ?"
                    " WHERE id = ?",
                    (error, retry_at, row_id),
                )

    # -- listing ---------------------------------------------------------------------------
    def for_job(self, job: int) -> list[OutboxRow]:
        rows = self.conn.execute("SELECT * FROM outbox WHERE job = ? ORDER BY id", (job,))
        return [OutboxRow.from_row(r) for r in rows.fetchall()]
