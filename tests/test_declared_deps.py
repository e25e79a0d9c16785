"""Every third-party module imported in src/ is declared in pyproject.toml for its code path.

A module whose distribution is a core dependency may be imported anywhere. One that only an extra
provides may be imported only from the modules listed for that extra in OPTIONAL, and only inside
a function (never at module load), so a plain install never meets it.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

OPTIONAL: dict[str, set[str]] = {
    "charts": {"tether/notifications/chart.py"},
    "notebook": {"tether/functions/magic.py", "tether/tuning/notebook_runner.py"},
}
"""extra -> the only modules (paths under src/) allowed to import what that extra adds."""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_norm(Requirement(r).name) for r in project["dependencies"]}
    extras = {
        extra: {_norm(Requirement(r).name) for r in reqs}
        for extra, reqs in project["optional-dependencies"].items()
        if extra != "test"
    }
    return core, extras


def third_party_imports() -> list[tuple[str, str, bool]]:
    """(path under src/, top-level module, imported at module load) for each third-party import."""
    found = []
    for path in sorted((SRC / "tether").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        top_level = {id(node) for node in tree.body}
        # imports under a module-level `if`/`try` run at load too
        for node in tree.body:
            if isinstance(node, ast.If | ast.Try):
                top_level |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "tether":
                    continue
                found.append((path.relative_to(SRC).as_posix(), top, id(node) in top_level))
    return found


def _distributions(module: str) -> set[str]:
    return {_norm(d) for d in packages_distributions().get(module, [module])}


def test_the_scan_sees_the_imports_it_must_judge() -> None:
    modules = {module for _, module, _ in third_party_imports()}
    assert {"click", "apprise", "imapclient", "keyring", "matplotlib"} <= modules


def test_every_third_party_import_is_declared_for_its_code_path() -> None:
    core, extras = _declared()
    problems = []
    for path, module, at_load in third_party_imports():
        dists = _distributions(module)
        if dists & core:
            continue
        owners = [extra for extra, names in extras.items() if dists & names]
        if not owners:
            problems.append(f"{path}: imports {module!r}, which pyproject.toml does not declare")
            continue
        allowed = set().union(*(OPTIONAL.get(extra, set()) for extra in owners))
        if path not in allowed:
            problems.append(
                f"{path}: imports {module!r} from extra(s) {owners}, but a plain install runs "
                f"this module; declare it as a core dependency or move the import"
            )
        elif at_load:
            problems.append(f"{path}: imports optional {module!r} at module load")
    assert not problems, "\n".join(problems)


def test_the_core_mission_needs_no_extra() -> None:
    core, _ = _declared()
    assert {"apprise", "imapclient", "keyring"} <= core
    assert "matplotlib" not in core
