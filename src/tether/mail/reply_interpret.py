"""Turn the body of a trusted reply into a `Command` or an `Invalid` (seed or friendly format)."""

from __future__ import annotations

from tether.mail.reply_command import (
    HELP,
    CommandError,
    CommandLine,
    parse_command_line,
    parse_params,
)
from tether.mail.reply_mime import Body
from tether.mail.reply_outcome import Command, Invalid, Origin
from tether.mail.reply_text import (
    EOM_MARKER,
    Layout,
    finish_program,
    plain_indentation,
    scan,
    trim_quotes,
    unwrap_fence,
)

_PROGRAM_KINDS = ("rerun", "save_quit")


def interpret(body: Body, origin: Origin) -> Command | Invalid:
    """The command in `body` (seed format if it has an >EOM< line, else friendly format)."""
    layout = scan(body.text)
    if layout.eoms:
        return _seed(layout, body, origin)
    return _friendly(layout, body, origin)


def _seed(layout: Layout, body: Body, origin: Origin) -> Command | Invalid:
    """Program above the first >EOM<, the command between it and the next one (or the end)."""
    first = layout.eoms[0]
    end = layout.eoms[1] if len(layout.eoms) > 1 else len(layout.lines)
    between = range(first + 1, end)
    if any(layout.kinds[i] in ("fence", "code") for i in between):
        return invalid(
            f"put the program above the first {EOM_MARKER} line; only the command goes "
            f"between the {EOM_MARKER} lines",
            origin,
        )
    command_lines = [layout.lines[i] for i in between if layout.kinds[i] == "text"]
    if not command_lines:
        return invalid(f"no command between the {EOM_MARKER} lines. {HELP}", origin)
    region = trim_quotes(layout.lines[:first], layout.kinds[:first])
    program = finish_program(plain_indentation(unwrap_fence(region)))
    sources: list[tuple[str, str | None]] = [("body", program)]
    return _build(command_lines[0], command_lines[1:], sources, [], body, origin)


def _friendly(layout: Layout, body: Body, origin: Origin) -> Command | Invalid:
    """The first line of the user's own text is the command; code blocks are programs."""
    text = [line for line, kind in zip(layout.lines, layout.kinds, strict=True) if kind == "text"]
    if not text:
        return invalid(f"no command found. {HELP}", origin)
    sources: list[tuple[str, str | None]] = []
    problems: list[str] = []
    for fence in layout.fences:
        if fence.end is None:
            problems.append("a code block is not closed (the closing ``` line is missing)")
        else:
            lines = plain_indentation(fence.body(layout.lines))
            sources.append(("code block", finish_program(lines)))
    return _build(text[0], text[1:], sources, problems, body, origin)


def _build(
    command_line: str,
    param_lines: list[str],
    sources: list[tuple[str, str | None]],
    problems: list[str],
    body: Body,
    origin: Origin,
) -> Command | Invalid:
    """Check the command, its parameters and its (single) program; make the outcome."""
    try:
        command = parse_command_line(command_line)
    except CommandError as exc:
        return invalid(str(exc), origin)
    if command.kind not in _PROGRAM_KINDS:
        return _command(command, None, None, {}, body, origin)
    if not body.decoded_cleanly:
        return invalid(f"{body.problem}; nothing was done", origin)
    if problems:
        return invalid(problems[0], origin)
    try:
        params = parse_params(param_lines)
    except CommandError as exc:
        return invalid(str(exc), origin)
    for file in body.python_files:
        if file.error is not None:
            return invalid(file.error, origin)
        lines = (file.text or "").split("\n")
        sources.append((file.filename, finish_program(lines, keep_leading=True)))
    given = [(where, program) for where, program in sources if program is not None]
    if len(given) > 1:
        names = ", ".join(where for where, _ in given)
        return invalid(f"more than one program was given ({names}); send exactly one", origin)
    where, program = given[0] if given else (None, None)
    return _command(command, program, where, params, body, origin)


def _command(
    command: CommandLine,
    program: str | None,
    where: str | None,
    params: dict[str, object],
    body: Body,
    origin: Origin,
) -> Command:
    return Command(
        kind=command.kind,
        job_token=origin.token,
        program=program,
        params=params,
        queue=command.queue,
        raw_text=body.text,
        log_lines=command.log_lines,
        program_source=where,
        sender=origin.sender,
        message_id=origin.message_id,
        job=origin.job,
    )


def invalid(reason: str, origin: Origin) -> Invalid:
    """An `Invalid` for `origin`, with `reason` written for the user."""
    return Invalid(reason, origin.token, origin.sender, origin.message_id, origin.job)
