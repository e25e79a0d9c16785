"""Defects a new user reported in tuning, functions and the dashboard, each through real parts."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

from conftest import Tether

TRAIN = textwrap.dedent(
    """\
    import tether

    lr = 0.01
    layers = 2


    def main():
        print(f"lr={lr} layers={layers}")
        tether.report(score=lr * layers)


    main()
    """
)


def _project(tether: Tether) -> Path:
    script = tether.cwd / "train.py"
    script.write_text(TRAIN)
    return script


# -- 1. history: "changed" is against the file, not the first row ------------------------


def test_history_changed_compares_with_the_file_not_the_first_row(tether: Tether) -> None:
    _project(tether)
    result = json.loads(
        tether("sweep", "--json", "-p", "lr=0.1,0.01", "-p", "layers=2,3", "train.py").stdout
    )
    tether("wait", "--all", timeout=120)
    rows = tether.json("history", "--sweep", result["sweep"])
    changed = {(r["params"]["lr"], r["params"]["layers"]): r["changed"] for r in rows}
    assert changed[(0.1, 3)] == {"lr": 0.1, "layers": 3}
    assert changed[(0.1, 2)] == {"lr": 0.1}
    assert changed[(0.01, 3)] == {"layers": 3}
    assert changed[(0.01, 2)] == {}
    table = tether("history", "--sweep", result["sweep"]).stdout
    assert "lr=0.1 layers=3" in table


# -- 2. diff of a job without a parent: against the file -----------------------------------


def test_diff_of_a_job_without_parent_compares_with_the_file(tether: Tether) -> None:
    script = _project(tether)
    tether("run", "-w", "-p", "layers=5", "train.py")
    script.write_text(TRAIN.replace("lr = 0.01", "lr = 0.7"))  # edited after submit
    proc = tether("diff", "1", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "has no parent" not in proc.stdout + proc.stderr
    assert "(as submitted)" in proc.stdout
    assert "param layers: 2 -> 5" in proc.stdout
    assert "-layers = 2" in proc.stdout and "+layers = 5" in proc.stdout
    assert "0.7" not in proc.stdout  # the later edit is not the job's


# -- 3. save: the first backup is kept; the file is replaced atomically, mode kept ----------


def test_save_twice_keeps_the_original_backup_and_the_file_mode(tether: Tether) -> None:
    script = _project(tether)
    script.chmod(0o751)
    tether("run", "-w", "-p", "layers=8", "train.py")
    tether("save")
    assert Path(f"{script}.bak").read_text() == TRAIN
    tether("run", "-w", "-p", "layers=9", "train.py")
    tether("save")
    assert Path(f"{script}.bak").read_text() == TRAIN  # the original is not lost
    assert "layers = 8" in Path(f"{script}.bak.1").read_text()
    assert "layers = 9" in script.read_text()
    assert stat.S_IMODE(script.stat().st_mode) == 0o751
    leftovers = [p.name for p in tether.cwd.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_save_replaces_the_file_rather_than_writing_into_it(tether: Tether) -> None:
    script = _project(tether)
    tether("run", "-w", "-p", "layers=8", "train.py")
    before = os.stat(script).st_ino
    tether("save")
    assert os.stat(script).st_ino != before  # a new file renamed over the old one
    assert "layers = 8" in script.read_text()


# -- 4. params: loop variables are not tunables ---------------------------------------------


def test_params_leaves_out_variables_a_top_level_loop_changes(tether: Tether) -> None:
    (tether.cwd / "loop.py").write_text(
        textwrap.dedent(
            """\
            import tether

            lr = 0.01
            loss = 0.0
            total = 0
            for step in range(3):
                loss = 1.0 / (step + 1)
                tether.report(loss=loss)
            total += 1
            epochs = 5


            def f():
                for epochs in range(2):
                    pass
            """
        )
    )
    listed = tether.json("params", "loop.py")
    assert [p["name"] for p in listed] == ["lr", "epochs"]
    proc = tether("run", "-p", "loss=1", "loop.py", check=False)
    assert proc.returncode != 0 and "loss" in proc.stderr
