"""The MIME side of reading a reply: a cheap pre-check of the raw bytes, then the body text
and any ``.py`` attachments of a parsed message, decoded whatever the transfer encoding or
charset.

Body choice: all inline text/plain parts, in order (the plain part of an alternative is what
the user typed); only if they hold no text, the text/html parts converted to text.
Forwarded messages (message/*) and non-Python attachments are never read.
"""

from __future__ import annotations

import codecs
import io
import re
import tokenize
from dataclasses import dataclass, field
from email import errors
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import Policy, default

from tether.mail.reply_html import html_to_text

MAX_PARTS = 100
"""Parts looked at in one message; more are ignored."""
MAX_DEPTH = 20
"""Nesting depth of multiparts followed; deeper parts are ignored."""
MAX_PARSED_PARTS = 1_000
"""Parts the parser may create before it gives up (each costs time, even unread)."""
MAX_HEADER_CHARS = 16_384
"""Longest header of the message itself (unstructured ones cost quadratic memory too)."""
MAX_HEADERS = 1_000
"""Most header lines the message itself may have."""
MAX_STRUCTURED_HEADER_CHARS = 2_000
"""Longest address / MIME header accepted: the stdlib parses these in super-linear time."""
MAX_STRUCTURED_HEADER_TOTAL = 20_000
MAX_CONTENT_TYPE_HEADERS = 100

_STRUCTURED = (
    b"from",
    b"content-type",
    b"content-disposition",
    b"content-transfer-encoding",
    b"message-id",
)
_LINE_RE = re.compile(rb"\r\n|\r|\n")
_PYTHON_TYPES = frozenset(
    {"text/x-python", "text/x-script.python", "text/python", "application/x-python"}
)
_BAD_CODECS = frozenset({"unicode_escape", "raw_unicode_escape", "punycode", "idna", "undefined"})
_BASE64_DEFECTS = (
    errors.InvalidBase64PaddingDefect,
    errors.InvalidBase64CharactersDefect,
    errors.InvalidBase64LengthDefect,
)


@dataclass(frozen=True)
class PythonFile:
    """A ``.py`` attachment: its text, or why it could not be decoded."""

    filename: str
    text: str | None
    error: str | None = None


@dataclass(frozen=True)
class Body:
    """What a message says: its text (newlines normalised) and its Python attachments."""

    text: str
    decoded_cleanly: bool = True
    problem: str = ""
    python_files: list[PythonFile] = field(default_factory=list)


def precheck(raw: bytes) -> str | None:
    """Why `raw` must not be handed to the stdlib parser (a reason), or None if it may.

    `email.policy.default` parses headers in super-linear time and memory, so: each header of
    the message itself is bounded, and address and MIME headers (nested parts too) are bounded
    in length and number. One linear pass over the lines.
    """
    total = 0
    content_types = 0
    current = -1
    in_headers = True
    top_header = 0
    top_headers = 0
    for line in _LINE_RE.split(raw):
        continued = line[:1] in (b" ", b"\t")
        if in_headers:
            if not line:
                in_headers = False
            top_header = top_header + len(line) if continued else len(line)
            top_headers += not continued
            if top_header > MAX_HEADER_CHARS:
                return "a header is too long"
            if top_headers > MAX_HEADERS:
                return "too many headers"
        if current >= 0 and continued:
            current += len(line)
            total += len(line)
        else:
            current = -1
            head = line[:32]
            name = head.split(b":", 1)[0].strip().lower()
            if name in _STRUCTURED and b":" in head:
                current = len(line)
                total += current
                if name == b"content-type":
                    content_types += 1
        if current > MAX_STRUCTURED_HEADER_CHARS:
            return "a From or MIME header is too long"
        if total > MAX_STRUCTURED_HEADER_TOTAL:
            return "the From and MIME headers are too long in total"
        if content_types > MAX_CONTENT_TYPE_HEADERS:
            return "too many MIME parts"
    return None


class TooManyParts(Exception):
    """Raised while parsing a message with more than `MAX_PARSED_PARTS` parts."""


def parse_message(raw: bytes, *, headers_only: bool = False) -> Message:
    """`raw` parsed with `policy.default`; TooManyParts stops a MIME bomb early."""
    count = 0

    def factory(policy: Policy = default) -> EmailMessage:
        nonlocal count
        count += 1
        if count > MAX_PARSED_PARTS:
            raise TooManyParts(f"more than {MAX_PARSED_PARTS} MIME parts")
        return EmailMessage(policy=policy)

    return BytesParser(factory, policy=default).parsebytes(raw, headersonly=headers_only)


def extract_body(msg: Message) -> Body:
    """The body text (plain text, or the HTML converted if there is no plain text) and the
    ``.py`` attachments."""
    plain: list[Message] = []
    html: list[Message] = []
    python: list[Message] = []
    _collect(msg, 0, plain, html, python, [0])
    text, clean, problem = _read_texts(plain)
    if not text.strip() and html:
        text, clean, problem = _read_texts(html)
    return Body(text, clean, problem, [_decode_python(part) for part in python])


def _read_texts(parts: list[Message]) -> tuple[str, bool, str]:
    """The decoded texts of `parts` joined, whether all decoded cleanly, and what went wrong."""
    texts: list[str] = []
    clean = True
    problems: list[str] = []
    for part in parts:
        text, ok, problem = _decode_text(part)
        if part.get_content_type() == "text/html":
            text = html_to_text(text)
        elif _param(part, "format").lower() == "flowed":
            text = unflow(text, delsp=_param(part, "delsp").lower() == "yes")
        texts.append(text)
        clean = clean and ok
        if problem:
            problems.append(problem)
    return "\n".join(texts), clean, "; ".join(problems)


def unflow(text: str, *, delsp: bool) -> str:
    """Undo RFC 3676 format=flowed: join soft-broken lines, remove space-stuffing.

    Quoted lines (starting with ">") are left as they are; they are dropped later anyway.
    """
    out: list[str] = []
    paragraph: list[str] | None = None
    for line in text.split("\n"):
        if line.startswith(">"):
            if paragraph is not None:
                out.append("".join(paragraph))
                paragraph = None
            out.append(line)
            continue
        if line.startswith(" "):
            line = line[1:]
        soft = line.endswith(" ") and line != "-- "
        if soft and delsp:
            line = line[:-1]
        if paragraph is None:
            paragraph = [line]
        else:
            paragraph.append(line)
        if not soft:
            out.append("".join(paragraph))
            paragraph = None
    if paragraph is not None:
        out.append("".join(paragraph))
    return "\n".join(out)


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR to LF; a leading byte-order mark removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text[1:] if text.startswith("\ufeff") else text


def _collect(
    part: Message,
    depth: int,
    plain: list[Message],
    html: list[Message],
    python: list[Message],
    seen: list[int],
) -> None:
    seen[0] += 1
    if depth > MAX_DEPTH or seen[0] > MAX_PARTS:
        return
    ctype = part.get_content_type()
    if _is_python(part, ctype):
        python.append(part)
        return
    if part.get_content_maintype() == "message":
        return
    if part.is_multipart():
        for child in part.get_payload():
            if isinstance(child, Message):
                _collect(child, depth + 1, plain, html, python, seen)
        return
    if _is_attachment(part):
        return
    if ctype == "text/plain":
        plain.append(part)
    elif ctype == "text/html":
        html.append(part)


def _is_python(part: Message, ctype: str) -> bool:
    filename = _filename(part)
    return filename.lower().endswith(".py") or ctype in _PYTHON_TYPES


def _is_attachment(part: Message) -> bool:
    disposition = part.get_content_disposition()
    return disposition == "attachment" or bool(_filename(part))


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        return ""
    return name.strip() if isinstance(name, str) else ""


def _param(part: Message, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    return value.strip() if isinstance(value, str) else ""


def _payload_bytes(part: Message) -> tuple[bytes, bool]:
    """The decoded payload and whether the transfer encoding decoded without defects."""
    before = len(part.defects)
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b"", False
    if not isinstance(data, bytes):
        return b"", True
    broken = any(isinstance(d, _BASE64_DEFECTS) for d in part.defects[before:])
    return data, not broken


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        return None
    return charset if isinstance(charset, str) and charset else None


def _usable(charset: str) -> bool:
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError, TypeError):
        return False
    return name.replace("-", "_") not in _BAD_CODECS


def _decode_text(part: Message) -> tuple[str, bool, str]:
    """(text, decoded cleanly, problem) for a text part: the declared charset, else UTF-8."""
    data, transfer_ok = _payload_bytes(part)
    problem = "" if transfer_ok else "the transfer encoding (base64) of the text is damaged"
    declared = _charset(part)
    for charset in (declared, "utf-8"):
        if charset and _usable(charset):
            try:
                return normalize_newlines(data.decode(charset)), transfer_ok, problem
            except (UnicodeError, LookupError):
                continue
    fallback = declared if declared and _usable(declared) else "latin-1"
    try:
        text = data.decode(fallback, "replace")
    except (UnicodeError, LookupError):
        text = data.decode("latin-1")
    what = f"charset {declared!r}" if declared else "no charset declared"
    problem = "; ".join(filter(None, [problem, f"the text could not be decoded ({what})"]))
    return normalize_newlines(text), False, problem


def _decode_python(part: Message) -> PythonFile:
    """A ``.py`` attachment as text: declared charset, else Python's own rules (PEP 263)."""
    name = _filename(part) or "attachment.py"
    data, transfer_ok = _payload_bytes(part)
    if not transfer_ok:
        return PythonFile(name, None, f"{name}: its base64 encoding is damaged")
    candidates: list[str] = []
    declared = _charset(part) if part.get_content_maintype() == "text" else None
    if declared:
        candidates.append(declared)
    try:
        detected, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        candidates.append(detected)
    except (SyntaxError, LookupError, UnicodeError):
        candidates.append("utf-8")
    for charset in candidates:
        if not _usable(charset):
            continue
        if charset.lower().replace("_", "-") in ("utf-8", "utf8") and data.startswith(
            codecs.BOM_UTF8
        ):
            charset = "utf-8-sig"
        try:
            return PythonFile(name, normalize_newlines(data.decode(charset)))
        except (UnicodeError, LookupError):
            continue
    return PythonFile(name, None, f"{name}: could not be decoded as text (try UTF-8)")
