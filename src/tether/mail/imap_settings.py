"""The ``[mail.imap]`` settings of the user config: the mailbox replies are read from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.config import line_of, table, user_config_path
from tether.errors import ConfigError
from tether.mail.imap_folders import check_folder_name

SECURITY = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 143, "starttls": 143, "ssl": 993}


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    user: str
    allow: tuple[str, ...]
    folder: str = "INBOX"
    cafile: str | None = None
    poll: float = 30.0
    move_to: str | None = None


def imap_settings(config: dict[str, Any]) -> ImapSettings | None:
    """The ``[mail.imap]`` settings, None when IMAP is not set up; ConfigError if malformed."""
    path = user_config_path()
    imap = table(table(config, "mail", path), "imap", path)
    if not imap:
        return None
    smtp = table(table(config, "mail", path), "smtp", path)
    try:
        security = str(imap.get("security", "ssl"))
        if security not in SECURITY:
            raise ValueError(f"security must be one of {', '.join(SECURITY)}")
        allow = imap.get("allow", [])
        folder = str(imap.get("folder", "INBOX"))
        move_to = imap.get("move_to") or None
        poll = float(imap.get("poll", 30.0))
        if not 1 <= poll <= 86400:
            raise ValueError(f"poll must be between 1 and 86400 seconds, not {poll:g}")
        return ImapSettings(
            host=str(imap["host"]),
            port=int(imap.get("port") or DEFAULT_PORTS[security]),
            security=security,
            user=str(imap["user"]),
            allow=tuple([allow] if isinstance(allow, str) else allow),
            folder=folder,
            cafile=imap.get("cafile") or smtp.get("cafile") or None,
            poll=poll,
            move_to=check_folder_name(str(move_to), folder) if move_to else None,
        )
    except (KeyError, ValueError, TypeError, ConfigError) as exc:
        raise ConfigError(f"{line_of(path, '[mail.imap]')}: bad IMAP setting: {exc}") from None
