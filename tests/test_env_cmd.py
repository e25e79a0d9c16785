"""``tether env`` and ``tether install`` here: requirements worked out, a venv made once and
reused, packages added, jobs run with the env's python. Offline: packages come from wheels
built by the test (``--no-index``; the machine's pip config is ignored)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Tether
from rigs.sshd import SSHServer
from ssh_fixtures import Remote, host_cli

pytestmark = pytest.mark.timeout(300)

HOST = "rig1"


def make_wheel(folder: Path, name: str, version: str, body: str = "") -> Path:
    """A minimal pure-Python wheel of module ``name`` (``VERSION`` = ``version``)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n{body}",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tether-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        f"{info}/top_level.txt": f"{name}\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def offline(tt: Tether) -> None:
    """No package index and no machine-wide pip config: only the test's wheels."""
    tt.env["PIP_CONFIG_FILE"] = os.devnull
    tt.env["PIP_NO_INDEX"] = "1"
    tt.env["TETHER_NO_UV"] = "1"


@pytest.fixture
def project(tether: Tether, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tether.toml").write_text("")
    tether.cwd = root
    offline(tether)
    return root


def _env(tt: Tether, *args: str) -> dict[str, object]:
    data = tt.json("env", *args)
    assert isinstance(data, dict)
    return data


def _run_job(tt: Tether, script: str) -> str:
    proc = tt("run", "-w", script, timeout=120)
    return proc.stdout


def test_requirements_from_imports_in_json(tether: Tether, project: Path) -> None:
    (project / "train.py").write_text("import os\nimport click\nimport helpers\nimport tether\n")
    (project / "helpers.py").write_text(
        "import json\ntry:\n    import nope_xyz\nexcept ImportError:\n    pass\n"
    )
    data = _env(tether, "--dry-run")
    assert data["source"] == "imports"
    assert data["requirements"] == [f"click=={md.version('click')}"]
    assert data["dry_run"] is True and data["reused"] is False
    assert not Path(str(data["env_dir"])).exists()  # a dry run makes nothing
    human = tether("env", "--dry-run").stdout
    assert "from the project's imports, pinned" in human
    assert f"click=={md.version('click')}" in human and "would be made" in human


def test_env_made_then_reused_and_jobs_use_it(tether: Tether, project: Path) -> None:
    wheels = project / "wheels"
    make_wheel(wheels, "tinypkg", "1.0")
    (project / "requirements.txt").write_text("tinypkg==1.0\n")
    (project / "job.py").write_text(
        "import sys, tinypkg, tether\n"
        "print('tinypkg', tinypkg.VERSION, 'x', tether.param('x', 5))\n"
        "print('prefix', sys.prefix)\n"
    )
    first = _env(tether, "--find-links", "wheels")
    assert first["reused"] is False and first["installer"] == "pip"
    assert first["source"] == "requirements.txt" and first["requirements"] == ["tinypkg==1.0"]
    env_dir = Path(str(first["env_dir"]))
    assert env_dir.parent == tether.home / "envs"
    marker = env_dir / "tether-env.json"
    stamp = marker.stat()
    python = Path(str(first["python"]))
    assert python.exists() and python.parent.parent == env_dir

    second = tether("env", "--find-links", "wheels")
    assert "reused (requirements unchanged)" in second.stdout
    assert "making the env" not in second.stderr and "Collecting" not in second.stderr
    after = marker.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)

    out = _run_job(tether, "job.py")
    assert "tinypkg 1.0 x 5" in out
    assert f"prefix {env_dir}" in out
    job = tether.json("show")
    assert isinstance(job, dict) and job["command"][0] == str(python)


def test_changed_requirements_make_a_new_env(tether: Tether, project: Path) -> None:
    make_wheel(project / "wheels", "tinypkg", "1.0")
    make_wheel(project / "wheels", "tinypkg", "2.0")
    (project / "requirements.txt").write_text("tinypkg==1.0\n")
    one = _env(tether, "--find-links", "wheels")
    (project / "requirements.txt").write_text("tinypkg==2.0\n")
    two = _env(tether, "--find-links", "wheels")
    assert two["reused"] is False and two["env_dir"] != one["env_dir"]
    (project / "v.py").write_text("import tinypkg\nprint('version', tinypkg.VERSION)\n")
    assert "version 2.0" in _run_job(tether, "v.py")
    (project / "requirements.txt").write_text("tinypkg == 1.0  # back again\n")
    again = _env(tether, "--find-links", "wheels")
    assert again["reused"] is True and again["env_dir"] == one["env_dir"]


def test_install_adds_a_package_that_later_envs_keep(tether: Tether, project: Path) -> None:
    wheel = make_wheel(project / "wheels", "tinyextra", "0.3", "def hello():\n    return 'hi'\n")
    (project / "use.py").write_text("import tinyextra\nprint('extra', tinyextra.hello())\n")
    (project / "requirements.txt").write_text("")
    proc = tether("install", str(wheel.relative_to(project)))
    assert "installed wheels/tinyextra-0.3-py3-none-any.whl into the env" in proc.stdout
    assert "extra hi" in _run_job(tether, "use.py")
    data = _env(tether)
    assert data["reused"] is True and data["added"] == [str(wheel)]
    # New requirements, new env: the added package comes along.
    make_wheel(project / "wheels", "tinypkg", "1.0")
    (project / "requirements.txt").write_text("tinypkg==1.0\n")
    fresh = _env(tether, "--find-links", "wheels")
    assert fresh["reused"] is False and str(wheel) in fresh["installed"]
    marker = json.loads((Path(str(fresh["env_dir"])) / "tether-env.json").read_text())
    assert marker["added"] == [str(wheel)]
    assert "extra hi" in _run_job(tether, "use.py")


def test_empty_requirements_need_no_index(tether: Tether, project: Path) -> None:
    (project / "plain.py").write_text("import json, sys\nprint('plain', sys.prefix)\n")
    data = _env(tether)
    assert data["requirements"] == [] and data["installed"] == [] and data["reused"] is False
    assert f"plain {data['env_dir']}" in _run_job(tether, "plain.py")


def test_incomplete_env_is_not_used_and_is_made_again(tether: Tether, project: Path) -> None:
    (project / "where.py").write_text("import sys\nprint('prefix', sys.prefix)\n")
    data = _env(tether)
    env_dir = Path(str(data["env_dir"]))
    (env_dir / "tether-env.json").unlink()  # as if the build had been interrupted
    (env_dir / "leftover").write_text("x")
    out = _run_job(tether, "where.py")
    assert f"prefix {env_dir}" not in out  # tether's own interpreter, not a half-made env
    again = _env(tether)
    assert again["reused"] is False and again["env_dir"] == str(env_dir)
    assert not (env_dir / "leftover").exists() and (env_dir / "tether-env.json").is_file()
    assert f"prefix {env_dir}" in _run_job(tether, "where.py")


def test_failed_install_is_one_clear_line(tether: Tether, project: Path) -> None:
    (project / "requirements.txt").write_text("")
    proc = tether("install", "no-such-package-xyz==9.9", check=False)
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tether: error:")]
    assert errors == [
        "tether: error: pip install failed: No matching distribution found for "
        "no-such-package-xyz==9.9"
    ]
    record = json.loads(next((tether.home / "envs" / "projects").glob("*.json")).read_text())
    assert record["added"] == []  # not recorded


def test_bad_requirements_file_and_unknown_host(tether: Tether, project: Path) -> None:
    (project / "pyproject.toml").write_text("[project\n")
    proc = tether("env", check=False)
    assert proc.returncode == 1 and "pyproject.toml" in proc.stderr
    proc = tether("env", "--on", "nohost", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "tether: error: no host named 'nohost' (configured: none yet); "
        "add it with `tether hosts add nohost DEST`"
    ]
    proc = tether("install", "--on", "nohost", "x", check=False)
    assert proc.returncode == 2 and "no host named 'nohost'" in proc.stderr


# --- on a host (the loopback sshd rig) -------------------------------------------------


@pytest.fixture(scope="module")
def rig(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A tether CLI (own home, config, project) with ``rig1`` added and set up, then offline."""
    # setting up builds tether's wheel here, which needs pip's index; later installs must not
    with host_cli(tmp_path_factory.mktemp("envrig"), sshd_host, HOST) as remote:
        offline(remote.tt)
        yield remote


def _remote_job(rig: Remote, script: str) -> str:
    number = rig.tt("run", "--on", HOST, script, timeout=120).stdout.strip()
    assert number.isdigit()
    return rig.tt("logs", "-f", number, timeout=120).stdout


@pytest.mark.rig
def test_env_on_host_made_then_reused_and_used_by_jobs(rig: Remote) -> None:
    make_wheel(rig.project / "wheels", "tinypkg", "1.0")
    (rig.project / "job.py").write_text(
        "import sys, tinypkg, tether\n"
        "print('tinypkg', tinypkg.VERSION, tether.param('n', 3))\n"
        "print('prefix', sys.prefix)\n"
    )
    args = ("env", "--on", HOST, "--no-index", "--find-links", "wheels")
    first = rig.tt(*args, timeout=300)
    # requirements worked out here (tinypkg is not installed here: unpinned), progress streamed
    assert "tinypkg  (not installed here: unpinned)" in first.stdout
    assert "Installing collected packages: tinypkg" in first.stderr
    assert f"env on {HOST}: " in first.stdout and "made in" in first.stdout
    data = rig.tt.json(*args)
    assert isinstance(data, dict)
    assert data["host"] == HOST and data["reused"] is True and data["installed"] == []
    assert data["requirements"] == ["tinypkg"] and data["unpinned"] == ["tinypkg"]
    env_dir = Path(str(data["env_dir"]))
    assert env_dir.is_relative_to(rig.server.remote_path())  # made on the host, in its home
    assert (env_dir / "tether-env.json").is_file()
    assert data["root"] == str(rig.remote_project())
    out = _remote_job(rig, "job.py")
    assert "tinypkg 1.0 3" in out and f"prefix {env_dir}" in out


@pytest.mark.rig
def test_install_on_host_then_a_job_imports_it(rig: Remote) -> None:
    wheel = make_wheel(rig.project / "wheels", "tinyextra", "0.3", "def hello():\n    return 7\n")
    (rig.project / "extra.py").write_text("import tinyextra\nprint('hello', tinyextra.hello())\n")
    rel = str(wheel.relative_to(rig.project))
    proc = rig.tt("install", "--on", HOST, "--no-index", "--find-links", "wheels", rel, timeout=300)
    assert f"installed {rel} into the env on {HOST}" in proc.stdout
    assert "hello 7" in _remote_job(rig, "extra.py")
    bad = rig.tt("install", "--on", HOST, "--no-index", "missing-pkg-q", check=False, timeout=300)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        f"tether: error: on {HOST}: pip install failed: "
        "No matching distribution found for missing-pkg-q"
    )


def _uv() -> str | None:
    """uv on PATH, else the one the test extra put next to this python (venv not activated)."""
    found = shutil.which("uv")
    if found is None:
        beside = Path(sys.executable).parent / "uv"
        found = str(beside) if os.access(beside, os.X_OK) else None
    return found


@pytest.mark.skipif(_uv() is None, reason="uv not installed (pip install -e '.[test]')")
def test_uv_is_used_when_on_path(tether: Tether, project: Path) -> None:
    tether.env.pop("TETHER_NO_UV")
    uv_dir = str(Path(_uv() or "uv").parent)
    tether.env["PATH"] = uv_dir + os.pathsep + tether.env.get("PATH", "")
    tether.env["UV_CACHE_DIR"] = str(tether.home / "uv-cache")
    make_wheel(project / "wheels", "tinypkg", "1.0")
    (project / "requirements.txt").write_text("tinypkg==1.0\n")
    data = _env(tether, "--no-index", "--find-links", "wheels")
    assert data["installer"] == "uv" and data["reused"] is False
    (project / "v.py").write_text("import tinypkg, tether\nprint('v', tinypkg.VERSION)\n")
    assert "v 1.0" in _run_job(tether, "v.py")
    bad = tether("install", "--no-index", "nothing-here-q", check=False)
    assert bad.returncode == 1
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "tether: error: uv install failed: No solution found when resolving dependencies ("
        )
    )
