"""The files a job starts with (the script loader, the notebook runner): a standard-library
module copied beside a version's files with its ``CONFIG`` line filled in at submit."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

CONFIG_LINE = "CONFIG: dict = {}  # filled in at submit"


def write_loader(source: str, config: dict[str, Any], folder: Path, stem: str) -> Path:
    """``source`` with ``config`` in place of its CONFIG line, as ``folder/.STEM-DIGEST.py``
    (written once, through a temporary file: the same config gives the same file)."""
    text = source.replace(CONFIG_LINE, f"CONFIG: dict = {config!r}", 1)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = folder / f".{stem}-{digest}.py"
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.part")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path
