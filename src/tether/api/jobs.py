"""Jobs through the API: list (filters, paging), get, log ranges, cancel and re-run (their
metrics: :mod:`tether.api.metrics`). Everything calls the jobs/tuning/targets code; nothing
is re-implemented."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.api.types import LATEST
from tether.backends import refresh, refresh_many
from tether.errors import UsageError
from tether.jobs.status import STATUSES
from tether.store.jobs import Job, JobStore


@dataclass
class Page:
    """One page of a job listing, newest first, and how many jobs matched in all."""

    jobs: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def list_jobs(
    store: JobStore,
    *,
    statuses: list[str] | None = None,
    host: str | None = None,
    name: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> Page:
    """Jobs newest first with the fields of ``tether ls --json``, filtered and paged in SQL."""
    bad = [s for s in statuses or [] if s not in STATUSES]
    if bad:
        raise UsageError(f"unknown status {bad[0]!r}; one of {', '.join(STATUSES)}")
    if offset < 0 or not 1 <= limit <= 1000:
        raise UsageError("offset must be >= 0 and limit 1..1000")
    where, args = ["1=1"], []
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        args.extend(statuses)
    if host:
        where.append("target = ?")
        args.append(host)
    if name:
        where.append("name LIKE ? ESCAPE '\\'")
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{escaped}%")
    sql_where = " AND ".join(where)
    total = store.conn.execute(f"SELECT COUNT(*) FROM jobs WHERE {sql_where}", args).fetchone()[0]
    rows = store.conn.execute(
        f"SELECT * FROM jobs WHERE {sql_where} ORDER BY number DESC LIMIT ? OFFSET ?",
        [*args, int(limit), int(offset)],
    ).fetchall()
    jobs = [Job.from_row(r) for r in rows]
    if any(not j.finished for j in jobs):
        jobs = refresh_many(store, jobs)
    from tether.jobs import views

    return Page([views.listing_json(j) for j in jobs], int(total), offset, limit)


def ls(
    store: JobStore,
    *,
    on: str | None = None,
    statuses: Sequence[str] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The rows of ``tether ls --json``, oldest first: every record here, or with ``on`` the
    jobs of that host (an SSH host's own list; a cluster's jobs submitted from here)."""
    from tether.backends import backend_for_host

    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise UsageError(f"unknown status {bad[0]!r}; one of {', '.join(STATUSES)}")
    host = on or "local"
    return backend_for_host(host).list_jobs(store, host, statuses=statuses, limit=limit)


@dataclass
class Window:
    """The rows of a listing (``ls --json`` rows, oldest first) and how many jobs matching
    the same filters are not among them."""

    rows: list[dict[str, Any]]
    hidden: int


def ls_window(
    store: JobStore,
    *,
    statuses: Sequence[str] = (),
    limit: int | None = None,
    latest: int = LATEST,
) -> Window:
    """The jobs recorded here that ``tether ls`` shows: every queued and running one and the
    ``latest`` newest finished ones, or with ``limit`` the last ``limit`` jobs (0: all).
    Paged in SQL; only running jobs are brought up to date (their folders read)."""
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise UsageError(f"unknown status {bad[0]!r}; one of {', '.join(STATUSES)}")
    if limit is not None and limit < 0:
        raise UsageError("--limit must be >= 0 (0: every job)")
    wanted = list(statuses) or None
    if limit is None:
        jobs, hidden = store.window(latest=latest, statuses=wanted)
    else:
        jobs = store.jobs(statuses=wanted, limit=limit or None, listing=True)
        hidden = store.count_jobs(statuses=wanted) - len(jobs) if limit else 0
    from tether.jobs import views

    return Window(views.listing(refresh_many(store, jobs)), hidden)


def show(store: JobStore, ref: str | None) -> dict[str, Any]:
    """Everything about one job (``tether show --json``), asked of wherever it runs: its
    record, extra, metrics summary, events, progress, resource use and last lines of output."""
    from tether.backends import backend_for

    job = store.resolve(ref)
    return backend_for(job).show(store, job)


def find_job(store: JobStore, ref: str | None) -> Job:
    """A job by number, uuid or uuid prefix (None: the last job), brought up to date."""
    return refresh(store, store.resolve(ref))


def get_job(store: JobStore, ref: str) -> dict[str, Any]:
    """Everything about one job (the fields of ``tether show --json``)."""
    from tether.api.metrics import parsed_series
    from tether.jobs import views
    from tether.store.metrics import read_events

    job = find_job(store, ref)
    data = views.listing_json(job)
    summary = {  # from the cached columns: a page polling a big job re-reads only new lines
        name: {
            "last": values[-1],
            "step": steps[-1],
            "min": min(values),
            "max": max(values),
            "count": len(values),
        }
        for name, (steps, values) in parsed_series(Path(job.job_dir)).items()
        if values
    }
    data.update(
        extra={k: v for k, v in job.extra.items() if k != "metrics"},
        metrics_summary=summary,
        events=read_events(Path(job.job_dir)),
    )
    return data


def log_range(
    store: JobStore,
    ref: str,
    *,
    start: int | None = None,
    tail_lines: int = 1000,
    max_bytes: int = 1 << 20,
) -> dict[str, Any]:
    """Bytes of a job's log from byte offset START (at most MAX_BYTES); without START, the
    last TAIL_LINES lines. Returns the text, its byte offsets and the log's size."""
    from tether.jobs.logs import collapse_redraws

    job = find_job(store, ref)
    path = Path(job.log_path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    if start is None:  # never scans back further than MAX_BYTES (a log with no newlines)
        begin = max(_tail_offset(path, size, tail_lines, size - max_bytes), size - max_bytes, 0)
    else:
        if start < 0:
            raise UsageError("start must be >= 0")
        begin = min(start, size)
    end = min(size, begin + max_bytes)
    data = b""
    if end > begin:
        with open(path, "rb") as f:
            f.seek(begin)
            data = f.read(end - begin)
    return {
        "start": begin,
        "end": begin + len(data),
        "size": size,
        "text": collapse_redraws(data.decode(errors="replace"), ends_here=False),
        "finished": job.finished,
    }


def _tail_offset(path: Path, size: int, lines: int, floor: int = 0) -> int:
    """The byte offset where the last LINES lines of the file begin (reads backwards, not
    before FLOOR)."""
    if size == 0:
        return 0
    pos, found = size, 0
    with open(path, "rb") as f:
        while pos > max(floor, 0):
            step = min(65536, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step)
            if pos + step == size and chunk.endswith(b"\n"):
                chunk = chunk[:-1]
            idx = len(chunk)
            while True:
                idx = chunk.rfind(b"\n", 0, idx)
                if idx < 0:
                    break
                found += 1
                if found >= lines:
                    return pos + idx + 1
    return 0


def cancel_job(store: JobStore, ref: str, *, grace: float = 10.0) -> dict[str, Any]:
    """Cancel a job where it runs (its process tree here, ``scancel`` on a cluster, the
    host's tether for an SSH host): its new record."""
    from tether.backends import cancel

    job = find_job(store, ref)
    if job.finished:
        raise UsageError(f"job #{job.number} already {job.status}")
    return cancel(store, job, grace=grace).to_json()


def cancel_jobs(
    store: JobStore, refs: Sequence[str | None], *, grace: float = 10.0
) -> list[dict[str, Any]]:
    """Cancel each job of ``refs`` where it runs (None: the last job), every backend once for
    all of its jobs (one ``scancel`` per cluster); each job's record after, with ``already``
    true for one that had ended before."""
    from tether.backends import cancel_many

    jobs = [find_job(store, ref) for ref in refs]
    running = [job for job in jobs if not job.finished]
    done = {job.number: job for job in cancel_many(store, running, grace=grace)}
    return [{**done.get(job.number, job).to_json(), "already": job.finished} for job in jobs]


def rerun_job(
    store: JobStore,
    ref: str | Job,
    *,
    overrides: dict[str, object] | None = None,
    edited_source: str | None = None,
    name: str | None = None,
) -> list[Job]:
    """Queue JOB again where it ran (its parent is JOB), from JOB's program, with more
    parameter overrides on top or an edited program (refused, nothing queued, when it does
    not compile)."""
    from tether.backends import backend_for
    from tether.backends.base import Change

    old = ref if isinstance(ref, Job) else find_job(store, ref)
    change = Change(overrides=dict(overrides or {}), edited_source=edited_source, name=name)
    return [backend_for(old).rerun(store, old, change)]


def job_program(store: JobStore, ref: str) -> dict[str, Any]:
    """A job's program text and its tunables (for an edit or re-run form)."""
    from tether.tuning.program import program_source
    from tether.tuning.tunables import list_tunables

    job = find_job(store, ref)
    if "version" not in job.extra:
        return {"source": None, "tunables": [], "params": job.extra.get("params") or {}}
    source = program_source(store.home, job.extra)
    entry = str(job.extra.get("entry", "<script>"))
    tunables = [
        {
            "name": t.name,
            "kind": str(t.kind),
            "type": type(t.default).__name__,
            "default": t.default,
            "line": t.line,
        }
        for t in list_tunables(source, filename=entry)
    ]
    return {"source": source, "tunables": tunables, "params": job.extra.get("params") or {}}


def probe_hosts() -> dict[str, Any]:
    """This machine's resources (CPUs, load, memory, disk, GPUs)."""
    from dataclasses import asdict

    from tether.targets.probe import local_probe

    return {"local": asdict(local_probe())}


def job_usage(store: JobStore, ref: str | None) -> list[dict[str, Any]]:
    """``top --json``: the resource use of each running job here, or of job ``ref`` wherever
    it runs (a job on an SSH host: asked of the host, with this machine's number)."""
    from tether.backends.local import running_jobs
    from tether.backends.ssh import ask_host, remote_job
    from tether.jobs.resources import read_usage

    if ref is None:
        jobs = running_jobs(store)
    else:
        job = find_job(store, ref)
        where = remote_job(job, required=False)
        if where is not None:
            rows = ask_host(where.host, "top", {"job": where.uuid})
            return [{**row, "number": job.number, "remote_number": row.get("number"),
                     "host": where.host} for row in rows]  # fmt: skip
        jobs = [job]
    rows = []
    for job in jobs:
        use = read_usage(Path(job.job_dir))
        rows.append({"number": job.number, "uuid": job.uuid, "name": job.name,
                     "status": job.status, "usage": use.to_json() if use else None})  # fmt: skip
    return rows
