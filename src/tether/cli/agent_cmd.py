"""``tether agent start|stop|status``."""

from __future__ import annotations

import click

from tether.cli import render
from tether.cli.context import json_option, print_json


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
    from tether.api.agent import start_agent

    info = start_agent(parallel, gpus)
    click.echo(f"agent running (pid {info.pid}, parallel {info.parallel})")


@agent.command()
def stop() -> None:
    """Stop the agent. Running jobs keep running; queued jobs wait for the next start."""
    from tether.api.agent import stop_agent

    if stop_agent():
        click.echo("agent stopped")
    else:
        click.echo("no agent was running")


@agent.command()
@json_option
def status(as_json: bool) -> None:
    """Is the agent running: pid, uptime, queue length."""
    from tether.api.agent import agent_status

    data = agent_status()
    if as_json:
        print_json(data)
        return
    queued, running, home = data["queued"], data["jobs_running"], data["home"]
    if not data["running"]:
        click.echo(f"agent not running ({queued} queued, {running} running); home {home}")
        return
    click.echo(
        f"agent running: pid {data['pid']}, up {render.duration(data['uptime'])}, "
        f"parallel {data['parallel']}, {queued} queued, {running} running; home {home}"
    )
