"""``tether top``: CPU and memory of running jobs (sampled by their supervisors)."""

from __future__ import annotations

from pathlib import Path

import click

from tether.cli import render
from tether.cli.context import json_option, open_store, print_json, resolve_job
from tether.jobs.resources import Usage, read_usage
from tether.store.jobs import RUNNING, Job


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} MB"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


@click.command()
@json_option
@click.argument("job_ref", metavar="[JOB]", required=False)
def top(job_ref: str | None, as_json: bool) -> None:
    """CPU (100% = one core), memory (RSS) and processes of each running job on this machine,
    now, at peak and on average; with JOB, that job (finished ones too)."""
    store = open_store()
    if job_ref is not None:
        jobs: list[Job] = [resolve_job(store, job_ref)]
    else:
        jobs = list(store.iter_where("status = ? AND target = 'local'", (RUNNING,)))
    rows: list[tuple[Job, Usage | None]] = [(j, read_usage(Path(j.job_dir))) for j in jobs]
    if as_json:
        print_json([{"number": j.number, "name": j.name, "status": j.status,
                     "usage": u.to_json() if u else None} for j, u in rows])  # fmt: skip
        return
    from rich.table import Table

    table = Table(box=None)
    for col in ("#", "name", "status", "cpu", "cpu mean", "cpu peak", "mem", "mem peak", "procs"):
        table.add_column(col)
    for job, use in rows:
        if use is None:
            table.add_row(str(job.number), job.name, job.status, *[""] * 6)
            continue
        table.add_row(
            str(job.number),
            job.name,
            job.status,
            _pct(use.latest.get("sys/cpu_pct")),
            _pct(use.mean.get("sys/cpu_pct")),
            _pct(use.peak.get("sys/cpu_pct")),
            _mb(use.latest.get("sys/rss_mb")),
            _mb(use.peak.get("sys/rss_mb")),
            f"{use.latest.get('sys/procs', 0):.0f}",
        )
    render.console().print(table)
