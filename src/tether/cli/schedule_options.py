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


def schedule_extra(values: dict[str, Any], gpus_text: str | None) -> dict[str, Any]:
    """``{"gate": ..., "retry": ...}`` for jobs run on this machine (``{}`` when none given);
    an unknown job, a bad value or ``--gpus``/``--gpu-mem`` this machine or its agent can
    never give is refused."""
    from tether.agent import gpus
    from tether.jobs import depends, retry

    extra: dict[str, Any] = retry.options(
        values.get("retry"), values.get("retry_delay"), values.get("retry_on")
    )
    gate: dict[str, Any] = {}
    allowed_set = None
    if gpus_text is not None:  # the GPUs `agent start --gpus` left the agent
        from tether.cli.context import open_store

        store = open_store()
        try:
            allowed_set = gpus.allowed(store)
        finally:
            store.close()
    want = gpus.request(gpus_text, values.get("gpu_mem"), allowed_set)
    if want:
        gate["gpus"] = want
    if values.get("after") or values.get("after_any"):
        from tether.cli.context import open_store

        after, after_any = values.get("after", ()), values.get("after_any", ())
        gate.update(depends.gate(open_store(), after, after_any))
    if gate:
        extra["gate"] = gate
    return extra
