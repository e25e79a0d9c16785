"""Filing handled mail away: make sure the folder exists, then move one message into it.

IMAP MOVE (RFC 6851) is used when the server has it. Otherwise the message is copied, flagged
\\Deleted and expunged by UID (RFC 4315 UIDPLUS), which removes that message only. A server
with neither MOVE nor UIDPLUS gets the copy and the \\Deleted flag but no EXPUNGE (a plain
EXPUNGE would also remove whatever else the user has flagged \\Deleted); the mail client's
next expunge removes it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tether.errors import ConfigError

DELETED = b"\\Deleted"


def check_folder_name(name: str, watched: str) -> str:
    """`name` as a folder to move handled mail to; ConfigError if it cannot be one."""
    name = name.strip()
    if not name:
        raise ConfigError("the folder for handled mail has an empty name; give a folder name")
    if any(ord(c) < 32 or c == "\x7f" for c in name) or name.endswith(("/", ".")):
        raise ConfigError(f"{name!r} is not a usable IMAP folder name; give a plain name")
    if name.lower() == watched.lower():
        raise ConfigError(
            f"handled mail cannot be moved to {name!r}: that is the folder being watched"
        )
    return name


def capabilities(client: Any) -> frozenset[str]:
    """The server's capabilities as upper-case strings (b"MOVE" -> "MOVE")."""
    return frozenset(
        (c.decode() if isinstance(c, bytes) else str(c)).upper() for c in client.capabilities()
    )


def ensure_folder(client: Any, name: str) -> bool:
    """Create folder `name` unless it exists; True if it was created."""
    if client.folder_exists(name):
        return False
    client.create_folder(name)
    return True


def move_message(client: Any, uid: int, folder: str, caps: Collection[str]) -> str:
    """Move message `uid` of the selected folder to `folder`; returns how ("move", ...)."""
    if "MOVE" in caps:
        client.move([uid], folder)
        return "move"
    client.copy([uid], folder)
    client.add_flags([uid], [DELETED])
    if "UIDPLUS" in caps:
        client.uid_expunge([uid])
        return "copy+expunge"
    return "copy+deleted"
