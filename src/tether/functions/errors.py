"""Errors of functions runs, on top of :mod:`tether.errors`."""

from __future__ import annotations

from tether.errors import TetherError


class DatasetTimeout(TetherError, TimeoutError):
    """``wait(timeout=...)`` ran out before every run had a result."""


class DatasetStopped(TetherError):
    """The dataset's job ended (cancelled, killed, failed) before every run had a result."""


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in a run, as the worker formatted it.

    Attached as ``__cause__`` of the exception re-raised locally, so Python prints it
    ("The above exception was the direct cause of ...") right above the local traceback.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text.rstrip()}\n"""'


class RunFailed(TetherError):
    """Stands in for a run's exception that could not be pickled (or a worker that died)."""
