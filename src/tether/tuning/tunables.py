"""Find the tunable names of a script and set them, without running it.

A script has two kinds of tunables:

* *constants*: module-level assignments of a literal, directly in the module body
  (``lr = 0.01``, ``layers: int = 3``, ``model = "resnet"``, ``lr = -1e-3``,
  ``sizes = [64, 32]``). Chained (``a = b = 1``) and tuple (``a, b = 1, 2``) assignments,
  dunder names (``__version__``) and assignments nested in ``if``/``def``/``class`` are not
  tunables. An override is written into the source in place of the literal, and every
  other byte of the file stays as it was.
* *params*: calls ``tether.param("name", default)`` or ``param("name", default)`` anywhere
  in the file (``import tether as t`` / ``from tether import param as p`` are followed too).
  An override is handed back as a runtime parameter; the source is not touched.

A name assigned a literal more than once at module level (``lr = 0.1`` ... ``lr = 0.01``)
has every one of those literals rewritten, so that the whole script sees the new value;
the result's notes say so. A later non-literal assignment of the same name
(``lr = float(sys.argv[1])``) wins at run time, and the notes warn about it.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from tether.errors import ProgramError
from tether.tuning.values import to_source

Kind = Literal["constant", "param"]
_NEWLINE = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff"


@dataclass(frozen=True)
class Tunable:
    """One tunable name of a script.

    ``default`` is the literal value in the source (for a constant assigned several times,
    the first one); for a param whose default is not a literal it is None and
    ``default_text`` holds the expression as written. ``line`` is the first line where the
    name appears; ``lines`` lists every line a constant is assigned a literal on.
    """

    name: str
    kind: Kind
    default: object
    default_text: str
    line: int
    lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class RewriteResult:
    """Result of :func:`apply_overrides`.

    ``source`` is the new source, ``params`` the overrides to hand to ``tether.param`` at
    run time, ``constants`` the overrides written into the source, ``diff`` a unified diff
    of the source change ("" when nothing changed) and ``notes`` warnings for the user.
    """

    source: str
    params: dict[str, object]
    constants: dict[str, object]
    diff: str
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the source was changed."""
        return bool(self.diff)


@dataclass
class _Constant:
    name: str
    sites: list[ast.expr] = field(default_factory=list)
    values: list[object] = field(default_factory=list)
    reassigned: list[int] = field(default_factory=list)


@dataclass
class _Param:
    name: str
    line: int
    default: object
    default_text: str


@dataclass
class _Scan:
    constants: dict[str, _Constant]
    params: dict[str, _Param]


def decode_source(data: bytes, *, filename: str = "<script>") -> str:
    """Decode a Python file's bytes the way Python does (coding cookie, UTF-8 BOM)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise ProgramError(
            f"{filename} cannot be read as Python source ({exc}); save it as UTF-8 and try again."
        ) from exc


def list_tunables(source: str, *, filename: str = "<script>") -> list[Tunable]:
    """List the tunable constants and params of a script, in source order."""
    scan = _scan(_parse(source, filename), source)
    found: list[Tunable] = []
    for const in scan.constants.values():
        if not const.sites:
            continue
        first = const.sites[0]
        found.append(
            Tunable(
                name=const.name,
                kind="constant",
                default=const.values[0],
                default_text=ast.get_source_segment(source, first) or "",
                line=first.lineno,
                lines=tuple(site.lineno for site in const.sites),
            )
        )
    for param in scan.params.values():
        found.append(
            Tunable(
                name=param.name,
                kind="param",
                default=param.default,
                default_text=param.default_text,
                line=param.line,
                lines=(param.line,),
            )
        )
    found.sort(key=lambda t: (t.line, t.kind, t.name))
    return found


def apply_overrides(
    source: str, overrides: Mapping[str, object], *, filename: str = "<script>"
) -> RewriteResult:
    """Set tunables: rewrite constants in place (keeping every other byte) and return params
    as runtime overrides. Raises :class:`ProgramError` for a name the script does not have."""
    bom = _BOM if source.startswith(_BOM) else ""
    body = source[len(bom) :]
    scan = _scan(_parse(body, filename), body)
    constants = {n: c for n, c in scan.constants.items() if c.sites}
    _check_known(overrides, constants, scan.params, filename)

    edits: list[tuple[ast.expr, str]] = []
    written: dict[str, object] = {}
    params: dict[str, object] = {}
    notes: list[str] = []
    for name, value in overrides.items():
        if name in constants:
            const = constants[name]
            text = to_source(value)
            edits.extend((site, _quoted_like(site, body, value, text)) for site in const.sites)
            written[name] = value
            notes.extend(_constant_notes(const, value))
        if name in scan.params:
            params[name] = value
            param = scan.params[name]
            if param.default_text:
                notes.extend(_type_note(name, param.default, value))

    new_body = _replace(body, edits)
    try:
        ast.parse(new_body)
    except (SyntaxError, ValueError) as exc:  # pragma: no cover - would be a bug here
        raise ProgramError(
            f"setting {', '.join(written)} in {filename} did not give valid Python ({exc}); "
            "please report this, and set the value by editing the script meanwhile."
        ) from exc
    new_source = bom + new_body
    return RewriteResult(
        source=new_source,
        params=params,
        constants=written,
        diff=unified_diff(source, new_source, filename),
        notes=tuple(notes),
    )


def unified_diff(old: str, new: str, filename: str = "<script>") -> str:
    """A unified diff between two versions of a file ("" when they are equal)."""
    if old == new:
        return ""
    out: list[str] = []
    for line in difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        f"a/{filename}",
        f"b/{filename}",
    ):
        if line.endswith(("\n", "\r")):
            out.append(line)
        else:
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _parse(source: str, filename: str) -> ast.Module:
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" if exc.lineno else "an unknown line"
        raise ProgramError(
            f"{filename} has a syntax error on {where}: {exc.msg}. Fix the script and try again."
        ) from exc
    except ValueError as exc:  # null bytes on some Python versions
        raise ProgramError(
            f"{filename} cannot be parsed as Python: {exc}. Fix the script and try again."
        ) from exc


def _scan(tree: ast.Module, source: str) -> _Scan:
    return _Scan(constants=_scan_constants(tree), params=_scan_params(tree, source))


def _scan_constants(tree: ast.Module) -> dict[str, _Constant]:
    constants: dict[str, _Constant] = {}
    for stmt in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) == 1:
                target, value = stmt.targets[0], stmt.value
            else:
                _mark_reassigned(constants, stmt.targets, stmt.lineno)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value = stmt.target, stmt.value
        if target is None or value is None:
            continue
        if not isinstance(target, ast.Name) or _is_dunder(target.id):
            _mark_reassigned(constants, [target], stmt.lineno)
            continue
        try:
            literal = _literal(value)
        except ValueError:
            _mark_reassigned(constants, [target], stmt.lineno)
            continue
        const = constants.setdefault(target.id, _Constant(target.id))
        const.sites.append(value)
        const.values.append(literal)
    return constants


def _literal(node: ast.expr) -> object:
    """The value of a literal expression; ``float("inf")``/``float("nan")`` count too.

    Raises ValueError when the expression is not a literal.
    """
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "float"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and node.args[0].value.strip().lower().lstrip("+-") in {"inf", "infinity", "nan"}
    ):
        return float(node.args[0].value)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError("not a literal") from exc


def _mark_reassigned(constants: dict[str, _Constant], targets: list[ast.expr], line: int) -> None:
    """Remember a non-literal module-level assignment that comes after a literal one."""
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and node.id in constants:
                constants[node.id].reassigned.append(line)


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _scan_params(tree: ast.Module, source: str) -> dict[str, _Param]:
    modules, functions = _tether_aliases(tree)
    params: dict[str, _Param] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not _is_param_call(node.func, modules, functions):
            continue
        name_node = _argument(node, 0, "name")
        if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
            continue
        default_node = _argument(node, 1, "default")
        default: object = None
        default_text = ""
        if default_node is not None:
            default_text = ast.get_source_segment(source, default_node) or ""
            try:
                default = _literal(default_node)
            except ValueError:
                default = None
        name = name_node.value
        found = _Param(name, node.lineno, default, default_text)
        if name not in params or found.line < params[name].line:
            params[name] = found
    return params


def _tether_aliases(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to the tether module and to ``tether.param`` by imports."""
    modules, functions = {"tether"}, {"param"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "tether" and alias.asname:
                    modules.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tether":
            for alias in node.names:
                if alias.name == "param":
                    functions.add(alias.asname or alias.name)
    return modules, functions


def _is_param_call(func: ast.expr, modules: set[str], functions: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in functions
    if isinstance(func, ast.Attribute) and func.attr == "param":
        root = func.value
        while isinstance(root, ast.Attribute):
            root = root.value
        return isinstance(root, ast.Name) and root.id in modules
    return False


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position and not any(
        isinstance(a, ast.Starred) for a in call.args[: position + 1]
    ):
        return call.args[position]
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


def _check_known(
    overrides: Mapping[str, object],
    constants: Mapping[str, _Constant],
    params: Mapping[str, _Param],
    filename: str,
) -> None:
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
        "module-level constant such as `lr = 0.01`, or a call such as "
        f"`tether.param('lr', 0.01)`; add one or fix the name{plural}."
    )


def _constant_notes(const: _Constant, value: object) -> list[str]:
    notes = _type_note(const.name, const.values[0], value)
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


def _type_note(name: str, old: object, new: object) -> list[str]:
    if type(old) is type(new) or old is None or new is None:
        return []
    if _is_number(old) and _is_number(new):
        return []
    return [
        f"{name} was {old!r} ({type(old).__name__}) and is now {new!r} "
        f"({type(new).__name__}); check the value if that was not meant."
    ]


def _quoted_like(site: ast.expr, source: str, value: object, text: str) -> str:
    """Write a new string with double quotes where the old one used them (repr uses single)."""
    if not (isinstance(value, str) and text.startswith("'") and '"' not in value):
        return text
    old = ast.get_source_segment(source, site) or ""
    if isinstance(site, ast.Constant) and isinstance(site.value, str) and old.startswith('"'):
        return f'"{text[1:-1]}"'
    return text


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _replace(source: str, edits: list[tuple[ast.expr, str]]) -> str:
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
