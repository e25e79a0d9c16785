"""Rewriting tunables in a script's source: checks, byte-exact literal replacement, notes."""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Mapping

from tether.errors import ProgramError
from tether.tuning.tunables_scan import Constant, Param
from tether.tuning.values import to_source

_NEWLINE = re.compile(rb"\r\n|\r|\n")


def check_known(
    overrides: Mapping[str, object],
    constants: Mapping[str, Constant],
    params: Mapping[str, Param],
    filename: str,
) -> None:
    """ProgramError naming every override the script has no tunable for (with hints)."""
    unknown = [name for name in overrides if name not in constants and name not in params]
    if not unknown:
        return
    known = sorted(set(constants) | set(params))
    missing = ", ".join(repr(n) for n in unknown)
    plural = "s" if len(unknown) > 1 else ""
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            hints.append(f" (did you mean {close[0]!r} for {name!r}?)")
    listing = f"Its tunables are: {', '.join(known)}." if known else "It has no tunables."
    raise ProgramError(
        f"{filename} has no tunable named {missing}{''.join(hints)}. {listing} A tunable is a "
        "module-level constant such as `lr = 0.01`, an argparse option with a default "
        "(`add_argument('--lr', default=0.01)`) or a call such as "
        f"`tether.param('lr', 0.01)`; add one or fix the name{plural}."
    )


def constant_notes(const: Constant, value: object) -> list[str]:
    """Warnings about setting `const`: type change, several sites, a later reassignment."""
    notes = type_note(const.name, const.values[0], value)
    lines = [site.lineno for site in const.sites]
    if len(lines) > 1:
        notes.append(
            f"{const.name} is assigned on lines {', '.join(map(str, lines))}; "
            f"all {len(lines)} were set to {to_source(value)}."
        )
    later = [line for line in const.reassigned if line > lines[0]]
    if later:
        notes.append(
            f"{const.name} is assigned again on line {later[-1]} by a statement tether does "
            f"not rewrite; from there on that assignment, not {to_source(value)}, decides its "
            "value."
        )
    return notes


def type_note(name: str, old: object, new: object) -> list[str]:
    """A warning when `new` is of another type than `old` (int/float count as one)."""
    if type(old) is type(new) or old is None or new is None:
        return []
    if _is_number(old) and _is_number(new):
        return []
    return [
        f"{name} was {old!r} ({type(old).__name__}) and is now {new!r} "
        f"({type(new).__name__}); check the value if that was not meant."
    ]


def quoted_like(site: ast.expr, source: str, value: object, text: str) -> str:
    """Write a new string with double quotes where the old one used them (repr uses single)."""
    if not (isinstance(value, str) and text.startswith("'") and '"' not in value):
        return text
    old = ast.get_source_segment(source, site) or ""
    if isinstance(site, ast.Constant) and isinstance(site.value, str) and old.startswith('"'):
        return f'"{text[1:-1]}"'
    return text


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def replace_spans(source: str, edits: list[tuple[ast.expr, str]]) -> str:
    """Replace each node's exact source span (ast offsets are UTF-8 byte offsets)."""
    if not edits:
        return source
    data = source.encode("utf-8", "surrogatepass")
    starts = [0] + [m.end() for m in _NEWLINE.finditer(data)]
    spans = []
    for node, text in edits:
        assert node.end_lineno is not None and node.end_col_offset is not None
        begin = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset
        spans.append((begin, end, text.encode("utf-8", "surrogatepass")))
    for begin, end, new in sorted(spans, reverse=True):
        data = data[:begin] + new + data[end:]
    return data.decode("utf-8", "surrogatepass")
