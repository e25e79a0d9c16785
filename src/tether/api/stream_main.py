"""``python -m tether.api.stream_main``: follow one job's output for another machine (``logs
-f`` of a job here, asked over SSH: :mod:`tether.backends.ssh_stream`).

The request is one JSON line on stdin::

    {"protocol": 1, "job": "UUID", "tail": 20, "grep": "loss", "from_byte": null}

and the answer on stdout is the framed output of :func:`tether.api.log_output.write_output`
(``START HEADBYTES``, the earlier lines, then the live bytes until the job ends), or, when
the request cannot be served, one JSON line as :mod:`tether.backends.wire` answers an error.
The host's resident answerer (:mod:`tether.api.answer_server`) serves the same request, with
``"follow": true``, on its socket.
"""

from __future__ import annotations

import json
import sys
from typing import Any, BinaryIO


def serve(text: str, out: BinaryIO | None = None) -> None:
    """Write the framed output the request ``text`` asks for to ``out`` (default: stdout), or
    its error as a JSON line."""
    from tether.api.answer import error_answer
    from tether.backends.wire import PROTOCOL
    from tether.errors import TetherError, UsageError

    out = out if out is not None else sys.stdout.buffer
    try:
        request: Any = json.loads(text)
        if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
            raise UsageError(f"this tether speaks protocol {PROTOCOL}; the request is not one")
        from tether.api.log_output import compiled, write_output
        from tether.api.verbs import open_store

        store = open_store()
        record = store.resolve(str(request.get("job")) if request.get("job") else None)
        write_output(
            store, record, out, follow=True, tail=request.get("tail"),
            regex=compiled(request.get("grep")), from_byte=request.get("from_byte"),
            framed=True,
        )  # fmt: skip
    except (TetherError, ValueError) as exc:
        failure = exc if isinstance(exc, TetherError) else UsageError(str(exc))
        out.write(error_answer(failure).encode() + b"\n")
        out.flush()


def main() -> None:
    """Serve the request on stdin."""
    serve(sys.stdin.readline())


if __name__ == "__main__":
    main()
