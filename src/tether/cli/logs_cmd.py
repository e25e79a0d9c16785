"""``tether logs`` and ``tether scalars``."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from tether.cli import render
from tether.cli.context import (
    json_option,
    on_option,
    open_store,
    print_json,
    resolve_job,
    runs_elsewhere,
)


@click.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until the job ends.")
@click.option("--tail", "-t", "tail", type=int, help="Only the last N lines.")
@click.option("--grep", "-g", "pattern", help="Only lines matching this regular expression.")
@click.option("--on", "host", metavar="HOST", help="A job on this host.")
@click.argument("job", required=False)
def logs(
    follow: bool, tail: int | None, pattern: str | None, host: str | None, job: str | None
) -> None:
    """Print JOB's output (stdout and stderr together)."""
    from tether.api.log_output import compiled, write_output
    from tether.api.remote import remote_job

    regex = compiled(pattern)
    if runs_elsewhere(host):
        assert host is not None
        _remote_logs(host, follow, tail, pattern, regex, job)
        return
    store = open_store()
    record = resolve_job(store, job)
    forward = remote_job(record)
    if forward is not None:  # the local record of a job on a host: its output is there
        _remote_logs(forward.host, follow, tail, pattern, regex, forward.uuid)
        return
    write_output(store, record, sys.stdout.buffer, follow=follow, tail=tail, regex=regex)


def _remote_logs(
    host: str,
    follow: bool,
    tail: int | None,
    pattern: str | None,
    regex: re.Pattern[bytes] | None,
    job: str | None,
) -> None:
    """``logs --on HOST``: the host's output of JOB, asked over the protocol; followed (with
    reconnection) when ``-f``."""
    from tether.api import commands
    from tether.api.log_output import copy_chunks
    from tether.api.remote import follow_on_host

    if follow:
        chunks = follow_on_host(host, job, tail=tail, grep=pattern)
        copy_chunks(chunks, sys.stdout.buffer, regex)
        return
    lines = commands.logs(job, tail=tail, grep=pattern, on=host)
    sys.stdout.buffer.writelines(line.encode() for line in lines)
    sys.stdout.flush()


@click.command()
@on_option
@json_option
@click.argument("job", required=False)
def scalars(host: str | None, as_json: bool, job: str | None) -> None:
    """JOB's metrics: latest value, min, max and a sparkline of each."""
    from tether.api.metrics import job_scalars

    if host is not None:
        from tether.api.commands import scalars as host_scalars

        data = host_scalars(job, on=host)
        if as_json:
            print_json(data)
            return
        _scalars_table({name: (m, []) for name, m in data.items()}, job or "last", host)
        return
    store = open_store()
    record = resolve_job(store, job)
    metrics = job_scalars(store, record)
    summary = metrics.summary()
    if as_json:
        print_json({name: s.to_json() for name, s in summary.items()})
        return
    rows = {n: (s.to_json(), [v for _, v in metrics.series[n]]) for n, s in summary.items()}
    _scalars_table(rows, str(record.number), None)


def _scalars_table(
    rows: dict[str, tuple[dict[str, Any], list[float]]], job: str, host: str | None
) -> None:
    """One line a metric: its last, min and max values, count, and a sparkline of ``values``
    (none for a host's answer, which has only the summary)."""
    if not rows:
        where = f" on {host}" if host else ""
        click.echo(f"job #{job}{where} has reported no metrics (tether.report(name=value))")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("metric", "last", "min", "max", "steps", "trend"):
        table.add_column(col)
    for name, (m, values) in rows.items():
        table.add_row(
            name,
            render.number(m["last"]),
            render.number(m["min"]),
            render.number(m["max"]),
            str(m["count"]),
            render.sparkline(values) if values else "",
        )
    render.console().print(table)
