"""Mistakes in `run`/`sweep` command lines, caught before anything is queued.

Both commands stop parsing at the script (everything after it is the program's), so an unknown
option before the script would otherwise become the command to run, and one of tether's own
options after it would silently go to the program.
"""

from __future__ import annotations

import click

POINTERS = {
    "--report-interval": "tether sends periodic reports with --every DURATION (e.g. --every 10m)",
}
"""Options users bring from other tools -> a one-line pointer to tether's spelling."""

AFTER_SCRIPT = ("-p", "--param", "-w", "--wait", "--on")
"""tether options that users write after the script by mistake."""


def _option_names(command: click.Command) -> list[str]:
    ctx = click.Context(command)
    return [name for p in command.get_params(ctx) for name in getattr(p, "opts", [])]


def refuse_unknown_option(command: click.Command, argv: tuple[str, ...]) -> None:
    """A click error naming the closest option when `argv` (the script and its arguments)
    starts with an option tether does not know."""
    if not argv or not argv[0].startswith("-") or argv[0] == "-":
        return
    word = argv[0].split("=", 1)[0]
    if word in POINTERS:
        raise click.UsageError(f"no such option: {word}; {POINTERS[word]}")
    names = _option_names(command)
    import difflib

    close = difflib.get_close_matches(word, [n for n in names if n.startswith("--")], n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise click.UsageError(f"no such option: {word}{hint} (see tether {command.name} --help)")


def warn_options_after_script(argv: tuple[str, ...]) -> str | None:
    """One warning line (printed and returned) when tether options sit among the program's
    arguments: they still go to the program, as written."""
    script = argv[0] if argv else "the program"
    found = [w for w in dict.fromkeys(a.split("=", 1)[0] for a in argv[1:]) if w in AFTER_SCRIPT]
    if not found:
        return None
    line = (
        f"tether: warning: {', '.join(found)} after {script} go(es) to the program; "
        f"to give it to tether, put it before {script}"
    )
    click.echo(line, err=True)
    return line


def _is_python(word: str) -> bool:
    import re
    from pathlib import PurePath

    return re.fullmatch(r"python(\d+(\.\d+)?)?", PurePath(word).name) is not None


def command_for_params(argv: tuple[str, ...], has_params: bool) -> tuple[str, ...]:
    """`argv` with `python FILE.py ...` turned into `FILE.py ...` when -p is given (so the
    values apply to that file and `show` records what ran); -p with any other command is
    refused, since there is no script to set them in."""
    if not has_params or not argv or argv[0].endswith((".py", ".ipynb")):
        return argv
    if _is_python(argv[0]) and len(argv) > 1 and argv[1].endswith(".py"):
        return argv[1:]
    from tether.errors import UsageError

    raise UsageError(
        f"-p sets tunables of a SCRIPT.py (or the parameters of a notebook), and {argv[0]!r} "
        "is neither; run "
        "`tether run -p NAME=VALUE SCRIPT.py ARGS` (or `-- python SCRIPT.py ARGS`)"
    )
