"""``tether notebook [--on HOST]``: a Jupyter server as a tracked job, reachable from here.

Here, the server starts as a job and its URL is printed. With ``--on HOST`` the host's
tether does the same in the project's copy there, and a local port is forwarded to the
server over the ssh connection until Ctrl-C; the server keeps running until
``tether cancel``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from tether.api.types import FINISHED
from tether.cli.context import json_option, print_json
from tether.errors import UsageError

#: Seconds between checks that the server's job still runs on the host.
CHECK_EVERY = 10.0


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
        from tether.backends import refresh
        from tether.backends.local import queue
        from tether.cli.context import open_store

        [job] = queue([nb.server_spec(name)])
        url = nb.wait_for_url(job, refresh)
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
    from tether.errors import RemoteError
    from tether.jobs.notebook import INSTALL_HINT, free_port, parse_url
    from tether.targets.ssh import remote_jobs
    from tether.targets.ssh.forward import Forward, port_is_free
    from tether.targets.ssh.hosts_config import get_host

    if host == "auto":
        from tether.targets.ssh.auto_host import choose_host

        host = choose_host(say=sys.stderr)
    if get_host(host).scheduler != "none":
        raise UsageError(f"{host} is a Slurm cluster: `tether notebook --on` needs an SSH host")
    if port is not None and not port_is_free(port):
        raise UsageError(f"port {port} is in use here; pick another with --port PORT")
    say = sys.stderr if sys.stderr.isatty() else None
    try:
        submitted = remote_jobs.submit(
            host, ["--name", name] if name else [], say=say, verb="notebook"
        )
    except RemoteError as exc:
        if INSTALL_HINT not in str(exc):
            raise
        hint = f"`tether install jupyterlab --on {host}`"
        raise UsageError(str(exc).replace(INSTALL_HINT, hint)) from None
    data: dict[str, Any] = submitted.jobs[0]
    local_number = submitted.local_numbers[0]
    server = parse_url(str(data.get("url", "")).encode())
    if server is None:
        raise RemoteError(f"{submitted.host}: the notebook job #{data['number']} gave no URL")
    transport = remote_jobs.transport_for(submitted.host)
    forward = Forward(transport, port or free_port(), server.port)
    forward.open()
    url = server.local_url(forward.local_port)
    if as_json:
        print_json({**data, "host": submitted.host, "local_number": local_number,
                    "local_url": url, "local_port": forward.local_port})  # fmt: skip
    else:
        click.echo(url)
    sys.stdout.flush()
    click.echo(
        f"tether: Jupyter runs on {submitted.host} as job #{data['number']} there (#{local_number}"
        f" here); forwarding port {forward.local_port} until Ctrl-C. Stop the server with "
        f"`tether cancel {local_number}`",
        err=True,
    )
    ended = _ServerWatch(transport, str(data["uuid"]))
    try:
        forward.keep(lambda text: click.echo(f"tether: {text}", err=True), stop=ended)
    except KeyboardInterrupt:
        pass
    finally:
        forward.close()
    if ended.status is not None:
        remote_jobs.update_local(submitted.host, [ended.row])
        click.echo(f"tether: the server (job #{local_number}) {ended.status}; stopped forwarding",
                   err=True)  # fmt: skip
        return
    click.echo(
        f"tether: stopped forwarding; the server keeps running (`tether cancel {local_number}`)",
        err=True,
    )


class _ServerWatch:
    """``stop`` for :meth:`Forward.keep`: true once the server's job has ended on the host
    (asked every :data:`CHECK_EVERY` s; a failed call counts as still running)."""

    def __init__(self, transport: Any, uuid: str) -> None:
        self.transport = transport
        self.uuid = uuid
        self.row: dict[str, Any] = {}
        self.status: str | None = None
        self._next = time.monotonic() + CHECK_EVERY

    def __call__(self) -> bool:
        from tether.errors import TetherError
        from tether.targets.ssh.remote_jobs import call_json

        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + CHECK_EVERY
        try:
            row = call_json(self.transport, ["show", self.uuid], timeout=20)
        except TetherError:
            return False
        if isinstance(row, dict) and row.get("status") in FINISHED:
            self.row, self.status = row, str(row["status"])
            return True
        return False
