"""What reading a reply gives: `Rejected`, `Invalid` or a `Command` (see `tether.mail.reply`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tether.mail.reply_command import CommandKind


@dataclass(frozen=True)
class Rejected:
    """Ignore this message (and do not answer it); `reason` is for the log only."""

    reason: str


@dataclass(frozen=True)
class Invalid:
    """An authorised reply that is not a valid command; `reason` tells the user what to fix."""

    reason: str
    job_token: str
    sender: str = ""
    message_id: str = ""
    job: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Command:
    """An authorised, well-formed command for the job with token `job_token`.

    `program` is the new program text (LF line ends, one final newline) or None for "the same
    program"; `program_source` says where it came from ("body", "code block" or the
    attachment's file name). `params` are parameter overrides; `queue` asks a rerun to wait
    for a free slot; `log_lines` is the N of ``logs N``. `raw_text` is the decoded body text
    the command was read from; `job` is what `token_is_valid` returned for the token.
    """

    kind: CommandKind
    job_token: str
    program: str | None
    params: dict[str, object]
    queue: bool
    raw_text: str
    log_lines: int | None = None
    program_source: str | None = None
    sender: str = ""
    message_id: str = ""
    job: object = field(default=None, repr=False, compare=False)


ReplyOutcome = Command | Invalid | Rejected


@dataclass(frozen=True)
class Origin:
    """Who sent the reply, for which job, under which Message-ID."""

    token: str
    sender: str
    message_id: str
    job: object
