"""``tether data URL...``: download into the project's ``data/``, here or on a host."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tether.cli.context import json_option, print_json


@click.command()
@click.option(
    "--on",
    "host",
    metavar="HOST",
    help="Download there (default: tether.toml's; local: here).",
)
@click.option("--to", "to", metavar="SUBDIR", help="A folder inside data/ to download into.")
@json_option
@click.argument("urls", nargs=-1, required=True)
def data(host: str | None, to: str | None, as_json: bool, urls: tuple[str, ...]) -> None:
    """Download URLS into the project's data/ (on a host: its copy of the project).

    A partial file from an interrupted download is resumed (HTTP Range); data/ is never
    synced, so a big data set is fetched where it is used.
    """
    from tether.backends import pick_host
    from tether.files.download import file_name

    for url in urls:
        file_name(url)  # refuse bad URLs and names before doing anything
    remote = pick_host(host)
    if remote is not None:
        rows, name = _on_host(remote, to, urls)
    else:
        rows, name = _here(to, urls, sys.stderr), None
    if as_json:
        print_json(rows)
        return
    where = f"{name}:" if name else ""
    for row in rows:
        what = {
            "complete": "already complete",
            "resumed": f"resumed at {row['resumed_from']} bytes",
        }.get(row["status"], "downloaded")
        click.echo(f"{where}{row['path']}: {row['size']} bytes, {what}")


def _here(to: str | None, urls: tuple[str, ...], say: Any) -> list[dict[str, Any]]:
    from tether.files.download import data_folder, download
    from tether.jobs.env_records import project_root

    root = project_root(Path.cwd())
    folder = data_folder(root, to)
    rows = []
    for url in urls:
        row = download(url, folder, say=say).to_json()
        row["path"] = str(Path(row["path"]).relative_to(root))
        rows.append(row)
    return rows


def _on_host(host: str, to: str | None, urls: tuple[str, ...]) -> tuple[list[Any], str]:
    from tether.files.download import data_folder
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.remote_jobs import ensure_tether, transport_for
    from tether.targets.ssh.remote_stream import stream_json

    data_folder(Path("."), to)  # refuse a bad --to before connecting
    project = find_project()
    transport = transport_for(host, project.root)
    transport.run(["mkdir", "-p", project.remote_dir])
    ensure_tether(transport, sys.stderr)
    args = ["data", "--on", "local", *(["--to", to] if to else []), "--", *urls]
    rows = stream_json(transport, args, folder=project.remote_dir, say=sys.stderr)
    return list(rows), transport.spec.name
