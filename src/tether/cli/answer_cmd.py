"""``tether _answer`` (hidden): answer one JSON request read from stdin with one JSON answer
on stdout. Another machine's tether sends it over SSH (:mod:`tether.backends.wire`)."""

from __future__ import annotations

import sys

import click


@click.command(name="_answer", hidden=True)
def answer() -> None:
    """Answer one JSON request (stdin) with one JSON answer (stdout)."""
    from tether.api.answer import answer as answer_request

    sys.stdout.write(answer_request(sys.stdin.read()) + "\n")
