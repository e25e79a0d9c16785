"""Running the host's tether with its progress (stderr) shown here as it happens.

:func:`~tether.targets.ssh.remote_jobs.call` collects stderr in a file (see the transport's
notes on the master connection); for long work on a host (installs, downloads) this opens
the master first and then pipes stderr, echoing it line by line while stdout is collected.
"""

from __future__ import annotations

import io
import json
import subprocess
import threading
from collections import deque
from collections.abc import Sequence
from typing import IO, Any

from tether.errors import RemoteError
from tether.targets.ssh.remote_jobs import remote_cli, remote_failure
from tether.targets.ssh.transport import Result, Transport

_ERROR_PREFIX = "tether: error: "


def _pump(stream: IO[str], tail: deque[str], say: IO[str] | None) -> None:
    for line in stream:
        tail.append(line)
        if say is not None and not line.startswith(_ERROR_PREFIX):
            say.write(line)
            say.flush()


def stream_call(
    transport: Transport,
    args: Sequence[str],
    *,
    folder: str = "",
    input: bytes | None = None,
    say: IO[str] | None = None,
) -> Result:
    """Run ``tether ARGS`` in ``~/FOLDER`` on the host, echoing its stderr to ``say`` (its
    error line excepted: that one becomes the raised error); raise on any failure."""
    transport.run(["true"], timeout=transport.connect_timeout + 20)  # the master, stderr to a file
    argv = transport.argv(remote_cli(args, folder))
    tail: deque[str] = deque(maxlen=50)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    err_text = _text(proc.stderr)
    pump = threading.Thread(target=_pump, args=(err_text, tail, say), daemon=True)
    pump.start()
    if input is not None and proc.stdin is not None:
        try:
            proc.stdin.write(input)
            proc.stdin.close()
        except BrokenPipeError:
            pass
    out = proc.stdout.read().decode("utf-8", "replace")
    code = proc.wait()
    pump.join(timeout=10)
    result = Result(code, out, "".join(tail))
    if code == 255:
        raise transport.failure(code, result.stderr)
    if code != 0:
        raise remote_failure(transport, result)
    return result


def _text(stream: IO[bytes]) -> IO[str]:
    return io.TextIOWrapper(stream, encoding="utf-8", errors="replace")


def stream_json(
    transport: Transport,
    args: Sequence[str],
    *,
    folder: str = "",
    input: bytes | None = None,
    say: IO[str] | None = None,
) -> Any:
    """:func:`stream_call` with ``--json`` (put right after the command's name, ahead of a
    ``--``); what the host's tether printed, parsed."""
    words = [*args[:1], "--json", *args[1:]]
    result = stream_call(transport, words, folder=folder, input=input, say=say)
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise RemoteError(f"{transport.spec.name}: tether printed no JSON ({result.stdout[:80]!r})")
