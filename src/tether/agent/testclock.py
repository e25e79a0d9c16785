"""A fault-test hook: the agent's wall clock offset by the seconds written in a file.

With ``TETHER_TEST_CLOCK_OFFSET_FILE`` set, ``time.time()`` (and ``time.time_ns()``) in the
agent and the supervisors it forks return the real time plus the number in that file, read at
each call, so a test steps the clock forward and back while jobs run. Monotonic time and the
kernel's process start counts are left alone, as a real clock step leaves them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "TETHER_TEST_CLOCK_OFFSET_FILE"


def install() -> None:
    """Offset the wall clock if the hook is set; do nothing otherwise."""
    name = os.environ.get(ENV)
    if not name:
        return
    path = Path(name)
    real, real_ns = time.time, time.time_ns

    def offset() -> float:
        try:
            return float(path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    setattr(time, "time", lambda: real() + offset())  # noqa: B010
    setattr(time, "time_ns", lambda: real_ns() + int(offset() * 1e9))  # noqa: B010
