"""Slurm job states, read from squeue, sacct and scontrol, mapped to tether's statuses.

Polling: ``poll_commands(ids)`` gives the commands to run on the cluster, each ONE call
covering every id (never a call per job): squeue for jobs Slurm still holds in memory,
then sacct (when the cluster keeps accounting) for jobs that have left it. Parse each
output with ``parse_output(command, stdout)`` and merge with ``combine_states``.

Array jobs are keyed by task: ``123_4`` for a task, ``123_[5-9%2]`` for tasks still
pending together; ``base_job_id`` gives the ``123`` they were submitted under.

squeue given a single id Slurm has forgotten exits 1 with "Invalid job id specified" on
stderr: that means "not in the queue" (see ``is_unknown_job_error``), not a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from tether.errors import RemoteError

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[Status] = frozenset({"succeeded", "failed", "cancelled"})

SQUEUE_FORMAT = "%i|%T|%r"
SACCT_FIELDS = "JobID,State,ExitCode,Reason"

# Slurm state -> (tether status, reason; None: Slurm's own reason, if any).
_STATES: dict[str, tuple[Status, str | None]] = {
    "PENDING": ("queued", None),
    "CONFIGURING": ("queued", "configuring nodes"),
    "REQUEUED": ("queued", "requeued"),
    "REQUEUE_HOLD": ("queued", "requeued and held"),
    "REQUEUE_FED": ("queued", "requeued"),
    "RESV_DEL_HOLD": ("queued", "held: reservation deleted"),
    # Started jobs whose processes do not run right now still hold their allocation and
    # resume where they stopped: running, with the pause as the reason.
    "SUSPENDED": ("running", "suspended"),
    "STOPPED": ("running", "stopped"),
    "RESIZING": ("running", "resizing"),
    "RUNNING": ("running", None),
    "COMPLETING": ("running", "completing"),
    "SIGNALING": ("running", "signaling"),
    "STAGE_OUT": ("running", "staging out"),
    "COMPLETED": ("succeeded", None),
    "FAILED": ("failed", None),
    "OUT_OF_MEMORY": ("failed", "out of memory"),
    "TIMEOUT": ("failed", "timeout"),
    "NODE_FAIL": ("failed", "node failure"),
    "BOOT_FAIL": ("failed", "boot failure"),
    "DEADLINE": ("failed", "deadline reached"),
    "PREEMPTED": ("failed", "preempted"),
    "SPECIAL_EXIT": ("failed", "special exit"),
    "CANCELLED": ("cancelled", None),
    "REVOKED": ("cancelled", "revoked: the job runs on another cluster"),
}

_NO_REASON = frozenset({"", "None", "(null)", "N/A"})
_JOB_ID_RE = re.compile(r"\d+(?:_(?:\d+|\[[^\]\s]+\]))?(?:\+\d+)?")
_CANCELLED_BY_RE = re.compile(r"CANCELLED\s+by\s+(\d+)", re.IGNORECASE)
_EXIT_RE = re.compile(r"(\d+):(\d+)")
_SCONTROL_KEY_RE = re.compile(r"(?:^|\s)([A-Za-z][\w/:.()\-]*)=")
_SBATCH_ID_RE = re.compile(r"(?:Submitted batch job )?(\d+)(?:;\S+)?(?: on cluster \S+)?")
_NO_TASK = 4294967294  # NO_VAL - 1: what some Slurm versions print for "no task id"


@dataclass(frozen=True)
class SlurmJobState:
    """One job's Slurm state and what it means for tether."""

    state: str
    """Slurm's state name, e.g. ``CANCELLED`` (``by <uid>`` goes to the reason)."""
    status: Status
    exit_code: int | None = None
    """The program's exit status: 0 when COMPLETED, N when FAILED with ``exit N``, else None."""
    reason: str | None = None
    """Why the job is in this state, for people: ``exit 1``, ``timeout``, ``Priority``."""

    @property
    def terminal(self) -> bool:
        """Whether the job is over (succeeded, failed or cancelled)."""
        return self.status in TERMINAL


def _parse_exit(text: str | None) -> tuple[int, int] | None:
    match = _EXIT_RE.fullmatch((text or "").strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def map_state(state: str, exit_code: str | None = None, reason: str | None = None) -> SlurmJobState:
    """The meaning of a Slurm state, its ``exit:signal`` code and Slurm's reason text.

    Unknown states count as running, so an unfamiliar Slurm version keeps jobs polled
    rather than declaring them over.
    """
    raw = state.strip().rstrip("+")
    name = raw.split()[0].upper() if raw else "UNKNOWN"
    slurm_reason = None if reason is None or reason.strip() in _NO_REASON else reason.strip()
    status, text = _STATES.get(name, ("running", f"unknown Slurm state {name}"))
    code = _parse_exit(exit_code)
    exit_status = None  # only COMPLETED and FAILED say something about the program's exit
    if name == "CANCELLED":
        by = _CANCELLED_BY_RE.match(raw)
        if by:
            uid = int(by.group(1))
            text = "cancelled by root (uid 0)" if uid == 0 else f"cancelled by uid {uid}"
        else:
            text = "cancelled"
    elif name == "FAILED":
        if code and code[0]:
            exit_status = code[0]
            text = f"exit {exit_status}"
        elif code and code[1]:
            text = f"killed by signal {code[1]}"
        else:
            text = f"failed ({slurm_reason})" if slurm_reason else "failed"
    elif name == "COMPLETED":
        exit_status = code[0] if code else 0
    if text is None:
        text = slurm_reason
    return SlurmJobState(name, status, exit_status, text)


def _job_id(text: str) -> str | None:
    job_id = text.strip()
    return job_id if _JOB_ID_RE.fullmatch(job_id) else None


def parse_squeue(text: str) -> dict[str, SlurmJobState]:
    """Jobs in ``squeue --noheader --format=%i|%T|%r`` output; other lines are skipped."""
    states: dict[str, SlurmJobState] = {}
    for line in text.splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3 and (job_id := _job_id(parts[0])):
            states[job_id] = map_state(parts[1], None, parts[2])
    return states


def parse_sacct(text: str) -> dict[str, SlurmJobState]:
    """Jobs in ``sacct --noheader --parsable2 -X --format=JobID,State,ExitCode,Reason``.

    Job steps (``123.batch``), if any slip in, and other lines are skipped.
    """
    states: dict[str, SlurmJobState] = {}
    for line in text.splitlines():
        parts = line.split("|", 3)
        if len(parts) >= 3 and (job_id := _job_id(parts[0])):
            reason = parts[3] if len(parts) == 4 else None
            states[job_id] = map_state(parts[1], parts[2], reason)
    return states


def _scontrol_records(text: str) -> Iterable[str]:
    """One string per job, from ``-o`` one-liners or the multi-line form."""
    record: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("JobId="):
            if record:
                yield " ".join(record)
            record = [line.strip()]
        elif record and line.strip():
            record.append(line.strip())
    if record:
        yield " ".join(record)


def _scontrol_fields(record: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    matches = list(_SCONTROL_KEY_RE.finditer(record))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(record)
        fields.setdefault(match.group(1), record[match.end() : end].strip())
    return fields


def _scontrol_id(fields: Mapping[str, str]) -> str | None:
    array_job, task = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
    if array_job and task and task.isdigit() and int(task) < _NO_TASK:
        return f"{array_job}_{task}"
    if array_job and task and not task.isdigit():
        return f"{array_job}_[{task}]"
    het_job, offset = fields.get("HetJobId"), fields.get("HetJobOffset")
    if het_job and offset and offset.isdigit():
        return f"{het_job}+{offset}"
    return _job_id(fields.get("JobId", ""))


def parse_scontrol(text: str) -> dict[str, SlurmJobState]:
    """Jobs in ``scontrol show job -o`` output (the multi-line form works too)."""
    states: dict[str, SlurmJobState] = {}
    for record in _scontrol_records(text):
        fields = _scontrol_fields(record)
        job_id = _scontrol_id(fields)
        if job_id and "JobState" in fields:
            states[job_id] = map_state(
                fields["JobState"], fields.get("ExitCode"), fields.get("Reason")
            )
    return states


def parse_sbatch_parsable(stdout: str) -> str:
    """The job id ``sbatch --parsable`` printed: ``"123"`` or ``"123;cluster"`` -> ``"123"``.

    sbatch's usual ``Submitted batch job 123`` is understood too.
    """
    for line in reversed(stdout.strip().splitlines()):
        match = _SBATCH_ID_RE.fullmatch(line.strip())
        if match:
            return match.group(1)
    raise RemoteError(f"sbatch did not print a job id; it printed: {stdout.strip()!r}")


def base_job_id(job_id: str) -> str:
    """The id a job was submitted under: ``123_4`` and ``123_[5-9]`` -> ``123``."""
    return re.split(r"[_+]", job_id, maxsplit=1)[0]


def _ids(job_ids: Iterable[str]) -> str:
    unique = list(dict.fromkeys(str(job_id).strip() for job_id in job_ids))
    for job_id in unique:
        if not _JOB_ID_RE.fullmatch(job_id):
            raise ValueError(f"Not a Slurm job id: {job_id!r}")
    return ",".join(unique)


def squeue_command(job_ids: Iterable[str]) -> list[str]:
    """One squeue call for all ids, including jobs finished minutes ago (``--states=all``)."""
    return [
        "squeue",
        "--noheader",
        f"--format={SQUEUE_FORMAT}",
        "--states=all",
        f"--jobs={_ids(job_ids)}",
    ]


def sacct_command(job_ids: Iterable[str]) -> list[str]:
    """One sacct call for all ids, allocations only (``-X``)."""
    return [
        "sacct",
        "--noheader",
        "--parsable2",
        "-X",
        f"--format={SACCT_FIELDS}",
        f"--jobs={_ids(job_ids)}",
    ]


def scontrol_command(job_ids: Iterable[str]) -> list[str]:
    """One scontrol call: scontrol takes a single job id, so several ids ask for every job."""
    ids = _ids(job_ids).split(",")
    return (
        ["scontrol", "show", "job", "-o", *ids]
        if len(ids) == 1
        else ["scontrol", "show", "job", "-o"]
    )


def poll_commands(job_ids: Iterable[str], *, accounting: bool = True) -> list[list[str]]:
    """The commands for one poll of all ``job_ids``: squeue, then sacct if ``accounting``.

    Each is a single call for every id. Without accounting (no slurmdbd), squeue alone
    still sees jobs for MinJobAge (300 s by default) after they end.
    """
    ids = list(job_ids)
    if not ids:
        return []
    commands = [squeue_command(ids)]
    if accounting:
        commands.append(sacct_command(ids))
    return commands


_PARSERS = {"squeue": parse_squeue, "sacct": parse_sacct, "scontrol": parse_scontrol}


def parse_output(command: Sequence[str], stdout: str) -> dict[str, SlurmJobState]:
    """Parse the output of a command from ``poll_commands`` or ``scontrol_command``."""
    program = command[0].rsplit("/", 1)[-1] if command else ""
    if program not in _PARSERS:
        raise ValueError(f"No parser for {program!r}; known: {', '.join(_PARSERS)}")
    return _PARSERS[program](stdout)


def combine_states(*results: Mapping[str, SlurmJobState]) -> dict[str, SlurmJobState]:
    """Merge parsed polls given in ``poll_commands`` order (squeue first, then sacct).

    A terminal state beats a live one (sources lag each other by a moment); among live
    states the first source wins (squeue is current), among terminal ones the last
    (sacct knows exit codes and who cancelled).
    """
    merged: dict[str, SlurmJobState] = {}
    for result in results:
        for job_id, state in result.items():
            known = merged.get(job_id)
            if known is None or state.terminal:
                merged[job_id] = state
    return merged


def is_unknown_job_error(stderr: str) -> bool:
    """Whether squeue/scontrol refused an id Slurm no longer knows (not a real failure)."""
    return "Invalid job id specified" in stderr
