"""Notebooks as jobs (issue 30): ``tether run nb.ipynb -p NAME=VALUE`` executes the stored
notebook with nbclient on a real ipykernel, papermill's way (the parameters injected after the
cell tagged ``parameters``), keeps the executed notebook in the job's folder and fails the job
on a failing cell, with the cell and its traceback in the log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import Tether

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def notebook(path: Path, *cells: tuple[str, list[str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tether: Tether) -> Path:
    root = tether.cwd
    (root / "pyproject.toml").write_text("[project]\nname = 'nb'\n")
    (root / "helper.py").write_text("FACTOR = 3\n")
    (root / "data.csv").write_text("1,2,3\n")
    notebook(
        root / "train.ipynb",
        ("lr = 0.01\nepochs = 3", ["parameters"]),
        ("import helper, tether\n"
         "rows = open('data.csv').read().strip()\n"
         "print('lr', lr, 'factor', helper.FACTOR, 'rows', rows)\n"
         "for e in range(epochs):\n    tether.report(loss=lr * (e + 1))", []),
        ("lr * 100", []),
    )  # fmt: skip
    return root


def shown(tether: Tether, number: str) -> dict[str, Any]:
    data = tether.json("show", number)
    assert isinstance(data, dict)
    return data


def test_a_notebook_runs_with_parameters_as_papermill_injects_them(
    tether: Tether, project: Path
) -> None:
    proc = tether("run", "-w", "-p", "lr=0.5", "train.ipynb", timeout=120)
    assert "lr 0.5 factor 3 rows 1,2,3" in proc.stdout  # a sibling module, a data file
    assert "50.0" in proc.stdout  # the last cell's value, in the log as it came
    job = shown(tether, "last")
    assert job["status"] == "succeeded" and job["name"] == "train.ipynb"
    assert job["metrics"]["loss"]["last"] == 1.5  # tether.report inside the kernel
    executed = nbformat.read(job["executed_notebook"], as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in executed.cells]
    assert tags[:3] == [["tether-setup"], ["parameters"], ["injected-parameters"]]
    assert "lr = 0.5" in executed.cells[2].source
    outputs = executed.cells[-1].outputs
    assert outputs and outputs[0]["data"]["text/plain"] == "50.0"
    # the notebook as it ran is the stored version: the file here is untouched
    assert "injected" not in (project / "train.ipynb").read_text()


def test_parameters_go_first_without_a_parameters_cell(tether: Tether) -> None:
    notebook(tether.cwd / "plain.ipynb", ("print('size is', size)", []))
    proc = tether("run", "-w", "-p", "size=7", "plain.ipynb", timeout=120)
    assert "size is 7" in proc.stdout


def test_a_failing_cell_fails_the_job_with_the_cell_and_traceback(tether: Tether) -> None:
    notebook(
        tether.cwd / "bad.ipynb",
        ("print('before')", []),
        ("x = 1\nraise ValueError(f'bad value {x}')", []),
        ("print('never')", []),
    )
    proc = tether("run", "-w", "bad.ipynb", check=False, timeout=120)
    assert proc.returncode == 1
    log = proc.stdout + proc.stderr
    assert "before" in log and "never" not in log
    assert "raise ValueError(f'bad value {x}')" in log and "ValueError: bad value 1" in log
    assert "\x1b[" not in log  # no terminal colours in the log
    job = shown(tether, "last")
    assert job["status"] == "failed"
    executed = nbformat.read(job["executed_notebook"], as_version=4)
    assert executed.cells[2].outputs[0]["output_type"] == "error"  # kept up to the failure


def test_a_rerun_with_new_parameters(tether: Tether, project: Path) -> None:
    tether("run", "-w", "-p", "lr=0.5", "train.ipynb", timeout=120)
    number = str(shown(tether, "last")["number"])
    proc = tether("rerun", "-w", "-p", "lr=0.25", number, timeout=120)
    assert "lr 0.25 factor 3" in proc.stdout


def test_a_file_that_is_not_a_notebook_is_refused(tether: Tether) -> None:
    (tether.cwd / "broken.ipynb").write_text("{not json")
    proc = tether("run", "broken.ipynb", check=False)
    assert proc.returncode != 0
    assert "broken.ipynb: not a notebook (not valid JSON" in proc.stderr
    assert "nothing queued" in proc.stderr
    assert tether.json("ls") == []


def test_a_python_without_nbclient_says_what_to_install(tether: Tether, project: Path) -> None:
    tether("run", "-w", "train.ipynb", timeout=120)
    runner = Path(shown(tether, "last")["launch"][1])  # the runner, as the job started it
    bare = subprocess.run([sys.executable, "-S", str(runner)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert bare.returncode == 1
    assert "running a notebook needs nbclient, nbformat and ipykernel" in bare.stderr
    assert "pip install nbclient ipykernel" in bare.stderr
