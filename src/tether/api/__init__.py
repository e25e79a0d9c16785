"""The public Python API under the CLI and the web dashboard: one implementation of each verb.

Names load on first use, so a command that needs none of them (or only the record types of
:mod:`tether.api.types`) does not pay for the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "cancel_job": "tether.api.jobs",
    "get_job": "tether.api.jobs",
    "job_metrics": "tether.api.jobs",
    "job_program": "tether.api.jobs",
    "list_jobs": "tether.api.jobs",
    "log_range": "tether.api.jobs",
    "probe_hosts": "tether.api.jobs",
    "rerun_job": "tether.api.jobs",
    "follow_log": "tether.api.verbs",
    "grep_log": "tether.api.verbs",
    "job_history": "tether.api.verbs",
    "open_store": "tether.api.verbs",
    "submit_job": "tether.api.verbs",
    "tail_log": "tether.api.verbs",
    "wait_jobs": "tether.api.verbs",
}

__all__ = [
    "cancel_job",
    "follow_log",
    "get_job",
    "grep_log",
    "job_history",
    "job_metrics",
    "job_program",
    "list_jobs",
    "log_range",
    "open_store",
    "probe_hosts",
    "rerun_job",
    "submit_job",
    "tail_log",
    "wait_jobs",
]

if TYPE_CHECKING:
    from tether.api.jobs import (
        cancel_job,
        get_job,
        job_metrics,
        job_program,
        list_jobs,
        log_range,
        probe_hosts,
        rerun_job,
    )
    from tether.api.verbs import (
        follow_log,
        grep_log,
        job_history,
        open_store,
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
