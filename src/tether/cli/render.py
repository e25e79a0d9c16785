"""Human formatting: durations, metric values, sparklines and rich tables."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

SPARKS = "▁▂▃▄▅▆▇█"

STATUS_STYLE = {
    "queued": "yellow",
    "running": "cyan",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "lost": "red",
}


def duration(seconds: float | None) -> str:
    """``3h12m``, ``5m03s``, ``12.4s``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def number(value: float | str | None) -> str:
    """A metric's value, short; ``nan``/``inf`` as such (also as JSON gives them, strings)."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)  # nan, inf, -inf
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}"


def metrics_text(values: dict[str, float], limit: int = 3) -> str:
    items = list(values.items())[-limit:]
    return " ".join(f"{k}={number(v)}" for k, v in items)


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """A one-line chart of ``values`` (downsampled to ``width`` points)."""
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width - 1)] + [values[-1]]
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "?" * len(values)
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(
        SPARKS[int((v - low) / span * (len(SPARKS) - 1))] if math.isfinite(v) else "?"
        for v in values
    )  # ? marks a NaN or inf point


def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)
