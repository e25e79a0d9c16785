"""``python -m tether.api.answer_main``: answer one JSON request read from stdin with one JSON
answer on stdout, as ``tether _answer`` does, without the CLI's start-up (click, the command
table). Another machine's tether runs it over SSH (:mod:`tether.backends.wire`)."""

from __future__ import annotations

import sys


def main() -> None:
    """Answer the request on stdin (stdout: the answer)."""
    from tether.api.answer import answer

    sys.stdout.write(answer(sys.stdin.read()) + "\n")


if __name__ == "__main__":
    main()
