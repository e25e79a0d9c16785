"""Preparing the program a job runs: a stored version, with parameter overrides applied.

Every ``.py`` job runs from a copy in the version store, never from the user's file, so
editing the original while a job waits or runs changes nothing. What a job ran is recorded
in its ``extra``: ``version`` (the id), ``entry`` (the script's path inside the version),
``original`` and ``original_sha`` (the user's file and its hash at submit, for ``save``),
``base_version`` (the unmodified snapshot of that file, for ``history`` and ``diff``),
``params`` (every override) and ``param_diff`` (how the overrides changed the source).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ProgramError
from tether.tuning import notebook_jobs
from tether.tuning.loader_files import write_loader
from tether.tuning.snapshot import VersionStore
from tether.tuning.tunables import apply_overrides, decode_source, unified_diff


def version_store(home: Path) -> VersionStore:
    return VersionStore(home / "versions", never_take=[home])


def code_dir(home: Path, version_id: str) -> Path:
    """Where a version is written out to run (shared by every job of that version)."""
    return home / "code" / version_id


@dataclass
class PreparedProgram:
    """A program ready to queue: the script path to run and what to record about it."""

    entry_path: Path
    extra: dict[str, Any] = field(default_factory=dict)


def file_sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def check_compiles(source: str, filename: str) -> None:
    """Refuse an empty program or one with a syntax error, naming the line."""
    if not source.strip():
        raise ProgramError(f"{filename}: the program is empty; nothing was run")
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        # the line from ``source`` itself: Python may fill exc.text from a file of the same
        # name in the current folder (the original, not the edited program)
        lines = source.splitlines()
        inside = exc.lineno is not None and 0 < exc.lineno <= len(lines)
        line = lines[exc.lineno - 1].rstrip() if inside and exc.lineno else ""
        where = f"line {exc.lineno}" + (f": {line.strip()}" if line else "")
        raise ProgramError(f"{filename}: {exc.msg} at {where}; nothing was run")


def prepare_script(
    home: Path,
    script: Path,
    overrides: Mapping[str, object],
    *,
    argv0: str | None = None,
    module: str | None = None,
    git_ref: str | None = None,
) -> PreparedProgram:
    """Snapshot ``script`` (and its project's Python files) and apply ``overrides``.

    ``module`` (for ``-m``) names the module ``script`` is; ``argv0`` is ``sys.argv[0]``;
    ``git_ref``: the script as committed there (a clean checkout), not as it is here."""
    store = version_store(home)
    checked_out = None
    if git_ref:
        from tether.tuning.git_state import checkout

        script, checked_out = checkout(script, git_ref, home)
    version = store.snapshot(script)
    extra: dict[str, Any] = {
        "original": str(script),
        "original_sha": file_sha(script),
        "base_version": version.id,
        "project_root": str(version.project_root),
        "argv0": argv0 or str(script),
    }
    if module:
        extra["run_module"] = module
    if checked_out is not None:
        extra["git"] = {**checked_out.record(None), "ref": git_ref}
    elif git := record_git(store, version.project_root):
        extra["git"] = git
    if notebook_jobs.is_notebook(script.name):
        extra["notebook"] = True
    return _finish(home, store, version.id, version.entry, overrides, extra, {})


def record_git(store: VersionStore, project_root: Path) -> dict[str, Any] | None:
    """The project's git state for the job's record (its diff kept in the store), or None
    outside a git work tree."""
    from tether.tuning.git_state import git_state, in_work_tree

    if not in_work_tree(project_root):
        return None
    state = git_state(project_root)
    if state is None:
        return None
    return state.record(store.put_blob(state.diff) if state.diff else None)


def git_diff(home: Path, record: Mapping[str, Any]) -> str | None:
    """The text of the uncommitted changes a job's ``extra["git"]`` names (None: none)."""
    diff_id = record.get("diff")
    if not diff_id:
        return None
    data = version_store(home).read_blob(str(diff_id), "the uncommitted changes")
    return data.decode("utf-8", "replace")


def prepare_from_job(
    home: Path,
    job_extra: Mapping[str, Any],
    overrides: Mapping[str, object],
    *,
    edited_source: str | None = None,
) -> PreparedProgram:
    """A new program from a job's version: optionally edited, with more overrides on top."""
    store = version_store(home)
    version_id, entry = job_extra["version"], job_extra["entry"]
    if edited_source is not None:
        if job_extra.get("notebook"):
            notebook_jobs.check_notebook_text(edited_source, Path(entry).name)
        else:
            check_compiles(edited_source, Path(entry).name)
        version_id = store.store_text(version_id, entry, edited_source)
    keep = (
        "original", "original_sha", "base_version", "project_root", "argv0", "run_module",
        "notebook", "git",
    )  # fmt: skip
    inherited = {k: job_extra[k] for k in keep if k in job_extra}
    return _finish(
        home, store, version_id, entry, overrides, inherited, dict(job_extra.get("params") or {})
    )


def _finish(
    home: Path,
    store: VersionStore,
    version_id: str,
    entry: str,
    overrides: Mapping[str, object],
    extra: dict[str, Any],
    params: dict[str, object],
) -> PreparedProgram:
    notebook = bool(extra.get("notebook"))
    if notebook:  # parameters go into an injected cell, not the source
        params.update(overrides)
    elif overrides:
        source = decode_source(store.read_file(version_id, entry), filename=entry)
        result = apply_overrides(source, overrides, filename=entry)
        if result.changed:
            version_id = store.store_text(version_id, entry, result.source)
            extra["param_diff"] = result.diff
        if result.notes:
            extra["param_notes"] = list(result.notes)
        params.update(overrides)
    extra.update(version=version_id, entry=entry)
    if params:
        extra["params"] = params
    target = code_dir(home, version_id)
    if not (target / entry).is_file():
        store.materialize(version_id, target)
    launcher = _launcher(target, entry, extra)
    if notebook:
        return PreparedProgram(notebook_jobs.runner(target, entry, extra, launcher, params), extra)
    return PreparedProgram(launcher, extra)


def _launcher(target: Path, entry: str, extra: Mapping[str, Any]) -> Path:
    """The loader (see :mod:`tether.tuning.launcher`) that runs this version as the original;
    a job recorded before there was one (no ``project_root``) runs its stored copy directly."""
    root = extra.get("project_root")
    if not root:
        return target / entry
    config = {
        "code": str(target),
        "root": str(root),
        "entry": entry,
        "main": None if extra.get("run_module") else extra.get("original"),
        "module": extra.get("run_module"),
        "argv0": extra.get("argv0"),
    }
    return write_loader(_LAUNCHER_SOURCE, config, target, "tether-launch")


_LAUNCHER_SOURCE = (Path(__file__).parent / "launcher.py").read_text()


def program_source(home: Path, job_extra: Mapping[str, Any]) -> str:
    """The entry script's text as a job ran it."""
    store = version_store(home)
    data = store.read_file(job_extra["version"], job_extra["entry"])
    return decode_source(data, filename=job_extra["entry"])


def file_values(home: Path, job_extra: Mapping[str, Any]) -> dict[str, object] | None:
    """The tunables' values in the file a job started from (its unmodified snapshot), or
    None when that is unknown (a job recorded before snapshots were kept, or not a program)."""
    from tether.tuning.tunables import list_tunables

    version_id, entry = job_extra.get("base_version"), job_extra.get("entry")
    if not version_id or not entry:
        return None
    store = version_store(home)
    try:
        source = decode_source(store.read_file(version_id, entry), filename=entry)
        found = list_tunables(source, filename=entry)
    except (OSError, ProgramError):
        return None
    return {t.name: t.default for t in found}


def version_diff(home: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A unified diff of every file that differs between two jobs' versions."""
    store = version_store(home)
    if old.get("version") == new.get("version"):
        return ""
    a, b = store.manifest(old["version"]), store.manifest(new["version"])
    parts = []
    for rel in sorted(set(a.files) | set(b.files)):
        if a.files.get(rel) == b.files.get(rel):
            continue
        before = _text(store, old["version"], rel) if rel in a.files else ""
        after = _text(store, new["version"], rel) if rel in b.files else ""
        parts.append(unified_diff(before, after, rel))
    return "".join(parts)


def _text(store: VersionStore, version_id: str, rel: str) -> str:
    return store.read_file(version_id, rel).decode("utf-8", errors="replace")
