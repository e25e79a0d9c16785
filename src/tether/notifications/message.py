"""What a notification is about (`NotificationContext`) and what it renders to (`Notification`).

Plain dataclasses, no I/O: the agent fills a context from the job store, `content.render` turns
it into a `Notification`, and the senders (`tether.mail.smtp`,
`tether.notifications.channels`) deliver it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

EventKind = Literal[
    "started",
    "succeeded",
    "failed",
    "cancelled",
    "lost",
    "message",
    "condition",
    "interval",
    "stalled",
    "test",
]
"""Why a notification is sent."""

EVENT_KINDS: tuple[str, ...] = get_args(EventKind)

Level = Literal["info", "success", "warning", "failure"]
"""How a chat channel should colour the notification."""

Series = dict[str, list[tuple[int, float]]]
"""Metric name -> [(step, value), ...] in the order they were reported."""


@dataclass
class NotificationContext:
    """Everything needed to describe one event of one job.

    `metrics` maps a metric name to its (step, value) series; which direction is better is
    unknown, so the body shows both min and max. `param_changes` maps a parameter name to
    (value in the parent job, value in this job). `token` is the steering token that replies
    must carry; None when replying by email is not enabled for this job.
    """

    event: EventKind
    job_number: int
    program: str
    job_name: str | None = None
    status: str = ""
    host: str = ""
    duration_s: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    token: str | None = None
    messages: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)
    metrics: Series = field(default_factory=dict)
    last_metric: str | None = None
    params: dict[str, object] = field(default_factory=dict)
    param_changes: dict[str, tuple[object, object]] = field(default_factory=dict)
    parent_number: int | None = None
    condition: str | None = None
    condition_values: dict[str, float] = field(default_factory=dict)
    """The metric values that met `condition` (not the latest ones), for a "condition" event."""
    attempt: str | None = None  # ``attempt 2 of 3`` for a job run with --retry
    peak_use: str | None = None  # ``CPU 180%, memory 2.1 GB, ...`` once the job has ended

    def __post_init__(self) -> None:
        if self.event not in EVENT_KINDS:
            raise ValueError(
                f"unknown notification event {self.event!r}; expected one of: "
                + ", ".join(EVENT_KINDS)
            )


@dataclass
class Notification:
    """A rendered notification, ready for any channel.

    `subject` is the email subject (it carries the steering tag when there is a token);
    `title` is the same headline without the token, for chat channels, where the token
    must not leak. `short` is a few lines for chat; `text`/`html` are the email bodies.
    """

    subject: str
    title: str
    text: str
    short: str
    html: str | None = None
    png: bytes | None = None
    level: Level = "info"
