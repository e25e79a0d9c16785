"""The import contract: packages import only from the layers below them (pyproject's
``[tool.importlinter]``, README "Architecture"), checked with import-linter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_layers_hold() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tether layers KEPT" in result.stdout


def _lint_with(tmp_path: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """The contract checked on a copy of the source with ``line`` added to ``module``."""
    shutil.copytree(ROOT / "src" / "tether", tmp_path / "tether",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))  # fmt: skip
    path = tmp_path / "tether" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    return _lint(tmp_path)


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # a lower layer using a higher one
        ("store/__init__.py", "from tether.cli import main as _upward",
         "tether.store is not allowed to import tether.cli"),
        # ``functions | notify``: two packages of one layer that must not use each other
        ("functions/memo.py", "from tether.notifications import content as _side",
         "tether.functions is not allowed to import tether.notifications"),
        # the clients go through tether.api, never below it (even inside a function)
        ("cli/jobs_cmd.py", "def _below():\n    from tether.store.jobs import JobStore",
         "tether.cli is not allowed to import tether.store"),
        ("web/app.py", "from tether.agent import control as _below",
         "tether.web is not allowed to import tether.agent"),
    ],
)  # fmt: skip
def test_an_import_against_the_layers_breaks_the_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    result = _lint_with(tmp_path, module, line)
    assert result.returncode != 0
    assert broken in result.stdout


def test_the_contract_has_no_exemptions_but_the_package_root() -> None:
    """Every upward import the contract used to excuse is gone (issue 25); keep it so."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers, clients = config["contracts"]
    assert layers["ignore_imports"] == ["tether.** -> tether"]
    assert "ignore_imports" not in clients
    assert clients["forbidden_modules"] == ["tether.store", "tether.agent", "tether.targets"]
