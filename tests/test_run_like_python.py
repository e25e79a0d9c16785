"""``tether run --wait`` behaves as ``python``: a corpus of real script shapes, each run both
ways from the same folder, comparing output and exit code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import Tether


@dataclass
class Shape:
    files: dict[str, str]
    argv: list[str]  # what follows ``python`` / ``tether run --wait``
    cwd: str = "."
    git: bool = False
    exit_code: int = 0


SHAPES: dict[str, Shape] = {
    "sibling_module": Shape(
        {
            "helper.py": "def hi():\n    return 'hi from helper'\n",
            "main.py": "import helper\nprint(helper.hi())\nprint(__name__)\n",
        },
        ["main.py"],
    ),
    "package": Shape(
        {
            "pkg/__init__.py": "NAME = 'pkg'\n",
            "pkg/maths.py": "def double(x):\n    return 2 * x\n",
            "main.py": "import pkg\nfrom pkg.maths import double\nprint(pkg.NAME, double(21))\n",
        },
        ["main.py"],
    ),
    "src_layout": Shape(
        {
            "pyproject.toml": "[project]\nname = 'app'\nversion = '0'\n",
            "src/app/__init__.py": "",
            "src/app/core.py": "def answer():\n    return 42\n",
            "scripts/train.py": (
                "import sys\nfrom pathlib import Path\n"
                "sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'src'))\n"
                "from app.core import answer\nprint('answer', answer())\n"
            ),
        },
        ["scripts/train.py"],
    ),
    "git_subfolder_imports_root": Shape(
        {
            "common.py": "SEED = 7\n",
            "exp/run.py": (
                "import sys, os\n"
                "sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))\n"
                "import common\nimport local_util\nprint('seed', common.SEED, local_util.X)\n"
            ),
            "exp/local_util.py": "X = 'local'\n",
        },
        ["run.py"],
        cwd="exp",
        git=True,
    ),
    "relative_data_path": Shape(
        {
            "data/points.csv": "x,y\n1,2\n3,4\n",
            "main.py": (
                "import csv\nrows = list(csv.DictReader(open('data/points.csv')))\n"
                "print(len(rows), sum(int(r['y']) for r in rows))\n"
            ),
        },
        ["main.py"],
        git=True,
    ),
    "config_via_file": Shape(
        {
            "config.json": '{"lr": 0.5, "epochs": 3}\n',
            "main.py": (
                "import json\nfrom pathlib import Path\n"
                "cfg = json.loads((Path(__file__).parent / 'config.json').read_text())\n"
                "print(cfg['lr'] * cfg['epochs'])\nprint(Path(__file__).name)\n"
            ),
        },
        ["main.py"],
        git=True,
    ),
    "tqdm_notebook_style": Shape(
        {
            "nb.py": (
                "from tqdm import tqdm\n"
                "total = 0\n"
                "for i in tqdm(range(50)):\n"
                "    total += i\n"
                "print('total', total)\n"
            ),
        },
        ["nb.py"],
    ),
    "argparse_flags": Shape(
        {
            "main.py": (
                "import argparse, sys\np = argparse.ArgumentParser()\n"
                "p.add_argument('--epochs', type=int)\np.add_argument('-v', action='store_true')\n"
                "p.add_argument('--lr', type=float)\na = p.parse_args()\n"
                "print(a.epochs, a.v, a.lr)\nprint(sys.argv)\n"
            ),
        },
        ["main.py", "--epochs", "3", "-v", "--lr=0.1"],
    ),
    "main_guard": Shape(
        {
            "lib.py": "print('lib imported as', __name__)\n",
            "main.py": (
                "import lib\n\ndef main():\n    print('main ran')\n\n"
                "if __name__ == '__main__':\n    main()\n"
            ),
        },
        ["main.py"],
    ),
    "multiprocessing_spawn": Shape(
        {
            "work.py": "def square(x):\n    return x * x\n",
            "main.py": (
                "import multiprocessing as mp\nfrom work import square\n\n"
                "def cube(x):\n    return x ** 3\n\n"
                "if __name__ == '__main__':\n"
                "    ctx = mp.get_context('spawn')\n"
                "    with ctx.Pool(2) as pool:\n"
                "        print(pool.map(square, range(5)), pool.map(cube, range(4)))\n"
            ),
        },
        ["main.py"],
    ),
    "raising_script": Shape(
        {
            "util.py": "def fail(x):\n    raise ValueError(f'bad value {x}')\n",
            "main.py": "import util\nprint('before')\nutil.fail(3)\n",
        },
        ["main.py"],
        exit_code=1,
    ),
    "dash_m_module": Shape(
        {
            "pkg/__init__.py": "",
            "pkg/helpers.py": "def tag():\n    return 'helped'\n",
            "pkg/cli.py": (
                "import sys\nfrom pkg.helpers import tag\nprint(__name__, tag(), sys.argv[1:])\n"
            ),
        },
        ["-m", "pkg.cli", "--flag", "x"],
    ),
}


def _write(base: Path, shape: Shape) -> Path:
    for rel, text in shape.files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    if shape.git:
        subprocess.run(["git", "init", "-q", str(base)], check=True)
    return base / shape.cwd


def _lines(text: str) -> list[str]:
    """Output lines, without tether's own lines and tqdm's progress frames."""
    out = []
    for line in text.replace("\r", "\n").splitlines():
        if line.startswith("tether:") or "it/s]" in line or "%|" in line or not line.strip():
            continue
        out.append(line)
    return out


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_tether_run_matches_python(tether: Tether, name: str) -> None:
    shape = SHAPES[name]
    cwd = _write(tether.cwd, shape)
    plain = subprocess.run(
        [sys.executable, *shape.argv], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert plain.returncode == shape.exit_code, plain.stderr
    tether.cwd = cwd
    run = tether("run", "--wait", *shape.argv, check=False, timeout=120)
    assert run.returncode == plain.returncode, run.stdout + run.stderr
    assert _lines(run.stdout + run.stderr) == _lines(plain.stdout + plain.stderr)


def test_a_traceback_names_the_users_files(tether: Tether) -> None:
    shape = SHAPES["raising_script"]
    cwd = _write(tether.cwd, shape)
    run = tether("run", "--wait", *shape.argv, check=False, timeout=120)
    out = run.stdout + run.stderr
    assert f'File "{cwd.resolve() / "util.py"}", line 2, in fail' in out
    assert f'File "{cwd.resolve() / "main.py"}", line 3, in <module>' in out
    assert "code/" not in out and "launch" not in out


def test_an_edit_after_submit_does_not_change_the_job(tether: Tether) -> None:
    go = tether.cwd / "go"  # the job imports helper only after the edits below
    (tether.cwd / "helper.py").write_text(
        f"import os, time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.05)\n"
        "WORD = 'stored'\n"
    )
    (tether.cwd / "main.py").write_text("import helper\nprint(helper.WORD)\n")
    tether("run", "main.py")
    (tether.cwd / "helper.py").write_text("WORD = 'edited'\n")
    (tether.cwd / "main.py").write_text("print('edited main')\n")
    go.touch()
    run = tether("run", "--wait", "main.py")
    assert "edited main" in run.stdout
    logs = tether("logs", "1", check=False, timeout=60)
    assert "stored" in logs.stdout, logs.stdout + logs.stderr


@pytest.mark.parametrize(
    ("files", "argv", "reason"),
    [
        ({}, ["missing.py"], "no such file"),
        ({"folder/x.py": ""}, ["folder"], "is a folder"),
        ({"notes.txt": "hi"}, ["notes.txt"], "not a Python file"),
        ({"bad.py": "def f(:\n"}, ["bad.py"], "bad.py"),
        ({}, ["-m", "nowhere.mod"], "-m nowhere.mod"),
    ],
)
def test_a_bad_program_is_refused_and_nothing_queued(
    tether: Tether, files: dict[str, str], argv: list[str], reason: str
) -> None:
    _write(tether.cwd, Shape(files, argv))
    run = tether("run", *argv, check=False)
    assert run.returncode != 0
    assert reason in run.stderr
    assert "Traceback" not in run.stderr
    assert tether.json("ls") == []


def test_spawn_children_run_the_stored_version(tether: Tether) -> None:
    (tether.cwd / "work.py").write_text("WORD = 'stored'\n\ndef word(_):\n    return WORD\n")
    (tether.cwd / "main.py").write_text(
        "import multiprocessing as mp, time\nfrom work import word\n\n"
        "def tag(_):\n    return 'main-stored'\n\n"
        "if __name__ == '__main__':\n"
        f"    while not __import__('os').path.exists({str(tether.cwd / 'go')!r}):\n"
        "        time.sleep(0.05)\n"
        "    with mp.get_context('spawn').Pool(1) as pool:\n"
        "        print(pool.map(word, [0]), pool.map(tag, [0]))\n"
    )
    tether("run", "main.py")
    (tether.cwd / "work.py").write_text("WORD = 'edited'\n\ndef word(_):\n    return WORD\n")
    (tether.cwd / "main.py").write_text(
        "from work import word\n\ndef tag(_):\n    return 'main-edited'\n"
    )
    (tether.cwd / "go").touch()  # only now does it spawn its children
    tether("wait", "1", timeout=120)
    logs = tether("logs", "1").stdout
    assert "['stored'] ['main-stored']" in logs, logs
