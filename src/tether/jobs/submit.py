"""Turning "run this" into queued jobs: ``tether run [--batch]`` and ``tether.submit``."""

from __future__ import annotations

import os
import re
import shlex
import shutil
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
    git_ref: str | None = None,
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
    module = None
    if command[0] == "-m":
        if len(command) < 2:
            raise UsageError("-m needs a module name, as with python: tether run -m pkg.mod ARGS")
        module = command[1]
        local = module_file(Path(workdir), module)
        if local is None:  # an installed or standard-library module: run as `python -m` does
            python = _interpreter(Path(workdir), home)
            check_installed_module(python, module, workdir)
            command = [python, "-m", module, *command[2:]]
        else:
            command = [str(local), *command[2:]]
    if command[0].endswith((".py", ".ipynb")):
        from tether.tuning.program import check_compiles, prepare_script

        path = Path(workdir, command[0])
        if not path.is_file():
            what = "is a folder, not a Python file" if path.is_dir() else "no such file"
            raise ProgramError(f"{command[0]}: {what} (looked in {workdir}); nothing queued")
        script = str(path.resolve())
        python = _interpreter(Path(workdir) if module else path.parent, home)
        if command[0].endswith(".ipynb"):
            from tether.tuning.notebook_jobs import check_notebook, check_runnable

            check_notebook(path, command[0])
            check_runnable(python)
        else:
            check_compiles(path.read_bytes().decode("utf-8", "replace"), command[0])
        prepared = prepare_script(
            home or tether_home(), Path(script), params or {}, argv0=command[0], module=module,
            git_ref=git_ref,
        )  # fmt: skip
        extra.update(prepared.extra)
        command = [python, str(prepared.entry_path), *command[1:]]
    elif git_ref:
        raise UsageError(
            f"--git runs a SCRIPT.py (or notebook) as committed; {command[0]!r} is not one"
        )
    elif module is None:
        command[0] = check_command(command[0], workdir)
    if params and script is None:
        extra["params"] = dict(params)
    return JobSpec(
        command=command,
        cwd=workdir,
        name=name or (module if module and script is None else Path(script or command[0]).name),
        env=env if env is not None else captured_env(),
        script=script,
        extra=extra,
        parent=parent,
    )


def module_file(workdir: Path, module: str) -> Path | None:
    """The file ``python -m MODULE`` runs from ``workdir`` (``a/b.py`` or ``a/b/__main__.py``),
    or ``None`` when the project has no such module (it may be installed)."""
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        raise UsageError(f"-m {module}: not a module name (like pkg.module)")
    base = workdir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def check_installed_module(python: str, module: str, workdir: str) -> None:
    """Refuse ``-m MODULE`` when neither the project nor ``python`` has it."""
    import subprocess

    probe = (
        "import importlib.util, sys\n"
        "try:\n    found = importlib.util.find_spec(sys.argv[1]) is not None\n"
        "except Exception:\n    found = False\n"
        "sys.exit(0 if found else 3)"
    )
    try:
        proc = subprocess.run(
            [python, "-c", probe, module], cwd=workdir, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProgramError(f"-m {module}: could not ask {python} for it ({exc}); nothing queued")
    if proc.returncode != 0:
        rel = Path(*module.split("."))
        raise ProgramError(
            f"-m {module}: no {rel}.py or {rel}/__main__.py in {workdir}, and {python} has no "
            f"installed module {module}; nothing queued"
        )


def check_command(word: str, workdir: str) -> str:
    """The command word to run (``hello.sh`` in the current folder becomes ``./hello.sh``);
    refuse one that cannot start: a missing file, a folder, a file that is neither Python nor
    executable."""
    if "/" not in word and shutil.which(word):
        return word
    path = Path(workdir, word)
    if path.is_dir():
        raise ProgramError(f"{word}: is a folder, not a program; nothing queued")
    if path.is_file():
        if not os.access(path, os.X_OK):
            raise ProgramError(
                f"{word}: not a Python file (.py) and not executable; nothing queued "
                f"(run it as `tether run -- INTERPRETER {word}` or chmod +x it)"
            )
        return word if "/" in word else f"./{word}"
    raise ProgramError(f"{word}: no such file or command (looked in {workdir}); nothing queued")


def _interpreter(folder: Path, home: Path | None) -> str:
    """The python of the project's env (made by ``tether env``) when it has one, else this one."""
    from tether.jobs.env_records import env_python_for

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


def add_jobs(specs: list[JobSpec], home: Path | None = None) -> list[Job]:
    """Store the jobs (``queued``). Nothing runs them until an agent is started:
    :func:`tether.backends.local.queue` does both."""
    store = JobStore(home or tether_home())
    try:
        return store.add_many(specs)
    finally:
        store.close()
