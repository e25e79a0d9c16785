"""Mistakes on the `run`/`sweep` command line are refused at submit, with nothing queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import Tether

SCRIPT = "LR = 0.1\nimport sys\nprint('argv', sys.argv[1:], 'lr', LR)\n"


@pytest.fixture
def project(tether: Tether) -> Tether:
    (tether.cwd / "main.py").write_text(SCRIPT)
    return tether


def jobs(tether: Tether) -> list[object]:
    listed = tether.json("ls")
    assert isinstance(listed, list)
    return listed


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["run", "--wiat", "main.py"], "did you mean --wait?"),
        (["run", "-x", "main.py"], "no such option: -x"),
        (["run", "--report-interval", "10", "main.py"], "--every"),
        (["sweep", "--bogus", "-p", "LR=1,2", "main.py"], "no such option: --bogus"),
        (["sweep", "main.py", "-p", "LR=0.1,0.2"], "give -p before the script"),
        (["run", "-p", "LR=1", "--", "true"], "-p sets tunables of a SCRIPT.py"),
    ],
)
def test_a_mistake_is_refused_and_nothing_is_queued(
    project: Tether, argv: list[str], said: str
) -> None:
    proc = project(*argv, check=False)
    assert proc.returncode == 2, proc.stderr
    assert said in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 4  # click's usage lines and one error
    assert jobs(project) == []


def test_tether_options_after_the_script_go_to_the_program_with_one_warning(
    project: Tether,
) -> None:
    proc = project("run", "--wait", "main.py", "-p", "LR=0.3", "--on", "x")
    assert "argv ['-p', 'LR=0.3', '--on', 'x'] lr 0.1" in proc.stdout
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "-p, --on after main.py" in warnings[0]
    assert "put it before main.py" in warnings[0]


def test_p_with_python_file_applies_to_that_file_and_show_records_what_ran(
    project: Tether,
) -> None:
    proc = project("run", "--wait", "-p", "LR=1", "--", "python", "main.py", "a")
    assert "argv ['a'] lr 1" in proc.stdout
    shown = project.json("show")
    assert isinstance(shown, dict)
    assert shown["extra"]["params"] == {"LR": 1}


def test_meeshkan_spellings_are_aliases(project: Tether) -> None:
    number = project("submit", "main.py").stdout.strip()
    project("wait", number)
    listed = project.json("list")
    assert isinstance(listed, list) and len(listed) == 1
    report = project.json("report", number)
    assert isinstance(report, dict) and report["status"] == "succeeded"


@pytest.mark.parametrize("where", ["user", "project"])
def test_a_broken_config_file_fails_run_with_file_and_line(
    project: Tether, tmp_path: Path, where: str
) -> None:
    if where == "user":
        folder = tmp_path / "config"
        folder.mkdir()
        project.env["TETHER_CONFIG_DIR"] = str(folder)
        path = folder / "config.toml"
    else:
        path = project.cwd / "tether.toml"
    path.write_text('[notify]\nevery = "1h"\nchannels = [\n' if where == "user" else "[notify\n")
    proc = project("run", "main.py", check=False)
    assert proc.returncode != 0
    line = "line 3" if where == "user" else "line 1"
    assert f"{path}:" in proc.stderr and line in proc.stderr, proc.stderr
    assert jobs(project) == []


def test_a_p_value_that_changes_a_tunables_type_prints_a_note_at_submit(project: Tether) -> None:
    proc = project("run", "-p", "LR=abc", "main.py")
    assert proc.stderr.count("tether: note: LR was 0.1 (float) and is now 'abc' (str)") == 1
    assert "note" not in project("run", "-p", "LR=0.5", "main.py").stderr
