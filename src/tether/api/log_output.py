"""A job's output written to a byte stream: all of it, its last lines, the lines matching a
pattern, and then (``follow``) what comes until the job ends.

``tether logs`` writes it to stdout. Another machine following a job here reads it
*framed* (:mod:`tether.api.stream_main`): a first line ``START HEADBYTES`` says at which
byte of the log the live part starts and how many bytes of earlier lines come first, so
after a dropped link it asks again from the byte it had reached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tether.errors import UsageError
from tether.jobs import logs as logfiles
from tether.store.jobs import Job, JobStore


def compiled(pattern: str | None) -> re.Pattern[bytes] | None:
    """``--grep PATTERN`` as a regular expression over bytes (None for none); a bad one is a
    UsageError saying so."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern.encode())
    except re.error as exc:
        raise UsageError(f"--grep {pattern!r} is not a valid regular expression: {exc}")


def copy_chunks(chunks: Iterator[bytes], out: BinaryIO, regex: re.Pattern[bytes] | None) -> None:
    """Write ``chunks`` of output as they come (only the lines ``regex`` matches, if given)."""
    pending = b""
    for chunk in chunks:
        if regex is None:
            out.write(chunk)
        else:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out.writelines(line + b"\n" for line in lines if regex.search(line))
        out.flush()
    if regex is not None and pending and regex.search(pending):
        out.write(pending)
    out.flush()


def write_output(
    store: JobStore,
    record: Job,
    out: BinaryIO,
    *,
    follow: bool = False,
    tail: int | None = None,
    regex: re.Pattern[bytes] | None = None,
    from_byte: int | None = None,
    framed: bool = False,
) -> None:
    """Write the output of ``record`` (a job whose files are here, or copied here first) to
    ``out``: from byte ``from_byte``, else its last ``tail`` lines (those ``regex`` matches,
    when given), else all; then, with ``follow``, what comes until it ends (filtered by
    ``regex`` unless ``framed``: the reader of a framed stream filters, so that the bytes it
    counts are the log's)."""
    from tether.api.watch import follow_job
    from tether.backends import backend_for

    backend_for(record).files_here(store, record)  # a cluster's output copied here first
    path = Path(record.log_path)
    start = logfiles.size(path)
    head: list[bytes] = []
    if from_byte is not None:
        start = max(0, from_byte)
        if not follow:
            head = [logfiles.read_from(path, start)]
    elif regex is not None:
        head = list(logfiles.grep_lines(path, regex, tail))
    elif tail is not None:
        head = logfiles.tail_lines(path, tail)
    elif not follow:
        with open(path, "rb") if path.exists() else open("/dev/null", "rb") as f:
            while chunk := f.read(1 << 20):
                out.write(chunk)
    else:
        start = 0
    if framed:
        out.write(f"{start} {sum(len(b) for b in head)}\n".encode())
    out.writelines(head)
    out.flush()
    if follow:
        copy_chunks(follow_job(store, record.number, start), out, None if framed else regex)
