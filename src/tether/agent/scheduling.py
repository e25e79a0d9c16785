"""Which queued job the agent starts next, and with what.

Plain jobs start in order (FIFO). A job with a gate (``extra["gate"]``: GPUs, dependencies,
a retry's delay) starts when its gate opens and is skipped meanwhile, so a job waiting for a
GPU or another job never holds back the jobs queued after it. A job whose dependency failed
ends ``cancelled`` with the reason. Failed attempts of ``--retry`` jobs are queued again here.
Services (``tether notebook`` servers) take no slot: they start at once and are not counted
against ``parallel``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from tether.agent import gpus
from tether.agent.gpu_reader import GpuReader
from tether.jobs import depends, retry
from tether.jobs import state as job_state
from tether.jobs.status import CANCELLED, QUEUED, RUNNING
from tether.store.jobs import Job, JobStore

log = logging.getLogger("tether.agent")

#: Job kinds that take no slot (they mostly wait for a person, not for the CPU).
SERVICE_KINDS = ("notebook",)
# both indexed with (status, target), as these very expressions (schema 4)
_KIND = "CASE WHEN json_valid(extra) THEN json_extract(extra, '$.kind') END"
_GATE = "CASE WHEN json_valid(extra) THEN json_extract(extra, '$.gate') END"
_IS_SERVICE = f"{_KIND} IN ({', '.join(repr(kind) for kind in SERVICE_KINDS)})"
_NOT_SERVICE = f"({_KIND} IS NULL OR {_KIND} NOT IN ({', '.join(map(repr, SERVICE_KINDS))}))"
_HAS_GATE = f"{_GATE} > ''"  # a gate is an object (JSON text): a range the index answers
# The queued jobs that may start next: the gated ones (few), in order, and the first plain one.
_GATED = (
    f"SELECT number, extra, reason FROM jobs WHERE status = :q AND target = :t"
    f" AND {_HAS_GATE} AND {_NOT_SERVICE} ORDER BY number"
)
_NEXT_PLAIN = (  # with the rows whose extra SQLite cannot read (Python's NaN): checked here
    f"SELECT number, extra, reason FROM jobs WHERE status = :q AND target = :t"
    f" AND {_GATE} IS NULL AND {_NOT_SERVICE} AND number > :after ORDER BY number LIMIT 1"
)
_SERVICES = f"SELECT number FROM jobs WHERE status = :q AND target = :t AND {_IS_SERVICE}"
_SLOTS_USED = f"SELECT count(*) FROM jobs WHERE status = :r AND target = :t AND {_NOT_SERVICE}"


class Scheduler:
    """The agent's choice of the next job; ``nvidia-smi`` is read off the loop (GpuReader)."""

    def __init__(self, store: JobStore, gpu_reader: GpuReader | None = None) -> None:
        self.store = store
        self.gpu_reader = gpu_reader or GpuReader()

    def tick(self) -> None:
        """Once a loop turn: queue retries of failed attempts."""
        for job in retry.process(self.store):
            log.info("job #%d queued as %s", job.number, retry.label(job.extra))
        self._cancel_broken()

    def _cancel_broken(self) -> None:
        """End queued jobs whose dependency failed, even while every slot is taken."""
        rows = self.store.conn.execute(
            f"SELECT number, {_GATE} FROM jobs WHERE status = ? AND target = 'local'"
            f" AND {_HAS_GATE} AND (json_extract(extra, '$.gate.after') IS NOT NULL"
            " OR json_extract(extra, '$.gate.after_any') IS NOT NULL)",
            (QUEUED,),
        ).fetchall()
        for number, gate_text in rows:
            state, reason = depends.decide(self.store, json.loads(gate_text))
            if state == depends.BROKEN:
                job_state.finish(
                    self.store, number, CANCELLED, exit_code=None, reason=reason, expected=QUEUED
                )
                log.info("job #%d cancelled: %s", number, reason)

    def slots_used(self) -> int:
        """Running local jobs that count against ``parallel`` (services do not)."""
        row = self.store.conn.execute(_SLOTS_USED, {"r": RUNNING, "t": "local"}).fetchone()
        return int(row[0])

    def claim_services(self) -> list[Job]:
        """Mark every queued service (a notebook server) as running: they need no slot."""
        rows = self.store.conn.execute(_SERVICES, {"q": QUEUED, "t": "local"}).fetchall()
        claimed = (self._claim(number, None) for (number,) in rows)
        return [found[0] for found in claimed if found is not None]

    def claim_next(self) -> tuple[Job, dict[str, str]] | None:
        """Mark the next job that may start as running; return it and its extra environment."""
        for number, extra_text, reason in self._candidates():
            extra = json.loads(extra_text or "{}")
            if extra.get("kind") in SERVICE_KINDS:
                continue
            gate = extra.get("gate")
            claimed = self._try_gated(number, gate, reason) if gate else self._claim(number, None)
            if claimed is not None or not gate:
                return claimed
        return None

    def _candidates(self) -> Iterator[tuple[int, str | None, str | None]]:
        """Queued jobs in order: every gated one (an index gives them; few), and the plain
        ones one at a time (the first is claimed: the queue's length costs nothing)."""
        where = {"q": QUEUED, "t": "local"}
        gated = self.store.conn.execute(_GATED, where).fetchall()
        after = 0
        while True:
            plain = self.store.conn.execute(_NEXT_PLAIN, {**where, "after": after}).fetchone()
            while gated and (plain is None or gated[0][0] < plain[0]):
                yield tuple(gated.pop(0))
            if plain is None:
                return
            yield tuple(plain)
            after = plain[0]

    def _waiting(self, number: int, old: str | None, why: str) -> None:
        """Say why a queued job waits (``show``/``ls``), writing only when that changes."""
        reason = f"waiting: {why}"
        if reason != old:
            self.store.update(number, reason=reason)

    def _try_gated(
        self, number: int, gate: dict[str, Any], reason: str | None = None
    ) -> tuple[Job, dict[str, str]] | None:
        if float(gate.get("not_before") or 0) > time.time():
            return None
        if gate.get("after") or gate.get("after_any"):
            state, reason = depends.decide(self.store, gate)
            if state == depends.BROKEN:
                job_state.finish(
                    self.store, number, CANCELLED, exit_code=None, reason=reason, expected=QUEUED
                )
                log.info("job #%d cancelled: %s", number, reason)
                return None
            if state == depends.WAIT:
                return None
        want = gate.get("gpus")
        if not want:
            return self._claim(number, None)
        count, mem = int(want["count"]), want.get("mem")
        found, error = self.gpu_reader.latest()  # read at launch, not at submit
        if not found:
            self._waiting(number, reason, error or "nvidia-smi reports no GPU")
            return None
        chosen = gpus.choose(found, gpus.held(self.store), gpus.allowed(self.store), count, mem)
        if chosen is None:
            size = f" with {mem} MiB free" if mem else ""
            need = f"{count} free GPU{'s' if count > 1 else ''}{size}"
            stale = f" (the last good reading is used: {error})" if error else ""
            self._waiting(number, reason, need + stale)
            return None
        return self._claim(number, chosen)

    def _claim(
        self, number: int, chosen: list[gpus.Gpu] | None
    ) -> tuple[Job, dict[str, str]] | None:
        held = [g.index for g in chosen] if chosen else None
        job = job_state.claim(self.store, number, held_gpus=held)
        if job is None:
            return None
        return job, (gpus.env_for(chosen) if chosen else {})
