"""Logs: tail of a huge file without reading it, grep, and a live follow."""

from __future__ import annotations

import re
import subprocess
import time
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
    start = time.perf_counter()
    out = tether("logs", "--tail", "20").stdout.splitlines()
    elapsed = time.perf_counter() - start
    assert out == [f"final {i}" for i in range(10, 30)]
    assert elapsed < 5  # a full read of 200 MB plus python start-up would be far slower here


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


def test_follow_shows_a_new_line_within_half_a_second(tether: Tether) -> None:
    script = tether.cwd / "ticks.py"
    script.write_text(
        "import time\n"
        "for i in range(4):\n"
        "    time.sleep(0.7)\n"
        "    print(f'tick {time.time()!r}', flush=True)\n"
    )
    tether("run", "ticks.py")
    follower = tether.popen("logs", "-f", stdout=subprocess.PIPE)
    assert follower.stdout is not None
    delays = []
    for line in follower.stdout:
        sent = float(line.split()[1])
        delays.append(time.time() - sent)
    assert follower.wait(timeout=30) == 0
    assert len(delays) == 4
    assert max(delays) < 0.5, delays
