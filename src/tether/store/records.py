"""The record of one run of a program: its status, where it runs (its placement), what to
run (``JobSpec``) and the stored row (``Job``). The store that keeps them is
:mod:`tether.store.jobs`."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

QUEUED_VALUE = "queued"
RUNNING_VALUE = "running"
FINISHED_VALUES = frozenset({"succeeded", "failed", "cancelled", "lost"})
"""The values of the status column the store itself acts on (a claim, a finished record).
The state model, :mod:`tether.jobs.status`, names every status and owns the moves between
them; ``tests/test_job_state.py`` checks that these agree with it."""


def iso(ts: float | None) -> str | None:
    """A unix time as ISO 8601 with the local offset (None stays None): what
    ``datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")`` gives,
    made from ``time.localtime`` (a listing of 10,000 jobs makes 30,000 of them)."""
    if ts is None:
        return None
    frac, whole = math.modf(ts)
    micros = round(frac * 1e6)  # as datetime rounds: to the microsecond, half to even
    if micros < 0:
        whole, micros = whole - 1, micros + 1_000_000
    elif micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    t = time.localtime(whole)
    zone = _zones.get(t.tm_gmtoff) or _zone(t.tm_gmtoff)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', t)}.{micros // 1000:03d}{zone}"


_zones: dict[int, str] = {}


def _zone(gmtoff: int) -> str:
    """``+01:00`` for 3600 seconds east of UTC (seconds too when there are some)."""
    sign, offset = ("-", -gmtoff) if gmtoff < 0 else ("+", gmtoff)
    hours, rest = divmod(offset, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    _zones[gmtoff] = text
    return text


def _object(text: str | None) -> dict[str, Any]:
    """A JSON object column (most are ``{}``: not parsed)."""
    return json.loads(text) if text and text != "{}" else {}


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
    def from_row(cls, row: sqlite3.Row | Mapping[str, Any]) -> Job:
        data = dict(row)
        data["command"] = json.loads(data["command"])
        data["env"] = json.loads(data["env"]) if data["env"] else None
        data["extra"] = _object(data["extra"])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> Job:
        """A job from a row's values in the order of :data:`JOB_COLUMNS` (a listing makes
        thousands: a tuple is half the cost of a row read as a mapping)."""
        row = list(values)
        row[3] = json.loads(row[3])  # command
        row[5] = json.loads(row[5]) if row[5] else None  # env
        row[20] = bool(row[20])  # cancel_requested
        row[22] = _object(row[22])  # extra
        return cls(*row)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_VALUES

    @property
    def host(self) -> str:
        return self.target

    @property
    def machine(self) -> str:
        """The name of the machine the job runs on: this machine's own name for a local job,
        else the host's name in ``hosts.toml``."""
        if self.target != "local":
            return self.target
        import socket  # only for a local job's machine: the store loads without it

        return socket.gethostname()

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


JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Job))
"""The columns of a job's row in the order :meth:`Job.from_values` takes them."""
assert [JOB_COLUMNS[i] for i in (3, 5, 20, 22)] == ["command", "env", "cancel_requested", "extra"]
