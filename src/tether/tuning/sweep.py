"""Parameter sweeps: grids (every combination) and random search.

A sweep value list is written like ``-p lr=0.1,0.01,0.001``: the text is split at commas
that are not inside brackets or quotes, and each piece is typed by
:func:`~tether.tuning.values.parse_value`. So ``sizes=[1,2],[3,4]`` is two list values,
``sizes=[1,2]`` is one list value and ``name='a,b'`` is one string.

For random search a spec is one of::

    log:1e-4..1e-1   log-uniform float between the bounds (both > 0)
    float:0..1       uniform float between the bounds
    int:1..8         integer between the bounds, both included
    a,b,c            one of the listed values (also ``choice:a,b,c``)

Random floats are rounded to 6 significant digits (and kept within the bounds) so that
they read well in scripts and diffs.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tether.errors import UsageError
from tether.tuning.values import parse_value, split_assignment

DEFAULT_GRID_LIMIT = 10_000
_OPEN, _CLOSE, _QUOTES = "([{", ")]}", "'\""
_EXAMPLE = {"log": "log:1e-4..1e-1", "float": "float:0..1", "int": "int:1..8"}


def grid(
    specs: Mapping[str, Sequence[object]], *, limit: int | None = DEFAULT_GRID_LIMIT
) -> list[dict[str, object]]:
    """Every combination of the values, in a stable order: the first name varies slowest,
    the last fastest, each name's values in the order given. ``{}`` gives ``[{}]``."""
    names = list(specs)
    for name in names:
        if len(specs[name]) == 0:
            raise UsageError(f"sweep parameter {name!r} has no values; give at least one.")
    total = math.prod(len(specs[name]) for name in names)
    if limit is not None and total > limit:
        sizes = " x ".join(f"{len(specs[n])} {n}" for n in names)
        raise UsageError(
            f"the sweep would start {total} runs ({sizes}), more than the limit of {limit}; "
            "give fewer values, or use random search with a number of runs."
        )
    return [
        dict(zip(names, copy.deepcopy(combo), strict=True))
        for combo in itertools.product(*(specs[n] for n in names))
    ]


def split_values(text: str) -> list[str]:
    """Split text at commas that are outside brackets and quotes (pieces are not stripped)."""
    parts: list[str] = []
    depth, quote, start, i = 0, "", 0, 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in _QUOTES and (depth > 0 or not text[start:i].strip()):
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def parse_sweep_values(text: str, *, name: str = "parameter") -> list[object]:
    """Parse ``"0.1,0.01,0.001"`` into ``[0.1, 0.01, 0.001]`` (brackets keep a list whole)."""
    parts = split_values(text)
    if any(not part.strip() for part in parts):
        if len(parts) == 1:
            raise UsageError(f"sweep parameter {name!r} has no values; write them as {name}=a,b,c.")
        raise UsageError(
            f"sweep parameter {name!r} has an empty value in {text!r}; remove the extra comma "
            "(write '' for an empty string)."
        )
    return [parse_value(part) for part in parts]


def parse_sweep_assignment(text: str) -> tuple[str, list[object]]:
    """Parse ``"lr=0.1,0.01"`` into ``("lr", [0.1, 0.01])``."""
    name, values = split_assignment(text)
    return name, parse_sweep_values(values, name=name)


def parse_sweep_assignments(texts: Iterable[str]) -> dict[str, list[object]]:
    """Parse several ``name=a,b,c`` texts into a dict, refusing a name given twice."""
    result: dict[str, list[object]] = {}
    for text in texts:
        name, values = parse_sweep_assignment(text)
        if name in result:
            raise UsageError(f"sweep parameter {name!r} is given twice; give each name once.")
        result[name] = values
    return result


@dataclass(frozen=True)
class LogUniform:
    """A float drawn log-uniformly between ``low`` and ``high`` (both > 0)."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        """Draw one value."""
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        return _clamp(_round(value), self.low, self.high)


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly between ``low`` and ``high``."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        """Draw one value."""
        return _clamp(_round(rng.uniform(self.low, self.high)), self.low, self.high)


@dataclass(frozen=True)
class IntRange:
    """An integer drawn uniformly from ``low`` to ``high``, both included."""

    low: int
    high: int

    def sample(self, rng: random.Random) -> int:
        """Draw one value."""
        return rng.randint(self.low, self.high)


@dataclass(frozen=True)
class Choice:
    """One of ``values``, each equally likely."""

    values: tuple[object, ...]

    def sample(self, rng: random.Random) -> object:
        """Draw one value (a copy, so points never share a list or dict)."""
        return copy.deepcopy(rng.choice(self.values))


Distribution = LogUniform | Uniform | IntRange | Choice
SpecLike = str | Distribution | Sequence[object]


def parse_distribution(text: str, *, name: str = "parameter") -> Distribution:
    """Parse a random-search spec (``log:1e-4..1e-1``, ``float:0..1``, ``int:1..8``,
    ``a,b,c`` or ``choice:a,b,c``)."""
    kind, sep, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if sep and kind == "choice":
        return Choice(tuple(parse_sweep_values(rest, name=name)))
    if sep and kind in ("log", "float"):
        low, high = _float_bounds(rest, name, kind)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise UsageError(f"{name}: the bounds of {text!r} must be finite numbers.")
        if kind == "log":
            if low <= 0:
                raise UsageError(
                    f"{name}: log-uniform bounds must be above 0 (got {text!r}); "
                    "write e.g. log:1e-4..1e-1."
                )
            return LogUniform(low, high)
        return Uniform(low, high)
    if sep and kind == "int":
        ilow, ihigh = _int_bounds(rest, name)
        return IntRange(ilow, ihigh)
    return Choice(tuple(parse_sweep_values(text, name=name)))


def random_points(
    specs: Mapping[str, SpecLike], n: int, seed: int | str
) -> list[dict[str, object]]:
    """Draw ``n`` random points. The same specs, n and seed always give the same points,
    and each name draws from its own stream, so adding a name leaves the others' values
    unchanged."""
    if n < 0:
        raise UsageError(f"the number of random runs must be 0 or more, not {n}.")
    dists = {name: _as_distribution(name, spec) for name, spec in specs.items()}
    columns = {
        name: [dist.sample(rng) for _ in range(n)]
        for name, dist in dists.items()
        for rng in [random.Random(f"tether-sweep:{seed}:{name}")]
    }
    return [{name: columns[name][i] for name in dists} for i in range(n)]


def _as_distribution(name: str, spec: SpecLike) -> Distribution:
    if isinstance(spec, str):
        return parse_distribution(spec, name=name)
    if isinstance(spec, (LogUniform, Uniform, IntRange, Choice)):
        return spec
    values = tuple(spec)
    if not values:
        raise UsageError(f"random-search parameter {name!r} has no values; give at least one.")
    return Choice(values)


def _float_bounds(text: str, name: str, kind: str) -> tuple[float, float]:
    low, high = _bounds(text, name, kind)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise UsageError(
            f"{name}: the bounds in {kind}:{text} must be numbers, like {_EXAMPLE[kind]}."
        )
    flow, fhigh = float(low), float(high)  # type: ignore[arg-type]
    _check_order(flow, fhigh, name, kind, text)
    return flow, fhigh


def _int_bounds(text: str, name: str) -> tuple[int, int]:
    low, high = _bounds(text, name, "int")
    if not (_is_int(low) and _is_int(high)):
        raise UsageError(
            f"{name}: the bounds in int:{text} must be whole numbers, like {_EXAMPLE['int']}."
        )
    ilow, ihigh = int(low), int(high)  # type: ignore[call-overload]
    _check_order(ilow, ihigh, name, "int", text)
    return ilow, ihigh


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bounds(text: str, name: str, kind: str) -> tuple[object, object]:
    low, sep, high = text.partition("..")
    if not sep:
        raise UsageError(f"{name}: {kind}:{text} needs two bounds, like {_EXAMPLE[kind]}.")
    return parse_value(low), parse_value(high)


def _check_order(low: float, high: float, name: str, kind: str, text: str) -> None:
    if low > high:
        raise UsageError(f"{name}: in {kind}:{text} the low bound is above the high bound.")


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
