"""Resource sampling in the supervisor: CPU, memory and process count of a job's whole process
tree (psutil), once every ``INTERVAL`` seconds, as ``sys/`` metrics in the job's ``sys.jsonl``
(the format of ``metrics.jsonl``; kept apart so a program's own metrics stay its own)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psutil

from tether.jobs.resources import SYS_FILE

INTERVAL = 1.0


def _sample(root: psutil.Process, known: dict[int, psutil.Process]) -> dict[str, float] | None:
    """CPU % (100 = one core) and RSS of the tree now; the same Process objects are kept
    between samples so ``cpu_percent`` measures since the last one."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu = rss = 0.0
    alive = 0
    for proc in procs:
        proc = known.setdefault(proc.pid, proc)
        try:
            with proc.oneshot():
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss
            alive += 1
        except psutil.Error:
            known.pop(proc.pid, None)
    if not alive:
        return None
    return {"sys/cpu_pct": round(cpu, 1), "sys/rss_mb": round(rss / 2**20, 1), "sys/procs": alive}


def _loop(pid: int, path: Path, stop: threading.Event) -> None:
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    known: dict[int, psutil.Process] = {pid: root}
    step = 0
    while not stop.wait(INTERVAL if step else 0.2):
        values = _sample(root, known)
        if values is None:
            return
        line = json.dumps({"step": step, "time": time.time(), "values": values})
        try:
            with open(path, "a") as out:
                out.write(line + "\n")
        except OSError:
            return
        step += 1


def start(pid: int, job_dir: Path) -> threading.Event:
    """Sample the tree of ``pid`` in a daemon thread until the returned event is set."""
    stop = threading.Event()
    threading.Thread(
        target=_loop, args=(pid, job_dir / SYS_FILE, stop), name="sampler", daemon=True
    ).start()
    return stop
