"""The agent: one per ``TETHER_HOME``. It starts queued jobs (FIFO, up to ``parallel`` at once)
under supervisors, records their results, and reconciles what it finds when it starts.

The loop is single-threaded on purpose: supervisors are forked from it, and forking a
multi-threaded process is unsafe. Everything slow (sending notifications, watching mail) runs
in child processes of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import logging
import os
import select
import signal
import socket
import time
from pathlib import Path
from typing import Any

from tether.agent import control, lifecycle, logfile, processes
from tether.agent.notifier import NotifierProcess
from tether.agent.scheduling import Scheduler
from tether.agent.steps import Steps
from tether.agent.supervisor import supervise
from tether.jobs import state
from tether.jobs.status import FAILED, RUNNING
from tether.runtime import context
from tether.store.jobs import Job, JobStore

log = logging.getLogger("tether.agent")

TICK = 1.0
RECONCILE_EVERY = 5.0


class Agent:
    """The daemon's state and main loop."""

    def __init__(self, home: Path, parallel: int | None = None) -> None:
        self.home = home
        self.parallel_override = parallel
        self.stopping = False
        self.children: set[int] = set()
        self.started = time.time()
        self.steps = Steps()
        # running jobs with no supervisor recorded: when this agent first saw each (monotonic)
        self.unstarted_since: dict[int, float] = {}

    def serve(self) -> None:
        """Run until SIGTERM. Exits quietly if another agent already serves this home."""
        logfile.setup(self.home)
        # held for the process's life; supervisors close their inherited copy
        self.lock = open(self.home / "agent.lock", "a")  # noqa: SIM115
        if not self._take_lock():
            log.info("another agent serves %s; exiting", self.home)
            return
        self.address = control.address(self.home)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if isinstance(self.address, str):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.address)
        self.sock.bind(self.address)
        self.sock.setblocking(False)
        self.store = JobStore(self.home)
        if self.parallel_override is not None:
            self.store.set_setting("agent.parallel", str(self.parallel_override))
        self.parallel = self._read_parallel()
        self.scheduler = Scheduler(self.store)
        self._write_info()
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        log.info("agent started for %s (parallel %d)", self.home, self.parallel)
        self.steps.run("reconcile", self.reconcile_all)
        self.notifier = NotifierProcess(self.home)
        from tether.targets.slurm.agent_watch import SlurmWatcher

        self.slurm = SlurmWatcher(self.store)
        # What is loaded by now lives as long as the agent: out of the collector's sight, so a
        # collection in a forked supervisor never writes to (and copies) those pages.
        gc.freeze()
        try:
            self.loop()
        finally:
            with contextlib.suppress(OSError):
                (self.home / control.AGENT_INFO).unlink()
            self.sock.close()
            self.notifier.stop()
            log.info("agent stopped")

    def _take_lock(self, wait: float = 10.0) -> bool:
        """The single-instance lock. A previous agent that no longer answers is on its way
        out: wait for it rather than give up."""
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if control.send(self.home, "ping") or time.monotonic() > deadline:
                    return False
                time.sleep(0.05)

    def _on_term(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def _read_parallel(self) -> int:
        try:
            return max(1, int(self.store.get_setting("agent.parallel", "1") or 1))
        except ValueError:
            return 1

    def _write_info(self) -> None:
        info = {"pid": os.getpid(), "started": self.started, "parallel": self.parallel}
        (self.home / control.AGENT_INFO).write_text(json.dumps(info))

    # -- the loop -------------------------------------------------------------------------
    def loop(self) -> None:
        last_reconcile = time.monotonic()
        while not self.stopping:
            self.steps.run("schedule", self.schedule)
            self.steps.run("notifier", self.notifier.ensure)
            try:
                ready, _, _ = select.select([self.sock], [], [], TICK)
            except InterruptedError:
                continue
            if ready:
                self.steps.run("messages", self.handle_messages)
            self.steps.run("reap", self.reap)
            self.steps.run("slurm", self.slurm.tick)
            if time.monotonic() - last_reconcile > RECONCILE_EVERY:
                self.steps.run("reconcile", self.reconcile_all)
                last_reconcile = time.monotonic()

    def handle_messages(self) -> None:
        """Handle every waiting message; the first error is raised once all are read (a lost
        ``done`` is recorded by the next reconcile)."""
        first: Exception | None = None
        while True:
            try:
                data = self.sock.recv(512)
            except (BlockingIOError, InterruptedError):
                break
            try:
                self.handle(data.decode(errors="replace").strip())
            except Exception as exc:
                log.info("could not handle %r: %s", data, exc)
                first = first or exc
        if first is not None:
            raise first

    def handle(self, message: str) -> None:
        verb, _, arg = message.partition(" ")
        if verb == "done" and arg.isdigit():
            job = self.store.get(int(arg))
            if lifecycle.record_result(self.store, job):
                log.info("job #%d finished", job.number)
        elif verb == "unstarted" and arg.partition(" ")[0].isdigit():
            number, _, why = arg.partition(" ")  # the supervisor could not make the job's folder
            log.error("could not start job #%s: %s", number, why)
            state.finish(
                self.store, int(number), FAILED, exit_code=None, reason=f"not started: {why}"
            )
        elif verb == "started" and arg.isdigit():
            lifecycle.record_start(self.store, self.store.get(int(arg)))
        elif verb == "reload":
            self.parallel = self._read_parallel()
            self._write_info()

    def reap(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
            self.children.discard(pid)

    def reconcile_all(self) -> None:
        """Check every running local job against what its processes and files say.

        One job that cannot be reconciled does not hold back the others; the first error is
        raised at the end, so the step logs it once (not once per job and pass) and backs off.
        """
        first: Exception | None = None
        now = time.monotonic()
        jobs = self.store.jobs(statuses=[RUNNING], target="local")
        unstarted = {job.number for job in jobs if job.supervisor_pid is None}
        since = {n: self.unstarted_since.get(n, now) for n in unstarted}
        self.unstarted_since = since
        for job in jobs:
            try:
                outcome = lifecycle.reconcile(
                    self.store, job, unstarted_for=now - since.get(job.number, now)
                )
            except Exception as exc:
                first = first or exc
                continue
            if outcome not in (RUNNING,):
                log.info("job #%d: %s", job.number, outcome)
        if first is not None:
            raise first

    # -- starting jobs ----------------------------------------------------------------------
    def schedule(self) -> None:
        self.scheduler.tick()
        if self.stopping:
            return
        for service in self.scheduler.claim_services():
            self._launch_or_fail(service, {})
        running = self.scheduler.slots_used()
        while running < self.parallel and not self.stopping:
            claimed = self.scheduler.claim_next()
            if claimed is None:
                return
            self._launch_or_fail(*claimed)
            running += 1

    def _launch_or_fail(self, job: Job, more_env: dict[str, str]) -> None:
        """Start a claimed job; one that cannot start ends ``failed`` with the reason."""
        try:
            self.launch(job, more_env)
        except Exception as exc:
            log.exception("could not start job #%d", job.number)
            state.finish(
                self.store, job.number, FAILED, exit_code=None, reason=f"not started: {exc}"
            )

    def launch(self, job: Job, more_env: dict[str, str] | None = None) -> None:
        job_dir = Path(job.job_dir)  # made by the supervisor
        env = dict(job.env if job.env is not None else os.environ)
        env.update(
            {
                context.ENV_JOB_DIR: job.job_dir,
                context.ENV_JOB_NUMBER: str(job.number),
                context.ENV_JOB_UUID: job.uuid,
                "TETHER_HOME": str(self.home),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(more_env or {})
        params = job.extra.get("params")
        if params:
            env[context.ENV_PARAMS] = json.dumps(params)
        # SIGTERM (a cancel) stays blocked in the new supervisor until it can act on it: the
        # agent's own handler, inherited across the fork, would swallow it.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        pid = os.fork()
        if pid == 0:
            self.sock.close()
            self.lock.close()
            supervise(
                job.command, job.cwd, env, job_dir, Path(job.log_path), self.address, job.number
            )
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self.children.add(pid)
        self.store.update_with_extra(  # one transaction
            job.number,
            {"boot_id": processes.boot_id()},
            supervisor_pid=pid,
            supervisor_started=processes.start_time(pid),
        )
