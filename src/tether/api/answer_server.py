"""``python -m tether.api.answer_server``: a host's resident answerer of the JSON protocol.

Starting Python and importing tether costs a host more than the answer itself (about 50 ms
of the 60 a request took). So the first request answered by :mod:`tether.api.answer_main`
starts this server in the background: it listens on a unix socket in the host's tether
home (``answer-VERSION.sock``, mode 0600, so an upgraded tether gets its own), answers one
request per connection (the client sends the request and shuts its side; the answer comes
back and the connection closes), and exits after :data:`IDLE_SECONDS` without one (or
when its socket is removed or replaced). The
other machine reaches the socket through its ssh master (a forwarded unix socket, see
:mod:`tether.targets.ssh.answer_socket`) and falls back to ``answer_main`` whenever it is
not there. Requests that need a folder (the project's copy) never come this way.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

IDLE_SECONDS = 600.0
"""How long the server waits for a request before it exits."""
CHECK_SECONDS = 30.0
"""How often an idle server checks that its socket is still there (else it exits)."""
MAX_REQUEST = 16 << 20
"""The largest request read (a program's text sent for a re-run fits many times)."""


def socket_path() -> Path:
    """Where this version's server listens: in the host's tether home."""
    from tether import __version__
    from tether.paths import tether_home

    return tether_home() / f"answer-{__version__}.sock"


def is_serving(path: Path) -> bool:
    """True when a server answers connections on ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def start_in_background(path: Path) -> None:
    """Start a server on ``path`` unless one answers there already (never raises: the
    request was answered; the next one may come the slow way again)."""
    import subprocess

    if is_serving(path):
        return
    try:
        subprocess.Popen(
            [sys.executable, "-I", "-m", "tether.api.answer_server", str(path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    except OSError:
        pass


_active = [0]
_lock = threading.Lock()


def _handle(conn: socket.socket) -> None:
    from tether.api.answer import answer

    with _lock:
        _active[0] += 1
    try:
        _answer_one(conn, answer)
    finally:
        with _lock:
            _active[0] -= 1


def _answer_one(conn: socket.socket, answer: Callable[[str], str]) -> None:
    with conn:
        conn.settimeout(60.0)
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := conn.recv(1 << 16):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_REQUEST:
                    return
            text = b"".join(chunks).decode("utf-8", "replace")
            conn.sendall(answer(text).encode() + b"\n")
        except OSError:
            return  # the other side went away: nothing to answer


def serve(path: Path, idle: float = IDLE_SECONDS) -> None:
    """Answer requests on ``path`` until ``idle`` seconds pass without one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        temporary.unlink(missing_ok=True)
        server.bind(str(temporary))
    finally:
        os.umask(old_mask)
    server.listen(16)
    os.replace(temporary, path)  # atomic: a client never meets a half-made socket
    mine = path.stat().st_ino
    server.settimeout(min(idle, CHECK_SECONDS))
    last = time.monotonic()
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                with _lock:
                    busy = _active[0] > 0  # a long request (a wait) keeps the server
                if busy:
                    last = time.monotonic()
                elif time.monotonic() - last >= idle or not _still_mine(path, mine):
                    return
                continue
            last = time.monotonic()
            threading.Thread(target=_handle, args=(conn,), daemon=True).start()
    finally:
        server.close()
        if _still_mine(path, mine):  # not a newer server's socket
            path.unlink(missing_ok=True)


def _still_mine(path: Path, inode: int) -> bool:
    """True while ``path`` is the socket this server made (not removed or replaced)."""
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def main() -> None:
    """Serve on the path given (default: :func:`socket_path`); SIGTERM ends it cleanly."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(Path(sys.argv[1]) if len(sys.argv) > 1 else socket_path())


if __name__ == "__main__":
    main()
