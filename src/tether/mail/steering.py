"""Carry out one parsed mail command on a job; the text returned is the confirmation reply.

Nothing here talks to a mail server: `tether.mail.inbox` reads the reply, `parse_reply` turns
it into a `Command`, and `apply_command` acts on it. A command that cannot be carried out
(a program that does not compile, a changed original file) changes nothing and the returned
text says why, with the line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tether import backends
from tether.errors import TetherError
from tether.jobs.logs import tail_lines
from tether.mail.reply import Command
from tether.mail.tokens import make_token, tokens_equal
from tether.store.jobs import Job, JobStore

DEFAULT_LOG_LINES = 30
MAX_LOG_LINES = 500


def find_job(store: JobStore, token: str) -> Job | None:
    """The job whose steering token is `token` (constant time); None if none is steered."""
    for job in store.iter_where("extra LIKE ?", ('%"token"%',)):
        candidate = job.extra.get("token")
        if isinstance(candidate, str) and tokens_equal(candidate, token):
            return None if job.extra.get("steering") == "stopped" else job
    return None


def apply_command(home: Path, command: Command) -> str:
    """Do what `command` asks for its job; returns the reply text (errors included)."""
    store = JobStore(home)
    try:
        job = find_job(store, command.job_token)
        if job is None:
            return "error: that job is no longer steered by mail; nothing was done"
        try:
            return _apply(home, store, job, command)
        except TetherError as exc:
            return f"error: {exc}"
    finally:
        store.close()


def _apply(home: Path, store: JobStore, job: Job, command: Command) -> str:
    if command.kind == "quit":
        return _quit(store, job)
    if command.kind == "rerun":
        return _rerun(home, store, job, command)
    if command.kind == "save_quit":
        saved = _save(home, job, command.program)
        return f"{saved}\n{_quit(store, job)}"
    if command.kind == "status":
        return _status(job)
    return _logs(job, command.log_lines)


def _quit(store: JobStore, job: Job) -> str:
    job = backends.refresh(store, store.get(job.number))
    done = f"was already {job.status}"
    if not job.finished:
        job = backends.cancel(store, job)
        done = "cancelled"
    store.merge_extra(job.number, steering="stopped")
    return f"job #{job.number} {done}; it is no longer steered by mail"


def _rerun(home: Path, store: JobStore, job: Job, command: Command) -> str:
    from tether.backends import backend_for
    from tether.backends.base import Change
    from tether.tuning.program import check_compiles, version_diff

    if command.program is not None:
        if "version" not in job.extra:
            return f"error: job #{job.number} ran a command, not a stored .py program; nothing run"
        check_compiles(command.program, Path(str(job.extra.get("entry") or "program.py")).name)
    change = Change(
        overrides=dict(command.params), edited_source=command.program, extra={"token": make_token()}
    )
    lines = []
    current = backends.refresh(store, store.get(job.number))
    if not current.finished and not command.queue:
        backends.cancel(store, current)
        lines.append(f"cancelled job #{job.number}")
    new = backend_for(job).rerun(store, job, change)
    lines.insert(0, f"job #{new.number} queued: a re-run of job #{job.number}")
    if command.params:
        lines.append("parameters: " + ", ".join(f"{k} = {v!r}" for k, v in command.params.items()))
    if "version" in job.extra:
        diff = version_diff(home, job.extra, new.extra)
        lines.append(f"changes against job #{job.number}:\n{diff}" if diff else "same program")
    return "\n".join(lines)


def _save(home: Path, job: Job, program: str | None) -> str:
    from tether.tuning.program import check_compiles, file_sha, program_source

    if "version" not in job.extra or "original" not in job.extra:
        raise TetherError(f"job #{job.number} has no stored .py program to save; nothing saved")
    target = Path(job.extra["original"])
    if program is not None:
        check_compiles(program, target.name)
    if target.exists() and file_sha(target) != job.extra.get("original_sha"):
        raise TetherError(
            f"{target} changed since job #{job.number} started; nothing saved (use tether save "
            "--force on the machine)"
        )
    text = program if program is not None else program_source(home, job.extra)
    if target.exists():
        shutil.copy2(target, target.with_name(target.name + ".bak"))
    target.write_text(text)
    return f"saved job #{job.number}'s program to {target} (the previous file is {target.name}.bak)"


def _status(job: Job) -> str:
    lines = [f"job #{job.number} {job.name}: {job.status}"]
    if job.exit_code is not None:
        lines.append(f"exit code: {job.exit_code}")
    if job.runtime is not None:
        lines.append(f"runtime: {job.runtime:.0f} s")
    params = job.extra.get("params") or {}
    if params:
        lines.append("parameters: " + ", ".join(f"{k} = {v!r}" for k, v in params.items()))
    return "\n".join(lines)


def _logs(job: Job, count: int | None) -> str:
    count = min(count or DEFAULT_LOG_LINES, MAX_LOG_LINES)
    try:
        tail = tail_lines(Path(job.log_path), count)
    except OSError as exc:
        return f"error: job #{job.number}'s log cannot be read: {exc.strerror}"
    text = b"".join(tail).decode("utf-8", "replace")
    return f"last {count} lines of job #{job.number}'s output:\n{text}"
