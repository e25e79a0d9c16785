"""The notification options of ``tether run``: ``--notify``, ``--every``, ``--stall-after``,
``--notify-on``; checked at once and kept in the job's ``extra["notify"]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option(
        "--notify",
        "notify",
        multiple=True,
        metavar="URL",
        help="Also notify this channel (repeatable): 'email' or an Apprise URL (slack://...).",
    ),
    click.option(
        "--every", metavar="DURATION", help="Send a report with the latest metrics every 30m."
    ),
    click.option(
        "--stall-after",
        metavar="DURATION",
        help="Notify when the job writes no output and no metrics for this long (20m).",
    ),
    click.option(
        "--notify-on",
        metavar="EVENTS",
        help="Which events to send (default started,ended,message,condition; also interval,"
        " stalled, nan (a metric became NaN or inf), succeeded, failed, cancelled, lost, all).",
    ),
)


def notify_options(func: F) -> F:
    """Add the notification options to a click command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func
