"""Working out a project's requirements: files first, else its imports pinned to this venv."""

from __future__ import annotations

import importlib.metadata as md
import textwrap
from pathlib import Path

import pytest

from tether.envs import requirements as requirements_module
from tether.envs.imports import local_module_names, scan_imports
from tether.envs.lines import (
    Requirements,
    canonical_name,
    normalize_line,
    read_requirements_file,
    requirements_hash,
)
from tether.envs.pinning import requirements_from_imports
from tether.envs.requirements import project_requirements
from tether.errors import ConfigError


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small project: third-party, stdlib, local and relative imports."""
    write(
        tmp_path,
        "train.py",
        """\
        import os, sys, json
        import numpy as np
        import click
        from collections import OrderedDict
        import sklearn.linear_model
        from PIL import Image
        import yaml
        import helpers
        from mypkg import util
        from mypkg.util import thing
        import totally_unknown_pkg_xyz.sub
        import tether
        from google.protobuf import message
        try:
            import ujson as fastjson
        except ImportError:
            fastjson = None
        if sys.version_info < (3, 11):
            import tomli as tomllib
        else:
            import tomllib
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import pandas

        def later():
            import cv2
            return cv2
        """,
    )
    write(tmp_path, "helpers.py", "import bs4\n")
    write(tmp_path, "mypkg/__init__.py", "from . import util\nfrom .util import thing\n")
    write(tmp_path, "mypkg/util.py", "from .. import helpers\nthing = 1\nimport dateutil.parser\n")
    write(tmp_path, "scripts/run.py", "import neighbour\nimport click\n")
    write(tmp_path, "scripts/neighbour.py", "x = 1\n")
    write(tmp_path, "broken.py", "def oops(:\n    import should_not_matter\n")
    write(tmp_path, ".venv/lib/site.py", "import inside_venv_pkg\n")
    write(tmp_path, "env2/pyvenv.cfg", "home = /usr/bin\n")
    write(tmp_path, "env2/lib/x.py", "import inside_other_venv\n")
    write(tmp_path, "build/lib/old.py", "import stale_build_pkg\n")
    return tmp_path


def test_scan_imports(project: Path) -> None:
    required, optional = scan_imports(project)
    assert {"numpy", "click", "sklearn.linear_model", "PIL", "helpers", "cv2"} <= required
    assert {"bs4", "dateutil.parser", "neighbour", "os", "google.protobuf"} <= required
    assert {"ujson", "tomli", "pandas"} <= optional
    assert "tomllib" in optional  # under a version test, but stdlib anyway
    names = required | optional
    assert not any(n.startswith(".") for n in names)
    for skipped in ("should_not_matter", "inside_venv_pkg", "inside_other_venv", "stale_build_pkg"):
        assert skipped not in names


def test_local_module_names(project: Path) -> None:
    local = local_module_names(project)
    assert {"train", "helpers", "mypkg", "util", "scripts", "neighbour", "run"} <= local
    assert "site" not in local  # inside .venv


def test_requirements_from_imports(project: Path) -> None:
    req = requirements_from_imports(project)
    assert req.source == "imports"
    lines = req.lines
    by_name = {canonical_name(line.split("==")[0]): line for line in lines}
    # Installed in this venv: pinned to the installed version, under the distribution name.
    assert by_name["click"] == f"click=={md.version('click')}"
    assert by_name["numpy"] == f"numpy=={md.version('numpy')}"
    assert by_name["pillow"] == f"pillow=={md.version('pillow')}"
    assert by_name["pyyaml"] == f"PyYAML=={md.version('PyYAML')}"
    assert by_name["protobuf"] == f"protobuf=={md.version('protobuf')}"
    # Not installed here: the well-known distribution name, unpinned.
    assert by_name["scikit-learn"] == "scikit-learn"
    assert by_name["opencv-python"] == "opencv-python"
    assert by_name["beautifulsoup4"] == "beautifulsoup4"
    assert by_name["python-dateutil"].startswith("python-dateutil")
    assert by_name["totally-unknown-pkg-xyz"] == "totally_unknown_pkg_xyz"
    assert {"sklearn", "cv2", "bs4", "totally_unknown_pkg_xyz"} <= set(req.unpinned)
    # Stdlib, local modules, relative imports, tether itself and absent optional imports.
    for absent in ("os", "json", "collections", "helpers", "mypkg", "util", "neighbour"):
        assert absent not in by_name
    for absent in ("tether", "ujson", "pandas", "tomli", "tomllib", "typing"):
        assert absent not in by_name
    assert lines == sorted(lines, key=lambda line: canonical_name(line.split("==")[0]))


def test_optional_import_is_pinned_when_installed(tmp_path: Path) -> None:
    write(tmp_path, "m.py", "try:\n    import click\nexcept ImportError:\n    click = None\n")
    assert requirements_from_imports(tmp_path).lines == [f"click=={md.version('click')}"]


def test_ignore_and_empty_project(tmp_path: Path) -> None:
    write(tmp_path, "m.py", "import click\nimport numpy\n")
    req = requirements_from_imports(tmp_path, ignore={"numpy"})
    assert req.lines == [f"click=={md.version('click')}"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert project_requirements(empty) == Requirements(source="imports", lines=[])


def test_site_paths_pin_against_another_environment(tmp_path: Path) -> None:
    """Pin against a project's own site-packages instead of tether's interpreter."""
    site = tmp_path / "site"
    info = site / "Fancy_Lib-2.5.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Fancy_Lib\nVersion: 2.5.1\n")
    (info / "top_level.txt").write_text("fancylib\n")
    other = site / "other_pkg-0.3.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: other-pkg\nVersion: 0.3\n")
    (other / "RECORD").write_text("otherpkg/__init__.py,,\nother_pkg-0.3.dist-info/METADATA,,\n")
    # the package's files exist, as in a real install (newer importlib_metadata skips others)
    (site / "otherpkg").mkdir()
    (site / "otherpkg" / "__init__.py").write_text("")
    proj = tmp_path / "proj"
    write(proj, "m.py", "import fancylib\nimport otherpkg.sub\nimport click\n")
    req = requirements_from_imports(proj, site_paths=[str(site)])
    assert req.lines == ["click", "Fancy_Lib==2.5.1", "other-pkg==0.3"]
    assert req.unpinned == ["click"]


def test_requirements_txt_wins(project: Path) -> None:
    write(
        project,
        "requirements.txt",
        """\
        # training deps
        numpy>=1.24  # arrays
        torch==2.3.0
        -r extra.txt

        --extra-index-url https://download.example.org/whl
        """,
    )
    write(project, "extra.txt", "rich\n-r requirements.txt\n")
    write(project, "pyproject.toml", '[project]\nname = "p"\ndependencies = ["flask"]\n')
    req = project_requirements(project)
    assert req.source == "requirements.txt"
    assert req.lines == [
        "numpy>=1.24",
        "torch==2.3.0",
        "rich",
        "--extra-index-url https://download.example.org/whl",
    ]


def test_pyproject_dependencies(project: Path) -> None:
    write(
        project,
        "pyproject.toml",
        """\
        [project]
        name = "p"
        dependencies = ["flask>=3", "requests; python_version >= '3.8'"]
        """,
    )
    req = project_requirements(project)
    assert req == Requirements(
        source="pyproject.toml", lines=["flask>=3", "requests; python_version >= '3.8'"]
    )


def test_pyproject_without_dependencies_falls_back_to_imports(project: Path) -> None:
    write(project, "pyproject.toml", '[tool.black]\nline-length = 100\n[project]\nname = "p"\n')
    assert project_requirements(project).source == "imports"
    write(project, "pyproject.toml", '[project]\nname = "p"\ndependencies = []\n')
    assert project_requirements(project) == Requirements(source="pyproject.toml", lines=[])


def test_bad_files_raise_config_errors(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[project\nname=")
    with pytest.raises(ConfigError, match=r"pyproject\.toml"):
        project_requirements(tmp_path)
    write(tmp_path, "pyproject.toml", "[project]\ndependencies = 'numpy'\n")
    with pytest.raises(ConfigError, match="list of strings"):
        project_requirements(tmp_path)
    with pytest.raises(ConfigError, match=r"missing\.txt"):
        read_requirements_file(tmp_path / "missing.txt")


def test_normalize_line() -> None:
    assert normalize_line("Click >= 8.0") == "click>=8.0"
    assert normalize_line("  scikit_learn==1.4.0   # pinned") == "scikit-learn==1.4.0"
    assert normalize_line("numpy >=1.2 , <3") == "numpy>=1.2,<3"
    assert normalize_line("# only a comment") == ""
    assert normalize_line("--extra-index-url  https://x") == "--extra-index-url https://x"


def test_requirements_hash() -> None:
    base = requirements_hash(["numpy==1.26.4", "click>=8"])
    assert len(base) == 64
    assert requirements_hash(["click >= 8", "# comment", "", "NumPy==1.26.4"]) == base
    assert requirements_hash(["numpy==1.26.4", "click>=8", "click>=8"]) == base
    assert requirements_hash(["numpy==1.26.5", "click>=8"]) != base
    assert requirements_hash(["numpy==1.26.4", "click>=8"], salt="py3.11") != base
    assert requirements_hash([]) == requirements_hash(["# nothing"])
    assert Requirements(source="imports", lines=["click>=8", "numpy==1.26.4"]).hash == base


def test_requirements_module_keeps_its_names() -> None:
    """The split left ``tether.envs.requirements`` exporting what it did."""
    for name in requirements_module.__all__:
        assert getattr(requirements_module, name) is not None
    assert requirements_module.scan_imports is scan_imports
    assert requirements_module.requirements_from_imports is requirements_from_imports


def test_requirements_from_imports_are_kept_until_a_file_changes(tmp_path: Path) -> None:
    """``run --on HOST`` works them out on every run: a scan only when a ``*.py`` file changed
    (requirements.txt and pyproject's dependencies are read each time)."""
    import os

    from tether.envs.requirements import cached_project_requirements

    root, home = tmp_path / "p", tmp_path / "home"
    root.mkdir()
    (root / "a.py").write_text("import pytest\n")
    first = cached_project_requirements(root, home=home)
    assert first == project_requirements(root) and first.lines == [
        f"pytest=={md.version('pytest')}"
    ]
    (root / "a.py").write_text("import nope_xyz_q\n")
    os.utime(root / "a.py", ns=(1, 1))  # a change the time alone tells
    changed = cached_project_requirements(root, home=home)
    assert changed.lines == ["nope_xyz_q"] and changed.unpinned == ["nope_xyz_q"]
    assert cached_project_requirements(root, home=home) == changed
    (root / "requirements.txt").write_text("tinypkg==2\n")
    assert cached_project_requirements(root, home=home).lines == ["tinypkg==2"]


def test_kept_requirements_outlive_other_files_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that is not Python, added to the project (the current folder: its time
    changes), keeps the requirements worked out before: no second scan."""
    import sys

    from tether.envs import requirements

    root, home = tmp_path / "p", tmp_path / "home"
    root.mkdir()
    (root / "a.py").write_text("import pytest\n")
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    first = requirements.cached_project_requirements(root, home=home)
    (root / "notes.txt").write_text("a new file\n")

    def no_scan(base: object) -> object:
        raise AssertionError("scanned again")

    monkeypatch.setattr(requirements, "project_requirements", no_scan)
    assert requirements.cached_project_requirements(root, home=home) == first


def test_index_options_from_tether_toml(tmp_path: Path) -> None:
    from tether.envs.installer import IndexOptions, project_index

    (tmp_path / "sub").mkdir()
    assert project_index(tmp_path) == IndexOptions()
    (tmp_path / "tether.toml").write_text(
        '[env]\nfind_links = ["wheels", "https://x.org/w"]\nno_index = true\n'
    )
    assert project_index(tmp_path / "sub") == IndexOptions(
        find_links=("../wheels", "https://x.org/w"), no_index=True
    )
    (tmp_path / "tether.toml").write_text("[env]\nno_index = 'yes'\n")
    with pytest.raises(ConfigError, match="line 2: \\[env\\] no_index must be true or false"):
        project_index(tmp_path)
