"""The command language of a reply: one command line, then ``name = value`` lines.

Command words (case-insensitive, a trailing "." or "!" ignored): ``stop``/``quit``/``cancel``/
``$q``; ``rerun``/``run``/``again``/``re-run``/``$r`` (optionally ``--queue``); ``save``/``$sq``;
``status``; ``logs`` (optionally a line count). Parameter values are Python literals where
``ast.literal_eval`` accepts them (curly quotes from phone keyboards are straightened first),
``true``/``false``/``none``/``null`` in any case, and otherwise the plain text as a string.
"""

from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass
from typing import Literal

CommandKind = Literal["quit", "rerun", "save_quit", "status", "logs"]

MAX_LOG_LINES = 100_000
MAX_PARAMS = 100
MAX_VALUE_CHARS = 2_000

COMMAND_WORDS: dict[str, CommandKind] = {
    "stop": "quit",
    "quit": "quit",
    "cancel": "quit",
    "$q": "quit",
    "rerun": "rerun",
    "re-run": "rerun",
    "run": "rerun",
    "again": "rerun",
    "$r": "rerun",
    "save": "save_quit",
    "$sq": "save_quit",
    "status": "status",
    "logs": "logs",
}

HELP = (
    "Reply with one of these words on the first line: stop (also quit, cancel), "
    "rerun (also run, again; add --queue to wait for a free slot), save (save the program "
    "and stop), status, logs (or logs 50 for the last 50 lines). After rerun or save, lines "
    "like 'lr = 0.001' override parameters, and a ```python code block or an attached .py "
    "file replaces the program. The old format works too: the program, then $q, $r or $sq "
    "between two >EOM< lines."
)

_DASHES = {"\u2014": "--", "\u2013": "--", "\u2012": "--", "\u2212": "-"}
_CURLY = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
    }
)
_WORDS = {"true": True, "false": False, "none": None, "null": None}


@dataclass(frozen=True)
class CommandLine:
    """A parsed command line."""

    kind: CommandKind
    queue: bool = False
    log_lines: int | None = None


class CommandError(ValueError):
    """A command or parameter the user must correct; the message says how."""


def parse_command_line(line: str) -> CommandLine:
    """The command on `line`; CommandError if it is not one."""
    for dash, ascii_dash in _DASHES.items():
        line = line.replace(dash, ascii_dash)
    words = line.split()
    if not words:
        raise CommandError(f"no command found. {HELP}")
    word = words[0].lower().rstrip(".!")
    kind = COMMAND_WORDS.get(word)
    if kind is None:
        raise CommandError(f"unknown command {_show(words[0])}. {HELP}")
    rest = words[1:]
    if kind == "rerun":
        extra = [w for w in rest if w.lower() != "--queue"]
        if extra:
            raise CommandError(
                f"unexpected {_show(extra[0])} after {word!r}: only --queue may follow it; "
                "put parameters on their own lines, like 'lr = 0.001'"
            )
        return CommandLine("rerun", queue=bool(rest))
    if kind == "logs":
        if not rest:
            return CommandLine("logs")
        count = rest[0]
        if len(rest) > 1 or not (count.isascii() and count.isdigit() and len(count) <= 6):
            raise CommandError("'logs' takes one optional number of lines, like 'logs 50'")
        lines = int(count)
        if not 1 <= lines <= MAX_LOG_LINES:
            raise CommandError(f"'logs' takes a number of lines from 1 to {MAX_LOG_LINES}")
        return CommandLine("logs", log_lines=lines)
    if rest:
        raise CommandError(f"unexpected {_show(rest[0])} after {word!r}")
    return CommandLine(kind)


def parse_params(lines: list[str]) -> dict[str, object]:
    """Parameter overrides from ``name = value`` lines; CommandError for any other line."""
    params: dict[str, object] = {}
    for line in lines:
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _is_name(name) or value.startswith("="):
            raise CommandError(
                f"{_show(line.strip())} is not a parameter: write one 'name = value' per line "
                "(text that is not a command or a parameter is not allowed after rerun/save)"
            )
        if not value:
            raise CommandError(f"parameter {name!r} has no value")
        if len(value) > MAX_VALUE_CHARS:
            raise CommandError(f"the value of {name!r} is longer than {MAX_VALUE_CHARS} chars")
        if name in params:
            raise CommandError(f"parameter {name!r} is given twice")
        if len(params) >= MAX_PARAMS:
            raise CommandError(f"more than {MAX_PARAMS} parameters")
        params[name] = parse_value(value)
    return params


def parse_value(text: str) -> object:
    """A parameter value: a Python literal if it is one, else the text itself."""
    text = text.strip()
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    try:
        return ast.literal_eval(text.translate(_CURLY))
    except Exception:
        return text


def _is_name(name: str) -> bool:
    """A parameter name: an identifier or a dotted path of identifiers, no keywords."""
    parts = name.split(".")
    return all(p.isidentifier() and not keyword.iskeyword(p) for p in parts)


def _show(text: str, limit: int = 60) -> str:
    """`text` quoted for a message, shortened."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
