"""Job arrays: the tasks of one array, read from a poll, and their one combined state.

A poll (:meth:`~tether.targets.slurm.cluster.SlurmCluster.poll`) of array ``123`` answers
per task: ``123_4`` for a task that started (or ended), ``123_[5-9%2]`` for tasks still
pending together. :func:`task_states` spreads that over task indexes and
:func:`array_state` sums it up as one state for the tether job that submitted the array:
running while any task runs, queued while tasks only wait, and once every task ended:
succeeded, cancelled (any task cancelled) or failed (naming the first task that failed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tether.targets.slurm.states import SlurmJobState

_TASK_RE = re.compile(r"(\d+)_(\d+)")
_GROUP_RE = re.compile(r"(\d+)_\[([^\]]+)\]")
_RANGE_RE = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")
MAX_EXPAND = 100_000


def _indexes(spec: str) -> list[int]:
    """``2-5%2`` -> [2, 3, 4, 5]; ``1,3,7-9`` -> [1, 3, 7, 8, 9] (bounded)."""
    out: list[int] = []
    for part in spec.split("%", 1)[0].split(","):
        match = _RANGE_RE.fullmatch(part.strip())
        if not match:
            continue
        lo = int(match.group(1))
        hi = int(match.group(2) or lo)
        step = int(match.group(3) or 1) or 1
        out.extend(range(lo, min(hi, lo + MAX_EXPAND * step) + 1, step))
    return out


def task_states(found: Mapping[str, SlurmJobState], array_id: str) -> dict[int, SlurmJobState]:
    """The state of each task of array ``array_id`` that the poll mentions, by task index."""
    tasks: dict[int, SlurmJobState] = {}
    for job_id, state in found.items():
        single = _TASK_RE.fullmatch(job_id)
        if single and single.group(1) == array_id:
            tasks[int(single.group(2))] = state
            continue
        group = _GROUP_RE.fullmatch(job_id)
        if group and group.group(1) == array_id:
            for index in _indexes(group.group(2)):
                tasks.setdefault(index, state)
    return tasks


def combine(tasks: Mapping[int, SlurmJobState]) -> SlurmJobState | None:
    """One state for all ``tasks`` (None when there are none)."""
    if not tasks:
        return None
    live = [tasks[i] for i in sorted(tasks) if not tasks[i].terminal]
    if live:
        running = [s for s in live if s.status == "running"]
        if running:
            return SlurmJobState("RUNNING", "running", None, f"{len(running)} task(s) running")
        first = live[0]
        return SlurmJobState(first.state, "queued", None, first.reason)
    ended = sorted(tasks.items())
    for index, state in ended:
        if state.status == "cancelled":
            return SlurmJobState(state.state, "cancelled", None, f"task {index} {state.reason}")
    for index, state in ended:
        if state.status == "failed":
            why = f"task {index}: {state.reason or state.state.lower()}"
            return SlurmJobState(state.state, "failed", state.exit_code, why)
    return SlurmJobState("COMPLETED", "succeeded", 0, None)


def array_state(found: Mapping[str, SlurmJobState], array_id: str) -> SlurmJobState | None:
    """The state of job ``array_id`` as a whole: its own entry, else its tasks combined."""
    own = found.get(array_id)
    return own if own is not None else combine(task_states(found, array_id))
