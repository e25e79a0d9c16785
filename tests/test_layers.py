"""The import contract: packages import only from the layers below them (pyproject's
``[tool.importlinter]``, README "Architecture"), checked with import-linter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "src" / "tether", tmp_path / "tether",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))  # fmt: skip
    store = tmp_path / "tether" / "store" / "__init__.py"
    store.write_text(store.read_text() + "\nfrom tether.cli import main as _upward  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "tether.store is not allowed to import tether.cli" in result.stdout


def test_independent_siblings_may_not_import_each_other(tmp_path: Path) -> None:
    """``functions | notify``: two packages of one layer that must not use each other."""
    shutil.copytree(ROOT / "src" / "tether", tmp_path / "tether",
                    ignore=shutil.ignore_patterns("__pycache__", "static"))  # fmt: skip
    worker = tmp_path / "tether" / "functions" / "memo.py"
    worker.write_text(worker.read_text() + "\nfrom tether.notify import content as _side  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "tether.functions is not allowed to import tether.notify" in result.stdout


def test_the_contract_has_no_exemptions_but_the_package_root() -> None:
    """Every upward import the contract used to excuse is gone (issue 25); keep it so."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = config["contracts"]
    assert contract["ignore_imports"] == ["tether.** -> tether"]
