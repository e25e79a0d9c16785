"""``tether probe``: how busy each machine is (this one and every configured host)."""

from __future__ import annotations

import click

from tether.cli.context import json_option, print_json

GIB = 1024**3


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GIB:.1f}G"


@click.command()
@click.option(
    "--timeout", type=float, default=15.0, show_default=True, help="Seconds allowed per host."
)
@click.option("--no-local", is_flag=True, help="Leave this machine out.")
@json_option
def probe(timeout: float, no_local: bool, as_json: bool) -> None:
    """One row per host: reachable, CPUs, load, free RAM and disk, GPUs, tether version."""
    from tether.api.host_admin import gpu_holders
    from tether.api.host_admin import probe as probe_hosts

    rows = probe_hosts(timeout=timeout, include_local=not no_local)
    holders = {} if no_local else gpu_holders()
    if as_json:
        data = [row.to_dict() for row in rows]
        for item in data:
            if item.get("host") == "local":
                item["gpu_holders"] = {str(k): v for k, v in holders.items()}
        print_json(data)
        return
    from rich.table import Table

    from tether.cli import render

    table = Table(box=None, header_style="bold")
    for col in ("host", "reachable", "cpus", "load", "free RAM", "free disk", "GPUs", "tether"):
        table.add_column(col)
    for row in rows:
        res = row.resources
        if res is None:
            table.add_row(row.name, f"[red]no[/] {row.error or ''}", "", "", "", "", "", "")
            continue
        held = holders if row.name == "local" else {}
        gpus = ", ".join(
            f"{g.name} {_gib(g.mem_free_bytes)}/{_gib(g.mem_total_bytes)}"
            + (f" {g.utilization_pct:.0f}%" if g.utilization_pct is not None else "")
            + (f" job #{held[g.index]}" if g.index in held else "")
            for g in res.gpus
        )
        table.add_row(
            row.name,
            "[green]yes[/]",
            str(res.cpu_count),
            "-" if res.load_1m is None else f"{res.load_1m:.2f}",
            _gib(res.mem_free_bytes),
            _gib(res.disk_free_bytes),
            gpus or "-",
            row.tether_version or "-",
        )
    render.console().print(table)
