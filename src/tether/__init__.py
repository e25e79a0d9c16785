"""tether: run long Python programs here, over SSH or on Slurm, and stay tethered to them.

Inside a program, ``import tether`` gives the runtime API (cheap, and silent outside a job)::

    tether.report(loss=0.3)            # metrics, buffered in memory
    tether.notify("epoch 3 done")      # a message for the job's notifications
    lr = tether.param("lr", 0.01)      # a value `tether run -p lr=...` can override

    @tether.watch                      # told when it starts, ends or fails (no agent needed)
    def train(): ...

Names load on first use (and are then plain module attributes), so the ``tether`` command
does not pay for what it does not use.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing's: `import tether` (and `tether --version`) stays cheap

__version__ = "0.1.0"

_LAZY = {
    "report": "tether.runtime.metrics",
    "report_scalar": "tether.runtime.metrics",
    "add_condition": "tether.runtime.metrics",
    "flush": "tether.runtime.metrics",
    "notify": "tether.runtime.events",
    "send_status": "tether.runtime.events",
    "param": "tether.runtime.params",
    "submit": "tether.api.verbs",
    "Dataset": "tether.functions.dataset",
    "Executor": "tether.functions.executor",
    "watch": "tether.notifications.watch",
}

__all__ = [
    "Dataset",
    "Executor",
    "__version__",
    "add_condition",
    "flush",
    "load_ipython_extension",
    "notify",
    "param",
    "report",
    "report_scalar",
    "send_status",
    "submit",
    "watch",
]

if TYPE_CHECKING:
    from typing import Any

    from tether.api.verbs import submit
    from tether.functions.dataset import Dataset
    from tether.functions.executor import Executor
    from tether.notifications.watch import watch
    from tether.runtime.events import notify, send_status
    from tether.runtime.metrics import add_condition, flush, report, report_scalar
    from tether.runtime.params import param


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tether' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are ordinary attribute hits
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext tether``: adds the ``%%tether`` cell magic (see tether.functions.magic)."""
    from tether.functions.magic import register

    register(ipython)
