"""Grid and random-search sweeps."""

from __future__ import annotations

import math

import pytest

from tether.errors import UsageError
from tether.tuning.sweep import (
    Choice,
    IntRange,
    LogUniform,
    Uniform,
    grid,
    parse_distribution,
    parse_sweep_assignment,
    parse_sweep_assignments,
    parse_sweep_values,
    random_points,
    split_values,
)


def test_grid_order_is_stable() -> None:
    points = grid({"lr": [0.1, 0.01], "layers": [2, 4, 8]})
    assert points == [
        {"lr": 0.1, "layers": 2},
        {"lr": 0.1, "layers": 4},
        {"lr": 0.1, "layers": 8},
        {"lr": 0.01, "layers": 2},
        {"lr": 0.01, "layers": 4},
        {"lr": 0.01, "layers": 8},
    ]
    assert all(list(p) == ["lr", "layers"] for p in points)


def test_grid_edge_cases() -> None:
    assert grid({}) == [{}]
    assert grid({"a": [1]}) == [{"a": 1}]
    with pytest.raises(UsageError, match="'a' has no values"):
        grid({"a": []})


def test_grid_points_do_not_share_mutable_values() -> None:
    points = grid({"sizes": [[1, 2]], "b": [1, 2]})
    points[0]["sizes"].append(3)  # type: ignore[attr-defined]
    assert points[1]["sizes"] == [1, 2]


def test_grid_limit() -> None:
    specs = {"a": list(range(100)), "b": list(range(101))}
    with pytest.raises(UsageError, match="10100 runs"):
        grid(specs)
    assert len(grid(specs, limit=None)) == 10100


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.1,0.01,0.001", [0.1, 0.01, 0.001]),
        ("1e-4, 1e-3", [1e-4, 1e-3]),
        ("0.1", [0.1]),
        ("resnet,vit", ["resnet", "vit"]),
        ("[1,2]", [[1, 2]]),
        ("[1,2],[3,4]", [[1, 2], [3, 4]]),
        ("(1, 2),(3,)", [(1, 2), (3,)]),
        ("{'a': 1, 'b': 2},{}", [{"a": 1, "b": 2}, {}]),
        ("'a,b',c", ["a,b", "c"]),
        ('"x,y"', ["x,y"]),
        ("don't,stop", ["don't", "stop"]),
        ("true,false,null", [True, False, None]),
        ("'',x", ["", "x"]),
    ],
)
def test_parse_sweep_values(text: str, expected: list[object]) -> None:
    assert parse_sweep_values(text) == expected


def test_split_values_keeps_escaped_quotes() -> None:
    assert split_values(r"'a\',b',c") == [r"'a\',b'", "c"]


@pytest.mark.parametrize("text", ["", "1,,2", "1,", ",1"])
def test_parse_sweep_values_refuses_empty_items(text: str) -> None:
    with pytest.raises(UsageError, match="lr"):
        parse_sweep_values(text, name="lr")


def test_parse_sweep_assignment() -> None:
    assert parse_sweep_assignment("lr=0.1,0.01") == ("lr", [0.1, 0.01])
    with pytest.raises(UsageError, match="name=value"):
        parse_sweep_assignment("lr")
    assert parse_sweep_assignments(["a=1,2", "b=x"]) == {"a": [1, 2], "b": ["x"]}
    with pytest.raises(UsageError, match="twice"):
        parse_sweep_assignments(["a=1", "a=2"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("log:1e-4..1e-1", LogUniform(1e-4, 1e-1)),
        ("LOG: 1e-4 .. 0.1", LogUniform(1e-4, 0.1)),
        ("float:0..1", Uniform(0.0, 1.0)),
        ("float:-1.5..2", Uniform(-1.5, 2.0)),
        ("int:1..8", IntRange(1, 8)),
        ("int:-3..-1", IntRange(-3, -1)),
        ("a,b,c", Choice(("a", "b", "c"))),
        ("choice:1,[2,3]", Choice((1, [2, 3]))),
        ("0.5", Choice((0.5,))),
    ],
)
def test_parse_distribution(text: str, expected: object) -> None:
    assert parse_distribution(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("log:0..1", "above 0"),
        ("log:-1..1", "above 0"),
        ("float:1..0", "low bound is above"),
        ("int:8..1", "low bound is above"),
        ("int:1.5..3", "whole numbers"),
        ("int:a..3", "whole numbers"),
        ("float:a..b", "must be numbers"),
        ("float:0..inf", "finite"),
        ("log:1e-4", "two bounds"),
    ],
)
def test_parse_distribution_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_distribution(text, name="lr")


def test_random_points_are_deterministic_and_in_range() -> None:
    specs = {
        "lr": "log:1e-4..1e-1",
        "dropout": "float:0..0.5",
        "layers": "int:1..8",
        "act": "relu,gelu,tanh",
        "opt": ["adam", "sgd"],
        "wd": Uniform(0.0, 1.0),
    }
    points = random_points(specs, 200, seed=42)
    assert points == random_points(specs, 200, seed=42)
    assert points != random_points(specs, 200, seed=43)
    assert len(points) == 200
    for point in points:
        assert list(point) == list(specs)
        assert 1e-4 <= point["lr"] <= 1e-1  # type: ignore[operator]
        assert 0 <= point["dropout"] <= 0.5  # type: ignore[operator]
        assert isinstance(point["layers"], int) and 1 <= point["layers"] <= 8
        assert point["act"] in ("relu", "gelu", "tanh")
        assert point["opt"] in ("adam", "sgd")
    assert {p["layers"] for p in points} == set(range(1, 9))
    assert {p["act"] for p in points} == {"relu", "gelu", "tanh"}


def test_random_log_uniform_spreads_over_decades() -> None:
    values = [p["lr"] for p in random_points({"lr": "log:1e-6..1"}, 600, seed=1)]
    decades = {math.floor(math.log10(v)) for v in values}  # type: ignore[arg-type]
    assert decades == {-6, -5, -4, -3, -2, -1}
    assert all(v == float(f"{v:.6g}") for v in values)  # rounded to 6 significant digits


def test_random_points_independent_per_name() -> None:
    a = random_points({"lr": "log:1e-4..1e-1"}, 5, seed=7)
    b = random_points({"layers": "int:1..4", "lr": "log:1e-4..1e-1"}, 5, seed=7)
    assert [p["lr"] for p in a] == [p["lr"] for p in b]


def test_random_points_edge_cases() -> None:
    assert random_points({"a": "int:1..3"}, 0, seed=1) == []
    assert random_points({}, 2, seed=1) == [{}, {}]
    assert random_points({"a": "int:5..5"}, 3, seed=1) == [{"a": 5}] * 3
    with pytest.raises(UsageError):
        random_points({"a": "int:1..3"}, -1, seed=1)
    with pytest.raises(UsageError, match="no values"):
        random_points({"a": []}, 1, seed=1)
