"""The short way to a host's answers: its resident answerer's unix socket
(:mod:`tether.api.answer_server`), forwarded to a socket here by the host's ssh master.

After a request answered the long way (a new Python on the host), the answer names the
server's socket there; :func:`forward` asks the master to forward a socket here to it
(``ssh -O forward -L HERE:THERE``, private to this user like the control sockets). From
then on :func:`ask` sends requests through it: no ssh process, no Python start-up there.
Whenever the short way is not there (no forward yet, the master or the server gone),
:func:`ask` says so with None and the caller goes the long way, which starts the server
again. A link that stops answering is bounded like any call: one line naming the host.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tether.targets.ssh.command import (
    auth_fingerprint,
    control_socket_dir,
    forward_socket_argv,
    sha256_hex,
)
from tether.targets.ssh.transport import Transport


def local_path(transport: Transport) -> Path:
    """The socket here that the master forwards to the host's answerer: beside the control
    sockets, named by the host, how it authenticates and this tether's version."""
    from tether import __version__

    spec = transport.spec
    name = sha256_hex(f"{spec.name}\n{spec.dest}\n{__version__}".encode())[:12]
    return control_socket_dir(transport.controls) / f"{auth_fingerprint(spec)}-{name}.ans"


def same_version(there: str) -> bool:
    """Whether the host's answerer at ``there`` is this tether's version (its socket is named
    by its version: ``answer-VERSION.sock``)."""
    from tether import __version__

    return there.endswith(f"/answer-{__version__}.sock")


def forwarded(transport: Transport) -> bool:
    """Whether the short way to the host's answerer of this version is set up (the host has
    this tether: a cheap local check, no call)."""
    return local_path(transport).exists()


def _sent(transport: Transport, request: bytes, timeout: float | None) -> socket.socket | None:
    """A connection to the host's answerer that has been sent ``request`` (its reading
    bounded by ``timeout``), or None when there is no short way now: no forward here, or the
    master is gone (its socket stays behind: removed). A connection that does not answer
    within ``timeout`` raises TimeoutError."""
    path = local_path(transport)
    if not path.exists():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
    except TimeoutError:
        conn.close()
        raise
    except OSError:
        conn.close()
        path.unlink(missing_ok=True)
        return None
    return conn


def ask(transport: Transport, request: bytes, timeout: float | None) -> str | None:
    """The answer to ``request`` through the forwarded socket, or None when there is no
    short way now (the caller goes the long way). No answer within ``timeout``: the master
    is closed (it would hold the next call too) and the error names the host."""
    try:
        conn = _sent(transport, request, timeout)
        if conn is None:
            return None
        with conn:
            data = b"".join(iter(lambda: conn.recv(1 << 16), b""))
    except TimeoutError:
        transport.close()
        raise transport.timeout_error("the request", timeout or 0) from None
    except OSError:  # the master went while answering
        local_path(transport).unlink(missing_ok=True)
        return None
    text = data.decode("utf-8", "replace")
    return text if text.strip() else None  # nothing: the server there is gone


def open_stream(transport: Transport, request: bytes) -> socket.socket | None:
    """A connection to the host's answerer that has been sent ``request`` (a follow: what
    comes back is read as it comes, with no bound), or None when there is no short way now
    (a master that does not take it within the host's timeout included)."""
    try:
        conn = _sent(transport, request, transport.spec.timeout)
    except TimeoutError:
        local_path(transport).unlink(missing_ok=True)
        return None
    if conn is not None:
        conn.settimeout(None)
    return conn


def forward(transport: Transport, there: str) -> None:
    """Ask the host's master to forward the socket here to the answerer's socket ``there``
    (never raises: the long way still works). Only a server of this tether's version: the
    short way then also says that the host has this version installed."""
    path = local_path(transport)
    if path.exists() or not same_version(there):
        return
    _master(transport, path, there)
    if not path.exists():  # the master had it, but its socket here went: forward it anew
        _master(transport, path, there, cancel=True)
        _master(transport, path, there)


def _master(transport: Transport, path: Path, there: str, *, cancel: bool = False) -> None:
    """Ask the master to forward ``path`` to ``there`` (``cancel``: to stop forwarding it)."""
    import subprocess

    argv = forward_socket_argv(transport.spec, transport.controls, path, there, cancel=cancel)
    try:
        subprocess.run(argv, capture_output=True, check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        pass
