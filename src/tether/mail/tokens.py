"""Per-job reply tokens: making them, putting them in mail headers, reading them back.

A token is a secret of 24 lowercase base32 characters (120 random bits). Knowing it is what
authorises a reply to steer a job, so notification mails carry it twice: in the subject tag
``[tether #42 TOKEN]`` and in the Message-ID ``<tether.42.TOKEN.NONCE@host>`` that replies quote
back in In-Reply-To / References. Everything here is pure; compare tokens with `tokens_equal`.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets

TOKEN_BYTES = 15
"""Random bytes per token; 15 bytes are exactly 24 base32 characters, no padding."""

TOKEN_MIN_CHARS = 16
TOKEN_MAX_CHARS = 64
MAX_TOKENS_FOUND = 8
"""`find_tokens` returns at most this many candidates (each costs the caller a lookup)."""

_MAX_HEADER_CHARS = 16_384
_JOB_ID = r"[A-Za-z0-9_-]{1,32}"
_TOKEN = rf"[A-Za-z2-7]{{{TOKEN_MIN_CHARS},{TOKEN_MAX_CHARS}}}"
_JOB_ID_RE = re.compile(rf"{_JOB_ID}\Z")
_TOKEN_RE = re.compile(rf"{_TOKEN}\Z")
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
_NONCE_RE = re.compile(r"[A-Za-z0-9]{0,32}\Z")
# Every quantifier is bounded and the pieces are separated by characters the pieces cannot
# contain, so matching is linear in the header length.
_SUBJECT_TAG_RE = re.compile(rf"\[tether[ \t]{{1,8}}#{_JOB_ID}[ \t]{{1,8}}({_TOKEN})\]", re.I)
_MESSAGE_ID_RE = re.compile(rf"<tether\.{_JOB_ID}\.({_TOKEN})(?:\.[A-Za-z0-9]{{1,32}})?@", re.I)


def make_token() -> str:
    """A new random job token: 24 lowercase base32 characters from `secrets`."""
    raw = secrets.token_bytes(TOKEN_BYTES)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def is_token(value: str) -> bool:
    """Whether `value` has the shape of a token (any case); says nothing about validity."""
    return isinstance(value, str) and _TOKEN_RE.match(value) is not None


def normalize_token(value: str) -> str:
    """The canonical (lowercase) spelling of a token; ValueError if it is not token-shaped."""
    if not is_token(value):
        raise ValueError("not a tether token")
    return value.lower()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens, ignoring case."""
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    return hmac.compare_digest(a.lower().encode("utf-8"), b.lower().encode("utf-8"))


def subject_tag(job_id: int | str, token: str) -> str:
    """The tag to put in a notification subject: ``[tether #42 TOKEN]``."""
    return f"[tether #{_job_id(job_id)} {normalize_token(token)}]"


def make_message_id(job_id: int | str, token: str, host: str, *, nonce: str | None = None) -> str:
    """A Message-ID carrying the token: ``<tether.42.TOKEN.NONCE@host>``.

    Each mail needs its own Message-ID, so a random `nonce` is added unless one is given;
    ``nonce=""`` gives exactly ``<tether.42.TOKEN@host>``.
    """
    if not _is_dot_atom(host):
        raise ValueError(f"not a usable host name for a Message-ID: {host!r}")
    if nonce is None:
        nonce = secrets.token_hex(6)
    if not _NONCE_RE.match(nonce):
        raise ValueError("a Message-ID nonce must be at most 32 letters and digits")
    suffix = f".{nonce}" if nonce else ""
    return f"<tether.{_job_id(job_id)}.{normalize_token(token)}{suffix}@{host}>"


def find_tokens(subject: str | None, in_reply_to: str | None, references: str | None) -> list[str]:
    """Token candidates from a reply's headers, lowercase, without repeats, best first.

    In-Reply-To names the very mail replied to, so it comes first; then the subject tag; then
    References, newest (last) first. The caller checks each against its jobs; at most
    `MAX_TOKENS_FOUND` are returned. Never raises.
    """
    found: list[str] = []
    for header, pattern, newest_first in (
        (in_reply_to, _MESSAGE_ID_RE, False),
        (subject, _SUBJECT_TAG_RE, False),
        (references, _MESSAGE_ID_RE, True),
    ):
        if not isinstance(header, str) or not header:
            continue
        text = header[-_MAX_HEADER_CHARS:] if newest_first else header[:_MAX_HEADER_CHARS]
        matches = [m.group(1).lower() for m in pattern.finditer(text)]
        if newest_first:
            matches.reverse()
        for token in matches:
            if token not in found:
                found.append(token)
            if len(found) >= MAX_TOKENS_FOUND:
                return found
    return found


def _is_dot_atom(host: object) -> bool:
    """Whether `host` may stand right of the "@" in a Message-ID (RFC 5322 dot-atom-text)."""
    if not isinstance(host, str) or not 0 < len(host) <= 255:
        return False
    return all(part and set(part) <= _ATEXT for part in host.split("."))


def _job_id(job_id: int | str) -> str:
    text = str(job_id) if isinstance(job_id, int) and not isinstance(job_id, bool) else job_id
    if not isinstance(text, str) or not _JOB_ID_RE.match(text):
        raise ValueError(f"a job id in a mail header must be 1-32 of A-Z a-z 0-9 _ -: {job_id!r}")
    return text
