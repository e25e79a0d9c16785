"""Turning "run this" into queued jobs: ``tether run [--batch]`` and ``tether.submit``."""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tether.errors import ProgramError, UsageError
from tether.paths import tether_home
from tether.store.jobs import Job, JobSpec, JobStore

# Never copied into a job's stored environment.
_SECRET_ENV = re.compile(r"^TETHER_.*(PASSWORD|TOKEN|SECRET)$")


def captured_env() -> dict[str, str]:
    """The caller's environment, as the job will see it (tether's own secrets left out)."""
    return {k: v for k, v in os.environ.items() if not _SECRET_ENV.match(k)}


def build_spec(
    argv: Sequence[str],
    *,
    name: str | None = None,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    parent: int | None = None,
    params: dict[str, object] | None = None,
    home: Path | None = None,
) -> JobSpec:
    """A job spec for ``argv``; a first argument ending in ``.py`` runs with the project's env
    python (``tether env``) when it has one, else with this interpreter.

    A script runs from a stored copy (its version), with ``params`` applied to that copy.
    """
    if not argv:
        raise UsageError("nothing to run: give a SCRIPT.py or `-- COMMAND ARGS...`")
    workdir = str(Path(cwd or os.getcwd()).resolve())
    command = list(argv)
    script: str | None = None
    extra = dict(extra or {})
    if command[0].endswith(".py"):
        from tether.tuning.program import prepare_script

        path = Path(workdir, command[0])
        if not path.is_file():
            raise ProgramError(f"{command[0]}: no such file (looked in {workdir})")
        script = str(path.resolve())
        prepared = prepare_script(home or tether_home(), Path(script), params or {})
        extra.update(prepared.extra)
        command = [_interpreter(path.parent, home), str(prepared.entry_path), *command[1:]]
    elif params:
        extra["params"] = dict(params)
    return JobSpec(
        command=command,
        cwd=workdir,
        name=name or Path(script or command[0]).name,
        env=env if env is not None else captured_env(),
        script=script,
        extra=extra,
        parent=parent,
    )


def _interpreter(folder: Path, home: Path | None) -> str:
    """The python of the project's env (made by ``tether env``) when it has one, else this one."""
    from tether.envs.records import env_python_for

    return env_python_for(folder, home or tether_home()) or sys.executable


def parse_batch(text: str) -> list[list[str]]:
    """One command per line (shell-quoted); blank lines and ``#`` comments skipped."""
    commands = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            commands.append(shlex.split(line))
        except ValueError as exc:
            raise UsageError(f"batch line {number}: {exc}: {line.strip()!r}")
    return commands


def queue(specs: list[JobSpec], home: Path | None = None, *, start_agent: bool = True) -> list[Job]:
    """Store the jobs and make sure an agent will run them."""
    from tether.agent import control

    home = home or tether_home()
    store = JobStore(home)
    try:
        jobs = store.add_many(specs)
    finally:
        store.close()
    if start_agent and any(s.target == "local" for s in specs):
        control.ensure_running(home)
    return jobs


def submit(
    *commands: str | Sequence[str],
    name: str | None = None,
    cwd: str | None = None,
) -> list[int]:
    """Queue one job per command (a shell-style string or an argv list); returns job numbers.

    ``tether.submit("python train.py --lr 0.1", "python train.py --lr 0.01")``
    """
    argvs = [shlex.split(c) if isinstance(c, str) else list(c) for c in commands]
    env = captured_env()
    specs = [build_spec(a, name=name, cwd=cwd, env=env) for a in argvs]
    return [job.number for job in queue(specs)]
