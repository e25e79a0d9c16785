"""``tether.watch``: be told when a function or a block of code starts, ends or fails, from
inside any Python process (a script run by hand, a notebook, a job of another tool), with no
agent and no ``tether run``.

::

    @tether.watch
    def train(): ...

    @tether.watch("nightly eval", channels=["slack://..."])
    def evaluate(): ...

    with tether.watch("training"):
        ...

The notifications go through the channels configured for this folder (the user config's and
the project's ``[notify] channels``, each for the events it lists), or through ``channels``
when given. The start is sent in the background; the end (the duration and a short summary of
the return value) or the failure (the exception and the last lines of its traceback) is sent
when the code is done, in the caller's thread, each channel within its own timeout. A channel
that cannot be reached prints one line on stderr: watching never changes what the watched
code does, returns or raises.
"""

from __future__ import annotations

import functools
import inspect
import os
import reprlib
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

EVENTS = ("started", "succeeded", "failed", "cancelled")
"""What a watch sends: its start, and one of its ends."""

TRACEBACK_LINES = 20
"""The last lines of a failure's traceback a notification shows."""

START_WAIT = 30.0
"""How long the end waits for the start's notification to be sent first (seconds)."""

F = TypeVar("F", bound=Callable[..., Any])

_summary = reprlib.Repr()
_summary.maxstring = _summary.maxother = 200


class Watch:
    """A watched block of code (a context manager), and a decorator that watches each call."""

    def __init__(self, name: str | None = None, *, channels: Sequence[str] | None = None):
        if isinstance(channels, str):
            channels = [channels]
        self.name = name
        self.channels = list(channels) if channels is not None else None
        self._started = 0.0
        self._sending: threading.Thread | None = None
        self.returned: Any = None
        self._has_value = False

    # -- as a decorator -------------------------------------------------------------------
    def __call__(self, func: F) -> F:
        name = self.name or getattr(func, "__qualname__", None) or repr(func)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with Watch(name, channels=self.channels) as watched:
                    value = await func(*args, **kwargs)
                    watched.set_result(value)
                    return value

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with Watch(name, channels=self.channels) as watched:
                value = func(*args, **kwargs)
                watched.set_result(value)
                return value

        return run  # type: ignore[return-value]

    # -- as a context manager -------------------------------------------------------------
    def __enter__(self) -> Watch:
        self._started = time.monotonic()
        context = self._context("started")
        self._sending = threading.Thread(
            target=self._send, args=(context,), name="tether-watch", daemon=True
        )
        self._sending.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        duration = time.monotonic() - self._started
        if self._sending is not None:
            self._sending.join(START_WAIT)
        if error is None or (isinstance(error, SystemExit) and error.code in (0, None)):
            context = self._context("succeeded", duration)
            if self._has_value:
                context["messages"] = [f"returned {_summary.repr(self.returned)}"]
        elif isinstance(error, KeyboardInterrupt):
            context = self._context("cancelled", duration, reason="interrupted (Ctrl-C)")
        else:
            # the reason is the exception's line; the tail, the frames above it (their last
            # line is the code that raised, which a chat message shows under the reason)
            frames = traceback.format_tb(trace)[1:]  # not this watch's own frame
            tail = "".join(frames).rstrip("\n").splitlines()[-TRACEBACK_LINES:]
            reason = traceback.format_exception_only(kind, error)[-1].strip()
            context = self._context("failed", duration, reason=reason, log_tail=tail)
        self._send(context)

    def set_result(self, value: Any) -> None:
        """The value the watched code gave back, summarised in the end's notification."""
        self.returned, self._has_value = value, True

    # -- sending --------------------------------------------------------------------------
    def _context(self, event: str, duration: float | None = None, **more: Any) -> dict[str, Any]:
        program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
        return {
            "event": event,
            "job_number": 0,
            "program": program or "python",
            "job_name": self.name or program or "python",
            "status": event,
            "host": socket.gethostname(),
            "duration_s": duration,
            **more,
        }

    def _send(self, fields: dict[str, Any]) -> None:
        """Send one notification through each channel for its event; never raises."""
        try:
            from tether.config import load_user_config
            from tether.notifications.delivery import send_to
            from tether.notifications.message import NotificationContext

            context = NotificationContext(**fields)
            config = load_user_config()
            urls = self._urls(context.event)
        except Exception as exc:  # a broken config must not break the watched code
            _warn(f"could not send the {fields['event']} notification: {exc}")
            return
        for url in urls:
            try:
                send_to(url, context, config, chart=False)
            except Exception as exc:
                from tether.notifications.routing import channel_display

                _warn(f"could not send the {context.event} notification to "
                      f"{channel_display(url)}: {exc}")  # fmt: skip

    def _urls(self, event: str) -> list[str]:
        if self.channels is not None:
            return list(self.channels)
        from tether.notifications.routing import settings_for

        # a watch ends as a job does: routes listening for "succeeded"/"failed" get its end
        return [route.url for route in settings_for(os.getcwd()).channels_for(event)]


def watch(
    target: str | Callable[..., Any] | None = None, *, channels: Sequence[str] | None = None
) -> Any:
    """Watch a function (``@tether.watch``, ``@tether.watch("name")``) or a block of code
    (``with tether.watch("name"):``): notifications when it starts, ends and fails, through
    the configured channels or ``channels`` (Apprise URLs, or ``email``)."""
    if callable(target):
        return Watch(channels=channels)(target)
    return Watch(target, channels=channels)


def _warn(text: str) -> None:
    try:
        print(f"tether.watch: {text}", file=sys.stderr)
    except Exception:  # no stderr to write to: nothing else to do
        pass
