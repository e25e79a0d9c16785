"""Where jobs run, behind one protocol (:class:`~tether.backends.base.Backend`): this
machine's agent (``local``), an SSH host's tether (``ssh``), a Slurm cluster (``slurm``).
:mod:`tether.backends.choose` is the one place that picks the backend of a job or a host."""

from tether.backends.base import Backend, RunRequest, Submitted
from tether.backends.choose import (
    backend_for,
    backend_for_host,
    cancel,
    cancel_many,
    endings,
    kept_by_host,
    pick_host,
    refresh,
    refresh_many,
)

__all__ = [
    "Backend",
    "RunRequest",
    "Submitted",
    "backend_for",
    "backend_for_host",
    "cancel",
    "cancel_many",
    "endings",
    "kept_by_host",
    "pick_host",
    "refresh",
    "refresh_many",
]
