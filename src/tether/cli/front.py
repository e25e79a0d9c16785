"""The ``tether`` command's resident front: the client half.

Starting Python, click, rich and tether's modules costs a command more than its work (about
100 of the 130 ms a ``tether run`` took). So, as Mercurial's ``chg`` does, the first command
starts a small server in the background (:mod:`tether.cli.front_server`) that has imported
all of it once; later commands hand it their arguments, folder, environment and their
stdin/stdout/stderr (the file descriptors themselves, over a unix socket), and a child forked
from the idle server runs the command as this process would have: same output, same prompts,
same exit code. Ctrl-C and other signals sent here are passed on to that child.

Whenever the server is not there (the first command, after :data:`~tether.cli.front_server.
IDLE_SECONDS` idle, after tether was upgraded or edited) the command runs here as before.
``TETHER_FRONT=0`` turns the front off.

This module is imported by every ``tether`` command, so it imports nothing but builtins.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

FRONTED = frozenset(
    {
        "run", "submit", "rerun", "ls", "list", "show", "report", "wait", "cancel", "logs",
        "scalars", "top", "notifications", "params", "diff", "history", "sweep", "probe",
    }
)  # fmt: skip
"""The commands the front runs (the others, such as ``tether ssh`` or prompts for secrets,
which want this process's terminal, always run here)."""
SWITCH = "TETHER_FRONT"
"""``TETHER_FRONT=0`` (or off/no/false) runs every command here."""
HANDSHAKE_SECONDS = 3.0
"""How long to wait for the server to take a command (it answers in milliseconds)."""
FORWARDED_SIGNALS = (2, 1, 3, 15)  # SIGINT, SIGHUP, SIGQUIT, SIGTERM (the same on Linux, macOS)
NO_EXIT_CODE = (
    "tether: error: the command ended with no exit code (killed?); "
    "TETHER_FRONT=0 runs commands without the front\n"
)
MAX_SOCKET_PATH = 100
"""The longest socket path used (the kernel's limit is 107 bytes; the server binds a
slightly longer temporary name first). A longer TETHER_FRONT_DIR: no front."""
STARTUP_KEYS = ("LANG", "LC_ALL", "LC_CTYPE")
"""Variables (with every PYTHON* but PYTHONPATH) read when Python starts: a server started
with other values is another server."""


def wanted(args: Sequence[str], environ: Mapping[str, str] = os.environ) -> bool:
    """True when the command in ``args`` is one the front runs, and the front is on."""
    if environ.get(SWITCH, "1").strip().lower() in ("0", "off", "no", "false"):
        return False
    return bool(args) and args[0] in FRONTED and hasattr(os, "fork")


def socket_dir(environ: Mapping[str, str] = os.environ) -> str:
    """The folder of this user's front sockets (``TETHER_FRONT_DIR`` to choose another)."""
    chosen = environ.get("TETHER_FRONT_DIR")
    if chosen:
        return chosen
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "tether")
    return f"/tmp/tether-{os.getuid()}"


def startup_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` that Python reads when it starts."""
    return {
        key: value
        for key, value in environ.items()
        if key in STARTUP_KEYS or (key.startswith("PYTHON") and key != "PYTHONPATH")
    }


def socket_name() -> str:
    """This installation's socket: by version, interpreter, ``sys.path`` and start-up
    variables (a hash of them, so a change of any of them meets a server made for it)."""
    from tether import __version__

    parts = [sys.executable, *sys.path[1:]]
    parts += [f"{k}={v}" for k, v in sorted(startup_env(os.environ).items())]
    digest = 0xCBF29CE484222325  # FNV-1a, 64 bits (48 kept): no hashlib to import
    for byte in "\0".join(parts).encode("utf-8", "surrogateescape"):
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    digest >>= 16
    return f"{__version__}-{digest:012x}.sock"  # short: a socket path has at most 107 bytes


def _safe_dir(path: str) -> bool:
    """True when ``path`` is a folder of this user that nobody else can write to (else its
    socket could be anyone's, and the command would hand them its environment)."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def run(args: list[str]) -> int | None:
    """Run ``tether ARGS`` in the front; its exit code, or None when it was not run there
    (then the caller runs it here, and a server is started for the next command)."""
    directory = socket_dir()
    if not _safe_dir(directory):
        if not os.path.exists(directory):
            start_server(directory)
        return None
    import _socket

    path = os.path.join(directory, socket_name())
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:  # a unix socket cannot have such a path
        return None
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.settimeout(HANDSHAKE_SECONDS)
        try:
            conn.connect(path)
            # the descriptors go only to a server that answers: sent to one that is stopped,
            # they would keep this command's pipes open until it wakes (`tether ls | less`)
            reply = _receive_exactly(conn, 1)
            if reply == b"R":
                request = _request(args)
                if request is None:
                    return None
                _send(conn, request)
                reply = _receive_exactly(conn, 5)
        except OSError:
            reply = b""
        if reply[:1] != b"P":  # no server, a stale one (it has gone), or no answer in time
            start_server(directory)
            return None
        conn.sendall(b"G")  # go: the child runs the command only once it has this
        conn.settimeout(None)
        return _wait(conn)
    finally:
        conn.close()


def _request(args: list[str]) -> bytes | None:
    """The command as the server reads it (marshal: both sides run this same Python)."""
    import _signal
    import marshal

    streams = (sys.stdin, sys.stdout, sys.stderr)
    if any(stream is None for stream in streams):
        return None
    try:
        cwd = os.getcwd()
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:  # a folder that is gone, a closed stdin: as Python does, here
        return None
    umask = os.umask(0o22)
    os.umask(umask)
    body = {
        "argv": args,
        "cwd": cwd,
        "env": dict(os.environ),
        "path": sys.path,
        "umask": umask,
        "streams": [_stream_shape(stream) for stream in streams],
        "ignored": [n for n in FORWARDED_SIGNALS if _signal.getsignal(n) is _signal.SIG_IGN],
    }
    return marshal.dumps(body)


def _stream_shape(stream: object) -> tuple[str, str, bool, bool, bool]:
    """How this process's stream is set up (encoding, errors, line buffering, write through,
    unbuffered bytes: ``-u`` or PYTHONUNBUFFERED), for the child to set up the same."""
    raw = type(getattr(stream, "buffer", None)).__name__ == "FileIO"
    return (
        getattr(stream, "encoding", None) or "utf-8",
        getattr(stream, "errors", None) or "strict",
        bool(getattr(stream, "line_buffering", False)),
        bool(getattr(stream, "write_through", False)),
        raw,
    )


def _send(conn: object, body: bytes) -> None:
    """The request's length and bytes, with this process's stdin, stdout and stderr."""
    import _socket

    fds = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
    head = len(body).to_bytes(4, "big")
    sent = conn.sendmsg(  # type: ignore[attr-defined]
        [head, body], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)]
    )
    rest = (head + body)[sent:]
    if rest:
        conn.sendall(rest)  # type: ignore[attr-defined]


def _receive_exactly(conn: object, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))  # type: ignore[attr-defined]
        if not chunk:
            break
        data += chunk
    return data


def _wait(conn: object) -> int:
    """Pass signals on to the child until it sends its exit code."""
    import _signal

    def forward(signum: int, frame: object) -> None:
        try:
            conn.sendall(bytes([signum]))  # type: ignore[attr-defined]
        except OSError:
            pass

    for signum in FORWARDED_SIGNALS:
        if _signal.getsignal(signum) is not _signal.SIG_IGN:  # under nohup: stays ignored
            _signal.signal(signum, forward)
    while True:
        try:
            reply = _receive_exactly(conn, 5)
        except InterruptedError:
            continue
        except OSError:
            reply = b""
        if reply[:1] == b"X":
            return int.from_bytes(reply[1:], "big", signed=True)
        sys.stderr.write(NO_EXIT_CODE)
        return 1


def start_server(directory: str) -> None:
    """Start a front server for this installation in the background (never raises: this
    command runs here; the next one may find the server)."""
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _safe_dir(directory):
            return
        path = os.path.join(directory, socket_name())
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            return
        code = (
            "import sys; sys.path[:] = sys.argv[2].split('\\n'); "
            "from tether.cli.front_server import main; main(sys.argv[1])"
        )
        devnull = os.devnull
        os.posix_spawn(
            sys.executable,
            [sys.executable, "-c", code, path, "\n".join(sys.path[1:])],
            startup_env(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, devnull, os.O_WRONLY, 0),
            ],
            setsid=True,
        )
    except (OSError, AttributeError, NotImplementedError):
        pass
