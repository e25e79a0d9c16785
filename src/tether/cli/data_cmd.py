"""``tether data URL...``: download into the project's ``data/``, here or on a host."""

from __future__ import annotations

import sys

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
    from tether.api.data import check_urls, download_here, download_on_host
    from tether.backends import pick_host

    check_urls(urls)
    remote = pick_host(host)
    if remote is not None:
        rows, name = download_on_host(remote, urls, to, say=sys.stderr)
    else:
        rows, name = download_here(urls, to, say=sys.stderr), None
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
