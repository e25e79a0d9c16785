"""Counting lines of the source that match a pattern, for the ratchet tests (counts that may
only go down, like ``test_placement_reads.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "tether"


def matching_lines(pattern: re.Pattern[str], where: Callable[[Path], bool]) -> list[str]:
    """``path:line: text`` of each line (its code, before any ``#``) that ``pattern`` finds,
    in the modules under ``src/tether`` whose path relative to it ``where`` accepts."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if not where(relative):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#", 1)[0]):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found
