"""The agent's look at Slurm jobs submitted from this machine (DEST ``local`` hosts).

Without it, a job's end would be recorded only when someone runs ``tether ls``; with it,
the agent records it (and the notifier sends its notifications) on its own. One poll per
host covers all of its unfinished jobs; the pause between polls grows from 2 s to 30 s
while nothing changes and drops back when something does. Laptop-mode jobs (over ssh) are
left to the CLI: a blocked ssh connection must never stall the agent's loop.
"""

from __future__ import annotations

import logging
import time

from tether.store.jobs import QUEUED, RUNNING, Job, JobStore

log = logging.getLogger("tether.agent")

FIRST_PAUSE = 2.0
MAX_PAUSE = 30.0
IDLE_PAUSE = 5.0
"""How often to look for Slurm jobs at all when there are none."""


class SlurmWatcher:
    """Polls the unfinished local-mode Slurm jobs now and then; call :meth:`tick` often."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.pause = FIRST_PAUSE
        self.next = 0.0
        self.known: set[int] = set()
        self.errors: dict[str, str] = {}

    def jobs(self) -> list[Job]:
        rows = self.store.iter_where(
            "status IN (?, ?) AND json_extract(extra, '$.slurm_id') IS NOT NULL"
            " AND json_extract(extra, '$.slurm_local') = 1",
            (QUEUED, RUNNING),
        )
        return list(rows)

    def tick(self, now: float | None = None) -> None:
        """Poll if it is time to; never raises."""
        now = time.monotonic() if now is None else now
        if now < self.next:
            return
        try:
            jobs = self.jobs()
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
        changed |= self.poll(jobs)
        self.pause = FIRST_PAUSE if changed else min(MAX_PAUSE, self.pause * 1.5)
        self.next = time.monotonic() + self.pause

    def poll(self, jobs: list[Job]) -> bool:
        from tether.targets.slurm.tracking import poll_host

        groups: dict[str, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.target, []).append(job)
        changed = False
        for host, group in groups.items():
            try:
                changed |= poll_host(self.store, host, group)
                self.errors.pop(host, None)
            except Exception as exc:
                if self.errors.get(host) != str(exc):
                    log.warning("cannot ask %s about its Slurm jobs: %s", host, exc)
                    self.errors[host] = str(exc)
        return changed
