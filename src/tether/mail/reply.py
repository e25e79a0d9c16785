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
from dataclasses import dataclass, field
from email import errors
from email.headerregistry import Address
from email.message import Message
from email.utils import parseaddr

from tether.mail.reply_command import (
    COMMAND_WORDS,
    HELP,
    CommandError,
    CommandKind,
    CommandLine,
    parse_command_line,
    parse_params,
)
from tether.mail.reply_mime import (
    MAX_PARSED_PARTS,
    Body,
    TooManyParts,
    extract_body,
    parse_message,
    precheck,
)
from tether.mail.reply_text import (
    EOM_MARKER,
    Layout,
    finish_program,
    plain_indentation,
    scan,
    trim_quotes,
    unwrap_fence,
)
from tether.mail.tokens import find_tokens

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

_AUTO_PRECEDENCE = frozenset({"bulk", "auto_reply", "list", "junk"})
_AUTO_FLAGS = ("x-autoreply", "x-autorespond", "x-autoresponder")
_LIST_HEADERS = ("list-id", "list-unsubscribe")
_BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "maildaemon"})
_AUTO_SUBJECTS = (
    "auto:",
    "automatic reply",
    "autoreply",
    "auto-reply",
    "out of office",
    "out of the office",
    "undeliverable:",
    "undelivered mail",
    "delivery status notification",
    "mail delivery failed",
    "returned mail:",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
)
_HARMLESS_ADDRESS_DEFECTS = (errors.ObsoleteHeaderDefect, errors.UndecodableBytesDefect)
_PROGRAM_KINDS = ("rerun", "save_quit")


@dataclass(frozen=True)
class Rejected:
    """Ignore this message (and do not answer it); `reason` is for the log only."""

    reason: str


@dataclass(frozen=True)
class Invalid:
    """An authorised reply that is not a valid command; `reason` tells the user what to fix."""

    reason: str
    job_token: str
    sender: str = ""
    message_id: str = ""
    job: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Command:
    """An authorised, well-formed command for the job with token `job_token`.

    `program` is the new program text (LF line ends, one final newline) or None for "the same
    program"; `program_source` says where it came from ("body", "code block" or the
    attachment's file name). `params` are parameter overrides; `queue` asks a rerun to wait
    for a free slot; `log_lines` is the N of ``logs N``. `raw_text` is the decoded body text
    the command was read from; `job` is what `token_is_valid` returned for the token.
    """

    kind: CommandKind
    job_token: str
    program: str | None
    params: dict[str, object]
    queue: bool
    raw_text: str
    log_lines: int | None = None
    program_source: str | None = None
    sender: str = ""
    message_id: str = ""
    job: object = field(default=None, repr=False, compare=False)


ReplyOutcome = Command | Invalid | Rejected


@dataclass(frozen=True)
class _Origin:
    """Who sent the reply, for which job, under which Message-ID."""

    token: str
    sender: str
    message_id: str
    job: object


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

    sender_or_reason = _sender(msg, _allowed(allowed_senders))
    if isinstance(sender_or_reason, Rejected):
        return sender_or_reason
    sender = sender_or_reason
    automatic = _automatic(msg, sender)
    if automatic:
        return Rejected(automatic)
    found = _job(msg, token_is_valid)
    if isinstance(found, Rejected):
        return found
    token, job = found
    origin = _Origin(token, sender, _clean(_header(msg, "Message-ID"), 998), job)
    try:
        return _interpret(extract_body(parse_message(data)), origin)
    except TooManyParts:
        return _invalid(f"the message has more than {MAX_PARSED_PARTS} MIME parts", origin)
    except Exception as exc:
        return _invalid(f"the reply could not be read ({type(exc).__name__})", origin)


def _allowed(allowed_senders: Iterable[str]) -> frozenset[str]:
    """The allowed bare addresses, lowercase ("Name <a@b>" entries reduced to "a@b")."""
    if isinstance(allowed_senders, str):
        allowed_senders = [allowed_senders]
    result: set[str] = set()
    for entry in allowed_senders:
        if not isinstance(entry, str):
            continue
        address = parseaddr(entry)[1] if "<" in entry else entry
        address = address.strip().lower()
        if address.count("@") == 1 and not address.startswith("@") and address[-1] != "@":
            result.add(address)
    return frozenset(result)


def _sender(msg: Message, allowed: frozenset[str]) -> str | Rejected:
    """The single, allowed, bare sender address, or why not."""
    headers = msg.get_all("From") or []
    if not headers:
        return Rejected("no From header")
    if len(headers) > 1:
        return Rejected("several From headers")
    header = headers[0]
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    defects: tuple[errors.MessageDefect, ...] = getattr(header, "defects", ())
    if len(addresses) != 1:
        return Rejected(f"From must hold exactly one address, not {len(addresses)}")
    if any(not isinstance(d, _HARMLESS_ADDRESS_DEFECTS) for d in defects):
        return Rejected("malformed From header")
    address = _clean(str(addresses[0].addr_spec), 320).lower()
    if address not in allowed:
        return Rejected(f"sender not allowed: {address}")
    return address


def _automatic(msg: Message, sender: str) -> str:
    """Why `msg` looks machine-sent (auto-reply, bounce, list), or "" if it does not."""
    auto_submitted = _header(msg, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"auto-submitted message ({auto_submitted})"
    precedence = _header(msg, "Precedence").strip().lower()
    if precedence in _AUTO_PRECEDENCE:
        return f"automatic message (Precedence: {precedence})"
    for name in _AUTO_FLAGS:
        value = _header(msg, name).strip().lower()
        if value and value != "no":
            return f"auto-reply ({name})"
    for name in _LIST_HEADERS:
        if msg.get(name) is not None:
            return f"mailing-list message ({name})"
    if sender.split("@")[0] in _BOUNCE_SENDERS:
        return "bounce (mailer daemon)"
    if msg.get_content_type() == "multipart/report" or msg.get("X-Failed-Recipients"):
        return "bounce (delivery report)"
    if _header(msg, "Return-Path").strip() == "<>":
        return "bounce (empty return path)"
    subject = _header(msg, "Subject").strip().lower()
    if subject.startswith(_AUTO_SUBJECTS):
        return "auto-reply (subject)"
    return ""


def _job(
    msg: Message, token_is_valid: Callable[[str], object | None]
) -> tuple[str, object] | Rejected:
    """The first token in the headers that names a live job, with the job."""
    tokens = find_tokens(
        _header(msg, "Subject"), _header(msg, "In-Reply-To"), _header(msg, "References")
    )
    if not tokens:
        return Rejected("no tether token in In-Reply-To, Subject or References")
    for token in tokens:
        try:
            job = token_is_valid(token)
        except Exception as exc:
            return Rejected(f"token check failed ({type(exc).__name__})")
        if job is not None and job is not False:
            return token, (None if job is True else job)
    return Rejected("unknown or expired job token")


def _interpret(body: Body, origin: _Origin) -> Command | Invalid:
    """The command in `body` (seed format if it has an >EOM< line, else friendly format)."""
    layout = scan(body.text)
    if layout.eoms:
        return _seed(layout, body, origin)
    return _friendly(layout, body, origin)


def _seed(layout: Layout, body: Body, origin: _Origin) -> Command | Invalid:
    """Program above the first >EOM<, the command between it and the next one (or the end)."""
    first = layout.eoms[0]
    end = layout.eoms[1] if len(layout.eoms) > 1 else len(layout.lines)
    between = range(first + 1, end)
    if any(layout.kinds[i] in ("fence", "code") for i in between):
        return _invalid(
            f"put the program above the first {EOM_MARKER} line; only the command goes "
            f"between the {EOM_MARKER} lines",
            origin,
        )
    command_lines = [layout.lines[i] for i in between if layout.kinds[i] == "text"]
    if not command_lines:
        return _invalid(f"no command between the {EOM_MARKER} lines. {HELP}", origin)
    region = trim_quotes(layout.lines[:first], layout.kinds[:first])
    program = finish_program(plain_indentation(unwrap_fence(region)))
    sources: list[tuple[str, str | None]] = [("body", program)]
    return _build(command_lines[0], command_lines[1:], sources, [], body, origin)


def _friendly(layout: Layout, body: Body, origin: _Origin) -> Command | Invalid:
    """The first line of the user's own text is the command; code blocks are programs."""
    text = [line for line, kind in zip(layout.lines, layout.kinds, strict=True) if kind == "text"]
    if not text:
        return _invalid(f"no command found. {HELP}", origin)
    sources: list[tuple[str, str | None]] = []
    problems: list[str] = []
    for fence in layout.fences:
        if fence.end is None:
            problems.append("a code block is not closed (the closing ``` line is missing)")
        else:
            lines = plain_indentation(fence.body(layout.lines))
            sources.append(("code block", finish_program(lines)))
    return _build(text[0], text[1:], sources, problems, body, origin)


def _build(
    command_line: str,
    param_lines: list[str],
    sources: list[tuple[str, str | None]],
    problems: list[str],
    body: Body,
    origin: _Origin,
) -> Command | Invalid:
    """Check the command, its parameters and its (single) program; make the outcome."""
    try:
        command = parse_command_line(command_line)
    except CommandError as exc:
        return _invalid(str(exc), origin)
    if command.kind not in _PROGRAM_KINDS:
        return _command(command, None, None, {}, body, origin)
    if not body.decoded_cleanly:
        return _invalid(f"{body.problem}; nothing was done", origin)
    if problems:
        return _invalid(problems[0], origin)
    try:
        params = parse_params(param_lines)
    except CommandError as exc:
        return _invalid(str(exc), origin)
    for file in body.python_files:
        if file.error is not None:
            return _invalid(file.error, origin)
        lines = (file.text or "").split("\n")
        sources.append((file.filename, finish_program(lines, keep_leading=True)))
    given = [(where, program) for where, program in sources if program is not None]
    if len(given) > 1:
        names = ", ".join(where for where, _ in given)
        return _invalid(f"more than one program was given ({names}); send exactly one", origin)
    where, program = given[0] if given else (None, None)
    return _command(command, program, where, params, body, origin)


def _command(
    command: CommandLine,
    program: str | None,
    where: str | None,
    params: dict[str, object],
    body: Body,
    origin: _Origin,
) -> Command:
    return Command(
        kind=command.kind,
        job_token=origin.token,
        program=program,
        params=params,
        queue=command.queue,
        raw_text=body.text,
        log_lines=command.log_lines,
        program_source=where,
        sender=origin.sender,
        message_id=origin.message_id,
        job=origin.job,
    )


def _invalid(reason: str, origin: _Origin) -> Invalid:
    return Invalid(reason, origin.token, origin.sender, origin.message_id, origin.job)


def _header(msg: Message, name: str) -> str:
    """A header's (decoded) value, "" if absent or unreadable."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    return "" if value is None else str(value)


def _clean(text: str, limit: int) -> str:
    """`text` safe to log and encode: no lone surrogates, no line breaks, at most `limit`."""
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return " ".join(text.split())[:limit]
