"""Sending: one rendered notification through one channel, and the outbox's due rows with
retries and exponential backoff.

Email goes through tether's SMTP sender (text + HTML + inline PNG chart, a Message-ID that
carries the job's steering token); any other channel is an Apprise URL (the short version).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import make_msgid
from typing import Any

from tether.config import line_of, parse_duration, table, user_config_path
from tether.errors import ConfigError, TetherError
from tether.notifications import content
from tether.notifications.channels import is_email_channel, send_apprise
from tether.notifications.message import Notification, NotificationContext
from tether.notifications.snapshot import from_payload
from tether.store.outbox import Outbox, OutboxRow

log = logging.getLogger("tether.notifications")


@dataclass(frozen=True)
class RetryPolicy:
    """Wait ``first`` seconds after the first failure, twice as long after each next one (at
    most ``maximum``), and give up after ``attempts`` attempts in all."""

    first: float = 2.0
    maximum: float = 600.0
    attempts: int = 20

    def delay(self, failures: int) -> float | None:
        """Seconds to wait after ``failures`` failed attempts; None means give up."""
        if failures >= self.attempts:
            return None
        return float(min(self.maximum, self.first * 2 ** (failures - 1)))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RetryPolicy:
        """From ``[notify] retry_first``, ``retry_max`` and ``attempts`` of the user config."""
        path = user_config_path()
        notify = table(config, "notify", path)
        policy = cls()
        first, maximum, attempts = policy.first, policy.maximum, policy.attempts
        if "retry_first" in notify:
            first = parse_duration(notify["retry_first"], line_of(path, "retry_first"))
        if "retry_max" in notify:
            maximum = parse_duration(notify["retry_max"], line_of(path, "retry_max"))
        if "attempts" in notify:
            value = notify["attempts"]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{line_of(path, 'attempts')}: attempts must be 1 or more")
            attempts = value
        return cls(first, maximum, attempts)


def send_email_notification(
    notification: Notification, ctx: NotificationContext, config: dict[str, Any]
) -> None:
    """Mail ``notification`` to the configured recipients (NotifyError/ConfigError if not)."""
    from tether.mail import tokens
    from tether.mail.account import message_id_host, smtp_password, smtp_settings
    from tether.mail.smtp import build_email, send_email

    settings = smtp_settings(config)
    host = message_id_host(settings)
    if ctx.token and ctx.job_number > 0 and tokens.is_token(ctx.token):
        message_id = tokens.make_message_id(ctx.job_number, ctx.token, host)
    else:
        message_id = make_msgid("tether", domain=host)
    msg = build_email(notification, settings, message_id=message_id)
    send_email(settings, msg, smtp_password(settings))


def steering_on(config: dict[str, Any]) -> bool:
    """Whether replies are read (IMAP set up): without it a mail carries no CONTROLS footer."""
    from tether.mail.imap_settings import imap_settings

    try:
        return imap_settings(config) is not None
    except ConfigError:
        return True  # malformed IMAP settings: say what replies could do, the error shows elsewhere


def send_to(
    url: str, ctx: NotificationContext, config: dict[str, Any], *, chart: bool = True
) -> None:
    """Render ``ctx`` for the channel ``url`` and send it."""
    email = is_email_channel(url)
    notification = content.render(ctx, for_email=email, chart=chart, controls=steering_on(config))
    if email:
        send_email_notification(notification, ctx, config)
    else:
        send_apprise(url, notification)


class Deliverer:
    """Sends the outbox's due rows; renders each event once for all its channels."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._rendered: OrderedDict[tuple[Any, ...], Notification] = OrderedDict()

    def _render(
        self, row: OutboxRow, ctx: NotificationContext, email: bool, controls: bool = True
    ) -> Notification:
        key = (row.job, row.key, email)
        if key not in self._rendered:
            self._rendered[key] = content.render(ctx, for_email=email, controls=controls)
            while len(self._rendered) > 16:
                self._rendered.popitem(last=False)
        return self._rendered[key]

    def send(self, row: OutboxRow, config: dict[str, Any]) -> None:
        """One attempt at one row; raises on failure."""
        ctx = from_payload(row.payload)
        email = is_email_channel(row.channel)
        notification = self._render(row, ctx, email, steering_on(config) if email else True)
        if email:
            send_email_notification(notification, ctx, config)
        else:
            send_apprise(row.channel, notification)

    def deliver_due(
        self,
        config: dict[str, Any],
        policy: RetryPolicy,
        *,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Try every due row once; returns how many were sent."""
        sent = 0
        for row in self.outbox.due():
            if should_stop():
                break
            try:
                self.send(row, config)
            except Exception as exc:
                error = str(exc) if isinstance(exc, TetherError) else f"{type(exc).__name__}: {exc}"
                delay = policy.delay(row.attempts + 1)
                retry_at = None if delay is None else time.time() + delay
                self.outbox.mark_attempt_failed(row.id, error, retry_at)
                when = "giving up" if delay is None else f"retry in {delay:g} s"
                log.warning(
                    "job #%s %s via %s: attempt %d failed (%s): %s",
                    row.job, row.event, row.channel_display, row.attempts + 1, when, error,
                )  # fmt: skip
                continue
            self.outbox.mark_sent(row.id)
            sent += 1
            log.info("job #%s %s sent via %s", row.job, row.event, row.channel_display)
        return sent
