"""``tether run --on CLUSTER`` behaves as ``python`` here: a subset of the corpus of
tests/test_run_like_python.py on the single-node Slurm rig, on the login node (``here``) and
over ssh (``far``, where the project is synced first)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
import uuid

import pytest

from slurm_fixtures import (  # noqa: F401 (the session's fixture, shared)
    MODES,
    SlurmSetup,
    slurm_setup_fixture,
)
from test_run_like_python import SHAPES, _lines

pytestmark = [pytest.mark.rig, pytest.mark.timeout(600)]

NAMES = [
    "sibling_module",
    "package",
    "config_via_file",
    "argparse_flags",
    "raising_script",
    "dash_m_module",
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_a_script_on_slurm_runs_as_python(slurm_setup: SlurmSetup, mode: str, name: str) -> None:
    shape = SHAPES[name]
    folder = slurm_setup.project / f"shape-{name}-{mode}-{uuid.uuid4().hex[:6]}"
    try:
        for rel, text in shape.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        plain = subprocess.run(
            [sys.executable, *shape.argv], cwd=folder, capture_output=True, text=True, timeout=60
        )
        tt = copy.copy(slurm_setup.tt)
        tt.cwd = folder
        run = tt("run", "--on", mode, "--wait", *shape.argv, check=False, timeout=300)
        assert run.returncode == plain.returncode, run.stdout + run.stderr
        # a traceback names the script's own file: here the original, over ssh the synced
        # copy of it (never a stored copy under TETHER_HOME/code)
        where = re.compile(r'File "[^"]*/' + re.escape(folder.name) + "/")
        ran = where.sub('File "FOLDER/', run.stdout + run.stderr)
        assert "/code/" not in ran
        assert _lines(ran) == _lines(where.sub('File "FOLDER/', plain.stdout + plain.stderr))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
