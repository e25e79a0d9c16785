"""``tether agent start|stop|status``."""

from __future__ import annotations

import time

import click

from tether.agent import control
from tether.cli import render
from tether.cli.context import json_option, print_json
from tether.paths import tether_home


@click.group()
def agent() -> None:
    """The background agent that runs queued jobs (started automatically when needed)."""


@agent.command()
@click.option(
    "--parallel",
    "-p",
    type=click.IntRange(1, 1024),
    help="How many jobs run at once (default 1; kept for next starts).",
)
@click.option(
    "--gpus",
    metavar="INDICES",
    help="Give jobs only these GPUs (0,1; 'all' for every one; kept for next starts).",
)
def start(parallel: int | None, gpus: str | None) -> None:
    """Start the agent (or change its --parallel or --gpus while it runs)."""
    if gpus is not None:
        from tether.agent import gpus as gpu_slots
        from tether.api.types import JobStore

        value = "" if gpus == "all" else ",".join(map(str, gpu_slots.parse_allowed(gpus)))
        store = JobStore(tether_home())
        store.set_setting(gpu_slots.ALLOWED_SETTING, value)
        store.close()
    info = control.start(tether_home(), parallel)
    click.echo(f"agent running (pid {info.pid}, parallel {info.parallel})")


@agent.command()
def stop() -> None:
    """Stop the agent. Running jobs keep running; queued jobs wait for the next start."""
    if control.stop(tether_home()):
        click.echo("agent stopped")
    else:
        click.echo("no agent was running")


@agent.command()
@json_option
def status(as_json: bool) -> None:
    """Is the agent running: pid, uptime, queue length."""
    from tether.api.types import JobStore

    home = tether_home()
    info = control.info(home)
    store = JobStore(home)
    queued, running = store.count("queued"), store.count("running")
    uptime = time.time() - info.started if info else None
    data = {
        "running": info is not None,
        "pid": info.pid if info else None,
        "uptime": uptime,
        "parallel": info.parallel if info else int(store.get_setting("agent.parallel", "1") or 1),
        "queued": queued,
        "jobs_running": running,
        "home": str(home),
    }
    if as_json:
        print_json(data)
        return
    if info is None:
        click.echo(f"agent not running ({queued} queued, {running} running); home {home}")
        return
    click.echo(
        f"agent running: pid {info.pid}, up {render.duration(uptime)}, "
        f"parallel {info.parallel}, {queued} queued, {running} running; home {home}"
    )
