"""One Slurm cluster's commands: sbatch, squeue/scontrol/sacct, scancel, sinfo.

Every method is one command on the cluster (through a :mod:`~tether.targets.slurm.runner`),
whatever the number of jobs: ``poll`` asks squeue about all ids at once and, only for ids
squeue no longer lists, asks sacct (when the cluster keeps accounting) or ``scontrol show
job`` (all jobs, filtered here; scontrol takes one id or none).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from tether.errors import RemoteError
from tether.targets.slurm import states
from tether.targets.slurm.arrays import array_state
from tether.targets.slurm.runner import LocalRunner, Output, Runner, runner_for
from tether.targets.ssh.hostspec import HostSpec

#: Make the job's folder (Slurm does not create --output's folder), then submit from it.
SUBMIT_SCRIPT = 'mkdir -p -- "$1" && cd -- "$1" && exec sbatch --parsable'
#: Print a file from byte $2 on (nothing when it does not exist yet).
READ_SCRIPT = '[ -f "$1" ] && exec tail -c "+$2" -- "$1"; exit 0'

# Whether each host keeps accounting (sacct works); asked once per process.
_ACCOUNTING: dict[str, bool] = {}


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class SlurmCluster:
    """The Slurm cluster behind a host (``tether hosts add NAME DEST --scheduler slurm``)."""

    def __init__(self, spec: HostSpec, runner: Runner | None = None) -> None:
        self.spec = spec
        self.runner = runner or runner_for(spec)

    @property
    def name(self) -> str:
        return self.spec.name

    def _run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = 60.0,
        what: str | None = None,
        allow_unknown_job: bool = False,
    ) -> Output:
        result = self.runner.run(argv, input=input, timeout=timeout)
        if result.returncode == 0:
            return result
        if allow_unknown_job and states.is_unknown_job_error(result.stderr):
            return Output(0, b"", result.stderr)
        raise self._failure(what or argv[0], result)

    def _failure(self, program: str, result: Output) -> RemoteError:
        if result.returncode == 127:
            return RemoteError(
                f"{program} is not found on {self.name}: is it a Slurm login node? "
                "(set PATH in the host's env settings if Slurm lives elsewhere)"
            )
        detail = _last_line(result.stderr) or _last_line(result.text)
        return RemoteError(
            f"{program} failed on {self.name} (exit {result.returncode}): {detail or 'no message'}"
        )

    # -- jobs -----------------------------------------------------------------------------

    def submit(self, script: str, folder: str) -> str:
        """Submit ``script`` (on stdin) from ``folder`` (created first); the Slurm job id."""
        if isinstance(self.runner, LocalRunner):  # here: no shell needed (two fewer processes)
            os.makedirs(folder, exist_ok=True)
            argv = ["sbatch", "--parsable"]  # the script's --output and cd are absolute
        else:
            argv = ["sh", "-c", SUBMIT_SCRIPT, "tether-sbatch", folder]
        result = self._run(argv, input=script.encode(), what="sbatch")
        return states.parse_sbatch_parsable(result.text)

    def poll(self, job_ids: Iterable[str]) -> dict[str, states.SlurmJobState]:
        """The state of each id Slurm still knows; ids it has forgotten are left out.

        One squeue call for all; one more call (sacct, else scontrol) only when some jobs
        have ended or left squeue.
        """
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        result = self._run(states.squeue_command(ids), allow_unknown_job=True)
        found = states.parse_squeue(result.text)
        # squeue has no exit codes: ask again about jobs that ended, and those it forgot
        # (an array's id stands for its tasks: 123_4, 123_[5-9])
        missing = [i for i in ids if (s := array_state(found, i)) is None or s.terminal]
        if not missing:
            return found
        if self.accounting():
            later = self._run(states.sacct_command(missing))
            more = states.parse_sacct(later.text)
        else:
            later = self._run(states.scontrol_command(missing), allow_unknown_job=True)
            more = states.parse_scontrol(later.text)
        wanted = set(missing)
        kept = {k: v for k, v in more.items() if states.base_job_id(k) in wanted}
        merged = states.combine_states(found, kept)
        if self.accounting():  # sacct lags slurmctld: a failure squeue saw may lack its code
            vague = sorted({states.base_job_id(k) for k, v in merged.items()
                            if states.base_job_id(k) in wanted and _vague_failure(v)})  # fmt: skip
            if vague:
                late = self._run(states.scontrol_command(vague), allow_unknown_job=True)
                told = states.parse_scontrol(late.text)
                merged = states.combine_states(
                    merged, {k: v for k, v in told.items() if states.base_job_id(k) in vague}
                )
        return merged

    def accounting(self) -> bool:
        """Whether sacct answers on this cluster (checked once per process)."""
        if self.name not in _ACCOUNTING:
            probe = ["sacct", "--noheader", "-X", "--format=JobID", "--jobs=1"]
            result = self.runner.run(probe, timeout=30)
            _ACCOUNTING[self.name] = result.returncode == 0
        return _ACCOUNTING[self.name]

    def cancel(self, job_ids: Iterable[str]) -> None:
        """``scancel`` every id in one call; ids Slurm has forgotten or that just ended are
        not an error (the poll that follows tells how they ended)."""
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return
        result = self.runner.run(["scancel", *ids])
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        harmless = ("Invalid job id", "already completing or completed")
        if result.returncode != 0 and not all(any(h in e for h in harmless) for e in errors):
            raise self._failure("scancel", result)

    # -- files and facts ------------------------------------------------------------------

    def put(self, folder: str, name: str, data: bytes) -> None:
        """Write file ``folder/name`` on the cluster (the folder is created)."""
        script = 'mkdir -p -- "$1" && cat > "$1/$2"'
        self._run(["sh", "-c", script, "tether-put", folder, name], input=data, what="writing")

    def read(self, path: str, offset: int = 0) -> bytes:
        """The bytes of file ``path`` on the cluster from ``offset`` on (b"" if none yet)."""
        argv = ["sh", "-c", READ_SCRIPT, "tether-read", path, str(offset + 1)]
        return self._run(argv, what="reading the job's output").stdout

    def home(self) -> str:
        """The home folder of the user tether runs as on the cluster."""
        text = self._run(["sh", "-c", 'printf %s "$HOME"'], what="finding the home folder").text
        if not text.startswith("/"):
            raise RemoteError(f"{self.name}: the home folder is not an absolute path ({text!r})")
        return text

    def sinfo(self) -> str:
        """One line per partition: name, availability, time limit, nodes and their states."""
        return self._run(["sinfo", "--noheader", "--format=%P %a %l %D %T"]).text


def _vague_failure(state: states.SlurmJobState) -> bool:
    """FAILED with neither an exit code nor a signal: squeue's word before sacct has more."""
    return (
        state.state == "FAILED" and state.exit_code is None and "signal" not in (state.reason or "")
    )
