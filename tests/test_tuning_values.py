"""Typed parsing of -p name=value values."""

from __future__ import annotations

import math

import pytest

from tether.errors import UsageError
from tether.tuning.values import (
    check_name,
    parse_assignment,
    parse_assignments,
    parse_value,
    to_source,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("-3", -3),
        ("1_000", 1000),
        ("010", 10),
        ("0.01", 0.01),
        ("1e-3", 0.001),
        ("-2.5E2", -250.0),
        (".5", 0.5),
        ("True", True),
        ("true", True),
        ("False", False),
        ("false", False),
        ("None", None),
        ("null", None),
        ("resnet", "resnet"),
        ("hello world", "hello world"),
        ("'3'", "3"),
        ('"a,b"', "a,b"),
        ("[1, 2, 3]", [1, 2, 3]),
        ("[64,32]", [64, 32]),
        ("(1, 'a')", (1, "a")),
        ("1,2", (1, 2)),
        ("{'a': 1, 'b': [2.5]}", {"a": 1, "b": [2.5]}),
        ("", ""),
        ("./data/train.csv", "./data/train.csv"),
        ("1e-3x", "1e-3x"),
        ("yes", "yes"),
        ("é", "é"),
    ],
)
def test_parse_value(text: str, expected: object) -> None:
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_value_non_finite_floats() -> None:
    assert parse_value("inf") == math.inf
    assert parse_value("-inf") == -math.inf
    assert math.isnan(parse_value("nan"))  # type: ignore[arg-type]


def test_parse_value_keeps_unicode_digits_as_text() -> None:
    assert parse_value("٣") == "٣"


def test_parse_assignment() -> None:
    assert parse_assignment("lr=0.01") == ("lr", 0.01)
    assert parse_assignment("model=resnet") == ("model", "resnet")
    assert parse_assignment("expr=a=b") == ("expr", "a=b")
    assert parse_assignment("optimizer.lr=1e-4") == ("optimizer.lr", 1e-4)
    assert parse_assignment(" layers =3") == ("layers", 3)
    assert parse_assignment("tag=") == ("tag", "")


@pytest.mark.parametrize("text", ["lr", "lr0.01", ""])
def test_parse_assignment_needs_equals(text: str) -> None:
    with pytest.raises(UsageError, match="name=value"):
        parse_assignment(text)


@pytest.mark.parametrize("text", ["=3", "1lr=3", "my-lr=3", "a b=1", "a..b=1", "lr.=1"])
def test_parse_assignment_rejects_bad_names(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_assignment(text)
    message = str(info.value)
    assert "name" in message
    assert "e.g." in message or "such as" in message


def test_check_name() -> None:
    assert check_name("num_layers") == "num_layers"
    with pytest.raises(UsageError):
        check_name("")


def test_parse_assignments_refuses_duplicates() -> None:
    assert parse_assignments(["a=1", "b=x"]) == {"a": 1, "b": "x"}
    with pytest.raises(UsageError, match="twice"):
        parse_assignments(["a=1", "a=2"])


@pytest.mark.parametrize(
    "value", [1, -1.5, 1e-300, "it's", 'say "hi"', None, True, [1, (2, 3)], {"k": [1.0]}]
)
def test_to_source_round_trips(value: object) -> None:
    import ast

    assert ast.literal_eval(to_source(value)) == value


def test_to_source_non_finite() -> None:
    assert to_source(math.inf) == "float('inf')"
    assert to_source(-math.inf) == "float('-inf')"
    assert to_source(math.nan) == "float('nan')"


def test_to_source_refuses_unwritable_values() -> None:
    with pytest.raises(UsageError, match="literal"):
        to_source(object())
    with pytest.raises(UsageError):
        to_source([math.nan])
