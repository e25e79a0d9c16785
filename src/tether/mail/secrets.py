"""Mail passwords: from `TETHER_SMTP_PASSWORD` / `TETHER_IMAP_PASSWORD`, else the system keyring.

Passwords are only returned, never written to a file or a log. A missing or broken keyring
is "no password here", never a crash.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from tether.errors import ConfigError

Kind = Literal["smtp", "imap"]


def env_var(kind: Kind) -> str:
    """`TETHER_SMTP_PASSWORD` or `TETHER_IMAP_PASSWORD`."""
    return f"TETHER_{kind.upper()}_PASSWORD"


def service_name(kind: Kind, host: str) -> str:
    """The keyring service under which the password for `host` is stored (`tether-smtp:host`)."""
    return f"tether-{kind}:{host}"


def get_password(kind: Kind, user: str, host: str) -> str | None:
    """The password for `user` at `host`: the env var first, then the keyring; None if neither."""
    from_env = os.environ.get(env_var(kind))
    if from_env:
        return from_env
    backend = _keyring_backend()
    if backend is None:
        return None
    try:
        password = backend.get_password(service_name(kind, host), user)
    except Exception:
        return None
    return password if isinstance(password, str) and password else None


def set_password(kind: Kind, user: str, host: str, password: str) -> None:
    """Store the password in the system keyring; ConfigError if there is no usable keyring."""
    backend = _keyring_backend()
    if backend is None:
        raise ConfigError(
            f"no system keyring is available to store the {kind.upper()} password for "
            f"{user} at {host}; set the environment variable {env_var(kind)} instead "
            "(in the environment the tether agent starts from)"
        )
    try:
        backend.set_password(service_name(kind, host), user, password)
    except Exception as exc:
        raise ConfigError(
            f"the system keyring ({type(backend).__name__}) could not store the "
            f"{kind.upper()} password ({type(exc).__name__}); set the environment variable "
            f"{env_var(kind)} instead"
        ) from None


def delete_password(kind: Kind, user: str, host: str) -> bool:
    """Remove a stored password; True if one was removed."""
    backend = _keyring_backend()
    if backend is None:
        return False
    try:
        backend.delete_password(service_name(kind, host), user)
    except Exception:
        return False
    return True


def keyring_available() -> bool:
    """Whether a real keyring backend (not keyring's fail/null ones) is configured."""
    return _keyring_backend() is not None


def _keyring_backend() -> Any | None:
    """The active keyring backend, or None when keyring is missing, failing or null."""
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
        if isinstance(backend, (fail.Keyring, null.Keyring)):
            return None
        if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
            return None
        return backend
    except Exception:
        return None
