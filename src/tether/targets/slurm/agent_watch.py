"""The agent's look at the Slurm jobs submitted from this machine.

Without it, a job's end would be recorded only when someone runs ``tether ls``; with it,
the agent records it (and the notifier sends its notifications) on its own. One poll per
host covers all of its unfinished jobs; the pause between polls grows from 2 s to 30 s
while nothing changes and drops back when something does.

Every host, the login node this agent runs on included, is asked by a short-lived child
process (``python -m tether.targets.slurm.agent_watch HOME HOST``), at most one per host at
a time and killed after :data:`CHILD_TIMEOUT`: a slow ``squeue`` or a blocked ssh connection
never stalls the agent's loop (jobs here keep starting), and no thread shares the agent with
the supervisors it forks.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from tether.jobs.status import QUEUED, RUNNING
from tether.store.jobs import Job, JobStore

log = logging.getLogger("tether.agent")

FIRST_PAUSE = 2.0
MAX_PAUSE = 30.0
IDLE_PAUSE = 5.0
"""How often to look for Slurm jobs at all when there are none."""
CHILD_TIMEOUT = 120.0
"""A poll over ssh taking longer than this is killed (and tried again later)."""
_CHANGED = 10  # the child's exit code when a job's record changed


def unfinished_slurm_jobs(store: JobStore, host: str | None = None) -> list[Job]:
    """Queued or running jobs submitted to Slurm (of ``host`` only, when given)."""
    where = "status IN (?, ?) AND backend = 'slurm' AND remote_id IS NOT NULL"
    args: tuple[str, ...] = (QUEUED, RUNNING)
    if host is not None:
        where += " AND target = ?"
        args += (host,)
    return list(store.iter_where(where, args))


class SlurmWatcher:
    """Polls the unfinished Slurm jobs now and then; call :meth:`tick` often."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.pause = FIRST_PAUSE
        self.next = 0.0
        self.known: set[int] = set()
        self.children: dict[str, tuple[subprocess.Popen[bytes], float]] = {}

    def tick(self, now: float | None = None) -> None:
        """Poll if it is time to; never raises."""
        now = time.monotonic() if now is None else now
        changed = self.reap(now)
        if changed:
            self.pause, self.next = FIRST_PAUSE, min(self.next, now + FIRST_PAUSE)
        if now < self.next:
            return
        try:
            jobs = unfinished_slurm_jobs(self.store)
        except Exception:
            log.exception("could not list the Slurm jobs")
            self.next = now + IDLE_PAUSE
            return
        if not jobs:
            self.known = set()
            self.next = now + IDLE_PAUSE
            return
        numbers = {j.number for j in jobs}
        changed = not numbers <= self.known  # new jobs: look again soon
        self.known = numbers
        changed |= self.poll(jobs, now)
        self.pause = FIRST_PAUSE if changed else min(MAX_PAUSE, self.pause * 1.5)
        self.next = time.monotonic() + self.pause

    def poll(self, jobs: list[Job], now: float) -> bool:
        """Ask each host about its jobs, each through a child process; the changes they
        record are seen when the children are reaped (False here)."""
        for host in dict.fromkeys(job.target for job in jobs):
            self.start_child(host, now)
        return False

    def start_child(self, host: str, now: float) -> None:
        """Start the process that polls ``host`` over ssh, unless one is at work."""
        if host in self.children:
            return
        home = str(self.store.home)
        argv = [sys.executable, "-m", "tether.targets.slurm.agent_watch", home, host]
        env = {**os.environ, "TETHER_HOME": home}
        try:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env)
        except OSError as exc:
            log.warning("cannot start the Slurm poll of %s: %s", host, exc)
            return
        self.children[host] = (child, now)

    def reap(self, now: float) -> bool:
        """Collect finished children (killing overdue ones); True if one recorded a change."""
        changed = False
        for host, (child, started) in list(self.children.items()):
            code = child.poll()
            if code is None and now - started > CHILD_TIMEOUT:
                log.warning("the Slurm poll of %s took over %.0f s; killed", host, CHILD_TIMEOUT)
                child.kill()
                code = child.wait()
            if code is None:
                continue
            del self.children[host]
            changed |= code == _CHANGED
        return changed


def main(argv: list[str]) -> int:
    """Poll one host's unfinished Slurm jobs and record what changed (the agent's child)."""
    from tether.targets.slurm.tracking import poll_host

    if len(argv) != 3:
        print("usage: python -m tether.targets.slurm.agent_watch HOME HOST", file=sys.stderr)
        return 2
    store = JobStore(Path(argv[1]))
    try:
        jobs = unfinished_slurm_jobs(store, argv[2])
        if not jobs:
            return 0
        try:
            return _CHANGED if poll_host(store, argv[2], jobs) else 0
        except Exception as exc:  # one line in agent.log (the agent's stderr), then retried
            print(f"tether agent: cannot ask {argv[2]} about its jobs: {exc}", file=sys.stderr)
            return 1
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
