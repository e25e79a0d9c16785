"""``run`` and ``sweep`` through the API: where the jobs go is decided by the backends (the
host given, the project's pinned one, or this machine); this checks what is the same
everywhere (the notification options) and hands the request to that host's backend."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tether.backends import RunRequest, Submitted, backend_for_host, pick_host


def run(request: RunRequest, *, on: str | None = None) -> list[Submitted]:
    """Queue the jobs of ``request`` on ``on`` (a host's name, ``local``, ``auto`` for the
    least busy host; None: the host ``tether.toml`` pins, else this machine). Refused, with
    nothing queued, when a flag does not apply there or the program is missing or broken."""
    from tether.notify.routing import job_options

    host = pick_host(on) or "local"
    notify = request.notify
    extra = dict(request.extra)
    if any(notify.get(k) for k in ("notify", "every", "stall_after", "notify_on")):
        extra["notify"] = job_options(
            tuple(notify.get("notify") or ()),
            notify.get("every"),
            notify.get("stall_after"),
            notify.get("notify_on"),
        )
    return backend_for_host(host).submit(host, replace(request, extra=extra))


def submit_here(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The host's side of ``run --on``: queue the jobs another machine's request
    (:meth:`RunRequest.wire_fields`) asks for on this machine, from the project's copy (the
    current folder), checked as ``tether run`` checks them; the new jobs as ``run --json``
    shows them."""
    from pathlib import Path

    from tether.config import check_config_files
    from tether.notify.routing import check_config_settings

    request = RunRequest.from_wire(fields)
    check_config_files(Path.cwd())
    check_config_settings(Path.cwd())
    # "local": the host runs the jobs itself; a synced tether.toml pin never forwards them
    return [s.shown for s in run(request, on="local")]
