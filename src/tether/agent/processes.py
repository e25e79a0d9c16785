"""Processes by pid *and* start time, so a reused pid is never mistaken for our process."""

from __future__ import annotations

import os
import signal

import psutil


def start_time(pid: int) -> float | None:
    """The process's creation time, or None if there is no such process."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def is_alive(pid: int | None, started: float | None) -> bool:
    """True if ``pid`` runs and is the same process that started at ``started``."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        created = proc.create_time()
    except (psutil.Error, ValueError):
        return False
    return started is None or abs(created - started) < 0.05


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
