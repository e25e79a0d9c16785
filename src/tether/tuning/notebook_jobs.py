"""Notebooks as jobs: ``tether run analysis.ipynb -p lr=0.1`` (papermill's conventions).

The notebook is stored as a version like a script (with its project's Python files); the job
starts the runner (:mod:`tether.tuning.notebook_runner`, copied beside the version's files),
which executes it with nbclient on a kernel of the job's python and keeps the executed
notebook in the job's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tether.errors import ProgramError
from tether.tuning.loader_files import write_loader

SUFFIX = ".ipynb"
EXECUTED = "executed.ipynb"
"""The executed notebook, outputs included, in the job's folder."""

_RUNNER_SOURCE = (Path(__file__).parent / "notebook_runner.py").read_text()


def is_notebook(word: str) -> bool:
    return word.endswith(SUFFIX)


def check_notebook(path: Path, shown: str) -> None:
    """Refuse a file that is not a notebook Jupyter can read (JSON with a list of cells)."""
    try:
        check_notebook_text(path.read_bytes(), shown)
    except OSError as exc:
        raise ProgramError(f"{shown}: cannot read it ({exc.strerror}); nothing queued")


def check_notebook_text(text: str | bytes, shown: str) -> None:
    """As :func:`check_notebook`, for a notebook's text."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ProgramError(f"{shown}: not a notebook (not valid JSON: {exc}); nothing queued")
    if not isinstance(doc, dict) or not isinstance(doc.get("cells"), list):
        raise ProgramError(f"{shown}: not a notebook (no list of cells); nothing queued")
    if int(doc.get("nbformat") or 0) < 4:
        raise ProgramError(
            f"{shown}: notebook format {doc.get('nbformat')} is too old; open and save it in "
            "Jupyter (format 4), then run it again. Nothing queued."
        )


def check_runnable(python: str) -> None:
    """Refuse a notebook job whose python is this one and lacks nbclient or ipykernel (the
    job would fail at once); another python (a project's env) is asked by the job itself."""
    import importlib.util
    import sys

    if os.path.realpath(python) != os.path.realpath(sys.executable):
        return
    missing = [
        m for m in ("nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise ProgramError(
            f"running a notebook needs {', '.join(missing)} in {python}: pip install "
            "'tether[notebook]' (or add them to the project's env); nothing queued"
        )


def runner(
    code: Path, entry: str, extra: Mapping[str, Any], launcher: Path, params: Mapping[str, Any]
) -> Path:
    """The runner file for this version and these parameters (written once, beside it)."""
    config = {
        "code": str(code),
        "root": str(extra["project_root"]),
        "entry": entry,
        "main": str(extra["original"]),
        "launcher": str(launcher),
        "params": dict(params),
    }
    return write_loader(_RUNNER_SOURCE, config, code, "tether-notebook")
