"""Resource sampling in the supervisor: CPU, memory, processes and GPU use of a job's whole
process tree, every ``INTERVAL`` seconds, as ``sys/`` metrics in the job's ``sys.jsonl`` (the
format of ``metrics.jsonl``; kept apart so a program's own metrics stay its own).

What it costs is kept small: the tree is one pass over ``/proc`` (see :mod:`proc_tree`); a
process's PSS, which makes the kernel walk its page tables, is read when the process appears
and every ``PSS_EVERY`` samples after, and in between follows its RSS (new pages are the
process's own, so they count fully in both); ``nvidia-smi`` runs every ``GPU_EVERY`` samples,
only where there is one. The file is compacted as it grows (:func:`resources.compact`).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tether.agent import gpus, proc_tree
from tether.jobs import resources

INTERVAL = 2.0
FIRST = 0.5  # the first sample comes early, so a short job has figures too
PSS_EVERY = 5
GPU_EVERY = 5
GPU_TIMEOUT = 5.0

Key = tuple[int, int]  # (pid, start time): a reused pid is another process


@dataclass
class _Memory:
    pss: int
    rss_then: int
    sample: int


class TreeSampler:
    """The figures of one process tree, sample after sample."""

    def __init__(
        self,
        root: int,
        read_gpus: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        fresh: bool = False,
    ) -> None:
        self.root = root
        self.clock = clock
        self.read_gpus = shutil.which("nvidia-smi") is not None if read_gpus is None else read_gpus
        self.count = 0
        self.cpu: dict[Key, float] = {}
        self.memory: dict[Key, _Memory] = {}
        self.gpu: dict[str, float] = {}
        self.then = clock()
        if fresh:  # a process just started has used no CPU yet: no pass over /proc (3 ms)
            return
        for proc in proc_tree.tree(root):  # the baseline the first sample's CPU is measured from
            self.cpu[(proc.pid, proc.started)] = proc.cpu_seconds

    def sample(self) -> dict[str, float] | None:
        """The tree's figures now, or None when its root is gone."""
        procs = proc_tree.tree(self.root)
        if not procs:
            return None
        now = self.clock()
        elapsed = max(now - self.then, 1e-3)
        used = 0.0
        memory = 0
        cpu: dict[Key, float] = {}
        for proc in procs:
            key = (proc.pid, proc.started)
            used += max(0.0, proc.cpu_seconds - self.cpu.get(key, 0.0))
            cpu[key] = proc.cpu_seconds
            memory += self._memory(key, proc)
        self.memory = {k: v for k, v in self.memory.items() if k in cpu}
        self.cpu, self.then = cpu, now
        if self.read_gpus and self.count % GPU_EVERY == 0:
            self._read_gpus({p.pid for p in procs})
        self.count += 1
        return {
            resources.CPU: round(100 * used / elapsed, 1),
            resources.MEM: round(memory / 2**20, 1),
            resources.PROCS: len(procs),
            **self.gpu,
        }

    def _memory(self, key: Key, proc: proc_tree.Proc) -> int:
        known = self.memory.get(key)
        if known is None or self.count - known.sample >= PSS_EVERY:
            pss = proc_tree.pss(proc.pid)
            known = _Memory(proc.rss if pss is None else pss, proc.rss, self.count)
            self.memory[key] = known
        return max(0, known.pss + proc.rss - known.rss_then)

    def _read_gpus(self, pids: set[int]) -> None:
        """GPU memory the tree holds and the utilisation of the GPUs it is on; once the job
        has used a GPU, zeros when it holds none (so a chart shows the drop)."""
        apps = gpus.compute_apps(GPU_TIMEOUT)
        if apps is None:
            return
        mine = [apps[pid] for pid in pids if pid in apps]
        if not mine:
            if self.gpu:
                self.gpu = {resources.GPU_MEM: 0.0, resources.GPU_UTIL: 0.0}
            return
        on = {uuid for uuid, _ in mine}
        found, _ = gpus.read(GPU_TIMEOUT)
        util = [g.utilization for g in found or [] if g.uuid in on and g.utilization is not None]
        self.gpu = {resources.GPU_MEM: float(sum(mib for _, mib in mine))}
        if util:
            self.gpu[resources.GPU_UTIL] = round(sum(util) / len(util), 1)


def _loop(pid: int, path: Path, stop: threading.Event, since: float | None) -> None:
    sampler = TreeSampler(pid, fresh=True)  # started by the supervisor just now
    first = FIRST
    if since is not None:  # the job started then (monotonic), and was watched meanwhile
        sampler.then = since
        first = max(0.0, FIRST - (time.monotonic() - since))
    lines = resources.compact(path)  # a file left by an earlier supervisor of this job
    step = 0
    while not stop.wait(INTERVAL if step else first):
        values = sampler.sample()
        if values is None:
            return
        line = json.dumps({"step": step, "time": time.time(), "values": values})
        try:
            with open(path, "a") as out:
                out.write(line + "\n")
            lines += 1
            if lines >= resources.MAX_LINES:
                lines = resources.compact(path)
        except OSError:
            return
        step += 1


def start(pid: int, job_dir: Path, since: float | None = None) -> threading.Event:
    """Sample the tree of ``pid`` in a daemon thread until the returned event is set.
    ``since``: when the process started (``time.monotonic()``), if that was a while ago."""
    stop = threading.Event()
    threading.Thread(
        target=_loop,
        args=(pid, job_dir / resources.SYS_FILE, stop, since),
        name="sampler",
        daemon=True,
    ).start()
    return stop
