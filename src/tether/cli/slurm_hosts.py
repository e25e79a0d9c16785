"""The CLI side of Slurm hosts: ``hosts check`` on a cluster, printed."""

from __future__ import annotations

import click

from tether.api.host_admin import ClusterCheck
from tether.cli.context import print_json


def print_cluster_check(result: ClusterCheck, as_json: bool) -> int:
    """``hosts check`` on a Slurm host, printed; the exit code."""
    if as_json:
        print_json(result.report)
    else:
        name = result.host.name
        if result.ssh is not None:
            click.echo(result.ssh.summary())
        if result.error is not None:
            click.echo(f"{name}: Slurm does not answer: {result.error}")
        else:
            parts = "; ".join(result.sinfo or []) or "no partitions"
            click.echo(f"{name}: Slurm answers (sinfo: {parts})")
    return 0 if result.ok else 1
