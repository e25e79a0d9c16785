"""Reading job logs: the tail of a huge file without reading it all, grep, and follow."""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

BLOCK = 65536


def tail_lines(path: Path, count: int) -> list[bytes]:
    """The last ``count`` lines, reading backwards block by block (O(count), not O(file))."""
    if count <= 0:
        return []
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return []
    with f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        pos, chunks, newlines = end, [], 0
        while pos > 0 and newlines <= count:
            step = min(BLOCK, pos)
            pos -= step
            f.seek(pos)
            chunk = f.read(step)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
        data = b"".join(reversed(chunks))
    # Lines end at \n only: a progress bar's \r redraws stay inside their line.
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines[-count:]


def collapse_redraws(text: str, *, ends_here: bool = True) -> str:
    """Each line as a terminal would leave it: a progress bar that rewrites its line with
    ``\r`` (tqdm) keeps only its last frame. With ``ends_here=False`` (a chunk of a log that
    goes on) the unfinished last line is left as it is, for the next chunk to finish. The web
    log's ``job.js`` applies the same rule to what it streams."""
    if "\r" not in text:
        return text
    lines = text.split("\n")
    last = len(lines) if ends_here else len(lines) - 1
    for i, line in enumerate(lines[:last]):
        if "\r" in line:
            frames = [frame for frame in line.split("\r") if frame]
            lines[i] = frames[-1] if frames else ""
    return "\n".join(lines)


def grep_lines(path: Path, pattern: re.Pattern[bytes], tail: int | None = None) -> Iterator[bytes]:
    """Lines matching ``pattern`` (the last ``tail`` of them when given), streaming the file."""
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return
    with f:
        matches = (line for line in f if pattern.search(line))
        if tail is None:
            yield from matches
        else:
            yield from deque(matches, maxlen=tail)


def follow(
    path: Path,
    *,
    start: int,
    is_done: Callable[[], bool],
    poll: float = 0.1,
) -> Iterator[bytes]:
    """Yield bytes appended to ``path`` from offset ``start`` until ``is_done()`` and drained.
    Waits grow from 10 ms to ``poll`` while nothing comes: a short job's end is seen at once."""
    pos = start
    delay = min(0.01, poll)
    while True:
        done = is_done()  # ask before reading, so the last output is never missed
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            data = b""
        if data:
            pos += len(data)
            delay = min(0.01, poll)
            yield data
        elif done:
            return
        else:
            time.sleep(delay)
            delay = min(delay * 1.5, poll)


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def read_from(path: Path, start: int) -> bytes:
    """The log from byte ``start`` to its current end (empty when there is none yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read()
    except FileNotFoundError:
        return b""
