"""A job as it is at one event, as a `NotificationContext`, and its JSON form for the outbox.

The snapshot is taken when the event is queued, so a notification that is retried an hour later
still says what was true when it happened.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tether.jobs.logs import collapse_redraws, tail_lines
from tether.jobs.resources import read_usage
from tether.jobs.retry import label as retry_label
from tether.jobs.status import RUNNING
from tether.notifications.message import NotificationContext, Series
from tether.store.jobs import Job, JobStore
from tether.store.metrics import read_events, read_scalars

LOG_LINES = 40
MAX_POINTS = 400
"""Points kept per metric in a snapshot (evenly thinned, the last one always kept)."""


def host_name(job: Job) -> str:
    """Where the job runs: this machine's name for local jobs."""
    return job.machine


def program_name(job: Job) -> str:
    if job.script:
        return Path(job.script).name
    return Path(job.command[0]).name if job.command else job.name


def thin(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> list[tuple[int, float]]:
    """At most ``limit`` points spread over the series, keeping the last."""
    if len(points) <= limit:
        return points
    stride = len(points) / (limit - 1)
    kept = [points[int(i * stride)] for i in range(limit - 1)]
    return [*kept, points[-1]]


def messages_of(job: Job) -> list[str]:
    """Every text the program sent with ``tether.notify`` / ``send_status``, oldest first."""
    return [
        str(e.get("text", "")) for e in read_events(Path(job.job_dir)) if e.get("kind") == "message"
    ]


def param_changes(store: JobStore, job: Job) -> dict[str, tuple[object, object]]:
    """Parameters that differ from the parent job's: name -> (parent's value, this value)."""
    if job.parent is None:
        return {}
    try:
        parent = store.get(job.parent)
    except Exception:
        return {}
    mine = job.extra.get("params") or {}
    theirs = {**_script_defaults(store, parent), **(parent.extra.get("params") or {})}
    return {
        name: (theirs.get(name), value)
        for name, value in mine.items()
        if name not in theirs or theirs[name] != value
    }


def _script_defaults(store: JobStore, job: Job) -> dict[str, object]:
    """The tunables' values as written in the program ``job`` ran ({} when unknown)."""
    if "version" not in job.extra or "entry" not in job.extra:
        return {}
    from tether.tuning.program import program_source
    from tether.tuning.tunables import list_tunables

    try:
        source = program_source(store.home, job.extra)
        return {t.name: t.default for t in list_tunables(source, filename=job.extra["entry"])}
    except Exception:  # a missing or unreadable version: no defaults to compare with
        return {}


def build_context(
    store: JobStore,
    job: Job,
    event: str,
    *,
    messages: list[str] | None = None,
    condition: str | None = None,
    condition_values: dict[str, float] | None = None,
    reason: str | None = None,
) -> NotificationContext:
    """Everything a notification about ``event`` of ``job`` shows, read from its files now.

    A "started" notice says the job started (status running), even when the job has already
    ended by the time the notice is queued.
    """
    started = event == "started"
    job_dir = Path(job.job_dir)
    scalars = read_scalars(job_dir, points=MAX_POINTS)  # the column store's, when there is one
    series: Series = {name: thin(pts) for name, pts in scalars.series.items()}
    log_tail = [
        collapse_redraws(line.decode("utf-8", "replace").rstrip("\r\n"))
        for line in tail_lines(Path(job.log_path), LOG_LINES)
    ]
    return NotificationContext(
        event=event,  # type: ignore[arg-type]
        job_number=job.number,
        program=program_name(job),
        job_name=job.name,
        status=RUNNING.value if started else job.status,
        host=host_name(job),
        duration_s=None if started else job.runtime,
        exit_code=job.exit_code if job.finished and not started else None,
        reason=reason if reason is not None or started else (job.reason if job.finished else None),
        token=job.extra.get("token"),
        messages=messages_of(job) if messages is None else messages,
        log_tail=log_tail if event != "started" else [],
        metrics=series,
        params=dict(job.extra.get("params") or {}),
        param_changes=param_changes(store, job),
        parent_number=job.parent,
        condition=condition,
        condition_values=dict(condition_values or {}),
        attempt=retry_label(job.extra),
        peak_use=_peak_use(job_dir) if job.finished and not started else None,
    )


def _peak_use(job_dir: Path) -> str | None:
    usage = read_usage(job_dir)
    return (usage.peaks_line() or None) if usage is not None else None


def to_payload(ctx: NotificationContext) -> dict[str, Any]:
    """The context as JSON-able data."""
    return asdict(ctx)


def from_payload(data: dict[str, Any]) -> NotificationContext:
    """The context back from `to_payload`'s data."""
    fields = dict(data)
    fields["metrics"] = {
        name: [(int(s), float(v)) for s, v in points]
        for name, points in (fields.get("metrics") or {}).items()
    }
    fields["condition_values"] = {
        str(name): float(value) for name, value in (fields.get("condition_values") or {}).items()
    }
    fields["param_changes"] = {
        name: (pair[0], pair[1]) for name, pair in (fields.get("param_changes") or {}).items()
    }
    return NotificationContext(**fields)
