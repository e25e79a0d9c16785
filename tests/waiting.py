"""Wait for an event, not for a time: a polling helper with a generous deadline.

Tests must hold on a loaded machine, so they wait for the thing itself (a file, a status, a
log line) and only give up after a deadline far beyond any normal delay. A time bound that
is the point of a feature belongs in bench/, not in an assert."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 60.0


def wait_for(check: Callable[[], T], what: str = "the condition", timeout: float = DEADLINE) -> T:
    """Poll `check` until it returns something truthy and return that; fail after `timeout`."""
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def cpu_seconds(work: Callable[[], T]) -> tuple[T, float]:
    """Run `work` and return its result and the CPU time this thread spent on it.

    For guards against super-linear blow-ups (a quadratic parse takes minutes): CPU time does
    not grow when other processes load the machine, as wall-clock time does."""
    start = time.thread_time()
    result = work()
    return result, time.thread_time() - start
