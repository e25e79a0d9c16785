"""Channels: `email` (tether's own SMTP sender) or any Apprise URL (Slack, ntfy, webhooks…).

`import apprise` costs about half a second, so it happens only when a URL is checked or used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.errors import ConfigError, NotifyError

if TYPE_CHECKING:  # logging, tempfile, the mail package: imported when sending
    from tether.notifications.message import Notification

EMAIL_CHANNEL = "email"
APPRISE_DOCS = "https://github.com/caronc/apprise/wiki"


def is_email_channel(url: str) -> bool:
    """Whether `url` names tether's SMTP channel rather than an Apprise URL."""
    return url.strip().lower() == EMAIL_CHANNEL


def redact_url(url: str) -> str:
    """Only the scheme of a URL (`slack://…`): the rest often holds a token or password."""
    scheme, sep, _ = url.strip().partition("://")
    return f"{scheme}://…" if sep else "(not a URL)"


def validate_channel_url(url: str) -> None:
    """Raise ConfigError unless `url` is `email` or an Apprise URL that Apprise can use."""
    if is_email_channel(url):
        return
    text = url.strip()
    if "://" not in text:
        raise ConfigError(
            f"channel {text!r} is neither 'email' nor a URL; give an Apprise URL such as "
            f"slack://TokenA/TokenB/TokenC or json://host/path (formats: {APPRISE_DOCS})"
        )
    _plugin(text, ConfigError)


def send_apprise(url: str, notification: Notification) -> None:
    """Send `notification` (title + short body, chart attached where supported) to `url`.

    Raises NotifyError with Apprise's own reason (from its log) when the service refuses.
    Apprise logs go through one shared logger, so concurrent sends may mix their reasons.
    """
    import logging
    import tempfile

    from tether.mail import CHART_FILENAME

    apprise = _apprise()
    with apprise.LogCapture(level=logging.WARNING) as captured:
        plugin = _plugin(url, NotifyError)
        sender = apprise.Apprise(asset=plugin.asset)
        sender.add(plugin)
        with tempfile.TemporaryDirectory(prefix="tether-chart-") as tmp:
            attach = None
            if notification.png and getattr(plugin, "attachment_support", False):
                path = Path(tmp) / CHART_FILENAME
                path.write_bytes(notification.png)
                attach = str(path)
            try:
                ok = sender.notify(
                    body=notification.short,
                    title=notification.title,
                    notify_type=notification.level,
                    body_format="text",
                    attach=attach,
                )
            except Exception as exc:
                print(f"{type(exc).__name__}: {exc}", file=captured)
                ok = False
        log = captured.getvalue()
    if not ok:
        where = _private_url(plugin, url)
        raise NotifyError(f"{where} did not take the notification: {_reason(log, url)}")


def _apprise() -> Any:
    try:
        import apprise
    except ImportError as exc:
        raise ConfigError(
            "Apprise is not installed, so chat and webhook channels cannot be used; "
            "it is a dependency of tether: reinstall tether (pip install tether)"
        ) from exc
    return apprise


def _plugin(url: str, error: type[ConfigError] | type[NotifyError]) -> Any:
    """Apprise's service object for `url`, or `error` naming why it is not usable."""
    import logging

    apprise = _apprise()
    asset = apprise.AppriseAsset(app_id="tether", app_desc="tether job notifications")
    with apprise.LogCapture(level=logging.WARNING) as captured:
        plugin = apprise.Apprise.instantiate(url, asset=asset)
        log = captured.getvalue()
    if plugin is None:
        raise error(
            f"Apprise does not understand the channel URL {redact_url(url)}: {_reason(log, url)}; "
            f"see {APPRISE_DOCS} for each service's URL format"
        )
    return plugin


def _private_url(plugin: Any, url: str) -> str:
    try:
        return str(plugin.url(privacy=True)).split("?", 1)[0]
    except Exception:
        return redact_url(url)


def _url_parts(url: str) -> set[str]:
    """The URL and its pieces after the scheme: any of them may be a token or a password."""
    _, _, rest = url.strip().partition("://")
    parts = {url.strip(), rest} | set(re.split(r"[/:@?&=#,]+", rest))
    return {part for part in parts if len(part) >= 3 and not part.isdigit()}


def _reason(log: str, url: str) -> str:
    """The last few distinct lines Apprise logged, on one line, with `url` itself redacted."""
    lines: list[str] = []
    for raw in log.splitlines():
        line = raw.split(" - ", 2)[-1].strip().rstrip(".")
        for secret in sorted(_url_parts(url), key=len, reverse=True):
            line = line.replace(secret, "…")
        if line and line not in lines:
            lines.append(line)
    return "; ".join(lines[-3:]) if lines else "no reason given"
