"""Following the output of a job on an SSH host, as it comes, across dropped links.

Each connection sends one JSON request (the job's uuid, and ``tail``/``grep`` or the byte to
go on from) to the host's resident answerer through the socket its ssh master forwards
(:mod:`tether.targets.ssh.answer_socket`), or, when that short way is not there, to ``python
-I -m tether.api.stream_main`` with the host's tether over ssh. The short way's end says
nothing of why it ended, so the job's status is asked: not finished, the link dropped.
The first line that comes back is ``START HEADBYTES`` (or, when the request cannot be served,
one JSON error answer of :mod:`tether.backends.wire`), so the byte offset reached is always
known and a reconnection goes on from exactly there.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import IO

from tether.backends import wire
from tether.errors import TetherError
from tether.targets.ssh import answer_socket
from tether.targets.ssh.remote_jobs import older_tether, remote_failure, remote_module
from tether.targets.ssh.transport import Result, Transport

MODULE = "tether.api.stream_main"
"""The module the host's Python runs to follow a job's output."""
RECONNECT_SECONDS = 600.0
"""How long ``logs -f`` of a host's job keeps trying to reconnect before giving up."""


def _header(line: bytes, host: str) -> tuple[int, int] | None:
    """``(START, HEADBYTES)`` from the first line; an error answer is raised as its class."""
    if line.startswith(b"{"):
        wire.read_answer(host, line.decode("utf-8", "replace"), 0)
    try:
        start, head = line.split()
        return int(start), int(head)
    except ValueError:
        return None


def _chunks(stream: IO[bytes], count: int | None) -> Iterator[bytes]:
    """The next ``count`` bytes (or all) of ``stream``, as they come."""
    done = 0
    while count is None or done < count:
        want = 1 << 16 if count is None else min(1 << 16, count - done)
        chunk = stream.read1(want) if hasattr(stream, "read1") else stream.read(want)
        if not chunk:
            break
        done += len(chunk)
        yield chunk


def _framed(out: IO[bytes], host: str) -> Iterator[tuple[bytes, int | None]]:
    """What a follow sends after its first line: each chunk of output with the log's byte
    offset reached after it (None within the earlier lines: a reconnection then starts over).
    Nothing when the first line is no header; an error answer is raised as its class."""
    head = _header(out.readline(), host)
    if head is None:
        return
    start_at, head_bytes = head
    for chunk in _chunks(out, head_bytes):
        yield chunk, None
    offset = start_at
    yield b"", offset
    for chunk in _chunks(out, None):
        offset += len(chunk)
        yield chunk, offset


def _lost(host: str, since: float | None) -> float:
    """Say (once) that the link to ``host`` went; when it went."""
    if since is not None:
        return since
    sys.stderr.write(
        f"tether: lost the connection to {host}; reconnecting (the job keeps running there)\n"
    )
    sys.stderr.flush()
    return time.monotonic()


def _ended(transport: Transport, uuid: str) -> bool:
    """Whether the host says its job ``uuid`` has finished (False when it cannot say now)."""
    from tether.jobs.status import FINISHED

    text = answer_socket.ask(transport, wire.request("show", {"job": uuid}), transport.spec.timeout)
    if text is None:
        return False
    try:
        data = wire.read_answer(transport.spec.name, text, 0)
    except TetherError:  # the long way asks again, and says what is wrong
        return False
    return isinstance(data, dict) and data.get("status") in FINISHED


def stream(
    transport: Transport,
    uuid: str,
    *,
    tail: int | None = None,
    start: int | None = None,
    grep: str | None = None,
    reconnect_seconds: float = RECONNECT_SECONDS,
) -> Iterator[bytes]:
    """The output of the host's job ``uuid`` (from byte ``start``, or its last ``tail`` lines
    (matching ``grep``, when given), or all) until it ends; the link is reconnected when it
    drops. What follows the first lines is not filtered by ``grep``: the reader does that."""
    import tempfile

    host = transport.spec.name
    offset: int | None = start
    lost_since: float | None = None
    short = True
    while True:
        request = {"protocol": wire.PROTOCOL, "job": uuid, "from_byte": offset}
        if offset is None:
            request.update(tail=tail, grep=grep)
        conn = (
            answer_socket.open_stream(transport, json.dumps({**request, "follow": True}).encode())
            if short
            else None
        )
        if conn is not None:
            seen = False
            with conn, conn.makefile("rb") as out:
                try:
                    for chunk, reached in _framed(out, host):
                        seen = True
                        offset = offset if reached is None else reached
                        if chunk:
                            yield chunk
                except OSError:
                    pass  # the master went mid-way
            if seen and _ended(transport, uuid):
                return
            if seen:  # the link (or the master) went: again, from the byte reached
                lost_since = _lost(host, lost_since)
            short = False  # the long way from now on, bounded as it is
            continue
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                transport.argv(remote_module(MODULE)),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
            )  # fmt: skip
            assert proc.stdin is not None and proc.stdout is not None
            seen = False
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.close()
                for chunk, reached in _framed(proc.stdout, host):
                    seen, lost_since = True, None
                    offset = offset if reached is None else reached
                    if chunk:
                        yield chunk
            except BrokenPipeError:
                pass  # ssh went away before reading the request: its exit code says why
            except BaseException:  # Ctrl-C, an error answer, or the reader stopped
                proc.kill()
                raise
            finally:
                proc.stdout.close()
                code = proc.wait()
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if code == 0 and seen:
            return
        if not seen and older_tether(Result(code, "", stderr)):
            wire.read_answer(host, "", 2)  # an older tether there: says how to upgrade it
        if code != 255:
            raise remote_failure(transport, Result(code, "", stderr))
        now = time.monotonic()
        if lost_since is None:
            lost_since = _lost(host, lost_since)
        elif now - lost_since > reconnect_seconds:
            raise transport.failure(code, stderr)
        time.sleep(min(5.0, 0.5 + (now - lost_since) / 4))
