"""Parse a user's emailed reply into a command for a job — the security boundary of mail control.

`parse_reply` turns the raw bytes of one message into exactly one of:

- `Rejected`: not for us, or not to be trusted — the sender is not allowed (exactly one From
  address, compared case-insensitively), there is no valid job token in In-Reply-To, the
  subject tag or References, it is an auto-reply or a bounce, it is too large or unparseable.
  Never answer a Rejected message (that would mail strangers and feed mail loops).
- `Invalid`: an allowed sender with a valid token wrote something that is not a valid command;
  `reason` is written for the user, so the caller can mail it back (rate-limited).
- `Command`: what to do. A program is never compiled here; the caller does that.

Reply formats (after dropping quoted text and signatures, see `tether.mail.reply_text`):

- Seed format: the new program (optional), then the command between two ``>EOM<`` lines::

      <program>
      >EOM<
      $r
      >EOM<

  ``$q`` quits, ``$r`` re-runs, ``$sq`` saves and quits. No program means the same program.
- Friendly format: the first line is a command word (see `tether.mail.reply_command`), then
  ``name = value`` parameter lines; the new program is a fenced code block or a ``.py``
  attachment.

Only ``rerun`` and ``save`` read programs and parameters; ``stop``, ``status`` and ``logs``
ignore anything after their command line. Giving two programs is Invalid, as is a program in a
text that could not be decoded cleanly. `parse_reply` never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tether.mail.reply_command import COMMAND_WORDS, HELP, CommandKind
from tether.mail.reply_interpret import interpret, invalid
from tether.mail.reply_mime import (
    MAX_PARSED_PARTS,
    TooManyParts,
    extract_body,
    parse_message,
    precheck,
)
from tether.mail.reply_outcome import Command, Invalid, Origin, Rejected, ReplyOutcome
from tether.mail.reply_text import EOM_MARKER
from tether.mail.reply_trust import (
    allowed_addresses,
    automatic_reason,
    check_sender,
    clean,
    find_live_job,
    header,
)

__all__ = [
    "COMMAND_WORDS",
    "EOM_MARKER",
    "HELP",
    "MAX_MESSAGE_BYTES",
    "Command",
    "CommandKind",
    "Invalid",
    "Rejected",
    "ReplyOutcome",
    "parse_reply",
]

MAX_MESSAGE_BYTES = 2 * 1024 * 1024
"""Larger messages are rejected before any parsing."""


def parse_reply(
    raw: bytes,
    *,
    allowed_senders: Iterable[str],
    token_is_valid: Callable[[str], object | None],
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> ReplyOutcome:
    """Read one raw RFC 5322 message; see the module docstring. Never raises.

    `token_is_valid(token)` returns the job (anything but None/False) for a live token, else
    None; it is only called for mail from an allowed sender. It should compare tokens in
    constant time (`tether.mail.tokens.tokens_equal`).
    """
    try:
        return _parse(raw, allowed_senders, token_is_valid, max_bytes)
    except Exception as exc:
        return Rejected(f"unparseable message ({type(exc).__name__})")


def _parse(
    raw: object,
    allowed_senders: Iterable[str],
    token_is_valid: Callable[[str], object | None],
    max_bytes: int,
) -> ReplyOutcome:
    if isinstance(raw, str):
        if len(raw) > max_bytes:
            return Rejected("message too large")
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        return Rejected("not a message (expected bytes)")
    data = bytes(raw)
    if len(data) > max_bytes:
        return Rejected(f"message too large ({len(data)} bytes, limit {max_bytes})")
    if not data.strip():
        return Rejected("empty message")
    problem = precheck(data)
    if problem:
        return Rejected(problem)
    msg = parse_message(data, headers_only=True)  # the body waits until the sender is known

    sender_or_reason = check_sender(msg, allowed_addresses(allowed_senders))
    if isinstance(sender_or_reason, Rejected):
        return sender_or_reason
    sender = sender_or_reason
    automatic = automatic_reason(msg, sender)
    if automatic:
        return Rejected(automatic)
    found = find_live_job(msg, token_is_valid)
    if isinstance(found, Rejected):
        return found
    token, job = found
    origin = Origin(token, sender, clean(header(msg, "Message-ID"), 998), job)
    try:
        return interpret(extract_body(parse_message(data)), origin)
    except TooManyParts:
        return invalid(f"the message has more than {MAX_PARSED_PARTS} MIME parts", origin)
    except Exception as exc:
        return invalid(f"the reply could not be read ({type(exc).__name__})", origin)
