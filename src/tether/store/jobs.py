"""Jobs: the record of one run of a program, and the store that keeps them."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from tether.errors import JobNotFound
from tether.store.db import connect, transaction


class Status(str, Enum):
    """A job's status. Equal to (and stored as) its lower-case value; ``tether.jobs.state``
    owns the moves between them."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return self.value.__format__(spec)


QUEUED = Status.QUEUED
RUNNING = Status.RUNNING
SUCCEEDED = Status.SUCCEEDED
FAILED = Status.FAILED
CANCELLED = Status.CANCELLED
LOST = Status.LOST
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED, LOST})


def iso(ts: float | None) -> str | None:
    """A unix time as ISO 8601 with the local offset (None stays None)."""
    if ts is None:
        return None
    from datetime import datetime, timezone

    return (
        datetime.fromtimestamp(ts, tz=timezone.utc).astimezone().isoformat(timespec="milliseconds")
    )


def _uuid4() -> str:
    """A random (version 4) UUID string, without importing the slow ``uuid`` module."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


BACKENDS: tuple[str, ...] = ("local", "ssh", "slurm")
"""What runs a job: this machine's agent, an SSH host's tether, or a Slurm cluster."""


@dataclass(frozen=True)
class Placement:
    """Where a job runs: the backend, the host (``local`` for this machine), the job's id there
    (a Slurm job id; the host's uuid of an SSH job) and the host's own number for it."""

    backend: str
    host: str
    remote_id: str | None = None
    remote_number: int | None = None


@dataclass
class JobSpec:
    """What to run: everything a caller decides before the job exists."""

    command: list[str]
    cwd: str
    name: str
    env: dict[str, str] | None = None
    target: str = "local"
    parent: int | None = None
    script: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    uuid: str | None = None
    """The job's uuid; None picks a fresh one (a record of a remote job keeps the host's)."""
    backend: str | None = None
    """One of :data:`BACKENDS`; None means ``local``, for a job whose target is ``local``."""
    remote_id: str | None = None
    remote_number: int | None = None

    def placement(self) -> Placement:
        """The checked placement: a job for another host must say which backend runs it."""
        backend = self.backend or ("local" if self.target == "local" else None)
        if backend not in BACKENDS:
            raise ValueError(f"job {self.name!r} for {self.target!r}: backend {backend!r}")
        return Placement(backend, self.target, self.remote_id, self.remote_number)


@dataclass
class Job:
    """One job as stored."""

    number: int
    uuid: str
    name: str
    command: list[str]
    cwd: str
    env: dict[str, str] | None
    target: str
    status: str
    exit_code: int | None
    reason: str | None
    pid: int | None
    pid_started: float | None
    supervisor_pid: int | None
    supervisor_started: float | None
    created: float
    started: float | None
    ended: float | None
    parent: int | None
    job_dir: str
    log_path: str
    cancel_requested: bool
    script: str | None
    extra: dict[str, Any]
    backend: str = "local"
    remote_id: str | None = None
    remote_number: int | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["command"] = json.loads(data["command"])
        data["env"] = json.loads(data["env"]) if data["env"] else None
        data["extra"] = json.loads(data["extra"] or "{}")
        data["cancel_requested"] = bool(data["cancel_requested"])
        data["status"] = Status(data["status"])
        return cls(**data)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def host(self) -> str:
        return self.target

    @property
    def machine(self) -> str:
        """The name of the machine the job runs on: this machine's own name for a local job,
        else the host's name in ``hosts.toml``."""
        return socket.gethostname() if self.target == "local" else self.target

    @property
    def placement(self) -> Placement:
        """Where the job runs (typed; no ``extra`` keys to read)."""
        return Placement(self.backend, self.target, self.remote_id, self.remote_number)

    @property
    def slurm_id(self) -> str | None:
        """The Slurm job id of a job submitted to Slurm; None otherwise (not submitted too)."""
        return self.remote_id if self.backend == "slurm" else None

    @property
    def remote_uuid(self) -> str | None:
        """The uuid on its host of the local record of a job on an SSH host; None otherwise."""
        return self.remote_id if self.backend == "ssh" else None

    @property
    def runtime(self) -> float | None:
        """Seconds run so far (or in all, once finished)."""
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    @property
    def dir(self) -> Path:
        return Path(self.job_dir)

    @property
    def user_command(self) -> list[str]:
        """The command as the user gave it: a script's stored-copy loader is shown as the
        script (``python train.py --lr 1``), ``-m`` as ``python -m MODULE``."""
        extra = self.extra
        if len(self.command) < 2 or not ("argv0" in extra or "run_module" in extra):
            return list(self.command)
        module = extra.get("run_module")
        shown = ["-m", str(module)] if module else [str(extra["argv0"])]
        return [self.command[0], *shown, *self.command[2:]]

    def to_json(self) -> dict[str, Any]:
        """The stable, documented JSON form (times in ISO 8601)."""
        return {
            "number": self.number,
            "uuid": self.uuid,
            "name": self.name,
            "status": self.status,
            "exit_code": self.exit_code,
            "reason": self.reason,
            "host": self.host,
            "backend": self.backend,
            "remote_id": self.remote_id,
            "remote_number": self.remote_number,
            "command": self.user_command,
            "launch": self.command,
            "cwd": self.cwd,
            "script": self.script,
            "pid": self.pid,
            "parent": self.parent,
            "created": iso(self.created),
            "started": iso(self.started),
            "ended": iso(self.ended),
            "runtime": self.runtime,
            "log_path": self.log_path,
            "job_dir": self.job_dir,
        }


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
                    QUEUED,
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
    ) -> list[Job]:
        """Jobs, oldest first (the last ``limit`` of them when given)."""
        where, args = [], []
        if statuses is not None:
            wanted = list(statuses)
            where.append(f"status IN ({','.join('?' * len(wanted))})")
            args.extend(wanted)
        if target is not None:
            where.append("target = ?")
            args.append(target)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY number DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Job.from_row(r) for r in reversed(self.conn.execute(sql, args).fetchall())]

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
                    (*chunk, QUEUED, RUNNING),
                )
            )
        return found

    def iter_where(self, sql_where: str, args: tuple[Any, ...] = ()) -> Iterator[Job]:
        for row in self.conn.execute(f"SELECT * FROM jobs WHERE {sql_where}", args):
            yield Job.from_row(row)

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
                (QUEUED, target),
            ).fetchone()
            if row is None:
                return None
            self.conn.execute(
                "UPDATE jobs SET status = ?, started = ? WHERE number = ?",
                (RUNNING, time.time(), row[0]),
            )
        return self.get(row[0])

    def update(self, number: int, **fields: Any) -> None:
        """Change columns other than ``status`` (which only :mod:`tether.jobs.state` writes)."""
        if not fields:
            return
        if "status" in fields:
            raise ValueError("a job's status changes only through tether.jobs.state")
        for key in ("extra", "env", "command"):
            if key in fields and not isinstance(fields[key], str) and fields[key] is not None:
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with transaction(self.conn):
            self.conn.execute(
                f"UPDATE jobs SET {cols} WHERE number = ?", (*fields.values(), number)
            )

    def merge_extra(self, number: int, **values: Any) -> None:
        """Add keys to a job's ``extra`` JSON object."""
        with transaction(self.conn):
            row = self.conn.execute("SELECT extra FROM jobs WHERE number = ?", (number,)).fetchone()
            extra = json.loads(row[0] or "{}") if row else {}
            extra.update(values)
            self.conn.execute(
                "UPDATE jobs SET extra = ? WHERE number = ?", (json.dumps(extra), number)
            )

    def set_status(self, number: int, status: str, *, only_if: str, **more: Any) -> bool:
        """Compare-and-set a job's status (and ``more`` columns) in one transaction: only when
        it is still ``only_if``. A primitive of :mod:`tether.jobs.state`; call that instead."""
        for key in ("extra", "env", "command"):
            if key in more and not isinstance(more[key], str) and more[key] is not None:
                more[key] = json.dumps(more[key])
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
