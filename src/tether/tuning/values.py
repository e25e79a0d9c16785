"""Typed parsing of ``-p name=value`` command-line values, and writing values back as source.

The rule for a value is: whatever Python's :func:`ast.literal_eval` accepts is that value
(``3``, ``1e-3``, ``True``, ``None``, ``'quoted text'``, ``[1, 2]``, ``(1, 2)``, ``1,2``,
``{"a": 1}``); the spellings ``true``/``false``, ``none``/``null``, ``inf``/``nan`` and
numbers with leading zeros (``010``) are accepted too; anything else is kept as the text
itself (``resnet`` -> ``"resnet"``). To force a string that looks like a number, quote it:
``-p tag="'3'"``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable

from tether.errors import UsageError

_WORDS: dict[str, object] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "none": None,
    "None": None,
    "null": None,
}

_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def parse_value(text: str) -> object:
    """Turn the text of a ``-p name=value`` value into an int, float, bool, None, str,
    list, tuple, dict or set (see the module docstring for the rule)."""
    stripped = text.strip()
    if stripped in _WORDS:
        return _WORDS[stripped]
    if not stripped:
        return text
    try:
        return ast.literal_eval(stripped)
    except _LITERAL_ERRORS:
        pass
    if stripped.isascii():
        for convert in (int, float):
            try:
                return convert(stripped)
            except ValueError:
                continue
    return text


def check_name(name: str, *, what: str = "parameter") -> str:
    """Return ``name`` if it is a valid parameter name (``lr``, ``model.depth``), else raise
    :class:`UsageError`."""
    if name and all(part.isidentifier() for part in name.split(".")):
        return name
    raise UsageError(
        f"{name!r} is not a valid {what} name: use a Python identifier such as 'lr' or "
        "'num_layers' (dotted names like 'optimizer.lr' are allowed for tether.param)."
    )


def parse_assignment(text: str) -> tuple[str, object]:
    """Split ``"lr=0.01"`` into ``("lr", 0.01)``; the value is typed by :func:`parse_value`."""
    name, value = split_assignment(text)
    return name, parse_value(value)


def split_assignment(text: str) -> tuple[str, str]:
    """Split ``"name=value"`` at the first ``=`` into a checked name and the raw value text."""
    name, sep, value = text.partition("=")
    if not sep:
        raise UsageError(
            f"-p {text!r} has no '=': write the parameter as name=value, e.g. -p lr=0.01."
        )
    name = name.strip()
    if not name:
        raise UsageError(
            f"-p {text!r} has no name before '=': write it as name=value, e.g. -p lr=0.01."
        )
    return check_name(name), value


def parse_assignments(texts: Iterable[str]) -> dict[str, object]:
    """Parse several ``name=value`` texts into a dict, refusing a name given twice."""
    result: dict[str, object] = {}
    for text in texts:
        name, value = parse_assignment(text)
        if name in result:
            raise UsageError(
                f"parameter {name!r} is given twice (-p {name}=...); give each name once."
            )
        result[name] = value
    return result


def to_source(value: object) -> str:
    """Python source text for ``value``: its ``repr()``, checked to read back as the same
    value; ``float('inf')``/``float('nan')`` for non-finite floats.

    Raises :class:`UsageError` for values that cannot be written as a literal.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    text = repr(value)
    try:
        back = ast.literal_eval(text)
    except _LITERAL_ERRORS:
        back = _Unreadable
    if back is _Unreadable or not _same(back, value):
        raise UsageError(
            f"the value {text} ({type(value).__name__}) cannot be written into a Python "
            "script as a literal; use numbers, strings, True/False/None, or lists, tuples "
            "and dicts of those."
        )
    return text


class _Unreadable:
    """Marker for a repr that does not read back."""


def _same(a: object, b: object) -> bool:
    """Equality that also treats NaN as equal to NaN (inside containers)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b
