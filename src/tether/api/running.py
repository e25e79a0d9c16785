"""``run`` and ``sweep`` through the API: where the jobs go is decided by the backends (the
host given, the project's pinned one, or this machine); this checks what is the same
everywhere (the notification options) and hands the request to that host's backend."""

from __future__ import annotations

from dataclasses import replace

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
