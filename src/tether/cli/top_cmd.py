"""``tether top``: CPU, memory and GPU use of running jobs (sampled by their supervisors)."""

from __future__ import annotations

import click

from tether.cli import render
from tether.cli.context import json_option, on_option, print_json
from tether.jobs import resources
from tether.jobs.resources import Usage


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
    from tether.api.commands import top as usage_of

    rows = usage_of(job_ref, on=host)
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(box=None)
    used = [(row, Usage.from_json(row.get("usage"))) for row in rows]
    gpu = any(u is not None and resources.GPU_MEM in u.peak for _, u in used)
    columns = ["#", "name", "status", "cpu", "mem", "procs"]
    for col in columns + (["gpu mem", "gpu"] if gpu else []):
        table.add_column(col)
    for row, use in used:
        cells = [str(row["number"]), str(row["name"]), str(row["status"])]
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
