"""Processes by pid *and* start time, so a reused pid is never mistaken for our process."""

from __future__ import annotations

import os
import signal

import psutil

# A start time below this is seconds after boot (Linux, read from /proc: no wall clock in
# it, so a clock step never makes a live job look gone); above it, seconds since the epoch
# (other systems, and records written by older versions).
_EPOCH_FLOOR = 1e9
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _since_boot(pid: int) -> float | None:
    """When ``pid`` started, in seconds after boot (the kernel's own count), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2 :].split()
        return int(fields[19]) / _CLOCK_TICKS  # field 22 of stat(5): starttime
    except (OSError, ValueError, IndexError):
        return None


_BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
_boot_id: list[str | None] = []  # read once per process: a process lives within one boot


def boot_id() -> str | None:
    """This boot's id (Linux), or None: a pid and start time only name a process within one
    boot, so a record from before a reboot never matches a process of this one."""
    if not _boot_id:
        try:
            with open(_BOOT_ID_FILE) as f:
                _boot_id.append(f.read().strip() or None)
        except OSError:
            return None
    return _boot_id[0]


def start_time(pid: int) -> float | None:
    """An identity of the process's start that no clock step changes (seconds after boot on
    Linux; the creation time elsewhere), or None if there is no such process."""
    since_boot = _since_boot(pid)
    if since_boot is not None:
        return since_boot
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def is_alive(pid: int | None, started: float | None, boot: str | None = None) -> bool:
    """True if ``pid`` runs and is the same process that started at ``started`` (a value of
    :func:`start_time`) in the boot ``boot`` (a :func:`boot_id`; None for older records)."""
    if not pid:
        return False
    if boot is not None and boot != boot_id():
        return False  # recorded before a reboot: whatever has that pid now is another process
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if started is None:
            return True
        created = _since_boot(pid) if started < _EPOCH_FLOOR else proc.create_time()
    except (psutil.Error, ValueError):
        return False
    return created is not None and abs(created - started) < 0.05


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (those that are still there)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def signal_group_and_tree(pgid: int, procs: list[psutil.Process], sig: int) -> None:
    """Send ``sig`` to a process group and to each listed process (escapees included)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
