"""The resource flags of ``run``, ``sweep`` and ``hosts add|show-script``, as click options.

Only click is imported here: ``tether run`` loads this module on every call. The values
are checked by :func:`~tether.targets.slurm.resources.parse_resources` before anything
is submitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

RESOURCE_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--cpus", "N", "CPUs for the job (Slurm: --cpus-per-task)."),
    ("--mem", "SIZE", "Memory: 4G, 500M, 16000 (MB)."),
    ("--gpus", "GPUS", "GPUs: 2, a100 or a100:2."),
    ("--time", "LIMIT", "Time limit: 3600 (s), 90m, 2h, 1d12h or HH:MM:SS."),
    ("--partition", "NAME", "Slurm partition."),
    ("--account", "NAME", "Slurm account to charge."),
    ("--qos", "NAME", "Slurm quality of service."),
    ("--constraint", "FEATURES", "Node features the job needs."),
)
NAMES = (*(flag[2:] for flag, _, _ in RESOURCE_FLAGS), "sbatch_lines")
"""The keyword names the decorated command receives."""


def resource_options(command: F) -> F:
    """Add the resource flags (and repeatable ``--sbatch LINE``) to a click command."""
    command = click.option(
        "--sbatch",
        "sbatch_lines",
        multiple=True,
        metavar="LINE",
        help="Any other sbatch option, e.g. --sbatch=--exclusive (repeatable). Slurm hosts.",
    )(command)
    for flag, metavar, text in reversed(RESOURCE_FLAGS):
        command = click.option(flag, metavar=metavar, help=f"{text} Slurm hosts.")(command)
    return command


def take_resource_values(options: dict[str, Any]) -> dict[str, Any]:
    """Remove the resource flags from ``options``; return those that were given."""
    values = {name: options.pop(name, None) for name in NAMES}
    return {k: v for k, v in values.items() if v is not None and v != ()}
