"""The shape of the CLI's start-up (issues 26 and 28): which modules a command loads, not how
long it takes. ``tether --version`` loads no click; ``tether ls --on HOST --json`` loads the
``ls`` command's module and no other command's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

PROBE = """
import json, sys
sys.argv = ["tether", *json.loads(sys.argv[1])]
from tether.cli.main import main
try:
    code = main()
except SystemExit as exc:
    code = exc.code
except BaseException as exc:
    code = repr(exc)
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def loaded(args: list[str], tmp_path: Path, cwd: Path | None = None) -> tuple[str, set[str]]:
    """What ``tether ARGS`` prints on stdout, and the modules it has loaded by its end."""
    env = {
        **os.environ,
        "TETHER_FRONT": "0",  # the start-up of a command run in its own process
        "PYTHONPATH": str(SRC),
        "TETHER_HOME": str(tmp_path / "home"),
        "TETHER_CONFIG_DIR": str(tmp_path / "config"),
    }
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    line = result.stderr.rsplit("MODULES ", 1)[1]
    return result.stdout, set(json.loads(line))


def test_version_loads_no_click(tmp_path: Path) -> None:
    out, modules = loaded(["--version"], tmp_path)
    assert out == "tether, version 0.1.0\n"
    assert not {m for m in modules if m == "click" or m.startswith("click.")}
    assert "typing" not in modules


@pytest.fixture
def unreachable_host(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "TETHER_HOME": str(tmp_path / "home"),
           "TETHER_CONFIG_DIR": str(tmp_path / "config")}  # fmt: skip
    subprocess.run([sys.executable, "-m", "tether", "hosts", "add", "h", "nobody@127.0.0.1:1",
                    "--timeout", "5"], env=env, check=True, capture_output=True)  # fmt: skip


@pytest.mark.usefixtures("unreachable_host")
def test_ls_on_a_host_loads_only_the_ls_command(tmp_path: Path) -> None:
    _, modules = loaded(["ls", "--on", "h", "--json"], tmp_path)
    assert "tether.cli.jobs_cmd" in modules
    commands = {m for m in modules if m.startswith("tether.cli.") and m.endswith("_cmd")}
    assert commands == {"tether.cli.jobs_cmd"}
    assert "tether.cli.run_cmd" not in modules
    assert "rich" not in modules  # --json: nothing of what people read


HEAVY = ("rich", "starlette", "uvicorn", "apprise", "imapclient", "cloudpickle", "psutil")


def test_run_loads_nothing_heavy(tmp_path: Path) -> None:
    """``tether run a.py`` in its own process (issue 28): the submit loads none of what
    people read (rich), the dashboard, the mail or notification libraries, or psutil."""
    (tmp_path / "a.py").write_text("print('ok')\n")
    try:
        out, modules = loaded(["run", "a.py"], tmp_path, cwd=tmp_path)
    finally:
        loaded(["agent", "stop"], tmp_path)
    assert out.strip().isdigit(), out
    heavy = {m for m in modules if m.split(".")[0] in HEAVY}
    assert heavy == set()
