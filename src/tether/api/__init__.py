"""The public Python API under the CLI and the web dashboard: one implementation of each verb.

Every verb of the CLI is a function here taking ``on=HOST`` (:mod:`tether.api.commands`):
``run``, ``sweep``, ``ls``, ``show``, ``logs``, ``wait``, ``cancel``, ``rerun``, ``save``,
``history``, ``diff``, ``scalars``, ``clean``, ``hosts``, ``notifications``. The functions
that take the store first (``list_jobs``, ``get_job``, ``log_range`` ...) are what the
dashboard pages through. The host, sync, data, agent, notebook and outbox verbs are in their
modules (``tether.api.host_admin``, ``.sync``, ``.data``, ``.agent``, ``.notebooks``,
``.outbox``).

Names load on first use, so a command that needs none of them (or only the record types of
:mod:`tether.api.types`) does not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "cancel": "tether.api.commands",
    "cancel_job": "tether.api.jobs",
    "clean": "tether.api.commands",
    "diff": "tether.api.commands",
    "follow_log": "tether.api.verbs",
    "get_job": "tether.api.jobs",
    "grep_log": "tether.api.verbs",
    "history": "tether.api.commands",
    "hosts": "tether.api.commands",
    "job_history": "tether.api.verbs",
    "job_metrics": "tether.api.metrics",
    "job_program": "tether.api.jobs",
    "list_jobs": "tether.api.jobs",
    "log_range": "tether.api.jobs",
    "logs": "tether.api.commands",
    "ls": "tether.api.commands",
    "notifications": "tether.api.commands",
    "open_store": "tether.api.verbs",
    "probe_hosts": "tether.api.jobs",
    "read_log": "tether.api.verbs",
    "rerun": "tether.api.commands",
    "rerun_job": "tether.api.jobs",
    "run": "tether.api.commands",
    "save": "tether.api.commands",
    "scalars": "tether.api.commands",
    "show": "tether.api.commands",
    "submit_job": "tether.api.verbs",
    "sweep": "tether.api.commands",
    "tail_log": "tether.api.verbs",
    "top": "tether.api.commands",
    "wait": "tether.api.commands",
    "wait_jobs": "tether.api.verbs",
}

__all__ = [
    "cancel",
    "cancel_job",
    "clean",
    "diff",
    "follow_log",
    "get_job",
    "grep_log",
    "history",
    "hosts",
    "job_history",
    "job_metrics",
    "job_program",
    "list_jobs",
    "log_range",
    "logs",
    "ls",
    "notifications",
    "open_store",
    "probe_hosts",
    "read_log",
    "rerun",
    "rerun_job",
    "run",
    "save",
    "scalars",
    "show",
    "submit_job",
    "sweep",
    "tail_log",
    "top",
    "wait",
    "wait_jobs",
]

if TYPE_CHECKING:
    from tether.api.commands import (
        cancel,
        clean,
        diff,
        history,
        hosts,
        logs,
        ls,
        notifications,
        rerun,
        run,
        save,
        scalars,
        show,
        sweep,
        top,
        wait,
    )
    from tether.api.jobs import (
        cancel_job,
        get_job,
        job_program,
        list_jobs,
        log_range,
        probe_hosts,
        rerun_job,
    )
    from tether.api.metrics import job_metrics
    from tether.api.verbs import (
        follow_log,
        grep_log,
        job_history,
        open_store,
        read_log,
        submit_job,
        tail_log,
        wait_jobs,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tether.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
