"""agent.log is rotated by size (keeping two old files), and the agent's stdout/stderr follow
the current file after a rotation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import Tether

LIMIT = 1024


def log_files(home: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(home.glob("agent.log*"))}


def test_the_agent_log_rotates_at_its_size_limit(tether: Tether) -> None:
    tether.env["TETHER_AGENT_LOG_MAX_BYTES"] = str(LIMIT)
    (tether.cwd / "t.py").write_text("a = 1\nb = 1\nprint(a, b)\n")
    tether("sweep", "-p", "a=1,2,3,4,5,6", "-p", "b=1,2,3,4,5,6", "t.py")
    tether("wait", "--all", timeout=120)
    tether("agent", "stop")
    files = log_files(tether.home)
    assert set(files) == {"agent.log", "agent.log.1", "agent.log.2"}, set(files)
    longest = max(len(line) + 1 for text in files.values() for line in text.splitlines())
    assert all(len(text.encode()) <= LIMIT + longest for text in files.values())
    assert "agent stopped" in files["agent.log"]
    assert "job #36 finished" in files["agent.log"] + files["agent.log.1"]


def test_stderr_follows_the_rotated_file(tmp_path: Path) -> None:
    """As when spawned: stdout and stderr are agent.log; after rotations, stray output (say a
    traceback) goes to the new agent.log, not to a renamed or deleted old one."""
    program = textwrap.dedent(
        """
        import logging, sys
        from pathlib import Path
        from tether.agent.logfile import setup

        home = Path(sys.argv[1])
        setup(home)
        log = logging.getLogger("tether.agent")
        for i in range(100):
            log.info("line %03d %s", i, "x" * 40)
        print("stray stdout", flush=True)
        print("stray stderr", file=sys.stderr, flush=True)
        """
    )
    with open(tmp_path / "agent.log", "ab") as out:
        subprocess.run(
            [sys.executable, "-c", program, str(tmp_path)],
            stdout=out,
            stderr=out,
            check=True,
            env={"TETHER_AGENT_LOG_MAX_BYTES": str(LIMIT), "PATH": "/usr/bin:/bin"},
        )
    files = log_files(tmp_path)
    assert set(files) == {"agent.log", "agent.log.1", "agent.log.2"}
    current = files["agent.log"]
    assert "line 099" in current and "stray stdout" in current and "stray stderr" in current
    assert "line 000" not in "".join(files.values())  # dropped with the oldest file


def test_an_agent_run_in_a_terminal_logs_to_stderr(tmp_path: Path) -> None:
    program = (
        "import logging, sys; from pathlib import Path; from tether.agent.logfile import setup; "
        "setup(Path(sys.argv[1])); logging.getLogger('tether.agent').info('hello')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert "INFO hello" in proc.stderr and not list(tmp_path.glob("agent.log*"))
