"""Find the tunable names of a script and set them, without running it.

A script has two kinds of tunables:

* *constants*: module-level assignments of a literal, directly in the module body
  (``lr = 0.01``, ``layers: int = 3``, ``model = "resnet"``, ``lr = -1e-3``,
  ``sizes = [64, 32]``). Chained (``a = b = 1``) and tuple (``a, b = 1, 2``) assignments,
  dunder names (``__version__``) and assignments nested in ``if``/``def``/``class`` are not
  tunables. An override is written into the source in place of the literal, and every
  other byte of the file stays as it was.
* *arguments*: argparse options with a literal default, anywhere in the file
  (``parser.add_argument("--lr", type=float, default=0.01)`` is ``lr``; ``dest=`` wins). An
  override rewrites the default in the job's copy, so a flag given on the command line
  still wins, as it would without tether. A module constant of the same name comes first.
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
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tether.errors import ProgramError
from tether.tuning.tunables_rewrite import (
    check_known,
    constant_notes,
    quoted_like,
    replace_spans,
    type_note,
)
from tether.tuning.tunables_scan import Constant, parse_program, scan_source
from tether.tuning.values import to_source

Kind = Literal["constant", "param", "argument"]
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
    """List the tunable constants, argparse defaults and params of a script, in source order."""
    scan = scan_source(parse_program(source, filename), source)
    found = [
        _assigned(const, "constant", source) for const in scan.constants.values() if const.sites
    ]
    found.extend(
        _assigned(arg, "argument", source)
        for arg in scan.arguments.values()
        # a module constant or tether.param of that name is the tunable
        if arg.name not in scan.constants and arg.name not in scan.params
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


def _assigned(const: Constant, kind: Kind, source: str) -> Tunable:
    """A constant or argparse default as a tunable (its first literal is the default)."""
    first = const.sites[0]
    return Tunable(
        name=const.name,
        kind=kind,
        default=const.values[0],
        default_text=ast.get_source_segment(source, first) or "",
        line=first.lineno,
        lines=tuple(site.lineno for site in const.sites),
    )


def apply_overrides(
    source: str, overrides: Mapping[str, object], *, filename: str = "<script>"
) -> RewriteResult:
    """Set tunables: rewrite constants in place (keeping every other byte) and return params
    as runtime overrides. Raises :class:`ProgramError` for a name the script does not have."""
    bom = _BOM if source.startswith(_BOM) else ""
    body = source[len(bom) :]
    scan = scan_source(parse_program(body, filename), body)
    arguments = {n: a for n, a in scan.arguments.items() if n not in scan.params}
    constants = {**arguments, **{n: c for n, c in scan.constants.items() if c.sites}}
    check_known(overrides, constants, scan.params, filename)

    edits: list[tuple[ast.expr, str]] = []
    written: dict[str, object] = {}
    params: dict[str, object] = {}
    notes: list[str] = []
    for name, value in overrides.items():
        if name in constants:
            const = constants[name]
            text = to_source(value)
            edits.extend((site, quoted_like(site, body, value, text)) for site in const.sites)
            written[name] = value
            notes.extend(constant_notes(const, value))
        if name in scan.params:
            params[name] = value
            param = scan.params[name]
            if param.default_text:
                notes.extend(type_note(name, param.default, value))

    new_body = replace_spans(body, edits)
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
