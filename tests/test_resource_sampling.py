"""The supervisor samples each job's whole process tree (psutil): ``tether top``."""

from __future__ import annotations

import time

from conftest import Tether

# A child process holding ~80 MB and spinning a core, under a shell parent.
HOG = (
    "import time\n"
    "block = bytearray(80 * 2**20)\n"
    "for i in range(0, len(block), 4096):\n"
    "    block[i] = 1\n"
    "end = time.time() + 3\n"
    "while time.time() < end:\n"
    "    pass\n"
)


def test_top_shows_the_trees_cpu_and_memory_peaks(tether: Tether) -> None:
    t = tether
    (t.cwd / "hog.py").write_text(HOG)
    t("agent", "start")
    number = t("run", "--", "sh", "-c", "python3 hog.py; sleep 0.5").stdout.strip()
    deadline = time.monotonic() + 20
    while not (rows := t.json("top")) or rows[0]["usage"] is None:  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert rows[0]["number"] == int(number)  # type: ignore[index]
    assert "cpu peak" in t("top").stdout
    t("wait", number, timeout=30)
    assert t.json("top") == []  # nothing running now
    usage = t.json("top", number)[0]["usage"]  # type: ignore[index]
    assert usage["peak"]["sys/rss_mb"] >= 80  # the child's memory counts
    assert usage["peak"]["sys/procs"] >= 2  # sh and python
    assert usage["peak"]["sys/cpu_pct"] >= 40
    assert usage["mean"]["sys/cpu_pct"] <= usage["peak"]["sys/cpu_pct"]
    assert usage["samples"] >= 2
