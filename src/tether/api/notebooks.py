"""A Jupyter server on an SSH host through the API: started as a job in the project's copy
there, reached through a local port forwarded over the ssh connection, kept until Ctrl-C or
until the server's job ends."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from tether.api.types import FINISHED
from tether.errors import UsageError

if TYPE_CHECKING:
    from tether.store.jobs import Job

#: Seconds between checks that the server's job still runs on the host.
CHECK_EVERY = 10.0


@dataclass
class HostNotebook:
    """A notebook server started on a host, and the open forward of a local port to it."""

    host: str
    job: dict[str, Any]
    """The host's ``notebook --json`` row of the server's job (the host's number for it)."""
    local_number: int
    url: str
    """The server's URL with the token, through the local port."""
    forward: Any = field(repr=False)

    @property
    def local_port(self) -> int:
        """The local end of the forward."""
        return int(self.forward.local_port)


def start_on_host(
    host: str,
    *,
    name: str | None = None,
    port: int | None = None,
    say: IO[str] | None = None,
    auto_say: IO[str] | None = None,
) -> HostNotebook:
    """Start Jupyter as a job on HOST (``auto``: the freest host, said on ``auto_say``) and
    forward PORT here (default: a free one) to it; ``say`` gets the progress of the start."""
    from tether.errors import RemoteError
    from tether.jobs.notebook import INSTALL_HINT, free_port, parse_url
    from tether.targets.ssh import remote_jobs
    from tether.targets.ssh.forward import Forward, port_is_free
    from tether.targets.ssh.hosts_config import get_host

    if host == "auto":
        from tether.targets.ssh.auto_host import choose_host

        host = choose_host(say=auto_say)
    if get_host(host).scheduler != "none":
        raise UsageError(f"{host} is a Slurm cluster: `tether notebook --on` needs an SSH host")
    if port is not None and not port_is_free(port):
        raise UsageError(f"port {port} is in use here; pick another with --port PORT")
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
    try:
        server = parse_url(str(data.get("url", "")).encode())
        if server is None:
            raise RemoteError(f"{submitted.host}: the notebook job #{data['number']} gave no URL")
        transport = remote_jobs.transport_for(submitted.host)
        forward = Forward(transport, port or free_port(), server.port)
        forward.open()
    except BaseException:
        _cancel_quietly(submitted.host, str(data["uuid"]))  # leave no server nobody reaches
        raise
    url = server.local_url(forward.local_port)
    return HostNotebook(submitted.host, data, submitted.local_numbers[0], url, forward)


def cancel_unstarted(job: Job) -> None:
    """Cancel the server's job when it has not ended (it gave no URL, or the wait for one was
    stopped): a server nobody reaches must not stay queued or running."""
    from tether.agent import lifecycle
    from tether.paths import tether_home
    from tether.store.jobs import JobStore

    store = JobStore(tether_home())
    try:
        current = store.get(job.number)
        if not current.finished:
            lifecycle.cancel(store, current, grace=2.0)
    except Exception:  # the clean-up of an error: that error is the one to report
        pass
    finally:
        store.close()


def _cancel_quietly(host: str, uuid: str) -> None:
    """Cancel the host's job (a server that could not be reached); errors are dropped."""
    from tether.backends.ssh import ask_host
    from tether.errors import TetherError

    try:
        ask_host(host, "cancel", {"jobs": [uuid], "grace": 2.0}, longer=2.0)
    except TetherError:
        pass


#: The signals that end ``tether notebook`` the way Ctrl-C does (its forward closed).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP raise KeyboardInterrupt like Ctrl-C (SIGINT) does, so
    the ``finally`` blocks that close a forward or cancel an unstarted server run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Inside, SIGINT, SIGTERM and SIGHUP are ignored (a second one must not cut a clean-up
    short: the process is stopping anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, *STOP_SIGNALS)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def close_forward(notebook: HostNotebook) -> None:
    """Stop listening on the local port, even when a second signal comes meanwhile."""
    with _signals_ignored():
        notebook.forward.close()


def keep_forwarding(notebook: HostNotebook, say: Callable[[str], None]) -> str | None:
    """Keep the forward (reconnecting when the link drops; ``say`` tells) until Ctrl-C (or
    SIGTERM/SIGHUP inside :func:`stopped_by_signals`) or the server's job ends on the host,
    then close it. The job's final status when it ended (its
    local record updated), else None."""
    from tether.targets.ssh.remote_jobs import update_local

    ended = _ServerWatch(notebook.forward.transport, str(notebook.job["uuid"]))
    try:
        notebook.forward.keep(say, stop=ended)
    except KeyboardInterrupt:
        pass
    finally:
        close_forward(notebook)
    if ended.status is not None:
        update_local(notebook.host, [ended.row])
    return ended.status


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
        from tether.backends.ssh import ask_host
        from tether.errors import TetherError

        if time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + CHECK_EVERY
        try:
            row = ask_host(self.transport.spec.name, "show", {"job": self.uuid}, longer=10)
        except TetherError:
            return False
        if isinstance(row, dict) and row.get("status") in FINISHED:
            self.row, self.status = row, str(row["status"])
            return True
        return False
