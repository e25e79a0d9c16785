"""Finding a script's tunables and rewriting them in place."""

from __future__ import annotations

import ast
import keyword
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tether.errors import ProgramError, UsageError
from tether.tuning.tunables import (
    Tunable,
    apply_overrides,
    decode_source,
    list_tunables,
    unified_diff,
)

SCRIPT = """\
#!/usr/bin/env python
\"\"\"Train a model.\"\"\"
import tether

# --- settings -------------------------------------------------
lr = 0.01          # learning rate
layers: int = 3    # depth
model = "resnet"
decay = -1e-4
sizes = [64, 32]


def main():
    epochs = tether.param("epochs", 10)
    print(lr, layers, model, decay, sizes, epochs)
"""


def by_name(source: str) -> dict[str, Tunable]:
    return {t.name: t for t in list_tunables(source)}


def test_lists_constants_and_params() -> None:
    found = by_name(SCRIPT)
    assert set(found) == {"lr", "layers", "model", "decay", "sizes", "epochs"}
    assert found["lr"] == Tunable("lr", "constant", 0.01, "0.01", 6, (6,))
    assert found["layers"].default == 3
    assert found["model"].default == "resnet"
    assert found["decay"].default == -1e-4
    assert found["decay"].default_text == "-1e-4"
    assert found["sizes"].default == [64, 32]
    assert found["epochs"] == Tunable("epochs", "param", 10, "10", 14, (14,))
    assert [t.line for t in list_tunables(SCRIPT)] == sorted(t.line for t in found.values())


def test_rewrite_preserves_everything_else_byte_for_byte() -> None:
    result = apply_overrides(SCRIPT, {"lr": 0.5, "layers": 12, "sizes": [8]})
    expected = (
        SCRIPT.replace("lr = 0.01          #", "lr = 0.5          #")
        .replace("layers: int = 3    #", "layers: int = 12    #")
        .replace("sizes = [64, 32]", "sizes = [8]")
    )
    assert result.source == expected
    assert result.constants == {"lr": 0.5, "layers": 12, "sizes": [8]}
    assert result.params == {}
    assert result.changed


def test_rewrite_with_unicode_before_the_value_on_the_same_line() -> None:
    source = 'name = "日本語→ü"; lr = 0.1  # größe ✓\nother = "é"  # ok\n'
    result = apply_overrides(source, {"lr": 0.25, "other": "ß"})
    assert result.source == 'name = "日本語→ü"; lr = 0.25  # größe ✓\nother = "ß"  # ok\n'


def test_rewrite_keeps_line_endings_bom_and_missing_final_newline() -> None:
    crlf = "a = 1\r\n# c\r\nb = 2  # x\r\n\r\nc = 3"
    assert apply_overrides(crlf, {"b": 5}).source == "a = 1\r\n# c\r\nb = 5  # x\r\n\r\nc = 3"
    lone_cr = "a = 1\rb = 2\r"
    assert apply_overrides(lone_cr, {"b": 7}).source == "a = 1\rb = 7\r"
    bom = "\ufeffa = 1\n"
    assert apply_overrides(bom, {"a": 2}).source == "\ufeffa = 2\n"


def test_rewrite_multiline_and_parenthesised_values() -> None:
    source = "sizes = [\n    64,  # first\n    32,\n]\nafter = 1\nt = (1, 2)\nz = (3)\n"
    result = apply_overrides(source, {"sizes": [1, 2], "t": (5,), "z": 4})
    assert result.source == "sizes = [1, 2]\nafter = 1\nt = (5,)\nz = (4)\n"


def test_rewrite_keeps_double_quotes_for_strings() -> None:
    source = "model = \"resnet\"\nname = 'x'\n"
    result = apply_overrides(source, {"model": "vit", "name": "y"})
    assert result.source == "model = \"vit\"\nname = 'y'\n"
    assert apply_overrides(source, {"model": 'say "hi"'}).source.startswith(
        "model = 'say \"hi\"'\n"
    )


def test_non_finite_float_is_written_as_call_and_stays_tunable() -> None:
    result = apply_overrides("clip = 1.0\n", {"clip": math.inf})
    assert result.source == "clip = float('inf')\n"
    assert by_name(result.source)["clip"].default == math.inf
    assert apply_overrides(result.source, {"clip": 2.0}).source == "clip = 2.0\n"


def test_params_are_runtime_overrides_and_source_is_untouched() -> None:
    source = (
        "import tether\n"
        "import tether as t\n"
        "from tether import param as p\n"
        "a = tether.param('a', 1)\n"
        "def f():\n"
        "    b = param(name='b', default=[1, 2])\n"
        "    c = t.param('c', 0.5)\n"
        "    d = p('d')\n"
        "    e = tether.param('e', default=compute())\n"
        "    other.param('nope', 1)\n"
        "    tether.param(dynamic_name, 1)\n"
    )
    found = by_name(source)
    assert set(found) == {"a", "b", "c", "d", "e"}
    assert all(t.kind == "param" for t in found.values())
    assert found["b"].default == [1, 2]
    assert found["d"].default is None and found["d"].default_text == ""
    assert found["e"].default is None and found["e"].default_text == "compute()"
    result = apply_overrides(source, {"a": 2, "e": "x"})
    assert result.source == source
    assert result.diff == ""
    assert not result.changed
    assert result.params == {"a": 2, "e": "x"}
    assert result.constants == {}


def test_name_that_is_both_constant_and_param() -> None:
    source = "lr = 0.1\nlr2 = tether.param('lr', lr)\n"
    result = apply_overrides(source, {"lr": 0.2})
    assert result.source == "lr = 0.2\nlr2 = tether.param('lr', lr)\n"
    assert result.params == {"lr": 0.2}


def test_unknown_name_lists_the_tunables() -> None:
    with pytest.raises(ProgramError) as info:
        apply_overrides(SCRIPT, {"lrr": 1, "lr": 2}, filename="train.py")
    message = str(info.value)
    assert "train.py" in message
    assert "'lrr'" in message
    assert "did you mean 'lr'" in message
    for name in ("decay", "epochs", "layers", "lr", "model", "sizes"):
        assert name in message
    assert "tether.param" in message


def test_unknown_name_in_script_without_tunables() -> None:
    with pytest.raises(ProgramError, match="no tunables"):
        apply_overrides("print(1)\n", {"lr": 1})


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(ProgramError, match=r"train\.py.*line 3"):
        list_tunables("a = 1\nb = 2\nc = (\n", filename="train.py")
    with pytest.raises(ProgramError, match="line 2"):
        apply_overrides("a = 1\nif x\n", {"a": 2})


def test_what_is_not_a_tunable() -> None:
    source = (
        "import os\n"
        "__version__ = '1.0'\n"
        "a = b = 1\n"
        "c, d = 1, 2\n"
        "e = os.environ.get('E')\n"
        "f = 1 + 2\n"
        "g: int\n"
        "x.y = 3\n"
        "if True:\n"
        "    h = 1\n"
        "def k():\n"
        "    i = 2\n"
        "class C:\n"
        "    j = 3\n"
        "ok = 1 + 2j\n"
    )
    assert set(by_name(source)) == {"ok"}


def test_constant_assigned_twice_rewrites_all_and_says_so() -> None:
    source = "lr = 0.1\nprint(lr)\nlr = 0.01  # final\n"
    found = by_name(source)
    assert found["lr"].lines == (1, 3)
    assert found["lr"].default == 0.1
    result = apply_overrides(source, {"lr": 0.5})
    assert result.source == "lr = 0.5\nprint(lr)\nlr = 0.5  # final\n"
    assert any("lines 1, 3" in note for note in result.notes)


def test_later_non_literal_assignment_is_warned_about() -> None:
    source = "lr = 0.1\nlr = float(input())\n"
    result = apply_overrides(source, {"lr": 0.5})
    assert result.source == "lr = 0.5\nlr = float(input())\n"
    assert any("line 2" in note for note in result.notes)


def test_type_change_is_noted() -> None:
    result = apply_overrides("layers = 3\nlr = 0.1\n", {"layers": "abc", "lr": 1})
    assert len(result.notes) == 1
    assert "layers" in result.notes[0] and "str" in result.notes[0]


def test_unwritable_value_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        apply_overrides("a = 1\n", {"a": object()})


def test_diff() -> None:
    result = apply_overrides("a = 1\nb = 2\n", {"b": 3}, filename="t.py")
    assert result.diff == ("--- a/t.py\n+++ b/t.py\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 3\n")
    assert unified_diff("x", "y").endswith("+y\n\\ No newline at end of file\n")


def test_decode_source() -> None:
    assert decode_source("a = 'é'\n".encode()) == "a = 'é'\n"
    assert decode_source(b"\xef\xbb\xbfa = 1\n") == "a = 1\n"
    latin = "# -*- coding: latin-1 -*-\na = 'é'\n"
    assert decode_source(latin.encode("latin-1")) == latin
    with pytest.raises(ProgramError):
        decode_source(b"a = '\xff'\n")


# -- property test ---------------------------------------------------------------------

NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: not keyword.iskeyword(n) and not (n.startswith("__") and n.endswith("__"))
)
TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\n\r"), max_size=12
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
LITERALS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner), max_leaves=6
)


Case = tuple[str, dict[str, tuple[int, str, str]], dict[str, object]]


@st.composite
def modules(draw: st.DrawFn) -> Case:
    """A module of literal assignments among other lines. Returns the source, for each name
    its line index and the text before and after its value, and the overrides to apply."""
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    lines: list[str] = []
    where: dict[str, tuple[int, str, str]] = {}
    for name in names:
        for _ in range(draw(st.integers(0, 2))):
            filler = draw(st.sampled_from(["", "# {}", "print({!r})", "if x:\n    y = {!r}"]))
            lines.extend(filler.format(draw(TEXT)).split("\n"))
        before = draw(st.sampled_from(["", "ü = {!r}; ", "pass; "])).format("→" + draw(TEXT))
        target = draw(st.sampled_from(["{}", "{}: object"])).format(name)
        equals = draw(st.sampled_from(["=", " = ", "  =   "]))
        comment = draw(st.sampled_from(["", "  # {}", "# {}"])).format(draw(TEXT))
        prefix = f"{before}{target}{equals}"
        where[name] = (len(lines), prefix, comment)
        lines.append(f"{prefix}{draw(LITERALS)!r}{comment}")
    overridden = draw(st.lists(st.sampled_from(names), unique=True))
    overrides = {name: draw(LITERALS) for name in overridden}
    return "\n".join(lines) + "\n", where, overrides


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(modules())
def test_rewrite_property(case: Case) -> None:
    """Any module of literal assignments, rewritten, keeps every other line identical, keeps
    the text around each rewritten value, still parses, and reads back the new values."""
    source, where, overrides = case
    result = apply_overrides(source, overrides)
    ast.parse(result.source)
    old_lines, new_lines = source.split("\n"), result.source.split("\n")
    assert len(old_lines) == len(new_lines)
    changed = {where[name][0] for name in overrides}
    for index, (old, new) in enumerate(zip(old_lines, new_lines, strict=True)):
        if index not in changed:
            assert old == new
    for name, value in overrides.items():
        index, prefix, comment = where[name]
        line = new_lines[index]
        assert line.startswith(prefix)
        assert line.endswith(comment)
        assert ast.literal_eval(line[len(prefix) : len(line) - len(comment)]) == value
    before, after = by_name(source), by_name(result.source)
    for name in where:
        expected = overrides[name] if name in overrides else before[name].default
        assert after[name].default == expected
