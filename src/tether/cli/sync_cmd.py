"""``tether sync``, ``tether push`` and ``tether pull``: the project and its files on a host."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tether.cli.context import json_option, print_json

if TYPE_CHECKING:
    from tether.targets.ssh.project import Project
    from tether.targets.ssh.transport import Transport

on_option = click.option(
    "--on", "host", metavar="HOST", help="The host (default: [tether] host in tether.toml)."
)


def _transport_and_project(host: str | None) -> tuple[Transport, Project]:
    from tether.targets.ssh import hosts_config
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.transport import Transport

    project = find_project()
    return Transport(hosts_config.resolve_host(host, project.root)), project


@click.command()
@on_option
@click.option(
    "--method",
    type=click.Choice(["auto", "rsync", "tar"]),
    default="auto",
    show_default=True,
    help="rsync, or a tar stream over ssh (auto: rsync when both sides have it).",
)
@json_option
def sync(host: str | None, method: str, as_json: bool) -> None:
    """Copy the project folder to ~/tether/projects/NAME/ on the host (changed files only)."""
    from tether.targets.ssh.sync import describe, sync_project

    transport, project = _transport_and_project(host)
    result = sync_project(transport, project, method=method)
    if as_json:
        print_json(
            {
                "host": transport.spec.name,
                "project": str(project.root),
                "remote_dir": result.remote_dir,
                "changed": result.changed,
                "method": result.method,
                "seconds": round(result.seconds, 3),
            }
        )
    else:
        click.echo(describe(result, transport.spec.name))


@click.command()
@on_option
@click.argument("local")
@click.argument("remote", required=False)
def push(host: str | None, local: str, remote: str | None) -> None:
    """Copy LOCAL (in the project here) to REMOTE (in the project there; default: the same)."""
    from tether.targets.ssh import sync as ops
    from tether.targets.ssh.project import local_relpath, remote_relpath

    transport, project = _transport_and_project(host)
    local_rel = local_relpath(project, local)
    remote_rel = remote_relpath(remote if remote is not None else local_rel)
    count = ops.push(transport, project, local_rel, remote_rel)
    click.echo(f"{count} file(s) sent to {transport.spec.name}:~/{project.remote_path(remote_rel)}")


@click.command()
@on_option
@click.argument("remote")
@click.argument("local", required=False)
def pull(host: str | None, remote: str, local: str | None) -> None:
    """Copy REMOTE (in the project there) to LOCAL (in the project here; default: the same)."""
    from tether.targets.ssh import sync as ops
    from tether.targets.ssh.project import local_relpath, remote_relpath

    remote_rel = remote_relpath(remote)
    transport, project = _transport_and_project(host)
    local_rel = local_relpath(project, local) if local is not None else remote_rel
    into = local is not None and (local.endswith("/") or (project.root / local_rel).is_dir())
    count = ops.pull(transport, project, remote_rel, local_rel, into_folder=into)
    click.echo(f"{count} file(s) received into {project.root / local_rel}")
