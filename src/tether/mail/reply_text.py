"""The text side of reading a reply: which lines are the user's, which are quoted, where the
reply ends, where code blocks and ``>EOM<`` markers are.

Rules, applied in one linear pass over the lines:

- A *quote* is a line starting with ">" — except a ``>EOM<`` line, which is a marker. A
  marker must start its line: the indented examples in a notification, echoed back unquoted
  by some client or auto-responder, must never form a command.
- An *attribution* ("On Mon, ... wrote:", also split over two lines, a few languages) directly
  followed (blank lines aside) by quotes belongs to those quotes.
- The reply *ends* (everything below is dropped) at: a signature separator ``--``; an Outlook
  ``-----Original Message-----`` or forwarded-message marker; an Outlook header block
  (``From:`` then ``Sent:``/``Date:`` within four lines) or the ``____`` rule above it; a mobile
  signature ("Sent from my iPhone"); an attribution *not* followed by quotes (the original
  pasted below without ">").
- A fenced code block (``` or ~~~, at most 3 spaces indented, closed by a fence as long) is
  opaque: nothing inside it is a quote, marker or end.

Lines that begin with ">" in the middle of a program (doctest ``>>>`` lines) are kept: callers
strip quotes only outside the program, and from a program only its leading and trailing run of
quotes, attributions and blank lines (a Python program can neither start nor end with ">").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LineKind = Literal["text", "blank", "quote", "attribution", "eom", "fence", "code"]

EOM_MARKER = ">EOM<"

_ON = ("on ", "am ", "le ", "el ", "il ", "op ", "em ", "w dniu ", "den ", "på ", "dne ", "в ")
_WROTE = (
    "wrote",
    "schrieb",
    "a écrit",
    "escribió",
    "ha scritto",
    "schreef",
    "escreveu",
    "skrev",
    "napisał",
    "napsal",
    "написал",
)
_MAX_ATTRIBUTION_CHARS = 400
_ORIGINAL_MARKERS = frozenset(
    {
        "original message",
        "forwarded message",
        "ursprüngliche nachricht",
        "weitergeleitete nachricht",
        "message d'origine",
        "message transféré",
        "mensaje original",
        "mensaje reenviado",
        "messaggio originale",
        "mensagem original",
    }
)
_HEADER_FROM = ("from:", "von:", "de:", "de :", "van:", "da:")
_HEADER_SENT = ("sent:", "date:", "gesendet:", "datum:", "envoyé :", "envoyé:", "enviado:")
_MOBILE_SIGNATURES = (
    "sent from my ",
    "sent from mail for windows",
    "sent from outlook",
    "sent from yahoo mail",
    "sent with proton mail",
    "sent from proton mail",
    "get outlook for ",
    "envoyé de mon ",
    "von meinem ",
    "enviado desde mi ",
    "enviado do meu ",
    "inviato da ",
)
_MAX_SIGNATURE_CHARS = 100
_SPECIAL_FIRST = frozenset(
    "-_`~*" + "".join(w[0] for w in (*_ON, *_HEADER_FROM, *_MOBILE_SIGNATURES, "begin"))
)


@dataclass(frozen=True)
class Fence:
    """A fenced code block: the opening line, the closing line (None: never closed)."""

    start: int
    end: int | None

    def body(self, lines: list[str]) -> list[str]:
        """The lines between the fences."""
        return lines[self.start + 1 : self.end if self.end is not None else len(lines)]


@dataclass(frozen=True)
class Layout:
    """The reply's own lines (the dropped original excluded), each with its kind."""

    lines: list[str]
    kinds: list[LineKind]
    eoms: list[int]
    fences: list[Fence]


def is_eom(line: str) -> bool:
    """Whether `line` is an ``>EOM<`` marker: at the start of the line, any case, trailing
    blanks ignored. An indented ``>EOM<`` (as in the examples of a notification) is not one."""
    return line.rstrip().upper() == EOM_MARKER


def is_quote(line: str) -> bool:
    """Whether `line` is quoted text: starts with ">" and is not a ``>EOM<`` marker."""
    return line.startswith(">") and not is_eom(line)


def scan(text: str) -> Layout:
    """Classify the lines of `text` and cut it where the user's reply ends."""
    lines = text.split("\n")
    kinds: list[LineKind] = []
    eoms: list[int] = []
    fences: list[Fence] = []
    fence: tuple[int, str, int] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if fence is not None:
            start, char, count = fence
            if _closes(line, char, count):
                kinds.append("fence")
                fences.append(Fence(start, i))
                fence = None
            else:
                kinds.append("code")
            i += 1
            continue
        stripped = line.strip()
        if not stripped:
            kinds.append("blank")
        elif is_eom(line):
            kinds.append("eom")
            eoms.append(i)
        elif is_quote(line):
            kinds.append("quote")
        elif stripped[0].lower() not in _SPECIAL_FIRST and stripped[-1] != ":":
            kinds.append("text")  # fast path: cannot be an attribution, end or fence
        else:
            span = _attribution(lines, i)
            if span:
                if _quote_follows(lines, i + span):
                    kinds.extend(["attribution"] * span)
                    i += span
                    continue
                break
            if _ends_reply(lines, i):
                break
            opened = _opens(line)
            if opened is not None:
                fence = (i, *opened)
                kinds.append("fence")
            else:
                kinds.append("text")
        i += 1
    if fence is not None:
        fences.append(Fence(fence[0], None))
    return Layout(lines[: len(kinds)], kinds, eoms, fences)


def trim_quotes(lines: list[str], kinds: list[LineKind]) -> list[str]:
    """`lines` without their leading and trailing runs of quotes, attributions and blanks."""
    outside = ("quote", "attribution", "blank")
    start, end = 0, len(lines)
    while start < end and kinds[start] in outside:
        start += 1
    while end > start and kinds[end - 1] in outside:
        end -= 1
    return lines[start:end]


def finish_program(lines: list[str], *, keep_leading: bool = False) -> str | None:
    """A program from its lines: trailing blank lines dropped (leading ones too unless
    `keep_leading`), one final newline; None if nothing is left."""
    start, end = 0, len(lines)
    while end > start and not lines[end - 1].strip():
        end -= 1
    while not keep_leading and start < end and not lines[start].strip():
        start += 1
    if start == end:
        return None
    return "\n".join(lines[start:end]) + "\n"


def plain_indentation(lines: list[str]) -> list[str]:
    """`lines` with non-breaking spaces in their indentation made plain spaces (composers
    write indentation with them; Python rejects them)."""
    result = []
    for line in lines:
        body = line.lstrip(" \t\xa0")
        indent = line[: len(line) - len(body)]
        result.append(indent.replace("\xa0", " ") + body if "\xa0" in indent else line)
    return result


def unwrap_fence(lines: list[str]) -> list[str]:
    """The inside of `lines` if they are exactly one fenced block, else `lines` unchanged."""
    if len(lines) < 2:
        return lines
    opened = _opens(lines[0])
    if opened is None or not _closes(lines[-1], *opened):
        return lines
    if any(_closes(line, *opened) for line in lines[1:-1]):
        return lines
    return lines[1:-1]


def _opens(line: str) -> tuple[str, int] | None:
    """(fence character, run length) if `line` opens a fenced code block."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return None
    for char in "`~":
        count = len(stripped) - len(stripped.lstrip(char))
        if count >= 3:
            if char == "`" and "`" in stripped[count:]:
                return None
            return char, count
    return None


def _closes(line: str, char: str, count: int) -> bool:
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3:
        return False
    run = len(stripped) - len(stripped.lstrip(char))
    return run >= count and not stripped[run:].strip()


def _attribution(lines: list[str], i: int) -> int:
    """How many lines (0, 1 or 2) an attribution like "On ..., X wrote:" takes at line `i`."""
    line = lines[i].strip().lower()
    if _says_wrote(line) and (line.startswith(_ON) or "@" in line):
        return 1
    if line.startswith(_ON) and len(line) <= _MAX_ATTRIBUTION_CHARS and i + 1 < len(lines):
        second = lines[i + 1].strip().lower()
        if _says_wrote(second) and not second.startswith(">"):
            return 2
    return 0


def _says_wrote(line: str) -> bool:
    """Whether a (lowercase) line ends an attribution: "... wrote:", "... schrieb X <a@b>:"."""
    if not line.endswith(":") or len(line) > _MAX_ATTRIBUTION_CHARS:
        return False
    return any(word in line for word in _WROTE)


def _quote_follows(lines: list[str], i: int) -> bool:
    """Whether the first non-blank line from `i` on is a quote."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i < len(lines) and is_quote(lines[i])


def _ends_reply(lines: list[str], i: int) -> bool:
    """Whether the user's reply ends at line `i` (signature, original or forwarded mail)."""
    line = lines[i]
    if line.rstrip() == "--":
        return True
    stripped = line.strip()
    low = stripped.lower()
    if len(stripped) >= 10 and not stripped.strip("_"):
        return True
    if stripped.startswith("--") and low.strip("- ") in _ORIGINAL_MARKERS:
        return True
    if low == "begin forwarded message:":
        return True
    if len(low) <= _MAX_SIGNATURE_CHARS and low.startswith(_MOBILE_SIGNATURES):
        return True
    if low.lstrip("*").startswith(_HEADER_FROM):
        for following in lines[i + 1 : i + 5]:
            if following.strip().lower().lstrip("*").startswith(_HEADER_SENT):
                return True
    return False
