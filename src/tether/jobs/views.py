"""What listings show about a job beyond its record: progress and latest metrics."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tether.jobs.progress import Progress, read_progress
from tether.jobs.status import RUNNING
from tether.store.jobs import Job, gc_paused
from tether.store.metrics import read_latest


def latest_metrics(job: Job) -> dict[str, float]:
    """Latest metric values: of a running job, its file's tail; else the summary stored in
    the record as it ended (none: the job reported none, or has not started). Only a running
    job's folder is read, so a listing of many jobs opens no file of theirs."""
    if job.status == RUNNING:
        return read_latest(Path(job.job_dir))
    summary = job.extra.get("metrics") or {}
    return {k: v["last"] for k, v in summary.items() if v.get("last") is not None}


def progress(job: Job) -> Progress | None:
    return read_progress(Path(job.log_path)) if job.status == RUNNING else None


def gpus_held(job: Job) -> list[int]:
    """The GPU indices a running job holds (``--gpus N``)."""
    return list(job.extra.get("gpu_held") or []) if job.status == RUNNING else []


def where(job: Job) -> str:
    """The host, and the GPUs the job holds there: ``local gpu 0,1``."""
    held = gpus_held(job)
    return f"{job.host} gpu {','.join(map(str, held))}" if held else job.host


def listing_json(job: Job) -> dict[str, Any]:
    """``ls --json``: the job's stable fields plus progress and latest metrics."""
    data = job.to_json()
    prog = progress(job)
    data["progress"] = prog.to_json() if prog else None
    data["metrics"] = latest_metrics(job)
    data["gpus"] = gpus_held(job)
    return data


def listing(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """The ``ls --json`` rows of ``jobs`` (no garbage collection while thousands are made)."""
    with gc_paused():
        return list(map(listing_json, jobs))


TAIL_LINES = 10
"""Lines of output ``show`` ends with."""

EXECUTED_NOTEBOOK = "executed.ipynb"
"""Where a notebook job keeps the notebook it executed (``tuning/notebook_runner.py``)."""


def show_json(job: Job, home: Path | None = None) -> dict[str, Any]:
    """``tether show --json``: the record, the size of its environment, its ``extra`` (but
    the metrics summary, given apart as ``metrics``), its events, progress and resource use,
    and the last lines of its output (``output_tail``)."""
    from tether.jobs.logs import collapse_redraws, tail_lines
    from tether.jobs.resources import read_usage
    from tether.store.metrics import read_events, read_summaries

    folder = Path(job.job_dir)
    prog = progress(job)
    usage = read_usage(folder)
    tail = tail_lines(Path(job.log_path), TAIL_LINES)
    data = job.to_json()
    data.update(
        env_size=len(job.env or {}),
        extra={k: v for k, v in job.extra.items() if k != "metrics"},
        metrics={k: v.to_json() for k, v in read_summaries(folder).items()},
        events=read_events(folder),
        progress=prog.to_json() if prog else None,
        usage=usage.to_json() if usage else None,
        output_tail=[
            collapse_redraws(line.decode(errors="replace").rstrip("\r\n")).rstrip() for line in tail
        ],
    )
    git = job.extra.get("git")
    if isinstance(git, dict):  # the commit, and the uncommitted changes' text (kept by id)
        data["git"] = {**git, "diff": _git_diff(home, git)}
    if job.extra.get("notebook"):  # the executed notebook, outputs included, once there is one
        executed = folder / EXECUTED_NOTEBOOK
        data["executed_notebook"] = str(executed) if executed.is_file() else None
    return data


def _git_diff(home: Path | None, record: dict[str, Any]) -> str | None:
    if home is None or not record.get("diff"):
        return None
    from tether.errors import ProgramError
    from tether.tuning.program import git_diff

    try:
        return git_diff(home, record)
    except ProgramError as exc:  # the store lost it: say so where the diff would be
        return f"[{exc}]"
