"""sbatch scripts, rendered from a template: the built-in one or a per-host template file.

Template syntax
---------------
A template is a batch script with placeholders between ``#`` signs:

``#name#``
    The value of ``name``.
``#name:default=VALUE#``
    ``VALUE`` when ``name`` has no value. ``VALUE`` runs to the closing ``#`` (it may
    hold ``:`` but not ``#``).
``#name:format=time#``
    The value as a Slurm time limit: seconds (``3600``) or any accepted duration
    (``90m``, ``1d12h``) become ``HH:MM:SS`` or ``D-HH:MM:SS``. The format may come before
    or after a default: ``#time:format=time:default=3600#``, ``#time:default=3600:format=time#``.

Optional lines: a line whose placeholders all lack both a value and a default is left
out, so ``#SBATCH --qos=#qos#`` disappears when no QOS is asked for. In a line that is
kept, a placeholder without value renders as nothing.

List values repeat their line once per item (``#SBATCH #sbatch_lines#`` gives one
``#SBATCH`` line per extra option; an empty list drops the line). A line may hold one
list placeholder at most.

Quoting: in lines starting with ``#`` (``#SBATCH`` directives) values are inserted as
sbatch reads them: a value with spaces, quotes, backslashes or ``#`` goes in double
quotes; a newline is refused. In every other line (the shell body) each value is inserted
shell-quoted (``shlex.quote``). Never quote placeholders yourself: write
``echo #job_name#``, not ``echo "#job_name#"``.
``#command#`` is the whole command, each argument quoted; ``#env#`` items are
``NAME='value'`` for ``export #env#``; ``#sbatch_lines#`` items are inserted as written.
A leading ``~/`` in ``#workdir#`` stays unquoted, so the shell expands it. Values holding
newlines are quoted as bash ``$'...'`` strings: each template line gives one script line.

Names: job_name, output, error, cpus, mem, gpus (``a100:2``), gres (``gpu:a100:2``),
gpu_option (``--gres=gpu:a100:2`` or ``--gpus=a100:2``, after ``gpu_style``), time,
partition, account, qos, constraint, array, sbatch_lines, workdir, command, env, and any
extra names passed to ``render_script(values=...)``. An unknown name is an error, which
catches typos like ``#partiton#``.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from tether.errors import ConfigError, UsageError
from tether.targets.slurm.resources import Resources, normalize_time

DEFAULT_TEMPLATE = """\
#!/bin/bash
#SBATCH --job-name=#job_name#
#SBATCH --output=#output#
#SBATCH --error=#error#
#SBATCH --cpus-per-task=#cpus#
#SBATCH --mem=#mem#
#SBATCH #gpu_option#
#SBATCH --time=#time#
#SBATCH --partition=#partition#
#SBATCH --account=#account#
#SBATCH --qos=#qos#
#SBATCH --constraint=#constraint#
#SBATCH --array=#array#
#SBATCH #sbatch_lines#

cd #workdir#
export #env#
#command#
"""

RESOURCE_NAMES = (
    "job_name",
    "output",
    "error",
    "cpus",
    "mem",
    "gpus",
    "gres",
    "gpu_option",
    "time",
    "partition",
    "account",
    "qos",
    "constraint",
    "array",
    "sbatch_lines",
)
NAMES = (*RESOURCE_NAMES, "workdir", "command", "env")
"""Placeholder names every template may use."""

LIST_NAMES = frozenset({"sbatch_lines", "env"})
FORMATS = {"time": normalize_time}

_PLACEHOLDER_RE = re.compile(
    r"#([A-Za-z_]\w*)(?::format=(\w*))?(?::default=([^#\n]*?))?(?::format=(\w*))?#"
)
"""Groups: name, format, default, format written after the default (``default=600:format=time``)."""


def _format_of(match: re.Match[str]) -> str | None:
    """The placeholder's format, written before or after its default."""
    return match.group(2) if match.group(2) is not None else match.group(4)


_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SBATCH_SPECIAL_RE = re.compile(r"[\s\"'\\#]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ANSI_C_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


class Verbatim(str):
    """A value already safe where it goes (pre-quoted shell, or sbatch syntax): inserted as is."""


class HomePath(str):
    """A path whose leading ``~/`` the shell should expand."""


Value = str | int | Sequence[str] | None


def _where(source: str, lineno: int) -> str:
    return f"{source}, line {lineno}"


def check_template(template: str, source: str = "template", extra: Sequence[str] = ()) -> None:
    """Raise ConfigError, naming the source and line, for unknown names, formats or list clashes."""
    valid = (*NAMES, *extra)
    for lineno, line in enumerate(template.splitlines(), start=1):
        lists = 0
        for match in _PLACEHOLDER_RE.finditer(line):
            name, fmt = match.group(1), _format_of(match)
            if name not in valid:
                raise ConfigError(
                    f"{_where(source, lineno)}: unknown placeholder #{name}#. "
                    f"Valid names are: {', '.join(valid)}."
                )
            if fmt is not None and fmt not in FORMATS:
                raise ConfigError(
                    f"{_where(source, lineno)}: unknown format {fmt!r} in #{name}#. "
                    f"Valid formats are: {', '.join(FORMATS)}."
                )
            lists += name in LIST_NAMES
        if lists > 1:
            raise ConfigError(
                f"{_where(source, lineno)}: a line may hold one list placeholder "
                f"({', '.join(sorted(LIST_NAMES))}), not {lists}."
            )


def load_template(path: str | os.PathLike[str], extra_names: Sequence[str] = ()) -> str:
    """Read and check a per-host template file; ``extra_names`` are names the host defines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the sbatch template {os.fspath(path)}: {exc}")
    check_template(text, source=os.fspath(path), extra=extra_names)
    return text


def sbatch_escape(value: str) -> str:
    """A value as sbatch reads it from an ``#SBATCH`` line (``_get_argument`` in sbatch/opt.c).

    sbatch splits at whitespace, groups with quotes, takes ``\\`` as an escape and an
    unquoted ``#`` as a comment; an escaped space still splits, so a value holding any of
    these goes in double quotes, its ``\\`` and ``"`` escaped.
    """
    if "\n" in value or "\r" in value:
        raise UsageError(f"Value {value!r} for an #SBATCH line must not contain a newline.")
    if not _SBATCH_SPECIAL_RE.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ansi_c_char(char: str) -> str:
    if char in _ANSI_C_ESCAPES:
        return _ANSI_C_ESCAPES[char]
    return f"\\x{ord(char):02x}" if _CONTROL_RE.match(char) else char


def shell_quote(value: str) -> str:
    """A value as one shell word on one line; a ``HomePath`` keeps a leading ``~/`` expandable.

    Values holding control characters (newlines) use bash's ``$'...'`` quoting, so every
    template line stays one script line and no value can end a ``#`` comment early.
    """
    if isinstance(value, HomePath) and (value == "~" or value.startswith("~/")):
        rest = value[2:]
        return "~/" + shell_quote(rest) if rest else value[:2]
    if _CONTROL_RE.search(value):
        return "$'" + "".join(_ansi_c_char(char) for char in value) + "'"
    return shlex.quote(value)


def shell_join(args: Sequence[str]) -> str:
    """A command line from ``args``, each one quoted by ``shell_quote``."""
    return " ".join(shell_quote(arg) for arg in args)


def _insert(value: str | int, fmt: str | None, directive: bool) -> str:
    if isinstance(value, Verbatim):
        text = str(value)
    else:
        if fmt is not None:
            value = FORMATS[fmt](value)
        text = value if isinstance(value, str) else str(value)
        text = sbatch_escape(text) if directive else shell_quote(text)
    if "\n" in text or "\r" in text:
        raise UsageError(f"Value {text!r} would break its script line: it holds a newline.")
    return text


def _render_line(line: str, values: Mapping[str, Value]) -> list[str]:
    matches = list(_PLACEHOLDER_RE.finditer(line))
    if not matches:
        return [line]
    resolved: list[Value] = []
    for match in matches:
        value = values.get(match.group(1))
        if value is None or (not isinstance(value, (str, int)) and len(value) == 0):
            value = match.group(3)  # the default, or None
        resolved.append(value)
    if all(value is None for value in resolved):
        return []
    directive = line.lstrip().startswith("#")
    repeat = next((v for v in resolved if v is not None and not isinstance(v, (str, int))), None)
    rendered = []
    for item in repeat if repeat is not None else [None]:
        pieces, end = [], 0
        for match, value in zip(matches, resolved, strict=True):
            if value is not None and not isinstance(value, (str, int)):
                value = item
            pieces.append(line[end : match.start()])
            if value is not None:
                pieces.append(_insert(value, _format_of(match), directive))
            end = match.end()
        pieces.append(line[end:])
        rendered.append("".join(pieces))
    return rendered


def template_values(
    resources: Resources,
    command: Sequence[str],
    workdir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Value]:
    """The value of every placeholder name for this job."""
    if isinstance(command, str) or not command or not all(isinstance(a, str) for a in command):
        raise UsageError("The command must be a non-empty list of string arguments.")
    exports = []
    for name, value in (env or {}).items():
        if not _ENV_NAME_RE.fullmatch(name):
            raise UsageError(
                f"Invalid environment variable name {name!r}: use letters, digits and _, "
                "not starting with a digit."
            )
        exports.append(Verbatim(f"{name}={shell_quote(str(value))}"))
    return {
        "job_name": resources.job_name,
        "output": resources.output,
        "error": resources.error,
        "cpus": resources.cpus,
        "mem": resources.mem,
        "gpus": resources.gpus,
        "gres": f"gpu:{resources.gpus}" if resources.gpus else None,
        "gpu_option": resources.gpu_option,
        "time": resources.time,
        "partition": resources.partition,
        "account": resources.account,
        "qos": resources.qos,
        "constraint": resources.constraint,
        "array": resources.array,
        "sbatch_lines": [Verbatim(line) for line in resources.sbatch_lines],
        "workdir": HomePath(os.fspath(workdir)) if workdir is not None else None,
        "command": Verbatim(shell_join(command)),
        "env": exports,
    }


def render_script(
    resources: Resources,
    command: Sequence[str],
    workdir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    template: str | None = None,
    *,
    values: Mapping[str, str | int | None] | None = None,
) -> str:
    """The sbatch script running ``command`` in ``workdir`` with ``env`` exported.

    ``template`` is the template text (``None``: ``DEFAULT_TEMPLATE``); ``values`` adds or
    overrides placeholder values, for names a host's template defines itself.
    """
    text = DEFAULT_TEMPLATE if template is None else template
    extra = dict(values or {})
    check_template(text, extra=tuple(extra))
    context = {**template_values(resources, command, workdir, env), **extra}
    lines: list[str] = []
    for line in text.splitlines():
        lines.extend(_render_line(line, context))
    return "\n".join(lines) + "\n"
