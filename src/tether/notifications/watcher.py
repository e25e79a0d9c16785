"""Turning what jobs do into outbox rows: start and end, the program's messages and conditions
(read from each job's ``events.jsonl`` from where the last look stopped), interval reports and
stalls. Rows and the watcher's progress are written in one transaction, so nothing is lost or
queued twice when the notifier dies between two looks.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

from tether.errors import JobNotFound, TetherError
from tether.jobs.status import RUNNING
from tether.notifications.content import humanize_duration
from tether.notifications.message import NotificationContext
from tether.notifications.routing import NotifySettings, settings_for
from tether.notifications.snapshot import build_context, to_payload
from tether.runtime.context import EVENTS_FILE, METRICS_FILE
from tether.store.jobs import Job, JobStore
from tether.store.outbox import NewRow, Outbox, WatchState

log = logging.getLogger("tether.notifications")

MAX_EVENT_BYTES = 1 << 20
"""At most this much of a job's events file is read in one look."""


class Watcher:
    """Looks at every job whose notifications are not all queued, and queues what is due."""

    def __init__(self, store: JobStore, outbox: Outbox) -> None:
        self.store = store
        self.outbox = outbox
        self._errors: dict[int, str] = {}

    def scan(self, now: float | None = None) -> int:
        """One look at every watched job; returns how many rows were queued."""
        added = 0
        for number in self.outbox.watched_jobs():
            try:
                added += self.watch(self.store.get(number), time.time() if now is None else now)
                self._errors.pop(number, None)
            except JobNotFound:
                continue
            except TetherError as exc:  # e.g. a broken config file: say it once, retry later
                if self._errors.get(number) != str(exc):
                    log.warning("job #%d: notifications wait: %s", number, exc)
                    self._errors[number] = str(exc)
            except Exception:
                log.exception("job #%d: could not queue its notifications", number)
        return added

    def watch(self, job: Job, now: float) -> int:
        """Queue the notifications that ``job`` is due now."""
        settings = settings_for(job.cwd, job.extra.get("notify"))
        if "token" not in job.extra:
            from tether.mail.tokens import make_token

            self.store.merge_extra(job.number, token=make_token())
            job = self.store.get(job.number)
        state = self.outbox.state(job.number)
        before = dataclasses.replace(state)
        rows: list[tuple[int | None, NewRow]] = []

        def add(event: str, key: str, make: Any) -> None:
            routes = settings.channels_for(event)
            if not routes:
                return
            ctx: NotificationContext = make()
            payload = to_payload(ctx)
            for route in routes:
                rows.append((job.number, NewRow(key, event, route.url, route.display, payload)))

        if not state.started_done and job.started is not None:
            add("started", "started", lambda: build_context(self.store, job, "started"))
            state.started_done = True
        self._events(job, state, add)
        if job.status == RUNNING:
            self._interval(job, state, settings, now, add)
            self._stalled(job, state, settings, now, add)
        elif job.finished:
            if job.started is not None:
                add(job.status, "ended", lambda: build_context(self.store, job, job.status))
            state.done = True
        if not rows and state == before:
            return 0  # nothing new: no write
        return self.outbox.commit(state, rows)

    def _events(self, job: Job, state: WatchState, add: Any) -> None:
        """Messages (those read in one look go out together) and conditions turning true."""
        texts: list[str] = []
        first_message: int | None = None
        for here, event in _new_events(Path(job.job_dir) / EVENTS_FILE, state):
            if event.get("kind") == "message":
                texts.append(str(event.get("text", "")))
                first_message = here if first_message is None else first_message
            elif event.get("kind") == "condition":
                label = _condition_label(event)
                make = partial(
                    build_context, self.store, job, "condition", condition=label,
                    condition_values=_met_values(event.get("values")),
                )  # fmt: skip
                add("condition", f"event:{here}", make)
            elif event.get("kind") == "nonfinite":  # --notify-on nan: once per job
                label = f"{event.get('metric')} became {event.get('value')}"
                make = partial(
                    build_context, self.store, job, "condition", condition=label,
                    condition_values=_met_values({str(event.get("metric")): event.get("value")}),
                )  # fmt: skip
                add("nan", "nan", make)
        if texts:
            add(
                "message",
                f"event:{first_message}",
                lambda: build_context(self.store, job, "message", messages=texts),
            )

    def _interval(
        self, job: Job, state: WatchState, settings: NotifySettings, now: float, add: Any
    ) -> None:
        if not settings.every or job.started is None:
            return
        last = state.last_interval or job.started
        if now - last < settings.every:
            return
        key = f"interval:{int((now - job.started) // settings.every)}"
        add("interval", key, lambda: build_context(self.store, job, "interval"))
        state.last_interval = now

    def _stalled(
        self, job: Job, state: WatchState, settings: NotifySettings, now: float, add: Any
    ) -> None:
        if not settings.stall_after or job.started is None:
            return
        activity = max([job.started, *_mtimes(Path(job.log_path), Path(job.job_dir))])
        quiet = now - activity
        if quiet < settings.stall_after or state.stall_mark == activity:
            return
        reason = f"no output and no metrics for {humanize_duration(quiet)}"
        add(
            "stalled",
            f"stalled:{activity:.3f}",
            lambda: build_context(self.store, job, "stalled", reason=reason),
        )
        state.stall_mark = activity


def _mtimes(log_path: Path, job_dir: Path) -> list[float]:
    times = []
    for path in (log_path, job_dir / METRICS_FILE):
        try:
            times.append(os.stat(path).st_mtime)
        except OSError:
            pass
    return times


def _condition_label(event: dict[str, Any]) -> str:
    """The condition's label (its metric names, or what the program called it)."""
    return str(event.get("condition") or "?")


def _met_values(values: object) -> dict[str, float]:
    """The metric values an event says met its condition (those that are numbers)."""
    if not isinstance(values, dict):
        return {}
    met: dict[str, float] = {}
    for name, value in values.items():
        try:
            met[str(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return met


def _new_events(path: Path, state: WatchState) -> list[tuple[int, dict[str, Any]]]:
    """The whole event lines written since ``state.events_offset`` (which moves past them),
    each with its byte offset. A line too long to read at once becomes a message saying it
    was skipped; a torn last line waits for the next look."""
    found: list[tuple[int, dict[str, Any]]] = []
    offset = state.events_offset
    try:
        f = open(path, "rb")  # noqa: SIM115
    except OSError:
        return found
    with f:
        while True:
            f.seek(offset)
            data = f.read(MAX_EVENT_BYTES)
            end = data.rfind(b"\n") + 1
            if end == 0:
                skipped = _skip_long_line(path, offset) if len(data) == MAX_EVENT_BYTES else None
                if skipped is None:
                    break  # nothing new, or a line whose end is not written yet
                note = f"(an event of {skipped} bytes was too long to read; it was skipped)"
                found.append((offset, {"kind": "message", "text": note}))
                offset += skipped
                continue
            for line in data[:end].splitlines(keepends=True):
                here, offset = offset, offset + len(line)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    found.append((here, event))
            if len(data) < MAX_EVENT_BYTES:
                break
    state.events_offset = offset
    return found


def _skip_long_line(path: Path, start: int) -> int | None:
    """The length (newline included) of the line at ``start``, or None while it is unfinished."""
    with open(path, "rb") as f:
        f.seek(start)
        length = 0
        while block := f.read(1 << 20):
            newline = block.find(b"\n")
            if newline >= 0:
                return length + newline + 1
            length += len(block)
    return None
