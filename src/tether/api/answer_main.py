"""``python -m tether.api.answer_main``: answer one JSON request read from stdin with one JSON
answer on stdout, as ``tether _answer`` does, without the CLI's start-up (click, the command
table). Another machine's tether runs it over SSH (:mod:`tether.backends.wire`)."""

from __future__ import annotations

import sys


def main() -> None:
    """Answer the request on stdin (stdout: the answer, which names the socket of this
    host's resident answerer, :mod:`tether.api.answer_server`, started here if need be)."""
    from tether.api.answer import answer
    from tether.api.answer_server import socket_path, start_in_background

    path = socket_path()
    sys.stdout.write(answer(sys.stdin.read(), server=str(path)) + "\n")
    sys.stdout.flush()
    start_in_background(path)


if __name__ == "__main__":
    main()
