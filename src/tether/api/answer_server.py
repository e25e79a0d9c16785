"""``python -m tether.api.answer_server``: a host's resident answerer of the JSON protocol.

Starting Python and importing tether costs a host more than the answer itself (about 50 ms
of the 60 a request took). So the first request answered by :mod:`tether.api.answer_main`
starts this server in the background: it listens on a unix socket in the host's tether
home (``answer-VERSION.sock``, mode 0600, so an upgraded tether gets its own), answers one
request per connection (the client sends the request and shuts its side; the answer comes
back and the connection closes), and exits after :data:`IDLE_SECONDS` without one (or
when its socket is removed or replaced). The other machine reaches the socket through its
ssh master (a forwarded unix socket, see :mod:`tether.targets.ssh.answer_socket`) and falls
back to ``answer_main`` whenever it is not there.

A request with ``"follow": true`` is answered as :mod:`tether.api.stream_main` answers it:
a job's framed output, as it comes, until the job ends. A request that names a folder (the
project's copy there, relative to the home: a ``submit``) is answered in a child forked from
the idle server, which moves to that folder first, as the long way's ``cd`` does; the child
starts with tether already imported. A server busy with another request (a thread is
running) does not fork: it closes the connection with no answer, and the other machine goes
the long way.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

IDLE_SECONDS = 600.0
"""How long the server waits for a request before it exits."""
CHECK_SECONDS = 30.0
"""How often an idle server checks that its socket is still there (else it exits)."""
MAX_REQUEST = 16 << 20
"""The largest request read (a program's text sent for a re-run fits many times)."""
READ_SECONDS = 10.0
"""How long the server waits for a request's bytes (the other side sends them at once)."""
WARM_MODULES = (
    "tether.api.answer", "tether.api.commands", "tether.api.running", "tether.api.stream_main",
    "tether.api.log_output", "tether.backends.local", "tether.jobs.submit", "tether.jobs.views",
    "tether.tuning.snapshot", "tether.tuning.values", "tether.envs.venv", "tether.config",
    "tether.notifications.routing", "tether.agent.control", "tether.jobs.env_records",
    "tether.tuning.program", "tether.tuning.tunables", "tether.tuning.git_state",
    "tether.jobs.depends", "tether.jobs.retry",
    "tether.agent.gpus", "tether.backends.slurm_submit", "tether.backends.wire", "pathspec",
    "decimal", "difflib",
)  # fmt: skip
"""Imported when the server starts, so that a forked child answers without importing."""


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
            start_new_session=True, close_fds=True, cwd=Path.home(),
        )  # fmt: skip
    except OSError:
        pass


_active = [0]
_lock = threading.Lock()


def _read_request(conn: socket.socket) -> str | None:
    """The request's text (the other side shuts its half when sent); None when it is too
    big or the other side went away."""
    conn.settimeout(READ_SECONDS)
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := conn.recv(1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REQUEST:
                return None
    except OSError:
        return None
    return b"".join(chunks).decode("utf-8", "replace")


def head_of(text: str) -> tuple[str | None, bool]:
    """The folder a request is to be answered in (relative to the home), if it names one,
    and whether it asks to follow a job's output (``"follow": true``)."""
    import json

    try:
        request = json.loads(text)
        folder, follow = request.get("folder"), request.get("follow") is True
    except (ValueError, AttributeError):
        return None, False
    return (folder if isinstance(folder, str) and folder else None), follow


def _handle(conn: socket.socket, text: str, follow: bool) -> None:
    try:
        if follow:  # a job's output as it comes, until the job ends
            from tether.api.stream_main import serve

            with conn, conn.makefile("wb") as out:
                conn.settimeout(None)
                serve(text, out)
        else:
            from tether.api.answer import answer

            _send(conn, answer(text))
    except OSError:
        pass  # the other side went away
    finally:
        with _lock:
            _active[0] -= 1


def _send(conn: socket.socket, answer: str) -> None:
    with conn:
        try:
            conn.settimeout(60.0)
            conn.sendall(answer.encode() + b"\n")
        except OSError:
            return  # the other side went away: nothing to answer


def _fork_answer(server: socket.socket, conn: socket.socket, text: str, folder: str) -> int:
    """Answer ``text`` in a child moved to ``~/folder``; the child's pid (0: not answered,
    the connection closed with nothing, so the other side goes the long way)."""
    where = Path.home() / folder
    if not where.is_dir() or not hasattr(os, "fork"):
        conn.close()  # the long way says what is wrong (no such folder)
        return 0
    pid = os.fork()
    if pid:
        conn.close()
        return pid
    code = 0
    try:  # the child: never back into the server's loop
        server.close()
        os.chdir(where)
        from tether.api.answer import answer

        _send(conn, answer(text))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def reap(children: list[int]) -> list[int]:
    """The forked children still running (the ended ones are waited for)."""
    running = []
    for pid in children:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if not done:
            running.append(pid)
    return running


def serve(path: Path, idle: float = IDLE_SECONDS) -> None:
    """Answer requests on ``path`` until ``idle`` seconds pass without one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    server, mine = listen_at(path)
    warm()
    server.settimeout(min(idle, CHECK_SECONDS))
    last = time.monotonic()
    children: list[int] = []
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                children = reap(children)
                with _lock:
                    busy = _active[0] > 0 or bool(children)  # a long request (a wait)
                if busy:
                    last = time.monotonic()
                elif time.monotonic() - last >= idle or not still_mine(path, mine):
                    return
                continue
            last = time.monotonic()
            children = reap(children)
            text = _read_request(conn)
            if not text:  # too big, gone, or a probe (is_serving): nothing to answer
                conn.close()
                continue
            folder, follow = head_of(text)
            with _lock:
                idle_now = _active[0] == 0
                if folder is None:
                    _active[0] += 1
            if folder is None:
                threading.Thread(target=_handle, args=(conn, text, follow), daemon=True).start()
            elif idle_now:  # no other thread: a clean fork
                pid = _fork_answer(server, conn, text, folder)
                if pid:
                    children.append(pid)
            else:
                conn.close()  # busy: the long way
    finally:
        server.close()
        if still_mine(path, mine):  # not a newer server's socket
            path.unlink(missing_ok=True)


def listen_at(path: str | Path, backlog: int = 16) -> tuple[socket.socket, int]:
    """A unix socket listening at ``path`` (mode 0600), and its inode (see
    :func:`still_mine`). It is bound under a temporary name and moved into place, so a
    client never meets a half-made socket."""
    temporary = Path(path).with_name(f".{os.getpid()}.tmp")  # short: a path has 107 bytes
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_mask = os.umask(0o177)
    try:
        temporary.unlink(missing_ok=True)
        server.bind(str(temporary))
    finally:
        os.umask(old_mask)
    server.listen(backlog)
    os.replace(temporary, path)
    return server, os.stat(path).st_ino


def warm(names: Iterable[str] = WARM_MODULES) -> None:
    """Import ``names`` now, once, so that forked children start warm (a module that fails
    to import is left out: the child that needs it says why)."""
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            pass


def still_mine(path: str | Path, inode: int) -> bool:
    """True while ``path`` is the socket this server made (not removed or replaced)."""
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def main() -> None:
    """Serve on the path given (default: :func:`socket_path`); SIGTERM ends it cleanly."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(Path(sys.argv[1]) if len(sys.argv) > 1 else socket_path())


if __name__ == "__main__":
    main()
