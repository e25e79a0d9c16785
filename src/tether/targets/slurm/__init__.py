"""Slurm clusters as tether hosts.

Pieces that need no cluster: resource options (``resources``), sbatch scripts (``script``),
job states (``states``). Pieces that talk to one: where commands run (``runner``), the
cluster's commands (``cluster``), submitting (``submit``), keeping records up to date
(``tracking``), output (``output``). Names below load on first use, so importing a
submodule stays cheap (``tether run`` imports the CLI options only).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Resources": "resources",
    "merge": "resources",
    "parse_resources": "resources",
    "DEFAULT_TEMPLATE": "script",
    "load_template": "script",
    "render_script": "script",
    "SlurmJobState": "states",
    "combine_states": "states",
    "parse_sacct": "states",
    "parse_sbatch_parsable": "states",
    "parse_scontrol": "states",
    "parse_squeue": "states",
    "poll_commands": "states",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
