"""Configuration files: the user's ``config.toml`` and a project's ``tether.toml``.

The user file lives in the platform's user config folder (``~/.config/tether`` on Linux);
``TETHER_CONFIG_DIR`` points elsewhere. A project file is ``tether.toml`` in a job's folder or
the nearest parent. Both are TOML; every error names the file and, where it can, the line.
Secrets (passwords) are never written here.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from tether.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE = "config.toml"
PROJECT_FILE = "tether.toml"

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def config_dir() -> Path:
    """``$TETHER_CONFIG_DIR`` or the platform's user config folder for tether."""
    env = os.environ.get("TETHER_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("tether", appauthor=False))


def user_config_path() -> Path:
    return config_dir() / CONFIG_FILE


def load_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; an absent file is empty; a broken one is a ConfigError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if "(at end of document)" in message:  # name the line too
            last = len(data.decode("utf-8").splitlines())
            message = message.replace("(at end of document)", f"(at end of document, line {last})")
        raise ConfigError(f"{path}: {message}") from None


def load_user_config() -> dict[str, Any]:
    return load_toml(user_config_path())


def save_user_config(data: dict[str, Any]) -> Path:
    """Write the user config atomically (mode 0600) and return its path."""
    import tomli_w

    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        tomli_w.dump(data, out)
    os.replace(tmp, path)
    return path


def find_project_config(start: Path) -> Path | None:
    """``tether.toml`` in ``start`` or its nearest parent that has one."""
    folder = start.resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / PROJECT_FILE
        if path.is_file():
            return path
    return None


def line_of(path: Path | None, key: str) -> str:
    """``path, line N`` for the first line that sets ``key`` or is the header ``[key]``."""
    if path is None:
        return "(option)"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return str(path)
    if key.startswith("["):  # a table header such as [mail.smtp]
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*(#.*)?$")
    else:
        pattern = re.compile(rf"^\s*(\"?){re.escape(key)}\1\s*=")
    for number, line in enumerate(lines, 1):
        if pattern.match(line):
            return f"{path}, line {number}"
    return str(path)


def parse_duration(value: object, where: str, *, allow_zero: bool = False) -> float:
    """``30m``, ``2s``, ``1h30m``, ``90`` (seconds) as seconds; ConfigError naming ``where``.
    Zero (``0``, ``0s``) is accepted only with ``allow_zero``; a negative value never is."""
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and (value > 0 or (allow_zero and value == 0))
    ):
        return float(value)
    text = str(value).strip().replace(" ", "")
    total, pos = 0.0, 0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
        pos = match.end()
    if not text or pos != len(text) or total < 0 or (total == 0 and not allow_zero):
        raise ConfigError(f"{where}: {value!r} is not a duration; write e.g. 30s, 20m, 2h or 1h30m")
    return total


def table(data: dict[str, Any], name: str, path: Path | None) -> dict[str, Any]:
    """The sub-table ``data[name]`` (empty if absent); ConfigError if it is not a table."""
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{line_of(path, name)}: [{name}] must be a table")
    return value


def check_config_files(start: Path) -> None:
    """Read the user config and the project's ``tether.toml`` (from ``start``): a broken one is a
    ConfigError naming the file and line, so a job is not queued with a notifier that can't work."""
    load_user_config()
    project = find_project_config(start)
    if project is not None:
        load_toml(project)


DEFAULT_SYNC_MAX_SIZE = 100_000_000  # bytes; ``[sync] max_size`` in tether.toml, ``--max-size``
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?", re.IGNORECASE)


def parse_size(value: object, where: str) -> int:
    """``500MB``, ``1.5GB``, ``200MiB``, ``1000`` (bytes) as bytes; ``0`` or ``none``: 0 (no
    cap). A ConfigError naming ``where`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip()
    if text.lower() in ("none", "off", "0"):
        return 0
    match = _SIZE_RE.fullmatch(text) if not isinstance(value, bool) else None
    if match is None:
        raise ConfigError(
            f"{where}: {value!r} is not a size; write e.g. 500MB, 2GB, 200MiB, or none (no cap)"
        )
    unit = (match.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    power = {"": 0, "b": 0, "k": 1, "m": 2, "g": 3, "t": 4}[unit[:1]]
    return int(float(match.group(1)) * base**power)


def sync_max_size(start: Path) -> int:
    """The cap on what one sync sends (bytes; 0: none): ``[sync] max_size`` of the project's
    ``tether.toml`` (from ``start``), else 100 MB."""
    path = find_project_config(start)
    if path is None:
        return DEFAULT_SYNC_MAX_SIZE
    section = table(load_toml(path), "sync", path)
    if "max_size" not in section:
        return DEFAULT_SYNC_MAX_SIZE
    return parse_size(section["max_size"], f"{line_of(path, 'max_size')}: [sync] max_size")
