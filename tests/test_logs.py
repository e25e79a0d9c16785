"""Logs: tail of a huge file without reading it, grep, and a live follow."""

from __future__ import annotations

import re
import select
import subprocess
from pathlib import Path

from conftest import Tether
from tether.jobs.logs import grep_lines, tail_lines


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


def _make_big_log(path: Path, size: int) -> None:
    block = b"".join(b"line %08d of filler text for the log\n" % i for i in range(20000))
    with open(path, "wb") as f:
        written = 0
        while written < size:
            f.write(block)
            written += len(block)
        f.write(b"".join(b"final %d\n" % i for i in range(30)))


def test_tail_of_a_200_mb_log_reads_only_its_end(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    _make_big_log(log, 200 * 1024 * 1024)
    before = _bytes_read()
    lines = tail_lines(log, 20)
    read = _bytes_read() - before
    assert [x.decode().strip() for x in lines] == [f"final {i}" for i in range(10, 30)]
    assert read < 1024 * 1024, f"read {read} bytes for a tail"


def test_cli_tail_of_a_huge_log(tether: Tether) -> None:
    tether("run", "-w", "--", "true")
    log = Path(tether.json("show")["log_path"])
    _make_big_log(log, 200 * 1024 * 1024)
    # the real CLI, in a python that reports how many bytes it read in all (start-up too)
    counted = (
        "import runpy, sys\n"
        "sys.argv = ['tether', 'logs', '--tail', '20']\n"
        "try:\n"
        "    runpy.run_module('tether', run_name='__main__')\n"
        "finally:\n"
        "    sys.stdout.flush()\n"
        "    io = open('/proc/self/io').read().split()\n"
        "    print('RCHAR', io[io.index('rchar:') + 1], file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [tether.python, "-c", counted], cwd=tether.cwd, env=tether.env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.stdout.splitlines() == [f"final {i}" for i in range(10, 30)], proc.stderr
    read = int(proc.stderr.split("RCHAR")[-1])
    assert read < 50 * 1024 * 1024, f"read {read} bytes for a tail of a 200 MB log"


def test_grep_streams_and_combines_with_tail(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    log.write_bytes(b"".join(b"epoch %d loss=%d\n" % (i, i % 7) for i in range(1000)))
    found = list(grep_lines(log, re.compile(rb"loss=3$")))
    assert len(found) == 143 and found[0] == b"epoch 3 loss=3\n"
    assert list(grep_lines(log, re.compile(rb"loss=3$"), tail=2)) == [
        b"epoch 990 loss=3\n",
        b"epoch 997 loss=3\n",
    ]


def test_logs_grep_and_tail_on_the_cli(tether: Tether) -> None:
    tether("run", "-w", "--", "sh", "-c", "for i in 1 2 3 4 5; do echo row $i; done; echo other")
    assert tether("logs", "--grep", "row [24]").stdout == "row 2\nrow 4\n"
    assert tether("logs", "--tail", "2").stdout == "row 5\nother\n"
    assert tether("logs", "--grep", "row", "--tail", "1").stdout == "row 5\n"


def test_follow_shows_each_new_line_while_the_job_runs(tether: Tether) -> None:
    """Each line must reach `logs -f` while the job is still running: the job prints a line,
    then waits for a go file that the test creates only after the follower showed it."""
    script = tether.cwd / "ticks.py"
    script.write_text(
        "import os, time\n"
        "for i in range(4):\n"
        "    print(f'tick {i}', flush=True)\n"
        "    while not os.path.exists(f'go-{i}'):\n"
        "        time.sleep(0.05)\n"
    )
    tether("run", "ticks.py")
    follower = tether.popen("logs", "-f", stdout=subprocess.PIPE)
    assert follower.stdout is not None
    try:
        for i in range(4):
            ready, _, _ = select.select([follower.stdout], [], [], 60)
            assert ready, f"logs -f did not show tick {i} while the job waited"
            assert follower.stdout.readline().decode().strip() == f"tick {i}"
            (tether.cwd / f"go-{i}").touch()
        assert follower.wait(timeout=60) == 0
        assert follower.stdout.read() == b""
    finally:
        if follower.poll() is None:
            follower.kill()
