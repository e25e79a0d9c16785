"""Scan a script's syntax tree for its tunables: literal module-level constants and
``tether.param`` calls (see `tether.tuning.tunables` for what counts as which)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tether.errors import ProgramError


@dataclass
class Constant:
    name: str
    sites: list[ast.expr] = field(default_factory=list)
    values: list[object] = field(default_factory=list)
    reassigned: list[int] = field(default_factory=list)


@dataclass
class Param:
    name: str
    line: int
    default: object
    default_text: str


@dataclass
class Scan:
    constants: dict[str, Constant]
    params: dict[str, Param]
    arguments: dict[str, Constant] = field(default_factory=dict)


def parse_program(source: str, filename: str) -> ast.Module:
    """The syntax tree of `source`; ProgramError (with the line) when it is not Python."""
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


def scan_source(tree: ast.Module, source: str) -> Scan:
    """Every literal module-level constant, every ``tether.param`` call and every argparse
    option with a literal default of a script."""
    return Scan(
        constants=_scan_constants(tree),
        params=_scan_params(tree, source),
        arguments=_scan_arguments(tree),
    )


def _scan_arguments(tree: ast.Module) -> dict[str, Constant]:
    """``parser.add_argument("--lr", ..., default=0.01)`` anywhere in the file, by its dest
    (``dest=`` or the first long option, ``-`` read as ``_``); positionals, options without a
    literal default and names given twice are left out."""
    found: dict[str, Constant] = {}
    twice: set[str] = set()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            continue
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        default = keywords.get("default")
        name = _argument_dest(node, keywords.get("dest"))
        if default is None or name is None:
            continue
        try:
            value = literal_value(default)
        except ValueError:
            continue
        if name in found:
            twice.add(name)
        found[name] = Constant(name, sites=[default], values=[value])
    return {name: arg for name, arg in found.items() if name not in twice}


def _argument_dest(call: ast.Call, dest: ast.expr | None) -> str | None:
    flags = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if not flags or not flags[0].startswith("-"):
        return None  # a positional argument: set it on the command line instead
    if isinstance(dest, ast.Constant) and isinstance(dest.value, str):
        return dest.value
    long = [f for f in flags if f.startswith("--")]
    name = (long[0] if long else flags[0]).lstrip("-").replace("-", "_")
    return name if name.isidentifier() else None


def _scan_constants(tree: ast.Module) -> dict[str, Constant]:
    constants: dict[str, Constant] = {}
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
            literal = literal_value(value)
        except ValueError:
            _mark_reassigned(constants, [target], stmt.lineno)
            continue
        const = constants.setdefault(target.id, Constant(target.id))
        const.sites.append(value)
        const.values.append(literal)
    for name in _loop_variables(tree):
        constants.pop(name, None)
    return constants


def _loop_variables(tree: ast.Module) -> set[str]:
    """Module-level names a loop changes (a loop's target, an assignment inside a top-level
    ``for``/``while``) or that are updated in place (``total += x``): variables, not settings."""
    names: set[str] = set()

    def bound(node: ast.AST) -> None:
        for sub in _same_scope(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)

    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            bound(stmt)
        else:
            for sub in _same_scope(stmt):
                if isinstance(sub, (ast.For, ast.AsyncFor, ast.While)):
                    bound(sub)
                elif isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
                    names.add(sub.target.id)
    return names


def _same_scope(node: ast.AST) -> list[ast.AST]:
    """``node`` and every node under it, leaving out function and class bodies (own scopes)."""
    found: list[ast.AST] = []
    todo = [node]
    while todo:
        cur = todo.pop()
        found.append(cur)
        for child in ast.iter_child_nodes(cur):
            if not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
            ):
                todo.append(child)
    return found


def literal_value(node: ast.expr) -> object:
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


def _mark_reassigned(constants: dict[str, Constant], targets: list[ast.expr], line: int) -> None:
    """Remember a non-literal module-level assignment that comes after a literal one."""
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name) and node.id in constants:
                constants[node.id].reassigned.append(line)


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _scan_params(tree: ast.Module, source: str) -> dict[str, Param]:
    modules, functions = _tether_aliases(tree)
    params: dict[str, Param] = {}
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
                default = literal_value(default_node)
            except ValueError:
                default = None
        name = name_node.value
        found = Param(name, node.lineno, default, default_text)
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
