"""A job's process tree read straight from Linux's ``/proc``: cheap enough to sample each second.

Memory is PSS (``/proc/PID/smaps_rollup``): a page shared by forked workers (a DataLoader's,
say) is split between them instead of being counted once per worker as RSS sums do. Where
``smaps_rollup`` is missing (kernels before 4.14) the RSS is used. CPU is the time each process
spent since the last look, as ``top`` counts it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def supported() -> bool:
    """Is there a Linux ``/proc`` to read?"""
    return os.path.exists("/proc/self/stat") and os.path.exists("/proc/self/statm")


@dataclass(frozen=True)
class Proc:
    """One process of the tree: CPU seconds used so far and resident memory in bytes."""

    pid: int
    started: int  # the kernel's start time in ticks after boot: with the pid, an identity
    cpu_seconds: float
    rss: int


def _stat(pid: str) -> tuple[int, Proc] | None:
    """(parent pid, the process) from ``/proc/PID/stat``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
        fields = raw[raw.rindex(b")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        proc = Proc(int(pid), int(fields[19]), ticks / CLOCK_TICKS, int(fields[21]) * PAGE_SIZE)
        return int(fields[1]), proc
    except (OSError, ValueError, IndexError):
        return None


def tree(root: int) -> list[Proc]:
    """``root`` and all its descendants now (one pass over ``/proc``); empty when root is gone."""
    if not supported():
        return _tree_psutil(root)
    parents: dict[int, list[Proc]] = {}
    found: Proc | None = None
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        read = _stat(name)
        if read is None:
            continue
        ppid, proc = read
        if proc.pid == root:
            found = proc
        else:
            parents.setdefault(ppid, []).append(proc)
    if found is None:
        return []
    procs = [found]
    for proc in procs:  # grows while walking: breadth first
        procs.extend(parents.get(proc.pid, ()))
    return procs


def pss(pid: int) -> int | None:
    """The process's proportional set size in bytes, or None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _tree_psutil(root: int) -> list[Proc]:
    """The same from psutil, on systems without a Linux ``/proc`` (slower; RSS only)."""
    import psutil

    try:
        top = psutil.Process(root)
        found = [top, *top.children(recursive=True)]
    except psutil.Error:
        return []
    procs = []
    for proc in found:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                started = int(proc.create_time() * 100)
                cpu = times.user + times.system
                procs.append(Proc(proc.pid, started, cpu, proc.memory_info().rss))
        except psutil.Error:
            continue
    return procs
