"""Talking to the agent from the CLI: its address, waking it, starting and stopping it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from tether.errors import AgentError

AGENT_INFO = "agent.json"


def address(home: Path) -> str | bytes:
    """The agent's datagram socket: an abstract name on Linux, else a file under the home."""
    if sys.platform.startswith("linux"):
        path = os.path.realpath(home).encode()
        return b"\0tether-agent-%08x-" % zlib.crc32(path) + path[-80:]
    return str(home / "agent.sock")


def send(home: Path, message: str = "wake") -> bool:
    """Send a message to the agent; False when no agent is listening."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.sendto(message.encode(), address(home))
        except BlockingIOError:
            return True  # alive, just busy: it will look at the store anyway
        except OSError:
            return False
    return True


@dataclass
class AgentInfo:
    pid: int
    started: float
    parallel: int


def info(home: Path) -> AgentInfo | None:
    """The running agent's pid and start time, or None when none runs."""
    if not send(home, "ping"):
        return None
    try:
        data = json.loads((home / AGENT_INFO).read_text())
        return AgentInfo(int(data["pid"]), float(data["started"]), int(data.get("parallel", 1)))
    except (OSError, ValueError, KeyError):
        return None


def ensure_running(home: Path, *, wait: bool = False) -> None:
    """Wake the agent, starting one if none runs (only one caller starts it)."""
    if send(home):
        return
    lock_path = home / "agent.spawn.lock"
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return  # someone else is starting it; it will find our job in the store
        if send(home):
            return
        _wait_until_up(home, spawn(home), timeout=10.0)


def spawn(home: Path, parallel: int | None = None) -> subprocess.Popen[bytes]:
    """Start a detached agent process for ``home``."""
    args = [sys.executable, "-m", "tether.agent", "--home", str(home)]
    if parallel is not None:
        args += ["--parallel", str(parallel)]
    with open(home / "agent.log", "ab") as log:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "TETHER_HOME": str(home)},
        )


def _last_error(log: Path) -> str:
    """The last non-blank line of the agent's log (a traceback's last line names the error)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def _wait_until_up(home: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    log = home / "agent.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if send(home, "ping"):
            return
        code = proc.poll()
        # exit code 0: another agent took the home first (it comes up, keep waiting)
        if code and not send(home, "ping"):
            why = _last_error(log)
            raise AgentError(
                f"the agent exited at once (exit code {code})"
                + (f": {why}" if why else "")
                + f"; fix that and run `tether agent start`, or see {log} for the rest"
            )
        time.sleep(0.02)
    raise AgentError(
        f"the agent did not start within {timeout:.0f} s; see {log} for why, "
        "then run `tether agent start`"
    )


def start(home: Path, parallel: int | None = None) -> AgentInfo:
    """Start the agent (or, if it runs, apply ``parallel`` to it) and return its info."""
    if parallel is not None:
        from tether.store.jobs import JobStore

        store = JobStore(home)
        store.set_setting("agent.parallel", str(parallel))
        store.close()
    if not send(home, "reload"):
        with open(home / "agent.spawn.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not send(home, "reload"):
                _wait_until_up(home, spawn(home), timeout=10.0)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        current = info(home)
        if current is not None:
            return current
        time.sleep(0.02)
    raise AgentError(f"the agent is not answering; see {home / 'agent.log'}")


def _zombie_or_gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def stop(home: Path, timeout: float = 10.0) -> bool:
    """Stop the agent (running jobs go on); False if none was running."""
    current = info(home)
    if current is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(current.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(current.pid, 0)
        except ProcessLookupError:
            return True
        if not send(home, "ping") and _zombie_or_gone(current.pid):
            return True
        time.sleep(0.02)
    raise AgentError(f"the agent (pid {current.pid}) did not stop within {timeout:.0f} s")
