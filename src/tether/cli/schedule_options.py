"""The scheduling options of ``run`` and ``sweep``: ``--gpu-mem`` (with ``--gpus N``),
``--retry``, ``--retry-delay``, ``--retry-on``, ``--after``, ``--after-any``.

Checked at submit and kept in the job's ``extra`` (``gate`` and ``retry``) for the agent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

NAMES = ("gpu_mem", "retry", "retry_delay", "retry_on", "after", "after_any")

_OPTIONS = (
    click.option(
        "--gpu-mem",
        metavar="SIZE",
        help="With --gpus N here or on an SSH host: free memory each GPU needs (20G, 500M).",
    ),
    click.option("--retry", type=int, metavar="N", help="Run a failed or lost job again, N times."),
    click.option("--retry-delay", metavar="DURATION", help="Wait this long before a retry (30s)."),
    click.option("--retry-on", metavar="CODES", help="Retry only on these exit codes (1,137)."),
    click.option(
        "--after",
        multiple=True,
        metavar="JOB[,JOB...]",
        help="Start once these jobs succeeded; cancelled if one fails.",
    ),
    click.option("--after-any", multiple=True, metavar="JOB", help="Start once these jobs ended."),
)


def schedule_options(func: F) -> F:
    """Add the scheduling options to a click command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def take_schedule_values(options: dict[str, Any]) -> dict[str, Any]:
    """Remove the scheduling options from ``options``; return those that were given."""
    values = {name: options.pop(name, None) for name in NAMES}
    return {k: v for k, v in values.items() if v is not None and v != ()}
