"""Guarded steps of the agent's loop: one failing step never ends the agent.

A step that raises is logged once per distinct error (with its traceback), then skipped for a
growing pause (a second, doubling up to 30 s) so a store locked by another process for a long
time is retried with backoff rather than hammered; when it works again, that is logged once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("tether.agent")

FIRST_PAUSE = 1.0
MAX_PAUSE = 30.0


@dataclass
class _Failing:
    error: str
    pause: float
    retry_at: float


class Steps:
    """Runs named steps, each guarded on its own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.failing: dict[str, _Failing] = {}

    def run(self, name: str, step: Callable[[], object]) -> bool:
        """Run ``step`` unless it is pausing after an error; True when it ran and worked."""
        failing = self.failing.get(name)
        now = self.clock()
        if failing is not None and now < failing.retry_at:
            return False
        try:
            step()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if failing is None or failing.error != error:
                log.exception("agent step %r failed (retrying with backoff): %s", name, error)
                pause = FIRST_PAUSE
            else:
                pause = min(failing.pause * 2, MAX_PAUSE)
            self.failing[name] = _Failing(error, pause, now + pause)
            return False
        if failing is not None:
            log.info("agent step %r works again", name)
            del self.failing[name]
        return True
