"""``--on auto``: probe every configured SSH host in parallel and pick the least busy one.

The choice is :func:`tether.targets.probe.pick_best`: the most free memory on one GPU,
else (no GPU anywhere) the lowest load per CPU. Slurm clusters are left out (their login
node's load says nothing about where a job would run).
"""

from __future__ import annotations

from typing import IO

from tether.errors import UsageError

AUTO = "auto"
#: Seconds allowed for each host's probe.
PROBE_TIMEOUT = 10.0
GIB = 1024**3


def choose_host(say: IO[str] | None = None, timeout: float = PROBE_TIMEOUT) -> str:
    """The name of the host a ``--on auto`` job goes to; says which and why on ``say``."""
    from tether.targets.probe import pick_best
    from tether.targets.ssh.hosts_config import load_hosts
    from tether.targets.ssh.remote_probe import probe_all

    hosts = {name: spec for name, spec in load_hosts().items() if spec.scheduler == "none"}
    if not hosts:
        raise UsageError(
            "--on auto: no SSH hosts configured to choose from; add one with "
            "`tether hosts add NAME DEST`"
        )
    rows = probe_all(hosts, timeout=timeout, include_local=False)
    found = {row.name: row.resources for row in rows}
    name = pick_best(found)
    if say is not None:
        unreachable = [row.name for row in rows if row.resources is None]
        say.write(f"tether: --on auto chose {name} ({_why(found[name])})")
        say.write(f"; not reached: {', '.join(unreachable)}\n" if unreachable else "\n")
        say.flush()
    return name


def _why(resources: object) -> str:
    from tether.targets.probe import HostResources

    assert isinstance(resources, HostResources)
    if resources.gpus and resources.best_gpu_free_bytes > 0:
        return f"{resources.best_gpu_free_bytes / GIB:.1f} GiB free on its emptiest GPU"
    load = resources.load_per_cpu
    shown = "unknown" if load is None else f"{load:.2f}"
    return f"load {shown} per CPU, {resources.cpu_count} CPUs"
