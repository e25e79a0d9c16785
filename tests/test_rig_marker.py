"""Every test that starts a real server (a rig fixture anywhere in its fixture closure)
carries the ``rig`` marker, so ``pytest -m "not rig"`` really leaves the servers out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rigs import plugin

TESTS = Path(__file__).resolve().parent

PROBE = """
import json, os
import pytest

def pytest_collection_finish(session: pytest.Session) -> None:
    rows = [
        {"id": item.nodeid, "fixtures": list(getattr(item, "fixturenames", ())),
         "rig": item.get_closest_marker("rig") is not None}
        for item in session.items
    ]
    with open(os.environ["RIG_PROBE_OUT"], "w") as f:
        json.dump(rows, f)
"""


def test_every_rig_fixture_is_listed() -> None:
    """A new server fixture in rigs/plugin.py must join RIG_FIXTURES, or its tests go unmarked."""
    defined = {
        name
        for name, obj in vars(plugin).items()
        if not name.startswith("_")
        and (
            hasattr(obj, "_pytestfixturefunction")  # pytest < 8.4
            or type(obj).__name__ == "FixtureFunctionDefinition"  # pytest >= 8.4
        )
    }
    assert defined == set(plugin.RIG_FIXTURES)


@pytest.mark.timeout(300)
def test_rig_tests_carry_the_marker(tmp_path: Path) -> None:
    (tmp_path / "rig_probe.py").write_text(PROBE)
    out = tmp_path / "items.json"
    env = {
        **os.environ,
        "RIG_PROBE_OUT": str(out),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "rig_probe", str(TESTS)],
        cwd=TESTS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    using = [r for r in rows if plugin.RIG_FIXTURES.intersection(r["fixtures"])]
    # the suite has ssh, mail and slurm tests: the probe saw them
    for fixture in ("sshd_host", "mail_server", "slurm_cluster"):
        assert any(fixture in r["fixtures"] for r in using), fixture
    unmarked = [r["id"] for r in using if not r["rig"]]
    assert unmarked == []
