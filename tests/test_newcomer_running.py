"""Defects a new user hit when running programs (issue 24), each checked through the real CLI."""

from __future__ import annotations

from pathlib import Path

from conftest import Tether
from tether.tuning.snapshot import VersionStore


def _write(path: Path, text: str = "x = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _stored_files(t: Tether, number: str) -> set[str]:
    version = t.json("show", number)["extra"]["version"]  # type: ignore[index]
    return set(VersionStore(t.home / "versions").manifest(str(version)).files)


def test_outside_a_project_python_installs_venvs_and_hidden_folders_are_not_stored(
    tether: Tether,
) -> None:
    home = tether.cwd  # no .git, pyproject.toml or tether.toml above it
    _write(home / "train.py", "import helper\nprint(helper.X)\n")
    _write(home / "helper.py", "X = 42\n")
    _write(home / "pkg" / "__init__.py")
    _write(home / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    _write(home / "env" / "lib" / "python3.11" / "site-packages" / "big.py")
    _write(home / "opt" / "py" / "lib" / "python3.11" / "os.py")
    _write(home / "opt" / "py" / "lib" / "python3.11" / "json" / "__init__.py")
    _write(home / "tools" / "site-packages" / "numpy" / "__init__.py")
    _write(home / ".pyenv" / "versions" / "3.11" / "x.py")
    _write(home / ".local" / "lib" / "y.py")
    tether("run", "--wait", "train.py")
    number = "1"
    assert _stored_files(tether, number) == {"train.py", "helper.py", "pkg/__init__.py"}
    assert "42" in tether("logs", number).stdout


def test_outside_a_project_a_folder_over_the_cap_is_refused_with_the_numbers(
    tether: Tether,
) -> None:
    home = tether.cwd
    _write(home / "train.py", "print('hi')\n")
    for i in range(2100):
        _write(home / "scratch" / f"s{i // 100}" / f"f{i}.py")
    proc = tether("run", "train.py", check=False)
    assert proc.returncode != 0
    assert "is not inside a project" in proc.stderr
    assert "more than 2000 files" in proc.stderr and "scratch/" in proc.stderr
    assert ".tetherignore" in proc.stderr and "nothing queued" in proc.stderr
    assert "no jobs yet" in tether("ls").stderr


def test_outside_a_project_a_folder_over_the_byte_cap_is_refused(tether: Tether) -> None:
    home = tether.cwd
    _write(home / "train.py", "print('hi')\n")
    blob = "# " + "x" * (1000 * 1024) + "\n"  # just under the 1 MiB file limit
    for i in range(70):
        _write(home / "gen" / f"g{i}.py", blob)
    proc = tether("run", "train.py", check=False)
    assert proc.returncode != 0
    assert "more than 64.0 MiB to store" in proc.stderr and "gen/" in proc.stderr


def test_a_host_sync_from_outside_a_project_has_the_same_caps(tmp_path: Path) -> None:
    import pytest

    from tether.errors import ProgramError
    from tether.targets.ssh.project import find_project
    from tether.targets.ssh.sync import check_outside_folder

    for i in range(2100):
        _write(tmp_path / "photos" / f"p{i}.jpg")
    project = find_project(tmp_path)
    assert project.outside
    with pytest.raises(ProgramError, match="more than 2000 files"):
        check_outside_folder(project)
    _write(tmp_path / "pyproject.toml", "")
    assert not find_project(tmp_path).outside


def test_run_m_of_a_standard_library_module_runs_as_python_m(tether: Tether) -> None:
    proc = tether("run", "--wait", "-m", "platform")
    assert proc.returncode == 0
    job = tether.json("show")
    assert isinstance(job, dict)
    assert job["command"][1:] == ["-m", "platform"] and job["name"] == "platform"
    assert "Linux" in tether("logs").stdout


def test_run_m_of_a_module_nobody_has_is_refused(tether: Tether) -> None:
    proc = tether("run", "-m", "no_such_module_xyz", check=False)
    assert proc.returncode != 0
    assert "no installed module no_such_module_xyz" in proc.stderr
    assert "nothing queued" in proc.stderr


def test_an_executable_script_in_the_current_folder_runs(tether: Tether) -> None:
    script = tether.cwd / "hello.sh"
    script.write_text("#!/bin/sh\necho hello from sh\n")
    script.chmod(0o755)
    tether("run", "--wait", "hello.sh")
    assert "hello from sh" in tether("logs").stdout


def test_show_and_ls_json_give_the_users_command_not_the_launcher(tether: Tether) -> None:
    _write(tether.cwd / "train.py", "import sys\nprint(sys.argv)\n")
    tether("run", "--wait", "train.py", "--epochs", "3")
    job = tether.json("show")
    listed = tether.json("ls")
    assert isinstance(job, dict) and isinstance(listed, list)
    assert job["command"][1:] == ["train.py", "--epochs", "3"]
    assert listed[0]["command"] == job["command"]
    assert "train.py --epochs 3" in tether("show").stdout
    assert job["launch"] != job["command"]
