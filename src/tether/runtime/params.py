"""``tether.param``: a tunable value that ``tether run -p NAME=VALUE`` can override."""

from __future__ import annotations

from typing import Any, TypeVar

from tether.runtime import context

T = TypeVar("T")

_overrides: dict[str, Any] | None = None


def param(name: str, default: T) -> T:
    """Return the override for ``name`` given at submit time, else ``default``."""
    global _overrides
    if _overrides is None:
        _overrides = context.params()
    return _overrides.get(name, default)
