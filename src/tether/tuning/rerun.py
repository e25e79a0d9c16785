"""A new attempt of a job, built once for every way of asking (``tether rerun``, the web
page, a mail reply): the same program (or its edited text), the parameters with overrides on
top, the same place. Submitting it is the backend's (``backend_for(old).rerun``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether.errors import UsageError
from tether.store.jobs import Job, JobSpec

PER_RUN_KEYS = ("metrics", "param_diff", "param_notes", "sweep", "token", "steering")
"""What belongs to one run only and is not inherited by the next attempt."""


def rerun_spec(
    home: Path,
    old: Job,
    *,
    overrides: dict[str, object] | None = None,
    edited_source: str | None = None,
    name: str | None = None,
    extra: dict[str, Any] | None = None,
) -> JobSpec:
    """The next attempt of ``old`` (its parent is ``old``): ``old``'s stored program, or
        ``edited_source`` in its place (refused when it does not compile), with ``overrides`` on
        top of its parameters, and ``extra`` added to its record. Its backend is set by the one
    that submits it (``backend_for(old).rerun``)."""
    from tether.tuning.program import prepare_from_job

    overrides = dict(overrides or {})
    new_extra = {k: v for k, v in old.extra.items() if k not in PER_RUN_KEYS}
    command = list(old.command)
    if "version" in old.extra:
        prepared = prepare_from_job(home, old.extra, overrides, edited_source=edited_source)
        new_extra.update(prepared.extra)
        command[1] = str(prepared.entry_path)
    elif edited_source is not None:
        raise UsageError(f"job #{old.number} ran a command, not a stored .py program; nothing run")
    elif overrides:
        new_extra["params"] = {**(old.extra.get("params") or {}), **overrides}
    new_extra.update(extra or {})
    return JobSpec(
        command=command,
        cwd=old.cwd,
        name=name or old.name,
        env=old.env,
        target=old.target,
        parent=old.number,
        script=old.script,
        extra=new_extra,
    )
