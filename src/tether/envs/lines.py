"""Requirement lines: normalising, hashing, and reading them from ``requirements.txt`` and
``pyproject.toml``."""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tether.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Requirements:
    """A project's requirement lines and where they came from.

    ``source`` is ``"requirements.txt"``, ``"pyproject.toml"`` or ``"imports"``;
    ``unpinned`` lists modules that were imported but not installed here.
    """

    source: str
    lines: list[str]
    unpinned: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return requirements_hash(self.lines)


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _strip_comment(line: str) -> str:
    if line.lstrip().startswith("#"):
        return ""
    return re.split(r"\s+#", line, maxsplit=1)[0].strip()


def normalize_line(line: str) -> str:
    """One requirement line without comments and extra spaces, its name canonical."""
    text = " ".join(_strip_comment(line).split())
    if not text or text.startswith("-"):
        return text
    match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(.*)", text)
    if not match:
        return text
    rest = re.sub(r"\s*(==|>=|<=|~=|!=|===|<|>)\s*", r"\1", match.group(2))
    rest = re.sub(r"\s*,\s*", ",", rest).strip()
    return canonical_name(match.group(1)) + rest


def requirements_hash(lines: Iterable[str], *, salt: str = "") -> str:
    """sha256 of the sorted, normalised, de-duplicated lines (plus ``salt``, e.g. a Python
    version), to key a reusable virtualenv."""
    normalized = sorted({n for n in (normalize_line(line) for line in lines) if n})
    digest = hashlib.sha256()
    digest.update(salt.encode())
    for line in normalized:
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def read_requirements_file(path: Path, _seen: frozenset[Path] = frozenset()) -> list[str]:
    """The lines of a requirements file without comments; ``-r other.txt`` is inlined."""
    path = path.resolve()
    if path in _seen:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix or remove the file")
    lines: list[str] = []
    text = text.replace("\\\n", "")  # line continuations
    for raw in text.splitlines():
        line = _strip_comment(raw)
        if not line:
            continue
        match = re.match(r"(?:-r|--requirement)(?:\s+|=)(.+)", line)
        if match:
            lines += read_requirements_file(path.parent / match.group(1).strip(), _seen | {path})
        else:
            lines.append(line)
    return lines


def read_pyproject_dependencies(path: Path) -> list[str] | None:
    """``[project].dependencies`` of a pyproject.toml, or None when it does not list them."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix the file")
    project = data.get("project")
    if not isinstance(project, dict) or "dependencies" not in project:
        return None
    deps = project["dependencies"]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ConfigError(f"{path}: [project].dependencies must be a list of strings")
    return [d.strip() for d in deps if d.strip()]
