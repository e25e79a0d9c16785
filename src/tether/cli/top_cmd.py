"""``tether top``: CPU, memory and GPU use of running jobs (sampled by their supervisors)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tether.api.types import Job
from tether.cli import render
from tether.cli.context import json_option, on_option, open_store, print_json, resolve_job
from tether.cli.jobs_cmd import call_on_host, is_remote
from tether.cli.remote_records import remote_job, run_on_host
from tether.jobs import resources
from tether.jobs.resources import Usage, read_usage


def _pcts(*values: float | None) -> str:
    """``45/60/180%``: now, mean, peak (those there are)."""
    shown = [f"{v:.0f}" for v in values if v is not None]
    return "/".join(shown) + "%" if shown else ""


def _mbs(now: float | None, peak: float | None) -> str:
    """``1.2/2.1 GB``: now and peak, in the unit the peak reads best in."""
    if now is None or peak is None:
        return ""
    if peak < 1000:
        return f"{now:.0f}/{peak:.0f} MB"
    return f"{now / 1024:.1f}/{peak / 1024:.1f} GB"


@click.command()
@on_option
@json_option
@click.argument("job_ref", metavar="[JOB]", required=False)
def top(host: str | None, job_ref: str | None, as_json: bool) -> None:
    """CPU (100% = one core), memory (PSS: pages shared by forked workers counted once),
    processes and GPU use of each running job on this machine (or on HOST), now, at peak and
    on average; with JOB, that job (finished ones too)."""
    flags = ["--json"] if as_json else []
    if is_remote(host):
        assert host is not None
        call_on_host(host, ["top", *flags, *([job_ref] if job_ref else [])])
        return
    store = open_store()
    if job_ref is not None:
        job = resolve_job(store, job_ref)
        forward = remote_job(job, required=False)
        if forward is not None:  # the local record of a job on a host: ask the host
            sys.exit(run_on_host(forward, ["top", *flags, forward.uuid]))
        jobs: list[Job] = [job]
    else:
        from tether.backends.local import running_jobs

        jobs = running_jobs(store)
    rows: list[tuple[Job, Usage | None]] = [(j, read_usage(Path(j.job_dir))) for j in jobs]
    if as_json:
        print_json([{"number": j.number, "uuid": j.uuid, "name": j.name, "status": j.status,
                     "usage": u.to_json() if u else None} for j, u in rows])  # fmt: skip
        return
    from rich.table import Table

    table = Table(box=None)
    gpu = any(u is not None and resources.GPU_MEM in u.peak for _, u in rows)
    columns = ["#", "name", "status", "cpu", "mem", "procs"]
    for col in columns + (["gpu mem", "gpu"] if gpu else []):
        table.add_column(col)
    for job, use in rows:
        cells = [str(job.number), job.name, job.status]
        if use is not None:
            cpu = [use.latest.get(resources.CPU), use.mean.get(resources.CPU)]
            cells += [
                _pcts(*cpu, use.peak.get(resources.CPU)),
                _mbs(use.memory("latest"), use.memory("peak")),
                f"{use.latest.get(resources.PROCS, 0):.0f}",
            ]
            if gpu:
                gpu_mem = [use.latest.get(resources.GPU_MEM), use.peak.get(resources.GPU_MEM)]
                cells += [
                    _mbs(*gpu_mem),
                    _pcts(use.latest.get(resources.GPU_UTIL), use.peak.get(resources.GPU_UTIL)),
                ]
        table.add_row(*cells)
    con = render.console()
    con.print(table)
    con.print("cpu: now/mean/peak (100% = one core); mem, gpu: now/peak", style="dim")
