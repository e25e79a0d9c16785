"""``tether sync``, ``tether push`` and ``tether pull``: the project and its files on a host."""

from __future__ import annotations

import click

from tether.cli.context import json_option, max_size_value, print_json

on_option = click.option(
    "--on", "host", metavar="HOST", help="The host (default: [tether] host in tether.toml)."
)


@click.command()
@on_option
@click.option(
    "--method",
    type=click.Choice(["auto", "rsync", "tar"]),
    default="auto",
    show_default=True,
    help="rsync, or a tar stream over ssh (auto: rsync when both sides have it).",
)
@click.option(
    "--max-size",
    "max_size",
    metavar="SIZE",
    help="Refuse, sending nothing, when the files to send total more (e.g. 500MB, 2GB; "
    "0 or none: no cap; default: [sync] max_size in tether.toml, else 100MB).",
)
@json_option
def sync(host: str | None, method: str, max_size: str | None, as_json: bool) -> None:
    """Copy the project folder to ~/tether/projects/NAME/ on the host (changed files only)."""
    from tether.api.sync import sync_project

    result = sync_project(host, method=method, max_size=max_size_value(max_size))
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(f"tether: {result.summary}")


@click.command()
@on_option
@click.argument("local")
@click.argument("remote", required=False)
def push(host: str | None, local: str, remote: str | None) -> None:
    """Copy LOCAL (in the project here) to REMOTE (in the project there; default: the same)."""
    from tether.api.sync import push as send

    done = send(host, local, remote)
    click.echo(f"{done.count} file(s) sent to {done.host}:~/{done.where}")


@click.command()
@on_option
@click.argument("remote")
@click.argument("local", required=False)
def pull(host: str | None, remote: str, local: str | None) -> None:
    """Copy REMOTE (in the project there) to LOCAL (in the project here; default: the same)."""
    from tether.api.sync import pull as fetch

    done = fetch(host, remote, local)
    click.echo(f"{done.count} file(s) received into {done.where}")
