"""Which virtualenv belongs to which project: small JSON records under ``TETHER_HOME/envs``.

``tether env`` writes ``TETHER_HOME/envs/projects/<name>-<hash of the root>.json`` naming
the project's env (its folder, its python, the requirements it was made from and the
packages ``tether install`` added). ``tether run`` reads it (:func:`env_python_for`) to run
a script with the project's python; the same code runs on a host, where the project is
its copy under ``~/tether/projects/``. Cheap on purpose: one ``stat`` and one small read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Written into an env's folder last: an env without it is incomplete and made again.
MARKER = "tether-env.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class EnvRecord:
    """A project's env: where it is and what went into it."""

    root: str
    env_dir: str
    python: str
    hash: str
    source: str
    requirements: list[str]
    added: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def envs_root(home: Path) -> Path:
    """The folder holding every env and the project records."""
    return home / "envs"


def project_root(workdir: str | os.PathLike[str]) -> Path:
    """The project a folder belongs to (nearest project marker upwards, else the folder)."""
    from tether.tuning.project_files import find_project_root

    here = Path(os.path.realpath(workdir))
    return find_project_root(here / "__tether_probe__") or here


def project_key(root: Path) -> str:
    """``<name>-<8 hex>``: the folder's name (file-name safe) and a hash of its real path."""
    real = os.path.realpath(root)
    name = (_UNSAFE.sub("_", Path(real).name).strip("._") or "project")[:48]
    return f"{name}-{hashlib.sha256(real.encode()).hexdigest()[:8]}"


def record_path(home: Path, root: Path) -> Path:
    return envs_root(home) / "projects" / f"{project_key(root)}.json"


def env_dir_for(home: Path, root: Path, req_hash: str) -> Path:
    """Where the env for ``root`` with requirements hashing to ``req_hash`` lives."""
    return envs_root(home) / f"{project_key(root)}-{req_hash[:12]}"


def env_python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def is_complete(env_dir: Path) -> bool:
    """True when the env was finished (its marker is written last) and its python is there."""
    return (env_dir / MARKER).is_file() and env_python(env_dir).exists()


def load_record(home: Path, root: Path) -> EnvRecord | None:
    """The project's record, or None (also for an unreadable one)."""
    try:
        data = json.loads(record_path(home, root).read_text(encoding="utf-8"))
        return EnvRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def save_record(home: Path, record: EnvRecord) -> None:
    """Write the project's record atomically."""
    path = record_path(home, Path(record.root))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record.to_json(), indent=2), encoding="utf-8")
    os.replace(tmp, path)


def env_python_for(workdir: str | os.PathLike[str], home: Path) -> str | None:
    """The python of the env ``tether env`` made for the project around ``workdir``, if any
    (and still complete); None means: run with tether's own interpreter."""
    root = project_root(workdir)
    record = load_record(home, root)
    if record is None or not is_complete(Path(record.env_dir)):
        return None
    return record.python
