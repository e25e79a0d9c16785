"""The supervisor: a small process, forked from the agent, that runs one job and records its end.

It lives in its own session, so closing the terminal or killing the agent leaves it and the job
alone. The job runs in its own process group; ``SIGTERM`` to the supervisor means "cancel": the
supervisor passes SIGTERM to the job's group and its whole tree, then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

from tether.agent import processes, sampling
from tether.agent.files import GRACE_FILE, RESULT_FILE, RUN_FILE, write_json_atomic

DEFAULT_GRACE = 10.0
_FULL = (errno.ENOSPC, errno.EDQUOT)


_TEST_DELAY = "TETHER_TEST_SUPERVISOR_DELAY"
# fault tests: the job's output goes to /dev/full (every write fails: no space left on device)
_TEST_LOG_FULL = "TETHER_TEST_JOB_LOG_FULL"


def supervise(
    command: list[str],
    cwd: str,
    env: dict[str, str],
    job_dir: Path,
    log_path: Path,
    notify_address: str | bytes | None,
    number: int,
) -> None:
    """Run in the forked child: start the job, wait for it, write the result, never return."""
    code = 1
    try:
        if _TEST_DELAY in os.environ:  # fault tests: widen the window before the job starts
            time.sleep(float(os.environ[_TEST_DELAY]))
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        code = _run(command, cwd, env, job_dir, log_path, notify_address, number)
    except BaseException as exc:  # pragma: no cover - last resort, nothing above us to tell
        with contextlib.suppress(Exception), open(log_path, "a") as log:
            log.write(f"\n[tether] supervisor error: {exc!r}\n")
    finally:
        os._exit(code)


def _run(
    command: list[str],
    cwd: str,
    env: dict[str, str],
    job_dir: Path,
    log_path: Path,
    notify_address: str | bytes | None,
    number: int,
) -> int:
    state: dict[str, Any] = {"cancelled": False, "procs": [], "pid": None}
    # the supervisor may move to the job's folder to start it (see _spawn_job)
    job_dir, log_path, cwd = job_dir.absolute(), log_path.absolute(), os.path.abspath(cwd)
    if isinstance(notify_address, str):
        notify_address = os.path.abspath(notify_address)

    def on_term(signum: int, frame: Any) -> None:
        if state["cancelled"]:
            return
        state["cancelled"] = True
        state["procs"] = processes.tree(state["pid"])
        processes.signal_group_and_tree(state["pid"], state["procs"], signal.SIGTERM)
        signal.alarm(max(1, round(_grace(job_dir))))

    def on_alarm(signum: int, frame: Any) -> None:
        procs = state["procs"] + processes.tree(state["pid"])
        processes.signal_group_and_tree(state["pid"], procs, signal.SIGKILL)

    # A cancel (SIGTERM) waits, blocked, until the job's pid is known; then it is acted on.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    try:  # made here, not in the agent's loop (a slow disk's 1 ms a job, one after another)
        job_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        _tell_agent(notify_address, f"unstarted {number} {exc}"[:500])
        return 1
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    if _TEST_LOG_FULL in os.environ:
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, log_fd)
        os.close(full)
    pid = _spawn_job(command, cwd, env, log_fd)
    if pid is None:  # not to be spawned: forked, to fail (or start) as it always did
        pid = os.fork()
        if pid == 0:  # the job
            _exec_job(command, cwd, env, log_fd)
    state["pid"] = pid
    with contextlib.suppress(OSError):  # as the job does itself: its group exists from now on
        os.setpgid(pid, pid)
    write_json_atomic(
        job_dir / RUN_FILE,
        {
            "pid": pid,
            "pid_started": processes.start_time(pid),
            "boot_id": processes.boot_id(),
            "supervisor_pid": os.getpid(),
            "started": time.time(),
        },
    )
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    since = time.monotonic()
    # A job over before its first sample is due needs no sampler thread (2 ms a job)
    sampler = None if _ends_within(pid, sampling.FIRST) else sampling.start(pid, job_dir, since)
    _, status = os.waitpid(pid, 0)
    if sampler is not None:
        sampler.set()
    ended = time.time()
    log_error = _log_error(log_fd, log_path)
    os.close(log_fd)
    if state["cancelled"]:
        # the payload is gone; make sure nothing it started is left behind
        signal.alarm(0)
        processes.signal_group_and_tree(pid, state["procs"], signal.SIGKILL)
    result: dict[str, Any] = {"ended": ended, "cancelled": state["cancelled"]}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        result.update(exit_code=128 + sig, signal=processes.signal_name(sig))
    else:
        result.update(exit_code=os.WEXITSTATUS(status))
    if log_error:
        result["log_error"] = log_error
    write_json_atomic(job_dir / RESULT_FILE, result)
    _tell_agent(notify_address, f"done {number}")
    return 0


def _ends_within(pid: int, seconds: float) -> bool:
    """True if the child ``pid`` ends within ``seconds`` (it is left to be reaped); False
    at once where a process cannot be waited for with a timeout (no ``pidfd_open``)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return False
    try:
        ready, _, _ = select.select([fd], [], [], seconds)  # a signal's handler runs meanwhile
        return bool(ready)
    finally:
        os.close(fd)


def _spawn_job(command: list[str], cwd: str, env: dict[str, str], log_fd: int) -> int | None:
    """Start the job as :func:`_exec_job` does, with ``posix_spawn`` (no copy of this
    process: a third of a supervisor's cost for a short job); None when it cannot (no such
    program or folder), for :func:`_exec_job` to fail with its message."""
    if not hasattr(os, "posix_spawn") or not command:
        return None
    try:
        os.chdir(cwd)  # posix_spawn starts the job in the supervisor's folder
    except OSError:
        return None
    program = command[0]
    if os.sep not in program:  # found on the job's PATH (from its folder), as execvpe does
        program = shutil.which(program, path=os.pathsep.join(os.get_exec_path(env))) or ""
    if not program:
        return None
    try:
        return os.posix_spawn(
            program,
            command,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
            ],
            setpgroup=0,
            setsigmask=(),  # SIGTERM is blocked here until the job's pid is known
            setsigdef=(signal.SIGTERM, signal.SIGALRM),
        )
    except OSError:
        return None


def _exec_job(command: list[str], cwd: str, env: dict[str, str], log_fd: int) -> None:
    """In the job's process: own process group, output to the log, then exec."""
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked since the fork
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.chdir(cwd)
        os.execvpe(command[0], command, env)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            msg = f"[tether] could not start {command[0]!r}: {exc}\n"
            os.write(2, msg.encode())
        os._exit(127)


def _log_error(log_fd: int, log_path: Path) -> str | None:
    """Why the job's output could not be written to its log, if it could not: a full disk."""
    try:
        os.write(log_fd, b"")  # a device that takes no more says so even for nothing
        if stat.S_ISREG(os.fstat(log_fd).st_mode):
            vfs = os.fstatvfs(log_fd)
            free = vfs.f_bavail if os.geteuid() else vfs.f_bfree
            if vfs.f_blocks and not free:  # (no blocks at all: a size-less tmpfs)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as exc:
        where = log_path.parent
        todo = f"free some space in {where}" if exc.errno in _FULL else f"check {where}"
        return f"could not write the job's log: {exc.strerror}; {todo}"
    return None


def _grace(job_dir: Path) -> float:
    try:
        return float((job_dir / GRACE_FILE).read_text())
    except (OSError, ValueError):
        return DEFAULT_GRACE


def _tell_agent(address: str | bytes | None, message: str) -> None:
    if address is None:
        return
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.sendto(message.encode(), address)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("the supervisor is started by the agent")
