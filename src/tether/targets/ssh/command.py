"""Command lines for the system ``ssh`` and ``rsync``; building them runs nothing.

Connections are multiplexed: the first ``ssh`` becomes a master (``ControlMaster=auto``)
that lives on for ``ControlPersist`` after its last use, so later calls skip the handshake.

Two things callers must know:

* A call that *becomes* the master forks it into the background. Older OpenSSH
  releases let that master keep the stderr it was given (recent ones, e.g. 9.2, point
  it at /dev/null), so a caller reading a stderr pipe to EOF could wait until the master
  exits. Safe everywhere: stderr to a temporary file, or start the master first with
  :func:`master_start_argv` (stderr to a file) and pipe freely afterwards.
* The remote command travels as one string that the remote login shell parses. It is
  built with :func:`shlex.quote`, so no name, argument or path can inject shell code
  into a POSIX shell (sh, bash, dash, zsh, ksh). Multi-line scripts go through
  :func:`remote_shell` so they run under ``sh`` whatever the login shell is.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tether.errors import ConfigError, UsageError
from tether.targets.ssh.hostspec import HostSpec

StrPath = str | os.PathLike[str]

#: Longest socket path we allow: ``sun_path`` is 104 bytes on macOS/BSD and 108 on
#: Linux, including the final NUL.
MAX_SOCKET_PATH = 103
#: Hex digits of the authentication fingerprint at the start of each socket name.
AUTH_DIGITS = 12
#: What ssh appends to the control directory: ``/`` + the fingerprint + ``-`` + ``%C`` (40
#: hex digits) + the ``.XXXXXXXXXXXXXXXX`` of the temporary socket it binds before
#: renaming (mux.c).
_SOCKET_SUFFIX_LEN = 1 + AUTH_DIGITS + 1 + 40 + 17
#: Characters that need no quoting in ``-o ControlPath=...`` (no ``%`` tokens, no spaces).
_PLAIN_PATH_RE = re.compile(r"[A-Za-z0-9._/+-]+")
_SAFE_REMOTE_PATH_RE = re.compile(r"[A-Za-z0-9._/+@%=,:-]+")

REMOTE_VENV = ".tether/venv"
"""Where the remote tether lives (relative to the remote home)."""

CONTROL_PERSIST = "10m"
SERVER_ALIVE_INTERVAL = 15
SERVER_ALIVE_COUNT_MAX = 3

DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    "venv/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".tox/",
    "node_modules/",
    ".ipynb_checkpoints/",
)


# --- control sockets -------------------------------------------------------------------


def _fallback_root() -> Path:
    return Path("/tmp") / f"tether-{os.getuid()}"


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` in hex, from CPython's own module where there is one: ``hashlib``
    would load OpenSSL (~4 ms on every control call) for the same digest."""
    try:
        from _sha256 import sha256  # CPython 3.11 (a standard module there)
    except ImportError:  # other versions: the same digest through hashlib
        from hashlib import sha256  # type: ignore[assignment,unused-ignore]
    return sha256(data).hexdigest()


def control_socket_dir(control_dir: StrPath) -> Path:
    """The directory that will hold control sockets for ``control_dir``.

    It is ``control_dir`` itself when the socket paths fit (and need no quoting), else a
    short ``/tmp/tether-<uid>/<hash>`` folder unique to ``control_dir``. Pure: creates nothing.
    """
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(control_dir))))
    encoded = os.fsencode(str(path))
    if len(encoded) + _SOCKET_SUFFIX_LEN <= MAX_SOCKET_PATH and _PLAIN_PATH_RE.fullmatch(str(path)):
        return path
    digest = sha256_hex(encoded)[:12]
    return _fallback_root() / digest


def auth_fingerprint(spec: HostSpec) -> str:
    """A short hash of everything in ``spec`` that changes how ssh authenticates.

    ``%C`` only covers user, host, port and jump host, so two hosts with the same DEST but
    another identity file, other ``-o`` options (host key checking, known hosts files...)
    or another ssh config file (path and contents) would share a master connection, and
    the second would be let in on the first one's login. The fingerprint keeps them apart.
    """
    parts: list[str] = []
    if spec.identity:
        parts.append("identity=" + os.path.abspath(os.path.expanduser(spec.identity)))
    for key, value in sorted((k.lower(), v) for k, v in spec.options.items()):
        parts.append(f"option {key}={value}")
    if spec.ssh_config:
        config = os.path.abspath(os.path.expanduser(spec.ssh_config))
        try:
            content = sha256_hex(Path(config).read_bytes())
        except OSError:
            content = "unreadable"
        parts.append(f"config={config} {content}")
    digest = sha256_hex("\n".join(parts).encode("utf-8", "surrogateescape"))
    return digest[:AUTH_DIGITS]


def control_path(control_dir: StrPath, spec: HostSpec) -> str:
    """The ``ControlPath`` value: ``<socket dir>/<auth fingerprint>-%C``.

    ``%C`` is ssh's hash of host, port, user and jump host; the fingerprint
    (:func:`auth_fingerprint`) adds identity, options and config file, so a master is
    only reused by a host that would authenticate the same way.
    """
    return f"{control_socket_dir(control_dir)}/{auth_fingerprint(spec)}-%C"


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) or check an existing one is ours and private."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise ConfigError(f"cannot create the ssh control folder {path}: {exc.strerror}")
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ConfigError(
            f"ssh control folder {path} is not a folder owned by you; remove it and retry"
        )
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)


def ensure_control_dir(control_dir: StrPath) -> Path:
    """Create the socket directory for ``control_dir`` (private, mode 0700) and return it."""
    sockets = control_socket_dir(control_dir)
    if sockets.parent == _fallback_root():
        _make_private_dir(sockets.parent)
        _make_private_dir(sockets)
    else:
        sockets.mkdir(mode=0o700, parents=True, exist_ok=True)
    return sockets


# --- ssh -------------------------------------------------------------------------------


def ssh_options(
    spec: HostSpec, control_dir: StrPath, *, batch: bool = True, connect_timeout: int = 10
) -> list[str]:
    """The ssh arguments between ``ssh`` and the destination (shared with rsync's ``-e``).

    The user's own ``-o`` options come first: ssh keeps the first value it sees for an
    option, so they override tether's defaults.
    """
    argv: list[str] = []
    if spec.ssh_config:
        argv += ["-F", os.path.expanduser(spec.ssh_config)]
    for key, value in spec.options.items():
        argv += ["-o", f"{key}={value}"]
    if spec.identity:
        argv += ["-i", os.path.expanduser(spec.identity), "-o", "IdentitiesOnly=yes"]
    if spec.destination.port:
        argv += ["-p", str(spec.destination.port)]
    argv += [
        "-o", "ControlMaster=auto",
        "-o", f"ControlPersist={CONTROL_PERSIST}",
        "-o", f"ControlPath={control_path(control_dir, spec)}",
    ]  # fmt: skip
    if batch:
        argv += ["-o", "BatchMode=yes"]
    argv += [
        "-o", f"ConnectTimeout={int(connect_timeout)}",
        "-o", f"ServerAliveInterval={SERVER_ALIVE_INTERVAL}",
        "-o", f"ServerAliveCountMax={SERVER_ALIVE_COUNT_MAX}",
    ]  # fmt: skip
    return argv


def remote_join(argv: Sequence[str]) -> str:
    """Quote a remote command line for a POSIX shell.

    Every word is quoted with :func:`shlex.quote`; only a program (first word) written as
    ``~/path`` gets its home expanded, as ``"$HOME"/'path'``.
    """
    if not argv:
        raise UsageError("the remote command is empty")
    for word in argv:
        if "\0" in word:
            raise UsageError(f"remote command word {word!r} contains NUL; remove it")
    first = argv[0]
    head = f'"$HOME"/{shlex.quote(first[2:])}' if first.startswith("~/") else shlex.quote(first)
    return " ".join([head, *(shlex.quote(word) for word in argv[1:])])


def remote_shell(script: str) -> list[str]:
    """Wrap a (multi-line) shell script as ``["sh", "-c", script]`` for ``remote_cmd``.

    Joined by :func:`remote_join` this becomes ``sh -c '<quoted script>'``, so the script
    runs under ``sh`` even when the login shell is csh or fish.
    """
    if "\0" in script:
        raise UsageError("the remote script contains NUL; remove it")
    return ["sh", "-c", script]


def ssh_argv(
    spec: HostSpec,
    control_dir: StrPath,
    *,
    remote_cmd: Sequence[str],
    tty: bool = False,
    batch: bool = True,
    connect_timeout: int = 10,
) -> list[str]:
    """The full ``ssh`` argv that runs ``remote_cmd`` (a list of words) on ``spec``.

    An empty ``remote_cmd`` opens a login shell (use with ``tty=True``). ``--`` ends ssh's
    options, so no destination or command word is ever read as one.
    Creates the control socket directory if needed.
    """
    ensure_control_dir(control_dir)
    argv = ["ssh", *ssh_options(spec, control_dir, batch=batch, connect_timeout=connect_timeout)]
    argv.append("-t" if tty else "-T")
    argv += ["--", spec.destination.ssh_target]
    if remote_cmd:
        argv.append(remote_join(remote_cmd))
    return argv


def _control_argv(spec: HostSpec, control_dir: StrPath, command: str) -> list[str]:
    base = ssh_options(spec, control_dir)
    return ["ssh", *base, "-O", command, "--", spec.destination.ssh_target]


def master_check_argv(spec: HostSpec, control_dir: StrPath) -> list[str]:
    """``ssh -O check``: exits 0 when a master connection to ``spec`` is running."""
    return _control_argv(spec, control_dir, "check")


def master_exit_argv(spec: HostSpec, control_dir: StrPath) -> list[str]:
    """``ssh -O exit``: asks the master connection to ``spec`` to close."""
    return _control_argv(spec, control_dir, "exit")


def forward_socket_argv(
    spec: HostSpec, control_dir: StrPath, here: StrPath, there: str, *, cancel: bool = False
) -> list[str]:
    """``ssh -O forward -L HERE:THERE``: the master forwards the unix socket ``here`` to the
    host's socket ``there`` (``cancel``: ``-O cancel``, the master forgets that forward)."""
    argv = _control_argv(spec, control_dir, "cancel" if cancel else "forward")
    argv[-2:-2] = ["-L", f"{here}:{there}"]
    return argv


def master_start_argv(
    spec: HostSpec, control_dir: StrPath, *, connect_timeout: int = 10
) -> list[str]:
    """Start a background master (``-M -N -f``); run it with stderr to a file, not a pipe."""
    ensure_control_dir(control_dir)
    base = ssh_options(spec, control_dir, connect_timeout=connect_timeout)
    return ["ssh", *base, "-M", "-N", "-f", "--", spec.destination.ssh_target]


# --- rsync -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    """A path on the remote host, for :func:`rsync_argv`. Relative paths start at home."""

    path: str


def rsync_quote(word: str) -> str:
    """Quote one word for rsync's own ``-e`` splitter.

    rsync splits ``-e`` on spaces and honours single and double quotes, where a doubled
    quote inside a quoted span stands for itself; backslashes are literal.
    """
    if word and not any(c in word for c in " '\""):
        return word
    return "'" + word.replace("'", "''") + "'"


def rsync_shell(
    spec: HostSpec, control_dir: StrPath, *, batch: bool = True, connect_timeout: int = 10
) -> str:
    """The ``-e`` value: the same ssh command as :func:`ssh_argv`, quoted for rsync."""
    base = ssh_options(spec, control_dir, batch=batch, connect_timeout=connect_timeout)
    return " ".join(rsync_quote(word) for word in ["ssh", *base])


def _remote_path(path: str) -> str:
    if path == "~":
        path = "."
    elif path.startswith("~/"):
        path = path[2:] or "."
    if not path or not _SAFE_REMOTE_PATH_RE.fullmatch(path) or path.startswith("-"):
        raise UsageError(
            f"remote path {path!r} has characters tether does not send over rsync; "
            "use letters, digits and . _ / + @ % = , : -"
        )
    return path


def _local_path(path: StrPath) -> str:
    text = os.fspath(path)
    if not text:
        raise UsageError("a local rsync path is empty")
    # rsync reads "a:b" as host a, and "-x" as an option: make both plainly local.
    if not os.path.isabs(text) and (":" in text.split("/", 1)[0] or text.startswith("-")):
        text = "./" + text
    return text


def rsync_argv(
    spec: HostSpec,
    control_dir: StrPath,
    src: StrPath | Remote,
    dest: StrPath | Remote,
    *,
    delete: bool = True,
    excludes: Sequence[str] = DEFAULT_EXCLUDES,
    filter_files: Sequence[StrPath] = (),
    dir_merge: Sequence[str] = (),
    dry_run: bool = False,
    make_parents: bool = True,
    batch: bool = True,
    connect_timeout: int = 10,
) -> list[str]:
    """The ``rsync`` argv copying ``src`` to ``dest``; exactly one of them is a :class:`Remote`.

    ``-az --partial --itemize-changes``, so :func:`count_itemized_changes` can count what
    changed. ``excludes`` are rsync patterns; ``filter_files`` are local files of exclude
    patterns (``--exclude-from``); ``dir_merge`` names per-directory files such as
    ``.gitignore`` whose patterns apply below them. Trailing ``/`` on a local source
    copies its contents, as with rsync itself. When pushing, ``make_parents`` first creates
    the remote folder (``--rsync-path='mkdir -p DIR && rsync'``; works with any rsync).
    """
    if isinstance(src, Remote) == isinstance(dest, Remote):
        raise UsageError("rsync needs exactly one remote side (Remote(...)) and one local path")
    ensure_control_dir(control_dir)
    argv = ["rsync", "-az", "--partial", "--itemize-changes"]
    argv += ["-e", rsync_shell(spec, control_dir, batch=batch, connect_timeout=connect_timeout)]
    if delete:
        argv.append("--delete")
    if dry_run:
        argv.append("--dry-run")
    for pattern in excludes:
        if "\n" in pattern or "\0" in pattern:
            raise UsageError(f"exclude pattern {pattern!r} contains a line break; remove it")
        argv.append(f"--exclude={pattern}")
    for name in dir_merge:
        if not name or "/" in name or any(c.isspace() for c in name):
            raise UsageError(f"bad per-directory filter file name {name!r}; use e.g. .gitignore")
        argv.append(f"--filter=:- {name}")
    for path in filter_files:
        argv.append(f"--exclude-from={os.path.abspath(os.fspath(path))}")
    if make_parents and isinstance(dest, Remote):
        path = _remote_path(dest.path)
        folder = path if path.endswith("/") else posixpath.dirname(path)
        if folder not in ("", ".", "/"):
            argv.append(f"--rsync-path=mkdir -p {shlex.quote(folder)} && rsync")
    target = spec.destination.rsync_target
    for side in (src, dest):
        if isinstance(side, Remote):
            argv.append(f"{target}:{_remote_path(side.path)}")
        else:
            argv.append(_local_path(side))
    return argv


def count_itemized_changes(output: str) -> int:
    """Count files sent, received or deleted in ``--itemize-changes`` output."""
    count = 0
    for line in output.splitlines():
        deleted = line.startswith("*deleting ") and not line.endswith("/")
        sent = len(line) > 12 and line[0] in "<>" and line[1] == "f" and line[11] == " "
        count += deleted or sent
    return count
