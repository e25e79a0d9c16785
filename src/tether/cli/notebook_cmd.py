"""``tether notebook [--on HOST]``: a Jupyter server as a tracked job, reachable from here.

Here, the server starts as a job and its URL is printed. With ``--on HOST`` the host's
tether does the same in the project's copy there, and a local port is forwarded to the
server over the ssh connection until Ctrl-C, SIGTERM or SIGHUP (the port is closed then, and
when the server ends); the server keeps running until ``tether cancel``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from tether.cli.context import json_option, print_json
from tether.errors import UsageError

if TYPE_CHECKING:
    from tether.api.notebooks import HostNotebook


@click.command()
@click.option("--on", "host", metavar="HOST", help="Start it on this host and forward a port.")
@click.option("--port", "-p", type=int, help="The local port to forward (default: a free one).")
@click.option("--name", "-n", help="A name for the server's job (default: notebook).")
@json_option
def notebook(host: str | None, port: int | None, name: str | None, as_json: bool) -> None:
    """Start Jupyter (lab, else notebook) as a job; print its URL with the token.

    With --on HOST the URL is a local port forwarded to the host until Ctrl-C; the server
    keeps running there until `tether cancel JOB`.
    """
    from tether.jobs import notebook as nb

    if host is None or host == "local":
        if port is not None:
            raise UsageError("--port is the local end of the forward of --on HOST; leave it out")
        from tether.api.notebooks import cancel_unstarted, stopped_by_signals
        from tether.backends import refresh
        from tether.backends.local import queue
        from tether.cli.context import open_store

        [job] = queue([nb.server_spec(name)])
        try:
            with stopped_by_signals():
                url = nb.wait_for_url(job, refresh)
        except BaseException:
            cancel_unstarted(job)  # a server that gave no URL is no use: leave none queued
            raise
        job = open_store().get(job.number)
        if as_json:
            print_json({**job.to_json(), **url.to_json()})
            return
        click.echo(url.url)
        click.echo(f"tether: notebook server is job #{job.number}; stop it with "
                   f"`tether cancel {job.number}`", err=True)  # fmt: skip
        return
    _on_host(host, port, name, as_json)


def _on_host(host: str, port: int | None, name: str | None, as_json: bool) -> None:
    from tether.api.notebooks import stopped_by_signals

    with stopped_by_signals():  # SIGTERM and SIGHUP close the forward like Ctrl-C
        _start_and_forward(host, port, name, as_json)


def _start_and_forward(host: str, port: int | None, name: str | None, as_json: bool) -> None:
    from tether.api.notebooks import close_forward, keep_forwarding, start_on_host

    say = sys.stderr if sys.stderr.isatty() else None
    nb = start_on_host(host, name=name, port=port, say=say, auto_say=sys.stderr)
    try:
        _announce(nb, as_json)
    except KeyboardInterrupt:
        close_forward(nb)
        raise
    status = keep_forwarding(nb, lambda text: click.echo(f"tether: {text}", err=True))
    local_number = nb.local_number
    if status is not None:
        click.echo(f"tether: the server (job #{local_number}) {status}; stopped forwarding",
                   err=True)  # fmt: skip
        return
    click.echo(
        f"tether: stopped forwarding; the server keeps running (`tether cancel {local_number}`)",
        err=True,
    )


def _announce(nb: HostNotebook, as_json: bool) -> None:
    data, local_number = nb.job, nb.local_number
    if as_json:
        print_json({**data, "host": nb.host, "local_number": local_number,
                    "local_url": nb.url, "local_port": nb.local_port})  # fmt: skip
    else:
        click.echo(nb.url)
    sys.stdout.flush()
    click.echo(
        f"tether: Jupyter runs on {nb.host} as job #{data['number']} there (#{local_number}"
        f" here); forwarding port {nb.local_port} until Ctrl-C. Stop the server with "
        f"`tether cancel {local_number}`",
        err=True,
    )
