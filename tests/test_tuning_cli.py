"""The tuning loop through the real CLI: overrides, versions, edit-and-rerun, save, sweeps."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from conftest import Tether

TRAIN = textwrap.dedent(
    """\
    import tether

    # settings
    lr = 0.01  # learning rate
    layers = 2
    model = "resnet"


    def main():
        print(f"lr={lr} layers={layers} model={model}")
        tether.report(score=lr * layers)


    main()
    """
)


def _project(tether: Tether) -> Path:
    script = tether.cwd / "train.py"
    script.write_text(TRAIN)
    return script


def test_override_of_an_unmodified_script_leaves_the_file_alone(tether: Tether) -> None:
    script = _project(tether)
    out = tether("run", "-w", "-p", "lr=0.5", "train.py").stdout
    assert "lr=0.5 layers=2 model=resnet" in out
    assert script.read_text() == TRAIN
    job = tether.json("show")
    assert job["extra"]["params"] == {"lr": 0.5}
    assert "-lr = 0.01  # learning rate" in job["extra"]["param_diff"]
    assert "+lr = 0.5  # learning rate" in job["extra"]["param_diff"]
    ran = (Path(job["launch"][1]).parent / job["extra"]["entry"]).read_text()  # the launcher's
    assert ran == TRAIN.replace("lr = 0.01", "lr = 0.5")  # every other byte kept


def test_unknown_parameter_fails_with_the_names_found(tether: Tether) -> None:
    _project(tether)
    proc = tether("run", "-p", "dropout=0.1", "train.py", check=False)
    assert proc.returncode != 0
    assert "dropout" in proc.stderr
    for name in ("layers", "lr", "model"):
        assert name in proc.stderr
    assert tether.json("ls") == []
    listed = tether.json("params", "train.py")
    assert [p["name"] for p in listed] == ["lr", "layers", "model"]


def test_tether_param_calls_get_their_override(tether: Tether) -> None:
    (tether.cwd / "p.py").write_text(
        "import tether\nprint(tether.param('depth', 3), tether.param('act', 'relu'))\n"
    )
    out = tether("run", "-w", "-p", "depth=7", "-p", "act=gelu", "p.py").stdout
    assert "7 gelu" in out


def test_editing_the_original_while_queued_changes_nothing(tether: Tether) -> None:
    script = _project(tether)
    tether("run", "--", "sleep", "1")
    tether("run", "train.py")
    script.write_text(TRAIN.replace("layers = 2", "layers = 99"))
    tether("wait", "--all")
    assert "layers=2" in tether("logs", "2").stdout


def test_rerun_with_overrides_and_edit(tether: Tether) -> None:
    _project(tether)
    tether("run", "-w", "-p", "lr=0.5", "train.py")
    editor = tether.cwd / "editor.py"
    editor.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('model = \"resnet\"', 'model = \"vit\"'))\n"
    )
    tether.env["EDITOR"] = f"{sys.executable} {editor}"
    out = tether("rerun", "-w", "--edit", "-p", "layers=4").stdout
    assert "lr=0.5 layers=4 model=vit" in out
    job = tether.json("show")
    assert job["parent"] == 1
    assert job["extra"]["params"] == {"lr": 0.5, "layers": 4}
    diff = tether("diff").stdout
    assert "param layers: '<unset>' -> 4" in diff
    assert '-model = "resnet"' in diff and '+model = "vit"' in diff


def test_an_edit_with_a_syntax_error_is_refused_and_nothing_queued(tether: Tether) -> None:
    _project(tether)
    tether("run", "-w", "train.py")
    editor = tether.cwd / "broken.py"
    editor.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('layers = 2', 'layers = (2'))\n"
    )
    tether.env["EDITOR"] = f"{sys.executable} {editor}"
    proc = tether("rerun", "--edit", check=False)
    assert proc.returncode != 0
    assert "line" in proc.stderr and "nothing was run" in proc.stderr
    assert len(tether.json("ls")) == 1


def test_save_writes_back_with_a_backup_and_refuses_a_changed_original(tether: Tether) -> None:
    script = _project(tether)
    tether("run", "-w", "-p", "layers=8", "train.py")
    out = tether("save").stdout
    assert "saved" in out
    assert "layers = 8" in script.read_text()
    assert Path(str(script) + ".bak").read_text() == TRAIN
    # a new job, then the user edits the file by hand: save must refuse
    tether("run", "-w", "-p", "layers=9", "train.py")
    script.write_text(script.read_text() + "# my own edit\n")
    proc = tether("save", check=False)
    assert proc.returncode != 0 and "changed since" in proc.stderr
    assert "layers = 8" in script.read_text()
    tether("save", "--force")
    assert "layers = 9" in script.read_text()
    other = tether.cwd / "best.py"
    tether("save", "--to", str(other))
    assert "layers = 9" in other.read_text()


def test_a_grid_sweep_queues_every_point_and_history_finds_the_best(tether: Tether) -> None:
    _project(tether)
    result = json.loads(
        tether("sweep", "--json", "-p", "lr=0.1,0.01,0.001", "-p", "layers=2,3", "train.py").stdout
    )
    assert len(result["jobs"]) == 6
    tether("wait", "--all", timeout=120)
    rows = tether.json("history", "--sweep", result["sweep"])
    got = sorted((r["params"]["lr"], r["params"]["layers"]) for r in rows)
    assert got == sorted((lr, n) for lr in (0.1, 0.01, 0.001) for n in (2, 3))
    best = tether.json("history", "--sweep", result["sweep"], "--best", "score")
    assert best[0]["params"] == {"lr": 0.1, "layers": 3}
    worst = tether.json("history", "--sweep", result["sweep"], "--best", "score", "--minimize")
    assert worst[0]["params"] == {"lr": 0.001, "layers": 2}
    ordered = tether.json("history", "train.py", "--sort", "score")
    scores = [r["metrics"]["score"] for r in ordered]
    assert scores == sorted(scores, reverse=True)


def test_random_sweep_samples_in_range(tether: Tether) -> None:
    _project(tether)
    result = json.loads(
        tether(
            "sweep",
            "--json",
            "--random",
            "4",
            "--seed",
            "1",
            "-p",
            "lr=log:1e-4..1e-1",
            "-p",
            "layers=int:1..8",
            "train.py",
        ).stdout
    )
    assert len(result["points"]) == 4
    for point in result["points"]:
        assert 1e-4 <= point["lr"] <= 1e-1 and 1 <= point["layers"] <= 8
    tether("wait", "--all", timeout=120)


def test_jobs_with_the_same_program_share_one_stored_copy(tether: Tether) -> None:
    _project(tether)
    tether("run", "-w", "train.py")
    tether("run", "-w", "train.py")
    jobs = [tether.json("show", "1"), tether.json("show", "2")]
    assert jobs[0]["extra"]["version"] == jobs[1]["extra"]["version"]
    objects = list((tether.home / "versions" / "objects").rglob("*"))
    files = [p for p in objects if p.is_file()]
    assert len(files) == 2  # the script's content and the manifest, stored once
