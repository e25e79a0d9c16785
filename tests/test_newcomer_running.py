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


TQDM = (
    "import sys, time\n"
    "print('before')\n"
    "for i in range(1, 11):\n"
    "    sys.stdout.write(f'\\r{i * 10}%|#| {i}/10 [00:0{i}<00:00]')\n"
    "    sys.stdout.flush()\n"
    "print()\n"
    "print('after')\n"
)


def test_show_prints_a_progress_bar_once_not_each_redraw(tether: Tether) -> None:
    _write(tether.cwd / "bar.py", TQDM)
    tether("run", "--wait", "bar.py")
    out = tether("show").stdout
    assert out.count("10/10") == 1 and "9/10" not in out
    assert "before" in out and "after" in out


def test_collapse_redraws_keeps_the_last_frame_and_an_unfinished_line() -> None:
    from tether.jobs.logs import collapse_redraws

    assert collapse_redraws("a\r\nx\ry\rz\n") == "a\nz\n"
    assert collapse_redraws("1%\r2%\n3%\r4%", ends_here=False) == "2%\n3%\r4%"
    assert collapse_redraws("1%\r2%\n3%\r4%") == "2%\n4%"


def test_the_web_log_range_sends_each_finished_line_once(tether: Tether) -> None:
    from tether.api import jobs as api_jobs
    from tether.store.jobs import JobStore

    _write(tether.cwd / "bar.py", TQDM)
    tether("run", "--wait", "bar.py")
    store = JobStore(tether.home)
    try:
        text = api_jobs.log_range(store, "1")["text"]
    finally:
        store.close()
    assert text.count("/10") == 1 and "10/10" in text


def test_piped_stdin_is_said_to_go_unread(tether: Tether) -> None:
    _write(tether.cwd / "main.py", "import sys\nprint('read', repr(sys.stdin.read()))\n")
    proc = tether("run", "--wait", "main.py", input="x\n")
    assert "does not read this standard input" in proc.stderr
    assert "read ''" in proc.stdout
    quiet = tether("run", "--wait", "main.py", input="")
    assert "standard input" not in quiet.stderr


def test_ctrl_c_in_run_wait_says_the_job_keeps_running(tether: Tether) -> None:
    import signal
    import subprocess
    import time

    _write(
        tether.cwd / "slow.py",
        "import os, time\nprint('started', flush=True)\n"
        "while not os.path.exists('go'):\n    time.sleep(0.05)\n"
        "print('still here', flush=True)\ntime.sleep(60)\n",
    )
    proc = tether.popen("run", "--wait", "slow.py", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert b"started" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert b"keeps running" in err and b"tether cancel 1" in err and b"aborted" not in err
    (tether.cwd / "go").touch()  # the job goes on after the Ctrl-C: it answers the go file
    end = time.monotonic() + 60
    while "still here" not in tether("logs", "1").stdout:
        assert time.monotonic() < end, "the job did not go on after Ctrl-C"
        time.sleep(0.05)
    assert tether.json("show", "1")["status"] == "running"  # type: ignore[index]
    tether("cancel", "1")


def test_notification_log_tail_shows_a_progress_bar_once(tether: Tether) -> None:
    from tether.notifications.snapshot import build_context
    from tether.store.jobs import JobStore

    _write(tether.cwd / "bar.py", TQDM)
    tether("run", "--wait", "bar.py")
    store = JobStore(tether.home)
    try:
        context = build_context(store, store.get(1), "succeeded")
    finally:
        store.close()
    joined = "\n".join(context.log_tail)
    assert joined.count("/10") == 1 and "after" in joined
