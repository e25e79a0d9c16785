"""Shared helpers for the rigs: ports, waiting, temp dirs, daemon processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"

# Parent-death signal: if the test process dies without running its teardown
# (SIGKILL, crash), the kernel sends SIGTERM to each daemon we started.
_SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_SETPRIV = shutil.which("setpriv", path=os.pathsep.join(_SYSTEM_DIRS))


class RigError(RuntimeError):
    """A rig component failed to start or misbehaved (message carries log tails)."""


class RigUnavailable(Exception):
    """A rig cannot run on this machine (missing binaries, not root, no netns)."""


def is_root() -> bool:
    return os.geteuid() == 0


def require_root(component: str) -> None:
    if not is_root():
        raise RigUnavailable(f"{component}: needs root (running as uid {os.geteuid()})")


def find_binary(name: str) -> str | None:
    """Absolute path of ``name``: on ``PATH`` or in the sbin/bin dirs (PATH may lack sbin)."""
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SYSTEM_DIRS])
    return shutil.which(name, path=path)


def _resolve(argv: Sequence[str]) -> list[str]:
    out = list(argv)
    if out and not os.path.isabs(out[0]):
        out[0] = find_binary(out[0]) or out[0]
    return out


def require_binaries(component: str, binaries: Iterable[str]) -> None:
    """Raise :class:`RigUnavailable` naming every binary that is not installed."""
    missing = [b for b in binaries if find_binary(b) is None]
    if missing:
        raise RigUnavailable(
            f"{component}: missing {', '.join(missing)} (run scripts/install-test-deps.sh)"
        )


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def wait_until(
    predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02
) -> bool:
    """Poll ``predicate`` until it returns something truthy; False on timeout."""
    end = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


OWNER_FILE = ".tt-owner"


def make_workdir(kind: str, mode: int = 0o755) -> Path:
    """A fresh, short temp dir ``/tmp/tt-<kind>-XXXXXXXX`` (unix socket paths stay < 108 bytes).

    It records our PID, so :func:`cleanup_stale_workdirs` can tell leftovers of
    dead sessions from dirs of live ones.
    """
    d = Path(tempfile.mkdtemp(prefix=f"tt-{kind}-", dir="/tmp"))
    d.chmod(mode)
    (d / OWNER_FILE).write_text(f"{os.getpid()}\n")
    return d


def _proc_refs(pid: int, needle: str) -> bool:
    """Does process ``pid`` use ``needle`` (cwd, open files, command line, environment)?"""
    base = f"/proc/{pid}"
    try:
        if os.readlink(f"{base}/cwd").startswith(needle):
            return True
        for fd in os.listdir(f"{base}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"{base}/fd/{fd}").startswith(needle):
                    return True
        for name in ("cmdline", "environ"):
            with open(f"{base}/{name}", "rb") as f:
                if needle.encode() in f.read():
                    return True
    except OSError:
        return False
    return False


def kill_processes_using(path: Path) -> list[int]:
    """SIGKILL every process that uses ``path`` (see :func:`_proc_refs`) and its descendants."""
    needle = str(path)
    children: dict[int, list[int]] = {}
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(pid)
    todo = [p for p in pids if p != os.getpid() and _proc_refs(p, needle)]
    victims: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in victims or pid in (os.getpid(), 1):
            continue
        victims.add(pid)
        todo.extend(children.get(pid, []))
    for pid in victims:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return sorted(victims)


def cleanup_stale_workdirs() -> None:
    """Kill what is left of rigs whose test process died without teardown; delete their dirs."""
    for d in Path("/tmp").glob("tt-*-*"):
        try:
            owner = int((d / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid_alive(owner):
            continue
        kill_processes_using(d)
        remove_tree(d)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def tail(path: Path | str, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def format_logs(logs: Iterable[Path], lines: int = 30) -> str:
    parts = []
    for p in logs:
        text = tail(p, lines)
        parts.append(f"---- {p} (last {lines} lines)\n{text or '<empty or missing>'}")
    return "\n".join(parts)


def run(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short command, capturing output; on failure raise RigError with its stderr."""
    try:
        cp = subprocess.run(
            _resolve(cmd),
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise RigError(f"timed out after {timeout} s: {' '.join(cmd)}") from e
    if check and cp.returncode != 0:
        raise RigError(
            f"command failed (rc={cp.returncode}): {' '.join(cmd)}\n"
            f"stdout: {cp.stdout.strip()}\nstderr: {cp.stderr.strip()}"
        )
    return cp


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Daemon:
    """A foreground daemon started by a rig: we own its PID and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    extra_logs: list[Path] = field(default_factory=list)

    @classmethod
    def spawn(
        cls,
        name: str,
        cmd: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        extra_logs: Sequence[Path] = (),
    ) -> Daemon:
        """Start ``cmd`` in its own session, stdout+stderr appended to ``log_path``."""
        argv = _resolve(cmd)
        if _SETPRIV:
            argv = [_SETPRIV, "--pdeathsig", "TERM", "--", *argv]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest only
            )
        return cls(name, proc, log_path, list(extra_logs))

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def logs(self, lines: int = 30) -> str:
        return format_logs([self.log_path, *self.extra_logs], lines)

    def fail(self, what: str) -> RigError:
        """A RigError for ``what`` that carries the daemon's exit status and log tails."""
        rc = self.proc.poll()
        state = "still running" if rc is None else f"exited with status {rc}"
        return RigError(f"{self.name}: {what} ({state})\n{self.logs()}")

    def wait_port(self, host: str, port: int, timeout: float = 20.0) -> None:
        """Wait until ``host:port`` accepts connections; fail early if the daemon exits."""
        if not wait_until(lambda: not self.alive or port_open(host, port), timeout, 0.01):
            raise self.fail(f"not listening on {host}:{port} after {timeout} s")
        if not self.alive:
            raise self.fail(f"died before listening on {host}:{port}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; always reaps.

        Then SIGKILL whatever is left in the daemon's process group (its own,
        from ``start_new_session``): helper processes that outlived it.
        """
        stop_process(self.proc, timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except ProcessLookupError:
        pass
