"""``tether notify test`` and ``tether notifications JOB``."""

from __future__ import annotations

import os
import socket

import click

from tether.cli.context import json_option, on_option, print_json
from tether.errors import NotifyError, TetherError


@click.group()
def notify() -> None:
    """Notification channels: email (`tether mail setup`), Slack, webhooks, any Apprise URL.

    Channels are listed in the user config ([notify] channels = [...]), in a project's
    tether.toml, or given per job with `tether run --notify URL`.
    """


@notify.command("test")
def test() -> None:
    """Send a test notification through every configured channel and report each result."""
    from tether.config import load_user_config, user_config_path
    from tether.notifications.delivery import send_to
    from tether.notifications.message import NotificationContext
    from tether.notifications.routing import settings_for

    settings = settings_for(os.getcwd())
    if not settings.routes:
        raise NotifyError(
            f"no notification channels are configured; run `tether mail setup`, or add "
            f'[notify] channels = ["slack://..."] to {user_config_path()} or ./tether.toml'
        )
    config = load_user_config()
    ctx = NotificationContext(event="test", job_number=0, program="tether")
    ctx.host = socket.gethostname()
    ctx.messages = ["If you read this, tether can reach you here."]
    # A sample metric, so the test takes the path of a job's notification, chart included.
    ctx.metrics = {"loss": [(step, round(1.0 / (1 + step), 4)) for step in range(10)]}
    failed = 0
    for route in settings.routes:
        try:
            send_to(route.url, ctx, config)
        except TetherError as exc:
            failed += 1
            click.echo(f"failed  {route.display}: {exc}")
        else:
            click.echo(f"sent    {route.display}")
    if failed:
        raise NotifyError(f"{failed} of {len(settings.routes)} channel(s) failed")


@click.command()
@on_option
@json_option
@click.argument("job", required=False)
def notifications(host: str | None, as_json: bool, job: str | None) -> None:
    """Each notification of JOB: event, channel, time and delivery status."""
    from tether.api.commands import notifications as job_notifications
    from tether.cli import render

    rows = job_notifications(job, on=host)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(
            f"job #{job} has no notifications" if job else "the last job has no notifications"
        )
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "event", "channel", "created", "status", "tries", "delivery"):
        table.add_column(column)
    for row in rows:
        if row["status"] == "sent":
            detail = f"sent {_clock(row['sent'])}"
        elif row["status"] == "pending":
            detail = f"next try {_clock(row['next_attempt'])}"
        else:
            detail = "gave up"
        if row["error"] and row["status"] != "sent":
            detail += f": {row['error']}"
        table.add_row(
            str(row["id"]),
            row["event"],
            row["channel"],
            _clock(row["created"]),
            row["status"],
            str(row["attempts"]),
            detail,
        )
    render.console().print(table)


def _clock(iso: str | None) -> str:
    """``11-23 14:02:07`` (local time) of an ISO 8601 time as ``--json`` gives it."""
    return "-" if not iso else f"{iso[5:10]} {iso[11:19]}"
