"""Making a virtualenv and installing into it: ``uv`` when it is on PATH, else venv + pip.

With pip the env is made ``--without-pip`` (instant) and tether's own pip installs into it
(``pip --python ENV/bin/python``, pip 22.3+); an older or missing pip falls back to a
classic ``python -m venv`` (which brings its own pip, offline). The installer's output is
streamed line by line to ``say`` (progress for long installs); a failure raises
:class:`InstallError` with the installer's last line.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tether.errors import TetherError


class InstallError(TetherError):
    """Making an env or installing packages into it failed."""


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from: extra ``--find-links`` folders/URLs, ``--no-index``."""

    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def args(self) -> list[str]:
        words: list[str] = []
        for link in self.find_links:
            words += ["--find-links", link]
        if self.no_index:
            words.append("--no-index")
        return words


def project_index(start: Path) -> IndexOptions:
    """``[env] find_links`` (a list; relative folders are the project's) and ``no_index`` of
    the project's ``tether.toml`` (from ``start``): where ``run --on HOST`` (and ``tether env``
    without index flags) gets packages from."""
    from tether.config import ConfigError, find_project_config, line_of, load_toml, table

    path = find_project_config(start)
    if path is None:
        return IndexOptions()
    section = table(load_toml(path), "env", path)
    links = section.get("find_links", [])
    if isinstance(links, str):
        links = [links]
    if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
        raise ConfigError(f"{line_of(path, 'find_links')}: [env] find_links must be a list of "
                          "folders or URLs")  # fmt: skip
    no_index = section.get("no_index", False)
    if not isinstance(no_index, bool):
        raise ConfigError(f"{line_of(path, 'no_index')}: [env] no_index must be true or false")
    # relative to the current folder, as the command-line flags are (the same on the host)
    links = [
        link if "://" in link or os.path.isabs(link)
        else os.path.relpath(path.parent / link, start)
        for link in links
    ]  # fmt: skip
    return IndexOptions(find_links=tuple(links), no_index=no_index)


@dataclass
class Installer:
    """How envs are made and filled on this machine."""

    name: str  # "uv" or "pip"
    uv: str | None = None
    pip_in_env: bool = False  # the env gets its own pip (old or missing pip here)
    env: dict[str, str] = field(default_factory=dict)

    def venv_argv(self, env_dir: Path) -> list[str]:
        if self.uv:
            return [self.uv, "venv", "--quiet", "--python", sys.executable, str(env_dir)]
        flags = [] if self.pip_in_env else ["--without-pip"]
        return [sys.executable, "-m", "venv", *flags, str(env_dir)]

    def install_argv(self, python: Path, args: Sequence[str], index: IndexOptions) -> list[str]:
        if self.uv:
            return [self.uv, "pip", "install", "--python", str(python), *index.args(), *args]
        pip = [str(python), "-m", "pip"] if self.pip_in_env else [
            sys.executable, "-m", "pip", "--python", str(python),
        ]  # fmt: skip
        return [*pip, "install", "--disable-pip-version-check", *index.args(), *args]


def _pip_supports_python_option() -> bool:
    try:
        version = md.version("pip")
    except md.PackageNotFoundError:
        return False
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (22, 3)


def pick_installer() -> Installer:
    """``uv`` when on PATH (``TETHER_NO_UV=1`` to skip it), else pip."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PIP_NO_INPUT": "1"}
    env.pop("VIRTUAL_ENV", None)
    uv = None if os.environ.get("TETHER_NO_UV") else shutil.which("uv")
    if uv:
        return Installer("uv", uv=uv, env=env)
    return Installer("pip", pip_in_env=not _pip_supports_python_option(), env=env)


def stream(
    argv: Sequence[str],
    *,
    what: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    say: IO[str] | None = None,
) -> list[str]:
    """Run ``argv``, echoing its output lines to ``say``; return the last lines.

    A non-zero exit raises :class:`InstallError` naming ``what`` and the last line printed.
    """
    tail: deque[str] = deque(maxlen=40)
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except OSError as exc:
        raise InstallError(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}")
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            line = line.rstrip()
            if not line:
                continue
            tail.append(line)
            if say is not None:
                say.write(f"  {line}\n")
                say.flush()
    if proc.wait() != 0:
        raise InstallError(f"{what} failed: {last_message(list(tail), proc.returncode)}")
    return list(tail)


def last_message(lines: Sequence[str], returncode: int) -> str:
    """The line that says what went wrong (pip's last ``ERROR:`` line, else the last line)."""
    starts = ("error:", "× ")
    errors = [i for i, line in enumerate(lines) if line.lstrip().lower().startswith(starts)]
    if not errors:
        return lines[-1].strip() if lines else f"exit code {returncode}"
    text = lines[errors[-1]].strip()
    for prefix in ("ERROR: ", "error: ", "× "):
        text = text.removeprefix(prefix)
    cause = next(iter(lines[errors[-1] + 1 : errors[-1] + 2]), "").strip()
    if cause.startswith("cause: "):  # uv says why on the next line
        text += f" ({cause.removeprefix('cause: ')})"
    return text
