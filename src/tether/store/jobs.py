"""Jobs: the store that keeps the record of each run of a program (the records themselves
are in :mod:`tether.store.records`, and named from here too)."""

from __future__ import annotations

import gc
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tether.errors import JobNotFound
from tether.store.db import connect, transaction
from tether.store.records import (
    BACKENDS,
    JOB_COLUMNS,
    QUEUED_VALUE,
    RUNNING_VALUE,
    Job,
    JobSpec,
    Placement,
    _uuid4,
    iso,
)

__all__ = [
    "BACKENDS",
    "Job",
    "JobSpec",
    "JobStore",
    "Placement",
    "iso",
]


class JobStore:
    """All reads and writes of jobs. Safe to use from many processes at once."""

    def __init__(self, home: Path, conn: sqlite3.Connection | None = None) -> None:
        self.home = home
        self.conn = conn or connect(home / "tether.db")

    def close(self) -> None:
        self.conn.close()

    # -- creating -------------------------------------------------------------------------
    def add(self, spec: JobSpec) -> Job:
        """Queue one job."""
        return self.add_many([spec])[0]

    def add_many(self, specs: Iterable[JobSpec]) -> list[Job]:
        """Queue many jobs in one transaction (fast batch submit)."""
        now = time.time()
        rows = []
        for spec in specs:
            job_uuid = spec.uuid or _uuid4()
            job_dir = self.home / "jobs" / job_uuid
            where = spec.placement()
            rows.append(
                (
                    job_uuid,
                    spec.name,
                    json.dumps(spec.command),
                    spec.cwd,
                    json.dumps(spec.env) if spec.env is not None else None,
                    spec.target,
                    QUEUED_VALUE,
                    now,
                    spec.parent,
                    str(job_dir),
                    str(job_dir / "output.log"),
                    spec.script,
                    json.dumps(spec.extra),
                    where.backend,
                    where.remote_id,
                    where.remote_number,
                )
            )
        numbers = []
        with transaction(self.conn):
            for row in rows:
                cur = self.conn.execute(
                    "INSERT INTO jobs (uuid, name, command, cwd, env, target, status, created,"
                    " parent, job_dir, log_path, script, extra, backend, remote_id, remote_number)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    row,
                )
                numbers.append(cur.lastrowid)
        return [self.get(n) for n in numbers if n is not None]

    # -- reading --------------------------------------------------------------------------
    def get(self, number: int) -> Job:
        row = self.conn.execute("SELECT * FROM jobs WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job #{number}; `tether ls` lists the jobs there are")
        return Job.from_row(row)

    def jobs(
        self,
        *,
        statuses: Iterable[str] | None = None,
        target: str | None = None,
        limit: int | None = None,
        listing: bool = False,
    ) -> list[Job]:
        """Jobs, oldest first (the last ``limit`` of them when given). With ``listing``, their
        environments are not read (``env`` is None): a listing never shows them."""
        where, args = _filters(statuses, target)
        sql = f"SELECT {_columns(listing)} FROM jobs WHERE {where} ORDER BY number DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._jobs(sql, args)[::-1]

    def _jobs(self, sql: str, args: Sequence[Any]) -> list[Job]:
        """The jobs of ``sql``, which selects :func:`_columns` (rows read as tuples: a listing
        of 10,000 jobs builds in half the time of rows read as mappings)."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        with gc_paused():
            return list(map(Job.from_values, cursor.execute(sql, args).fetchall()))

    def data_version(self) -> int:
        """A number that changes when another connection (the agent, a supervisor) commits a
        change to the store: a cheap question to ask often while waiting."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def count_jobs(
        self, *, statuses: Iterable[str] | None = None, target: str | None = None
    ) -> int:
        """How many jobs have one of ``statuses`` (and run on ``target``), when given."""
        where, args = _filters(statuses, target)
        return int(
            self.conn.execute(f"SELECT count(*) FROM jobs WHERE {where}", args).fetchone()[0]
        )

    def window(
        self,
        *,
        latest: int,
        statuses: Iterable[str] | None = None,
        target: str | None = None,
    ) -> tuple[list[Job], int]:
        """What a listing shows, oldest first: every queued and running job and the
        ``latest`` newest finished ones (of ``statuses``, on ``target``, when given), and how
        many other jobs match. Three queries on indexed columns, whatever the number of jobs;
        the jobs' environments are not read (``env`` is None)."""
        where, args = _filters(statuses, target)
        live = (QUEUED_VALUE, RUNNING_VALUE)
        columns = _columns(listing=True)
        unfinished = self._jobs(
            f"SELECT {columns} FROM jobs WHERE {where} AND status IN (?, ?) ORDER BY number",
            (*args, *live),
        )
        finished = self._jobs(
            f"SELECT {columns} FROM jobs WHERE {where} AND status NOT IN (?, ?)"
            " ORDER BY number DESC LIMIT ?",
            (*args, *live, int(latest)),
        )
        jobs = sorted([*unfinished, *finished], key=lambda j: j.number)
        total = int(
            self.conn.execute(f"SELECT count(*) FROM jobs WHERE {where}", args).fetchone()[0]
        )
        return jobs, total - len(jobs)

    def unfinished(self, numbers: Iterable[int]) -> list[Job]:
        """Those of ``numbers`` that are still queued or running, in order."""
        nums = sorted(numbers)
        found: list[Job] = []
        for i in range(0, len(nums), 500):
            chunk = nums[i : i + 500]
            found.extend(
                Job.from_row(r)
                for r in self.conn.execute(
                    f"SELECT * FROM jobs WHERE number IN ({','.join('?' * len(chunk))})"
                    " AND status IN (?, ?) ORDER BY number",
                    (*chunk, QUEUED_VALUE, RUNNING_VALUE),
                )
            )
        return found

    def statuses(self, numbers: Iterable[int]) -> dict[int, tuple[str, str]]:
        """The status and backend of each of ``numbers`` that is a job (a query per 500)."""
        nums = list(numbers)
        found: dict[int, tuple[str, str]] = {}
        for i in range(0, len(nums), 500):
            chunk = nums[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT number, status, backend FROM jobs WHERE number IN ({marks})"
            found.update((n, (st, be)) for n, st, be in self.conn.execute(sql, chunk))
        return found

    def iter_where(self, sql_where: str, args: tuple[Any, ...] = ()) -> Iterator[Job]:
        for row in self.conn.execute(f"SELECT * FROM jobs WHERE {sql_where}", args):
            yield Job.from_row(row)

    def unseen_retries(self, statuses: Sequence[str]) -> list[Job]:
        """This machine's jobs in ``statuses`` run with ``--retry`` whose next attempt its
        agent has not decided yet (``extra["retried_by"]`` unset)."""
        marks = ",".join("?" * len(statuses))
        # a text match, then Python's reading: SQLite (before 3.42) rejects the NaN that
        # Python's JSON writes, and a job that failed on a NaN loss is one to retry
        found = self.iter_where(
            f"status IN ({marks}) AND target = 'local' AND extra LIKE ?",
            (*statuses, '%"retry"%'),
        )
        return [
            j for j in found
            if j.extra.get("retry") is not None and j.extra.get("retried_by") is None
        ]  # fmt: skip

    def count(self, status: str, target: str = "local") -> int:
        return int(
            self.conn.execute(
                "SELECT count(*) FROM jobs WHERE status = ? AND target = ?", (status, target)
            ).fetchone()[0]
        )

    def resolve(self, ref: str | None) -> Job:
        """Find a job by number, uuid prefix or name pattern; ``None`` means the last job.

        A name pattern is a shell-style glob (``train*``) or a substring; the newest match wins.
        """
        if ref is None or ref in ("", "last", "-"):
            row = self.conn.execute("SELECT * FROM jobs ORDER BY number DESC LIMIT 1").fetchone()
            if row is None:
                raise JobNotFound("there are no jobs yet; start one with `tether run SCRIPT.py`")
            return Job.from_row(row)
        text = ref.lstrip("#")
        if text.isdigit():
            row = self.conn.execute("SELECT * FROM jobs WHERE number = ?", (int(text),)).fetchone()
            if row is not None or len(text) < 4:
                return self.get(int(text))
        if len(text) >= 4 and all(c in "0123456789abcdef-" for c in text.lower()):
            rows = self.conn.execute(
                "SELECT * FROM jobs WHERE uuid LIKE ? ORDER BY number DESC", (text.lower() + "%",)
            ).fetchall()
            if len(rows) == 1:
                return Job.from_row(rows[0])
        for pattern in (text, f"*{text}*"):
            row = self.conn.execute(
                "SELECT * FROM jobs WHERE name GLOB ? ORDER BY number DESC LIMIT 1", (pattern,)
            ).fetchone()
            if row is not None:
                return Job.from_row(row)
        raise JobNotFound(
            f"no job matches {ref!r} (a job number, a uuid prefix or a name); "
            "`tether ls` lists the jobs"
        )

    # -- changing -------------------------------------------------------------------------
    def claim_next(self, target: str = "local") -> Job | None:
        """Mark the oldest queued job of ``target`` as running and return it (FIFO).

        A primitive of :mod:`tether.jobs.state` (``state.claim_next``); call that instead."""
        with transaction(self.conn):
            row = self.conn.execute(
                "SELECT number FROM jobs WHERE status = ? AND target = ? ORDER BY number LIMIT 1",
                (QUEUED_VALUE, target),
            ).fetchone()
            if row is None:
                return None
            self.conn.execute(
                "UPDATE jobs SET status = ?, started = ? WHERE number = ?",
                (RUNNING_VALUE, time.time(), row[0]),
            )
        return self.get(row[0])

    def update(self, number: int, **fields: Any) -> None:
        """Change columns other than ``status`` (which only :mod:`tether.jobs.state` writes)."""
        if not fields:
            return
        if "status" in fields:
            raise ValueError("a job's status changes only through tether.jobs.state")
        fields = _as_columns(fields)
        cols = ", ".join(f"{k} = ?" for k in fields)
        with transaction(self.conn):
            self.conn.execute(
                f"UPDATE jobs SET {cols} WHERE number = ?", (*fields.values(), number)
            )

    def merge_extra(self, number: int, **values: Any) -> None:
        """Add keys to a job's ``extra`` JSON object."""
        self.update_with_extra(number, values)

    def update_with_extra(self, number: int, extra: dict[str, Any], **fields: Any) -> None:
        """Add the keys of ``extra`` to a job's ``extra`` JSON object and change columns
        (as :meth:`update`), in one transaction."""
        if "status" in fields or "extra" in fields:
            raise ValueError("give the status to tether.jobs.state, extra's keys as extra")
        fields = _as_columns(fields)
        cols = "".join(f", {k} = ?" for k in fields)
        with transaction(self.conn):
            row = self.conn.execute("SELECT extra FROM jobs WHERE number = ?", (number,)).fetchone()
            merged = json.loads(row[0] or "{}") if row else {}
            merged.update(extra)
            self.conn.execute(
                f"UPDATE jobs SET extra = ?{cols} WHERE number = ?",
                (json.dumps(merged), *fields.values(), number),
            )

    def set_status(self, number: int, status: str, *, only_if: str, **more: Any) -> bool:
        """Compare-and-set a job's status (and ``more`` columns) in one transaction: only when
        it is still ``only_if``. A primitive of :mod:`tether.jobs.state`; call that instead."""
        more = _as_columns(more)
        cols = "".join(f", {name} = ?" for name in more)
        sql = f"UPDATE jobs SET status = ?{cols} WHERE number = ? AND status = ?"
        args: list[Any] = [str(status), *more.values(), number, str(only_if)]
        with transaction(self.conn):
            return self.conn.execute(sql, args).rowcount == 1

    def delete(self, numbers: Iterable[int]) -> None:
        nums = list(numbers)
        with transaction(self.conn):
            self.conn.execute(
                f"UPDATE jobs SET parent = NULL WHERE parent IN ({','.join('?' * len(nums))})",
                nums,
            )
            self.conn.executemany("DELETE FROM jobs WHERE number = ?", [(n,) for n in nums])

    # -- settings ---------------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def _as_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` as column values: ``extra``, ``env`` and ``command`` given as Python
    objects are written as JSON text."""
    return {
        k: json.dumps(v) if k in _JSON_COLUMNS and v is not None and not isinstance(v, str) else v
        for k, v in fields.items()
    }


_JSON_COLUMNS = ("extra", "env", "command")


def _columns(listing: bool) -> str:
    """The columns a query reads, in :data:`JOB_COLUMNS`' order: all, or for a listing all
    but the environment (1.5 kB of JSON for a typical job: a listing never shows it)."""
    return ", ".join("NULL AS env" if c == "env" and listing else c for c in JOB_COLUMNS)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while thousands of records are built (they hold no
    cycles; the collector's passes over them were a tenth of a listing's time)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _filters(statuses: Iterable[str] | None, target: str | None) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause (``1=1`` for none) and its arguments: one of ``statuses``, on
    ``target`` (the columns of the ``jobs_by_status`` index)."""
    where, args = ["1=1"], []
    if statuses is not None:
        wanted = list(statuses)
        where.append(f"status IN ({','.join('?' * len(wanted))})")
        args.extend(wanted)
    if target is not None:
        where.append("target = ?")
        args.append(target)
    return " AND ".join(where), args
