"""Where jobs run, behind one protocol (:class:`~tether.backends.base.Backend`): this
machine's agent (``local``), an SSH host's tether (``ssh``), a Slurm cluster (``slurm``).
:mod:`tether.backends.choose` is the one place that picks the backend of a job or a host."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """The names above, imported on first use (``ls --on`` needs none of ``base``)."""
    import importlib

    if name in ("Backend", "RunRequest", "Submitted"):
        return getattr(importlib.import_module("tether.backends.base"), name)
    if name in __all__:
        return getattr(importlib.import_module("tether.backends.choose"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
