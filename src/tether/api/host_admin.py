"""Hosts through the API: the configured hosts (add, list, remove), checking and setting one
up, a shell there, Slurm settings and scripts, and how busy each machine is.

Everything calls the targets code; nothing is re-implemented. Only the host file's modules
load with this one: the rest loads in the verb that needs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tether.errors import TetherError, UsageError
from tether.targets.ssh import hosts_config
from tether.targets.ssh.hostspec import SCHEDULERS, HostSpec, parse_options

if TYPE_CHECKING:
    from tether.targets.ssh.check import HostCheck
    from tether.targets.ssh.remote_probe import ProbeRow

__all__ = [
    "SCHEDULERS",
    "ClusterCheck",
    "HostSpec",
    "add_host",
    "bootstrap_host",
    "check_cluster",
    "check_host",
    "get_host",
    "gpu_holders",
    "host_runs_here",
    "list_hosts",
    "parse_options",
    "probe",
    "remove_host",
    "shell_on_host",
    "slurm_script",
    "slurm_settings",
]


def list_hosts() -> dict[str, HostSpec]:
    """The configured hosts by name, in the order of hosts.toml."""
    return hosts_config.load_hosts()


def get_host(name: str) -> HostSpec:
    """The configured host ``name``; a clear error when there is none."""
    return hosts_config.get_host(name)


def host_runs_here(name: str) -> bool:
    """True when host ``name``'s commands run on this machine (DEST ``local``, e.g. a Slurm
    login node); an unknown host raises the clear error."""
    return get_host(name).is_local


def ssh_host_names() -> list[str]:
    """The configured hosts whose own tether runs their jobs (``ls --all`` and ``clean
    --all`` ask each of them)."""
    from tether.targets.ssh.all_hosts import ssh_hosts

    return [spec.name for spec in ssh_hosts(list_hosts())]


def host_keeps_jobs(name: str) -> bool:
    """True when host ``name``'s own tether keeps its jobs (an SSH host that is not this
    machine), so a verb given ``on=name`` is asked of it; False for a cluster, whose jobs are
    recorded here (:func:`tether.backends.kept_by_host` decides)."""
    from tether.backends import kept_by_host

    return kept_by_host(name)


def add_host(spec: HostSpec, *, replace: bool = False) -> Path:
    """Add ``spec`` to hosts.toml (``replace``: over a host of the same name); the file's path."""
    return hosts_config.add_host(spec, replace=replace)


def remove_host(name: str) -> None:
    """Forget host ``name`` and close its ssh connection (nothing on the host is touched)."""
    from tether.targets.ssh.transport import Transport

    spec = get_host(name)
    hosts_config.remove_host(name)
    Transport(spec).close()


def check_host(name: str | HostSpec) -> HostCheck:
    """Connect to the host: its Python version, rsync and tether."""
    from tether.targets.ssh.check import check_host as check
    from tether.targets.ssh.transport import Transport

    spec = get_host(name) if isinstance(name, str) else name
    return check(Transport(spec))


@dataclass
class ClusterCheck:
    """``hosts check`` on a Slurm host: the ssh check (None on the login node) and ``sinfo``."""

    host: HostSpec
    ssh: HostCheck | None = None
    sinfo: list[str] | None = None
    error: str | None = None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The ssh check passed (or was not needed) and Slurm answered."""
        return (self.ssh is None or self.ssh.python_ok) and self.error is None


def check_cluster(name: str | HostSpec) -> ClusterCheck:
    """Check a Slurm host: ssh first (unless it is this machine), then ``sinfo`` there."""
    from tether.targets.slurm.cluster import SlurmCluster

    host = get_host(name) if isinstance(name, str) else name
    result = ClusterCheck(host, report={"name": host.name, "dest": host.dest, "scheduler": "slurm"})
    if not host.is_local:
        result.ssh = check_host(host)
        result.report.update(result.ssh.to_dict())
    try:
        lines = SlurmCluster(host).sinfo().strip().splitlines()
    except TetherError as exc:
        result.error = str(exc)
        result.report["slurm"] = None
        result.report["error"] = str(exc)
    else:
        result.sinfo = lines
        columns = ("partition", "avail", "timelimit", "nodes", "state")
        result.report["slurm"] = [dict(zip(columns, line.split(), strict=False)) for line in lines]
    return result


def bootstrap_host(name: str, *, force: bool = False, say: IO[str] | None = None) -> str:
    """Install this tether version on host ``name`` (~/.tether/venv); what was done. Each
    step is said on ``say`` when given."""
    from tether.targets.ssh.bootstrap import bootstrap
    from tether.targets.ssh.transport import Transport

    return bootstrap(Transport(get_host(name)), force=force, say=say)


def shell_on_host(host: str | None, command: Sequence[str], *, tty: bool) -> int:
    """Run ``command`` (one word: a shell command line; none: a login shell) on ``host`` (None:
    the project's pinned host) in the project's folder there, made if missing; its exit code."""
    from tether.targets.ssh.command import remote_join
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.transport import Transport

    project = find_project()
    transport = Transport(hosts_config.resolve_host(host, project.root))
    folder = f'"$HOME"/{remote_join([project.remote_dir])}'
    if len(command) == 1:  # a command line for the shell, like `ssh HOST 'pwd; ls'`
        run = f"exec sh -c {remote_join(list(command))}"
    elif command:
        run = f"exec {remote_join(list(command))}"
    else:
        run = 'exec "${SHELL:-/bin/sh}" -l'
    script = f"mkdir -p {folder} && cd {folder} && {run}"
    return transport.interactive(["sh", "-c", script], tty=tty)


def slurm_settings(values: Mapping[str, Any], env: Sequence[str]) -> dict[str, Any]:
    """HostSpec settings from ``hosts add`` flags: partition, account, resources, env."""
    from tether.targets.slurm.resources import parse_resources

    settings: dict[str, Any] = {}
    values = dict(values)
    for key in ("partition", "account"):
        if key in values:
            settings[key] = values.pop(key)
    if values:
        settings["resources"] = parse_resources(**values).as_dict()
    pairs = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: use NAME=VALUE, e.g. SLURM_CONF=/etc/slurm.conf")
        pairs[key] = value
    if pairs:
        settings["env"] = pairs
    return settings


def slurm_script(name: str, values: Mapping[str, Any], command: Sequence[str]) -> str:
    """The sbatch script ``run --on NAME [resource flags] -- COMMAND`` would submit."""
    from tether.backends.slurm_submit import resources_of
    from tether.targets.slurm.submit import show_script

    spec = get_host(name)
    if spec.scheduler != "slurm":
        raise UsageError(f"host {name!r} is not a Slurm cluster (added without --scheduler slurm)")
    return show_script(spec, resources_of(dict(values)), command)


def probe(*, timeout: float = 15.0, include_local: bool = True) -> list[ProbeRow]:
    """How busy each machine is: this one (``include_local``) and every configured host."""
    from tether.targets.ssh.remote_probe import probe_all

    return probe_all(list_hosts(), timeout=timeout, include_local=include_local)


def gpu_holders() -> dict[int, int]:
    """GPU index -> the running tether job here that holds it (``run --gpus N``)."""
    from tether.agent.gpus import held
    from tether.paths import tether_home
    from tether.store.jobs import JobStore

    return held(JobStore(tether_home()))
