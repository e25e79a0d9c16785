"""More verbs through the API, for scripts: open the store, submit, wait, logs (tail, grep,
follow as an iterator) and the history of a program. Each calls the jobs/tuning code the CLI
calls; nothing here is a second implementation.

    from tether import api
    store = api.open_store()
    [job] = api.submit_job(store, ["train.py", "--epochs", "3"], params={"lr": 0.1})
    for chunk in api.follow_log(store, job["number"]):
        print(chunk.decode(), end="")
    print(api.wait_jobs(store, [job["number"]])[0]["status"])
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tether.errors import UsageError
from tether.store.jobs import JobStore


def open_store(home: Path | str | None = None) -> JobStore:
    """The job store of ``home`` (default: ``$TETHER_HOME`` or the platform's data folder)."""
    from tether.paths import tether_home

    return JobStore(Path(home) if home is not None else tether_home())


def submit_job(
    store: JobStore,
    argv: Sequence[str],
    *,
    params: dict[str, object] | None = None,
    name: str | None = None,
    cwd: str | None = None,
) -> list[dict[str, Any]]:
    """Queue ``argv`` (``["train.py", ARGS...]``, ``["-m", "pkg.mod", ...]`` or any command)
    on this machine, as ``tether run`` does; refused with nothing queued when the program is
    missing or does not compile. Returns the new job records (``tether show --json`` fields)."""
    from tether.backends.local import queue
    from tether.jobs.submit import build_spec

    spec = build_spec(list(argv), name=name, cwd=cwd, params=params, home=store.home)
    return [job.to_json() for job in queue([spec], store.home)]


def wait_jobs(
    store: JobStore, refs: Sequence[str | int], *, timeout: float | None = None
) -> list[dict[str, Any]]:
    """Block until every job of ``refs`` (numbers or uuids) has finished; their records.
    Raises :class:`tether.errors.TetherError` naming the ones still running after ``timeout``."""
    from tether.api.watch import wait_for

    numbers = [store.resolve(str(ref)).number for ref in refs]
    return [job.to_json() for job in wait_for(store, numbers, timeout)]


def _log_path(store: JobStore, ref: str | int) -> Path:
    from tether.backends import backend_for

    job = store.resolve(str(ref))
    backend_for(job).files_here(store, job)
    return Path(job.log_path)


def tail_log(store: JobStore, ref: str | int, lines: int = 100) -> list[str]:
    """The last ``lines`` lines of a job's output, without reading the whole log."""
    from tether.jobs.logs import tail_lines

    return [line.decode(errors="replace") for line in tail_lines(_log_path(store, ref), lines)]


def read_log(store: JobStore, ref: str | int) -> list[str]:
    """A job's whole output, as lines."""
    path = _log_path(store, ref)
    if not path.exists():
        return []
    return path.read_bytes().decode(errors="replace").splitlines(keepends=True)


def grep_log(
    store: JobStore, ref: str | int, pattern: str, *, tail: int | None = None
) -> list[str]:
    """The lines of a job's output matching the regular expression ``pattern`` (the last
    ``tail`` of them when given)."""
    from tether.jobs.logs import grep_lines

    try:
        regex = re.compile(pattern.encode())
    except re.error as exc:
        raise UsageError(f"bad pattern {pattern!r}: {exc}") from None
    found = grep_lines(_log_path(store, ref), regex, tail)
    return [line.decode(errors="replace") for line in found]


def follow_log(store: JobStore, ref: str | int, start: int = 0) -> Iterator[bytes]:
    """A job's output from byte ``start`` on, as it is written, until the job has finished."""
    from tether.api.watch import follow_job

    return follow_job(store, store.resolve(str(ref)).number, start)


def job_history(
    store: JobStore, *, script: str | Path | None = None, sweep: str | None = None
) -> list[dict[str, Any]]:
    """Every attempt of ``script`` (its original path) or of a sweep, oldest first, with what
    changed and the final metrics (``tether history --json`` rows)."""
    from tether.backends import refresh_many
    from tether.jobs.history import attempts

    if script is None and sweep is None:
        raise UsageError("give script= or sweep=")
    path = str(Path(script).resolve()) if script is not None else None
    return [
        row.to_json() for row in attempts(store, script=path, sweep=sweep, refresh=refresh_many)
    ]


def submit(
    *commands: str | Sequence[str],
    name: str | None = None,
    cwd: str | None = None,
) -> list[int]:
    """Queue one job per command (a shell-style string or an argv list) on this machine;
    returns their numbers. ``tether.submit`` is this function.

    ``tether.submit("python train.py --lr 0.1", "python train.py --lr 0.01")``
    """
    import shlex

    from tether.backends.local import queue
    from tether.jobs.submit import build_spec, captured_env

    argvs = [shlex.split(c) if isinstance(c, str) else list(c) for c in commands]
    env = captured_env()
    specs = [build_spec(a, name=name, cwd=cwd, env=env) for a in argvs]
    return [job.number for job in queue(specs)]
