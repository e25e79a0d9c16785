"""The SMTP account notifications are mailed from, as kept in the user config ``[mail.smtp]``.

The password is not in the file: it comes from ``TETHER_SMTP_PASSWORD`` or the keyring.
"""

from __future__ import annotations

from typing import Any

from tether.config import line_of, load_user_config, table, user_config_path
from tether.errors import ConfigError
from tether.mail import secrets
from tether.mail.smtp import SmtpSettings

SEND_TIMEOUT = 15.0


def smtp_settings(config: dict[str, Any] | None = None) -> SmtpSettings:
    """The ``[mail.smtp]`` settings; ConfigError when email is not set up."""
    path = user_config_path()
    data = load_user_config() if config is None else config
    smtp = table(table(data, "mail", path), "smtp", path)
    if not smtp:
        raise ConfigError(
            f"email is not set up ({path} has no [mail.smtp]); run `tether mail setup`"
        )
    to = smtp.get("to", [])
    try:
        return SmtpSettings(
            host=str(smtp.get("host", "")),
            port=int(smtp["port"]) if smtp.get("port") is not None else None,
            security=smtp.get("security", "starttls"),
            user=smtp.get("user") or None,
            sender=str(smtp.get("from", "")),
            recipients=tuple([to] if isinstance(to, str) else to),
            cafile=smtp.get("cafile") or None,
            timeout=float(smtp.get("timeout", SEND_TIMEOUT)),
        )
    except (ConfigError, ValueError, TypeError) as exc:
        raise ConfigError(f"{line_of(path, '[mail.smtp]')}: {exc}") from None


def smtp_password(settings: SmtpSettings) -> str | None:
    """The password for ``settings.user`` (None when no login is needed or none is found)."""
    if not settings.user:
        return None
    return secrets.get_password("smtp", settings.user, settings.host)


def message_id_host(settings: SmtpSettings) -> str:
    """The domain for Message-IDs: the sender's (mail servers and clients like that best)."""
    domain = settings.sender.rpartition("@")[2].strip(" >")
    return domain or "tether.invalid"
