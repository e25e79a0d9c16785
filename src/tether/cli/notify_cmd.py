"""``tether notify test`` and ``tether notifications JOB``."""

from __future__ import annotations

import os
import socket

import click

from tether.cli.context import json_option, open_store, print_json, resolve_job
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
    from tether.notify.delivery import send_to
    from tether.notify.message import NotificationContext
    from tether.notify.routing import settings_for

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
@json_option
@click.argument("job", required=False)
def notifications(as_json: bool, job: str | None) -> None:
    """Each notification of JOB: event, channel, time and delivery status."""
    from tether.api.outbox import job_notifications
    from tether.cli import render

    store = open_store()
    found = resolve_job(store, job)
    rows = job_notifications(store, found.number)
    if as_json:
        print_json([row.to_json() for row in rows])
        return
    if not rows:
        click.echo(f"job #{found.number} has no notifications")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "event", "channel", "created", "status", "tries", "delivery"):
        table.add_column(column)
    for row in rows:
        if row.status == "sent":
            detail = f"sent {_clock(row.sent_at)}"
        elif row.status == "pending":
            detail = f"next try {_clock(row.next_attempt)}"
        else:
            detail = "gave up"
        if row.last_error and row.status != "sent":
            detail += f": {row.last_error}"
        table.add_row(
            str(row.id),
            row.event,
            row.channel_display,
            _clock(row.created),
            row.status,
            str(row.attempts),
            detail,
        )
    render.console().print(table)


def _clock(ts: float | None) -> str:
    """``11-23 14:02:07`` (local time)."""
    import time

    return "-" if ts is None else time.strftime("%m-%d %H:%M:%S", time.localtime(ts))
