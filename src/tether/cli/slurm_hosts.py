"""The CLI side of Slurm hosts: ``hosts add --scheduler slurm`` settings, ``hosts check``
and ``hosts show-script``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tether.backends.slurm_submit import resources_of
from tether.errors import UsageError
from tether.targets.slurm.resources import parse_resources
from tether.targets.ssh.hostspec import HostSpec


def print_script(host: HostSpec, values: dict[str, Any], command: Sequence[str]) -> None:
    """``tether hosts show-script NAME [flags] -- CMD``."""
    from tether.targets.slurm.submit import show_script

    click.echo(show_script(host, resources_of(values), command), nl=False)


def host_settings(values: dict[str, Any], env: Sequence[str]) -> dict[str, Any]:
    """HostSpec settings from ``hosts add`` flags: partition, account, resources, env."""
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


def check_cluster(host: HostSpec, as_json: bool) -> int:
    """``hosts check`` on a Slurm host: ``sinfo`` there (after the ssh check over ssh)."""
    from tether.errors import TetherError
    from tether.targets.slurm.cluster import SlurmCluster

    report: dict[str, Any] = {"name": host.name, "dest": host.dest, "scheduler": "slurm"}
    code = 0
    if not host.is_local:
        from tether.targets.ssh.check import check_host
        from tether.targets.ssh.transport import Transport

        result = check_host(Transport(host))
        report.update(result.to_dict())
        code = 0 if result.python_ok else 1
        if not as_json:
            click.echo(result.summary())
    try:
        lines = SlurmCluster(host).sinfo().strip().splitlines()
    except TetherError as exc:
        report["slurm"] = None
        report["error"] = str(exc)
        if not as_json:
            click.echo(f"{host.name}: Slurm does not answer: {exc}")
        code = 1
    else:
        report["slurm"] = [dict(zip(("partition", "avail", "timelimit", "nodes", "state"),
                                    line.split(), strict=False)) for line in lines]  # fmt: skip
        if not as_json:
            parts = "; ".join(line for line in lines) or "no partitions"
            click.echo(f"{host.name}: Slurm answers (sinfo: {parts})")
    if as_json:
        from tether.cli.context import print_json

        print_json(report)
    return code
