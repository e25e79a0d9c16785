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
    host = pick_host(on) or "local"
    if request.git_ref and host != "local":
        from tether.errors import UsageError

        raise UsageError(
            f"--git is not there yet with --on {host}: it runs a clean checkout here only; "
            "nothing queued"
        )
    notify = request.notify
    extra = dict(request.extra)
    if any(notify.get(k) for k in ("notify", "every", "stall_after", "notify_on")):
        from tether.notifications.routing import job_options

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
    from tether.notifications.routing import check_config_settings

    request = RunRequest.from_wire(fields)
    check_config_files(Path.cwd())
    check_config_settings(Path.cwd())
    _check_env(request.env)
    # "local": the host runs the jobs itself; a synced tether.toml pin never forwards them
    return [s.shown for s in run(request, on="local")]


def _check_env(env: dict[str, Any] | None) -> None:
    """Refuse, with nothing queued, a request for an env this host does not have yet (the
    project's requirement lines, worked out on the other machine): it makes the env (``tether
    env`` here) and asks again. An env already there costs a read and two ``stat`` calls."""
    from pathlib import Path

    from tether.envs.venv import env_ready
    from tether.errors import EnvNeeded
    from tether.jobs.env_records import project_root
    from tether.paths import tether_home

    lines = [str(line) for line in (env or {}).get("lines") or ()]
    if lines and not env_ready(project_root(Path.cwd()), lines, home=tether_home()):
        raise EnvNeeded(
            "no env here yet for the project's requirements; `tether env --on HOST` makes it"
        )
