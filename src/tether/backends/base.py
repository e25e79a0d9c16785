"""The one protocol every place a job can run implements, and the small results it returns.

A backend is chosen for a job by :func:`tether.backends.choose.backend_for` (from the job's
stored placement) or for a host by :func:`~tether.backends.choose.backend_for_host`; nothing
else looks at where a job runs. Verbs written once above the protocol (wait, rerun, follow)
call these methods and never branch on the kind of host.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from tether.errors import UsageError
from tether.store.jobs import Job, JobStore

if TYPE_CHECKING:
    from tether.targets.ssh.remote_probe import ProbeRow


@dataclass(frozen=True)
class RunRequest:
    """What ``tether run`` or ``tether sweep`` asks for, before a host is involved; each
    backend turns it into jobs its own way (job specs here or for Slurm, the same flags for an
    SSH host's tether)."""

    command: tuple[str, ...] = ()
    """SCRIPT.py ARGS, ``-m MODULE ARGS`` or any command; empty with ``batch_text``."""
    batch_text: str | None = None
    """``--batch``: one shell-quoted command per line, a job each."""
    batch_from: str = "--batch"
    """Where ``batch_text`` was read from (a file's name, or ``-``), for messages."""
    name: str | None = None
    params: tuple[str, ...] = ()
    """``-p NAME=VALUE`` as typed (a host's tether parses them itself)."""
    points: tuple[dict[str, object], ...] | None = None
    """A sweep: one job of ``command`` per point (its parameter values)."""
    notify: dict[str, Any] = field(default_factory=dict)
    """The notification options as given (forwarded to a host as flags)."""
    schedule: dict[str, Any] = field(default_factory=dict)
    """``--after``, ``--retry``, ``--gpu-mem`` ... as given."""
    resources: dict[str, Any] = field(default_factory=dict)
    """``--cpus``, ``--mem``, ``--gpus`` ... (Slurm's; ``--gpus`` is GPU slots elsewhere)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Added to each job's record here (the checked notification options, a sweep's id)."""
    say: IO[str] | None = None
    """Where to tell what is being done (syncing, installing), or nowhere."""
    env: dict[str, Any] | None = None
    """On a host: the project's requirement ``lines`` and their ``source``, worked out here;
    the host refuses (:class:`~tether.errors.EnvNeeded`) when it has no env for them yet."""
    use_env: bool = True
    """``run --on HOST`` makes or reuses the project's env there first (``--no-env``: not)."""
    git_ref: str | None = None
    """``--git REF``: run the script as committed at REF (a clean checkout), here only."""
    sync_max_size: int | None = None
    """``--max-size``: the cap in bytes on what the sync to a host sends (0: none; None:
    ``[sync] max_size`` of ``tether.toml``, else 100 MB)."""

    def wire_fields(self) -> dict[str, Any]:
        """What another machine's tether needs to queue these jobs (a ``submit`` request of
        :mod:`tether.backends.wire`): not where to tell, nor the records kept here."""
        fields = {name: getattr(self, name) for name in _WIRE_FIELDS}
        if fields["env"] is None:  # no env asked for: the request as older hosts know it
            del fields["env"]
        return fields

    @classmethod
    def from_wire(cls, fields: dict[str, Any]) -> RunRequest:
        """The request another machine sent (:meth:`wire_fields`); a field it may not set is
        a UsageError."""
        unknown = set(fields) - set(_WIRE_FIELDS)
        if unknown:
            raise UsageError(f"a run request has no field {', '.join(sorted(unknown))}")
        return cls(
            command=tuple(str(w) for w in fields.get("command") or ()),
            batch_text=fields.get("batch_text"),
            batch_from=str(fields.get("batch_from") or "--batch"),
            name=fields.get("name"),
            params=tuple(str(p) for p in fields.get("params") or ()),
            notify=dict(fields.get("notify") or {}),
            schedule=dict(fields.get("schedule") or {}),
            resources=dict(fields.get("resources") or {}),
            env=dict(fields["env"]) if fields.get("env") else None,
        )


_WIRE_FIELDS = ("command", "batch_text", "batch_from", "name", "params", "notify", "schedule",
                "resources", "env")  # fmt: skip


@dataclass(frozen=True)
class Submitted:
    """One queued job: its record here, and what ``--json`` shows of it (a job on an SSH
    host: the host's fields, with ``host`` and ``local_number``)."""

    job: Job
    shown: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """What a re-run changes: more parameter overrides on top of the old job's, its program
    edited (refused with nothing queued when it does not compile), a new name, and entries
    for the new record's ``extra`` (a mail reply's steering token)."""

    overrides: dict[str, object] = field(default_factory=dict)
    edited_source: str | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """What tether needs from a place that runs jobs: this machine's agent, an SSH host's
    tether, a Slurm cluster. Every method that talks to another machine has a bound wait."""

    kind: str
    """The value of ``Job.backend`` for the jobs it runs: ``local``, ``ssh`` or ``slurm``."""

    def submit(self, host: str, request: RunRequest) -> list[Submitted]:
        """Queue the jobs of ``request`` on ``host`` (refused, nothing queued, when a flag
        does not apply there or the program is missing or does not compile)."""
        ...

    def list_jobs(
        self, store: JobStore, host: str, *, statuses: Sequence[str], limit: int | None
    ) -> list[dict[str, Any]]:
        """The jobs of ``host`` (``tether ls --json`` rows, oldest first; the last ``limit``
        with one of ``statuses`` when given), brought up to date."""
        ...

    def refresh(self, store: JobStore, jobs: Sequence[Job], *, fresh: bool = False) -> list[Job]:
        """``jobs`` as they are now, in the order given; one call per host, not per job.
        ``fresh``: ask where they run even when that is slow (a wait), not the last look."""
        ...

    def endings(self, store: JobStore, jobs: Sequence[Job]) -> Iterator[tuple[Job, Job | None]]:
        """Each of ``jobs`` as it ends, with its next attempt when ``--retry`` queued one
        (that attempt is then followed the same way); blocks until all have ended."""
        ...

    def cancel(self, store: JobStore, jobs: Sequence[Job], *, grace: float) -> list[Job]:
        """Stop ``jobs`` (SIGTERM, then SIGKILL after ``grace`` s where the backend can) and
        return their records once they are recorded as ended."""
        ...

    def rerun(self, store: JobStore, old: Job, change: Change) -> Job:
        """Queue the next attempt of ``old`` where it ran (its parent is ``old``), from its
        version of the program with ``change``; its record here."""
        ...

    def show(self, store: JobStore, job: Job) -> dict[str, Any]:
        """Everything about ``job`` (the fields of ``tether show --json``), as it is now."""
        ...

    def files_here(self, store: JobStore, job: Job) -> Path:
        """The job's folder on this machine (its output, metrics, events), brought up to date
        first where the job writes elsewhere; a UsageError when only its host has them."""
        ...

    def follow(self, store: JobStore, job: Job, start: int = 0) -> Iterator[bytes]:
        """The job's output from byte ``start`` on, live, until the job has ended."""
        ...

    def probe(self, host: str, *, timeout: float) -> ProbeRow:
        """The host's resources (CPUs, load, memory, disk, GPUs), or why it cannot say."""
        ...
