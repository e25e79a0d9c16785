"""A project's virtualenv: made once per set of requirements, reused while they stay the same.

The env for a project lives in ``TETHER_HOME/envs/<project>-<hash>/``, the hash being that
of the sorted, normalised requirement lines plus the Python version. A marker file
(``tether-env.json``) is written last, so an interrupted build is made again. Packages added
with ``tether install`` are recorded for the project and installed into any env it gets
later. tether's runtime (``import tether`` in a job) is linked into every env.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tether.envs.installer import IndexOptions, Installer, pick_installer, stream
from tether.envs.lines import Requirements, canonical_name, requirements_hash
from tether.jobs.env_records import (
    MARKER,
    EnvRecord,
    env_dir_for,
    env_python,
    is_complete,
    load_record,
    save_record,
)

RUNTIME_DIR = "tether-runtime"
DEFAULT_INDEX = IndexOptions()


def python_tag() -> str:
    """``3.11``: the Python version envs are made with (tether's own)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def env_hash(lines: Sequence[str]) -> str:
    return requirements_hash(lines, salt=f"py{python_tag()}")


def env_ready(root: Path, lines: Sequence[str], *, home: Path) -> bool:
    """True when the project in ``root`` has a complete env for ``lines`` and jobs of its
    scripts run with it (its record names it): ``run --on`` then needs no ``tether env``.
    One small read and two ``stat`` calls."""
    record = load_record(home, Path(os.path.realpath(root)))
    return (
        record is not None and record.hash == env_hash(lines) and is_complete(Path(record.env_dir))
    )


@dataclass
class EnvResult:
    """What :func:`ensure_env` found or did."""

    record: EnvRecord
    reused: bool
    installed: list[str]
    installer: str | None
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            **self.record.to_json(),
            "reused": self.reused,
            "installed": self.installed,
            "installer": self.installer,
            "python_version": python_tag(),
            "seconds": round(self.seconds, 3),
        }


def _site_packages(env_dir: Path) -> Path:
    return env_dir / "lib" / f"python{python_tag()}" / "site-packages"


def link_runtime(env_dir: Path) -> None:
    """Make ``import tether`` work in the env: a ``.pth`` to a folder linking tether's package
    (its runtime API is stdlib-only, so none of tether's dependencies come along)."""
    import tether

    runtime = env_dir / RUNTIME_DIR
    runtime.mkdir(exist_ok=True)
    link = runtime / "tether"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(Path(tether.__file__).resolve().parent, target_is_directory=True)
    site = _site_packages(env_dir)
    site.mkdir(parents=True, exist_ok=True)
    (site / "_tether_runtime.pth").write_text(f"{runtime}\n", encoding="utf-8")


def _read_marker(env_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((env_dir / MARKER).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_marker(env_dir: Path, data: dict[str, Any]) -> None:
    tmp = env_dir / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, env_dir / MARKER)


def _install(
    installer: Installer,
    env_dir: Path,
    packages: Sequence[str],
    index: IndexOptions,
    *,
    cwd: Path,
    as_file: bool,
    say: IO[str] | None,
) -> None:
    """Install requirement lines (``as_file``: through a requirements file, so option lines
    like ``--extra-index-url`` work) or package arguments into the env."""
    if not packages:
        return
    python = env_python(env_dir)
    if not as_file:
        argv = installer.install_argv(python, list(packages), index)
        stream(argv, what=f"{installer.name} install", env=installer.env, cwd=cwd, say=say)
        return
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="tether-req-", delete=False) as f:
        f.write("\n".join(packages) + "\n")
    try:
        argv = installer.install_argv(python, ["-r", f.name], index)
        what = f"{installer.name} install of the requirements"
        stream(argv, what=what, env=installer.env, cwd=cwd, say=say)
    finally:
        os.unlink(f.name)


def ensure_env(
    root: Path,
    requirements: Requirements,
    *,
    home: Path,
    index: IndexOptions = DEFAULT_INDEX,
    say: IO[str] | None = None,
    dry_run: bool = False,
) -> EnvResult:
    """The project's env for ``requirements``: reused when complete, else made and filled."""
    t0 = time.monotonic()
    root = Path(os.path.realpath(root))
    previous = load_record(home, root)
    added = list(previous.added) if previous else []
    req_hash = env_hash(requirements.lines)
    env_dir = env_dir_for(home, root, req_hash)
    record = EnvRecord(
        root=str(root),
        env_dir=str(env_dir),
        python=str(env_python(env_dir)),
        hash=req_hash,
        source=requirements.source,
        requirements=list(requirements.lines),
        added=added,
    )
    if dry_run:
        return EnvResult(record, is_complete(env_dir), [], None, time.monotonic() - t0)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with _locked(env_dir):
        return _make_or_reuse(root, requirements, record, home=home, index=index, say=say, t0=t0)


@contextmanager
def _locked(env_dir: Path) -> Iterator[None]:
    """One ``tether env``/``install`` at a time per env (others wait)."""
    import fcntl

    with open(env_dir.with_name(env_dir.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _make_or_reuse(
    root: Path,
    requirements: Requirements,
    record: EnvRecord,
    *,
    home: Path,
    index: IndexOptions,
    say: IO[str] | None,
    t0: float,
) -> EnvResult:
    env_dir, added, req_hash = Path(record.env_dir), record.added, record.hash
    if is_complete(env_dir):
        missing = [a for a in added if a not in _read_marker(env_dir).get("added", [])]
        installer = pick_installer() if missing else None
        if installer is not None:
            _install(installer, env_dir, missing, index, cwd=root, as_file=False, say=say)
            _write_marker(env_dir, {**_read_marker(env_dir), "added": added})
        save_record(home, record)
        name = installer.name if installer else None
        return EnvResult(record, True, missing, name, time.monotonic() - t0)
    installer = pick_installer()
    if env_dir.exists():
        shutil.rmtree(env_dir)  # an interrupted build (no marker)
    if say is not None:
        say.write(f"tether: making the env {env_dir} ({installer.name})\n")
    stream(installer.venv_argv(env_dir), what="making the env", env=installer.env, say=say)
    link_runtime(env_dir)
    wanted = [*requirements.lines, *added]
    _install(installer, env_dir, requirements.lines, index, cwd=root, as_file=True, say=say)
    _install(installer, env_dir, added, index, cwd=root, as_file=False, say=say)
    _write_marker(
        env_dir,
        {
            "hash": req_hash,
            "python_version": python_tag(),
            "source": requirements.source,
            "requirements": list(requirements.lines),
            "added": added,
            "installer": installer.name,
            "created": time.time(),
        },
    )
    save_record(home, record)
    return EnvResult(record, False, wanted, installer.name, time.monotonic() - t0)


def _as_recorded(package: str, cwd: Path) -> str:
    """A package argument as it is recorded: local paths (wheels, folders) made absolute."""
    if ("/" in package or package.endswith((".whl", ".tar.gz", ".zip"))) and (
        cwd / package
    ).exists():
        return str((cwd / package).resolve())
    return package


def _package_key(package: str) -> str:
    """What makes two ``tether install`` arguments the same package (``Foo>=2`` ~ ``foo``)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", package)
    if match is None or "/" in package or match.group(0).endswith(".whl"):
        return package
    return canonical_name(match.group(0))


def install_packages(
    root: Path,
    requirements: Requirements,
    packages: Sequence[str],
    *,
    home: Path,
    cwd: Path,
    index: IndexOptions = DEFAULT_INDEX,
    say: IO[str] | None = None,
) -> EnvResult:
    """Install ``packages`` into the project's env (made first when needed) and record them,
    so that the env ``tether env`` makes next keeps them."""
    result = ensure_env(root, requirements, home=home, index=index, say=say)
    env_dir = Path(result.record.env_dir)
    wanted = [_as_recorded(p, cwd) for p in packages]
    installer = pick_installer()
    with _locked(env_dir):
        _install(installer, env_dir, wanted, index, cwd=cwd, as_file=False, say=say)
        names = {_package_key(p) for p in wanted}
        added = [a for a in result.record.added if _package_key(a) not in names] + wanted
        result.record.added = added
        _write_marker(env_dir, {**_read_marker(env_dir), "added": added})
        save_record(home, result.record)
    return EnvResult(
        result.record, result.reused, [*result.installed, *wanted], installer.name, result.seconds
    )
