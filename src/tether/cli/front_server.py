"""The ``tether`` command's resident front: the server half (see :mod:`tether.cli.front`).

One server per installation and user listens on a unix socket (in a folder only the user can
enter; the peer's uid is checked too). It imports what the fronted commands need once.
For each connection it says it is ready ("R"; "S": it is stale and exits), reads the
command (arguments, folder, environment, ``sys.path``, umask, how the streams are set up,
and stdin/stdout/stderr as file descriptors) and forks. The child takes the descriptors as
its own stdio, moves to the folder, takes the environment, says its pid ("P"), waits for
the client's "go", runs the command as ``tether`` would, and sends the exit code ("X").
Bytes the client sends meanwhile are signal numbers: the child raises them on itself; the
client's end of the connection closing (it was killed) kills it too.

The server answers nothing itself and holds no state between commands: each child starts
from the same freshly imported modules. It exits after :data:`IDLE_SECONDS` without a
command, when its socket is removed or replaced, and as soon as a file of tether's that it
imported, or a folder of ``sys.path``, changes (that command runs without it; the next
starts a new one).
"""

from __future__ import annotations

import array
import os
import socket
import sys
import time
from typing import Any

IDLE_SECONDS = 600.0
"""How long the server waits for a command before it exits."""
CHECK_SECONDS = 30.0
"""How often an idle server checks that its socket is still its own."""
READ_SECONDS = 2.0
"""How long the server waits for a command's bytes (the client sends them at once)."""
MAX_REQUEST = 8 << 20
"""The largest command read (arguments and environment)."""
WARM_MODULES = (
    "tether.cli.group", "tether.cli.context", "tether.cli.render", "tether.cli.ls_all",
    "tether.cli.argv_checks", "tether.errors", "tether.api", "tether.api.verbs",
    "tether.api.jobs", "tether.api.metrics", "tether.api.tuning", "tether.api.watch",
    "tether.api.remote", "tether.api.outbox", "tether.api.host_admin", "tether.store.jobs",
    "tether.store.outbox", "tether.store.metric_columns", "tether.runtime.columns",
    "tether.backends.ssh", "tether.backends.host_numbers", "tether.jobs.history",
    "tether.targets.ssh.answer_socket", "tether.targets.ssh.hosts_config",
    "tether.targets.ssh.check", "tether.targets.ssh.remote_probe", "tether.targets.probe",
    "tether.targets.ssh.project", "tether.targets.ssh.remote_jobs", "tether.targets.ssh.sync",
    "tether.targets.ssh.sync_size", "tether.targets.ssh.all_hosts",
    "tether.targets.slurm.resources", "tether.tuning.sweep", "tether.tuning.rerun",
    "rich.console", "rich.table", "rich.text", "rich._emoji_codes", "click", "sqlite3", "json",
    "uuid", "shlex", "platformdirs.unix", "csv", "glob", "logging", "concurrent.futures",
    "concurrent.futures.thread", "hashlib", "psutil", "atexit", "threading",
)  # fmt: skip
"""Imported when the server starts (with the host answerer's
:data:`~tether.api.answer_server.WARM_MODULES` and every fronted command's module), so that
a child runs its command without importing."""


def _warm() -> None:
    """Import what the fronted commands need, once."""
    from tether.api import answer_server
    from tether.cli.front import FRONTED
    from tether.cli.main import ALIASES, COMMANDS

    commands = {COMMANDS[ALIASES.get(c, c)][0].split(":")[0] for c in FRONTED}
    answer_server.warm([*answer_server.WARM_MODULES, *WARM_MODULES, *sorted(commands)])


def _code_files() -> dict[str, tuple[int, int]]:
    """tether's imported files, the interpreter and the folders of ``sys.path`` (a package
    installed or upgraded there changes its folder's time), with their times and sizes."""
    import tether

    package = os.path.dirname(tether.__file__)
    paths = {sys.executable, *(p for p in sys.path if p and os.path.isdir(p))}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(package):
            paths.add(path)
    return {path: _stamp(path) for path in paths}


def _stamp(path: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (0, -1)
    return (info.st_mtime_ns, info.st_size)


def _stale(files: dict[str, tuple[int, int]]) -> bool:
    """True when a file of ``files`` changed since the server imported it."""
    return any(_stamp(path) != stamp for path, stamp in files.items())


def _receive(conn: socket.socket) -> tuple[dict, list[int]] | None:
    """The command and its three descriptors; None when it is malformed or incomplete."""
    import marshal

    fds = array.array("i")
    conn.settimeout(READ_SECONDS)
    try:
        data, ancillary, _, _ = conn.recvmsg(1 << 16, socket.CMSG_LEN(3 * fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if len(data) < 4:
            raise ValueError("short")
        size = int.from_bytes(data[:4], "big")
        if size > MAX_REQUEST:
            raise ValueError("too big")
        body = data[4:]
        while len(body) < size:
            chunk = conn.recv(min(1 << 16, size - len(body)))
            if not chunk:
                raise ValueError("short")
            body += chunk
        request = marshal.loads(body)
        if len(fds) != 3 or not isinstance(request, dict):
            raise ValueError("malformed")
        return request, list(fds)
    except (OSError, ValueError, EOFError, TypeError):
        for fd in fds:
            os.close(fd)
        return None


def _same_user(conn: socket.socket) -> bool:
    """True when the peer runs as this server's user (SO_PEERCRED, where there is one)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True  # the socket's folder is the user's own, mode 0700
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int.from_bytes(creds[4:8], sys.byteorder) == os.getuid()


def _child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """In the forked child: become the client's command, run it, send its exit code."""
    code = 1
    try:
        _take_over(request, fds)
        conn.settimeout(READ_SECONDS)
        conn.sendall(b"P" + os.getpid().to_bytes(4, "big"))
        if conn.recv(1) != b"G":
            os._exit(0)  # the client gave up waiting: it runs the command itself
        conn.settimeout(None)
        import threading

        threading.Thread(target=_pass_signals, args=(conn,), daemon=True).start()
        trace = os.environ.get("TETHER_FRONT_TRACE")  # tests, benchmarks: imports and time
        before, started = (set(sys.modules) if trace else set()), time.perf_counter()
        code = _run(request["argv"])
        if trace:
            _trace(trace, request["argv"], sorted(set(sys.modules) - before), started)
        try:
            conn.sendall(b"X" + code.to_bytes(4, "big", signed=True))
        except OSError:
            pass
    finally:
        os._exit(code)


def _take_over(request: dict, fds: list[int]) -> None:
    """Take the client's stdio, folder, environment, sys.path, umask and argv."""
    import io
    import signal

    # the client's dispositions: what it ignores (nohup) stays ignored, the rest as Python's
    for signum in (signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGINT):
        default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        signal.signal(signum, signal.SIG_IGN if signum in request["ignored"] else default)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    streams: list[Any] = []  # set up as the client's are (see front._stream_shape)
    for fd, (encoding, errors, lines, through, unbuffered) in enumerate(request["streams"]):
        raw = io.FileIO(fd, "rb" if fd == 0 else "wb", closefd=False)
        binary: Any = raw
        if fd == 0:
            binary = io.BufferedReader(raw)
        elif not unbuffered:
            binary = io.BufferedWriter(raw)
        streams.append(
            io.TextIOWrapper(
                binary,
                encoding=encoding,
                errors=errors,
                line_buffering=lines,
                write_through=through,
            )
        )
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams  # type: ignore[misc,unused-ignore]
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    os.umask(request["umask"])
    sys.path[:] = request["path"]
    sys.argv[:] = ["tether", *request["argv"]]


def _pass_signals(conn: socket.socket) -> None:
    """Raise on this process each signal number the client sends; when the client is gone
    (killed: it could not pass anything on), end as it did."""
    import signal

    while True:
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if not data:
            os.kill(os.getpid(), signal.SIGKILL)
            return
        for signum in data:
            os.kill(os.getpid(), signum)


def _run(argv: list[str]) -> int:
    """Run the command as the ``tether`` script would; its exit code."""
    import atexit

    from tether.cli.main import run_here

    try:
        code = _exit_code(run_here(argv))
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    return code


def _trace(path: str, argv: list[str], imported: list[str], started: float) -> None:
    import json

    seconds = round(time.perf_counter() - started, 4)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"argv": argv, "imported": imported, "seconds": seconds}) + "\n")


def _exit_code(value: object) -> int:
    """What Python's exit makes of ``value`` (a message is printed, as sys.exit does)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def serve(path: str, idle: float = IDLE_SECONDS) -> None:
    """Serve commands on ``path`` until ``idle`` seconds pass without one."""
    import fcntl
    import gc

    from tether.api.answer_server import listen_at, reap, still_mine

    lock = os.open(path + ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server of this installation is starting or serving
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # who serves (for `kill` and tests)
    os.chdir("/")
    _warm()
    files = _code_files()
    server, mine = listen_at(path, backlog=64)
    gc.freeze()  # the imported modules' objects stay shared with the children
    server.settimeout(min(idle, CHECK_SECONDS))
    last = time.monotonic()
    children: list[int] = []
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                children = reap(children)
                if children:
                    last = time.monotonic()
                elif time.monotonic() - last >= idle or not still_mine(path, mine):
                    return
                continue
            last = time.monotonic()
            children = reap(children)
            with conn:
                if _stale(files) or not still_mine(path, mine):
                    _reply(conn, b"S")
                    return
                if not _same_user(conn):
                    continue
                _reply(conn, b"R")  # ready: the client sends its command now
                received = _receive(conn)
                if received is None:
                    continue
                request, fds = received
                pid = os.fork()
                if pid == 0:
                    server.close()
                    os.close(lock)  # a long command must not keep the next server out
                    _child(conn, request, fds)
                for fd in fds:
                    os.close(fd)
                children.append(pid)
    finally:
        server.close()
        if still_mine(path, mine):
            os.unlink(path)
        os.close(lock)


def _reply(conn: socket.socket, reply: bytes) -> None:
    """Send ``reply``; nothing happens when the client is gone."""
    try:
        conn.sendall(reply)
    except OSError:
        pass


def main(path: str) -> None:
    """Serve on ``path``; SIGTERM ends the server cleanly."""
    import signal

    os.closerange(3, 1 << 16)  # a descriptor the starting command inherited stays its own
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(path)
