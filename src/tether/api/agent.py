"""The background agent through the API: start (with its parallelism and GPUs), stop, status."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tether.paths import tether_home


@dataclass
class AgentStarted:
    """The running agent after :func:`start_agent`."""

    pid: int
    parallel: int


def start_agent(parallel: int | None = None, gpus: str | None = None) -> AgentStarted:
    """Start the agent (or change its ``parallel`` or ``gpus`` while it runs). ``gpus`` is
    ``0,1`` or ``all``; both are kept for next starts."""
    from tether.agent import control

    if gpus is not None:
        _allow_gpus(gpus)
    info = control.start(tether_home(), parallel)
    return AgentStarted(info.pid, info.parallel)


def _allow_gpus(gpus: str) -> None:
    """Keep the GPUs jobs may use (``all``: every one) in the store's settings."""
    from tether.agent import gpus as gpu_slots
    from tether.store.jobs import JobStore

    value = "" if gpus == "all" else ",".join(map(str, gpu_slots.parse_allowed(gpus)))
    store = JobStore(tether_home())
    try:
        store.set_setting(gpu_slots.ALLOWED_SETTING, value)
    finally:
        store.close()


def stop_agent() -> bool:
    """Stop the agent (running jobs keep running); false when none was running."""
    from tether.agent import control

    return control.stop(tether_home())


def agent_status() -> dict[str, Any]:
    """``tether agent status --json``: running, pid, uptime, parallel, queued, jobs_running,
    home."""
    from tether.agent import control
    from tether.store.jobs import JobStore

    home = tether_home()
    info = control.info(home)
    store = JobStore(home)
    queued, running = store.count("queued"), store.count("running")
    uptime = time.time() - info.started if info else None
    return {
        "running": info is not None,
        "pid": info.pid if info else None,
        "uptime": uptime,
        "parallel": info.parallel if info else int(store.get_setting("agent.parallel", "1") or 1),
        "queued": queued,
        "jobs_running": running,
        "home": str(home),
    }
