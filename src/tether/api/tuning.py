"""The tuning verbs: ``diff`` two attempts, ``save`` one's program back, the ``history`` of a
program or sweep, and a ``sweep`` over a parameter grid. The CLI's ``tether diff``, ``save``,
``history`` and ``sweep`` print what these return."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tether.errors import ProgramError, UsageError

if TYPE_CHECKING:
    from tether.jobs.history import Attempt
    from tether.store.jobs import Job, JobStore

UNSET = "<unset>"
"""A parameter one side of a diff does not set."""


@dataclass
class ProgramDiff:
    """What changed between two attempts: the labels of both sides, each parameter whose value
    differs (``(before, after)``, :data:`UNSET` for a side without it) and the program's
    unified diff (empty when the program is the same)."""

    old: str
    new: str
    params: dict[str, tuple[object, object]] = field(default_factory=dict)
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "params": {k: {"before": a, "after": b} for k, (a, b) in self.params.items()},
            "program_diff": self.text,
        }


@dataclass
class Saved:
    """Where ``save`` wrote a job's program, and the backup it kept of the file it replaced."""

    number: int
    path: str
    backup: str | None

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "path": self.path, "backup": self.backup}


@dataclass
class Sweep:
    """A queued sweep: its id, the numbers of its jobs and the point each runs."""

    sweep: str
    jobs: list[int]
    points: list[dict[str, object]]

    def to_json(self) -> dict[str, Any]:
        return {"sweep": self.sweep, "jobs": self.jobs, "points": self.points}


def tunables(script: str | Path) -> list[dict[str, Any]]:
    """The tunables of a ``.py`` file: its module-level constants and ``tether.param(...)``
    calls, each with its kind, default value and line."""
    from tether.tuning.tunables import decode_source, list_tunables

    path = Path(script)
    source = decode_source(path.read_bytes(), filename=str(path))
    return [
        {"name": t.name, "kind": t.kind, "default": t.default, "line": t.line,
         "default_text": t.default_text}
        for t in list_tunables(source, filename=str(path))
    ]  # fmt: skip


def _find(store: JobStore, ref: str | int | None) -> Job:
    from tether.api.jobs import find_job

    return find_job(store, None if ref is None else str(ref))


def _require_version(job: Job) -> None:
    if "version" not in job.extra:
        raise UsageError(f"job #{job.number} ran a command, not a stored .py program")


def diff(
    store: JobStore, job: str | int | None = None, other: str | int | None = None
) -> ProgramDiff:
    """Program and parameter differences between ``job`` (default: the last) and ``other``
    (default: its parent, or for a first attempt the file it was submitted from)."""
    from tether.tuning.program import version_diff

    new = _find(store, job)
    if other is not None:
        old = _find(store, other)
    elif new.parent is not None:
        old = store.get(new.parent)
    else:
        _require_version(new)
        return _diff_with_file(store, new)
    _require_version(new)
    _require_version(old)
    a, b = old.extra.get("params") or {}, new.extra.get("params") or {}
    changed = {
        name: (a.get(name, UNSET), b.get(name, UNSET))
        for name in sorted(set(a) | set(b))
        if a.get(name, UNSET) != b.get(name, UNSET)
    }
    text = version_diff(store.home, old.extra, new.extra)
    return ProgramDiff(f"job #{old.number}", f"job #{new.number}", changed, text)


def _diff_with_file(store: JobStore, new: Job) -> ProgramDiff:
    """A job without a parent against the file it was submitted from (or, for a job recorded
    before snapshots were kept, the file as it is now)."""
    from tether.tuning.program import file_values, program_source, version_diff
    from tether.tuning.tunables import decode_source, list_tunables, unified_diff

    home = store.home
    original = new.extra.get("original") or new.script or "the file"
    base = file_values(home, new.extra)
    if base is not None:
        label = f"{original} (as submitted)"
        text = version_diff(home, {"version": new.extra["base_version"]}, new.extra)
    else:
        path = Path(original)
        if not path.is_file():
            raise UsageError(
                f"job #{new.number} has no parent and {original} is gone; "
                "name the job to compare with"
            )
        label = f"{original} (as it is now)"
        source = decode_source(path.read_bytes(), filename=str(path))
        base = {t.name: t.default for t in list_tunables(source, filename=str(path))}
        text = unified_diff(source, program_source(home, new.extra), path.name)
    params = new.extra.get("params") or {}
    changed: dict[str, tuple[object, object]] = {}
    for name in sorted(params):
        before = base.get(name, UNSET)
        if type(before) is not type(params[name]) or before != params[name]:
            changed[name] = (before, params[name])
    return ProgramDiff(label, f"job #{new.number}", changed, text)


def save(
    store: JobStore, job: str | int | None = None, *, to: str | Path | None = None,
    force: bool = False,
) -> Saved:  # fmt: skip
    """Write ``job``'s version of the program back over the file it came from (or ``to``),
    keeping the file it replaces as ``NAME.bak`` (``.bak.1``, ... : no backup is overwritten).
    Refused when the original changed since the job started, unless ``force``."""
    from tether.tuning.program import file_sha, version_store

    record = _find(store, job)
    _require_version(record)
    target = Path(to or record.extra["original"])
    unchanged = file_sha(target) == record.extra.get("original_sha")
    if to is None and target.exists() and not force and not unchanged:
        raise ProgramError(
            f"{target} changed since job #{record.number} started; "
            "use --force to overwrite it (a .bak is kept) or --to PATH"
        )
    data = version_store(store.home).read_file(record.extra["version"], record.extra["entry"])
    backup = None
    if target.exists():
        backup = _free_backup_name(target)
        shutil.copy2(target, backup)
    _replace_file(target, data)
    return Saved(record.number, str(target), None if backup is None else str(backup))


def _free_backup_name(target: Path) -> Path:
    """``NAME.bak``, or ``NAME.bak.1``, ``NAME.bak.2``, ... when that exists."""
    backup = target.with_name(target.name + ".bak")
    n = 0
    while backup.exists() or backup.is_symlink():
        n += 1
        backup = target.with_name(f"{target.name}.bak.{n}")
    return backup


def _replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``target`` and rename it over ``target``,
    keeping ``target``'s mode (a new file gets the usual mode for this umask)."""
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def history(
    store: JobStore,
    script: str | Path | None = None,
    *,
    sweep: str | None = None,
    sort_by: str | None = None,
    best_of: str | None = None,
    minimize: bool = False,
) -> list[Attempt]:
    """Every attempt of ``script`` (default: the last job's program) or of ``sweep``, oldest
    first, or sorted by the final value of ``sort_by`` (best first), or only the best by
    ``best_of``."""
    from tether.backends import refresh_many
    from tether.jobs.history import attempts, best

    path = None
    if script is not None:
        path = str(Path(script).resolve())
    elif sweep is None:
        last = store.resolve(None)
        path = last.extra.get("original") or last.script
        if path is None:
            raise UsageError(f"job #{last.number} is not a .py program; name a SCRIPT")
    rows = attempts(store, script=path, sweep=sweep, refresh=refresh_many)
    if not rows:
        raise UsageError(f"no jobs of {path or 'sweep ' + str(sweep)}")
    if sort_by:
        rows.sort(key=lambda r: r.final.get(sort_by, float("nan")), reverse=not minimize)
        rows = [r for r in rows if sort_by in r.final] + [r for r in rows if sort_by not in r.final]
    if best_of:
        pick = best(rows, best_of, minimize=minimize)
        if pick is None:
            raise UsageError(f"no job reported {best_of!r}")
        rows = [pick]
    return rows


def sweep_points(
    params: Sequence[str], *, random_n: int | None = None, seed: str | None = None
) -> list[dict[str, object]]:
    """The points of a sweep: the grid of ``NAME=V1,V2,...`` values, or ``random_n`` random
    points of ``NAME=log:A..B`` (``int:``, ``float:``, or a list) ranges drawn with ``seed``."""
    from tether.tuning.sweep import grid, parse_sweep_assignments, random_points

    if not params:
        raise UsageError("give at least one -p NAME=V1,V2,... to sweep over")
    if not random_n:
        return grid(parse_sweep_assignments(params))
    ranges: dict[str, str] = {}
    for text in params:
        key, sep, value = text.partition("=")
        if not sep:
            raise UsageError(f"-p {text!r}: expected NAME=VALUES")
        ranges[key.strip()] = value.strip()
    return random_points(ranges, random_n, seed if seed is not None else secrets.token_hex(4))


def sweep(
    command: Sequence[str],
    params: Sequence[str],
    *,
    random_n: int | None = None,
    seed: str | None = None,
    name: str | None = None,
    schedule: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
    say: IO[str] | None = None,
    on: str | None = None,
) -> Sweep:
    """Queue one job of ``command`` per point of the sweep (see :func:`sweep_points`) on
    ``on`` (default: this machine), all tagged with one sweep id."""
    from tether.api.running import run
    from tether.backends import RunRequest

    points = sweep_points(params, random_n=random_n, seed=seed)
    sweep_id = secrets.token_hex(4)
    request = RunRequest(
        command=tuple(command),
        name=name,
        points=tuple(points),
        schedule=schedule or {},
        resources=resources or {},
        extra={"sweep": sweep_id},
        say=say,
    )
    jobs = [s.job.number for s in run(request, on=on or "local")]
    return Sweep(sweep_id, jobs, points)
