"""``tether ls --all``: this machine's jobs and every SSH host's, in one table with a host column.

The gathering is :func:`tether.api.remote.list_all`; this module prints.
"""

from __future__ import annotations

from typing import Any

import click

from tether.cli import render
from tether.cli.context import print_json


def list_all(statuses: tuple[str, ...], limit: int | None, as_json: bool) -> None:
    """Ask every SSH host for its jobs (in parallel), merge them with the local ones, print."""
    from tether.api.remote import list_all as gather

    rows, warnings = gather(statuses, limit)
    for warning in warnings:
        click.echo(warning, err=True)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no jobs on any host yet: start one with `tether run SCRIPT.py`", err=True)
        return
    render.console().print(rows_table(rows))


def _progress(data: Any) -> str:
    if not isinstance(data, dict) or data.get("percent") is None:
        return ""
    eta = data.get("eta")
    return f"{data['percent']}%" + (f" eta {eta}" if eta and eta != "?" else "")


def rows_table(rows: list[dict[str, Any]], *, host_first: bool = True) -> Any:
    """A table of ``ls --json`` rows: the host (with the GPUs a job holds there), number,
    name, status, runtime, progress, and the latest metrics or why a queued job waits."""
    from rich.markup import escape
    from rich.table import Table

    columns = ["#", "name", "status", "host", "runtime", "progress", "metrics"]
    if host_first:
        columns.remove("host")
        columns.insert(0, "host")
    table = Table(box=None, header_style="bold")
    for col in columns:
        table.add_column(col, justify="right" if col == "#" else "left", no_wrap=col != "metrics")
    for row in rows:
        status = str(row.get("status"))
        style = render.STATUS_STYLE.get(status, "")
        metrics = row.get("metrics")
        runtime = row.get("runtime")
        reason = str(row.get("reason") or "")
        gpus = row.get("gpus") or []
        host = str(row.get("host")) + (f" gpu {','.join(map(str, gpus))}" if gpus else "")
        cells = {
            "host": escape(host),
            "#": str(row.get("number")),
            "name": escape(str(row.get("name"))),
            "status": f"[{style}]{status}[/]",
            "runtime": render.duration(runtime if isinstance(runtime, (int, float)) else None),
            "progress": _progress(row.get("progress")),
            "metrics": escape(reason)
            if status == "queued" and reason.startswith("waiting: ")
            else render.metrics_text(metrics if isinstance(metrics, dict) else {}),
        }
        table.add_row(*(cells[col] for col in columns))
    return table
