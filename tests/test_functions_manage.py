"""Dataset management on the local target: memoisation across processes, retry_failed, only=,
dry_run, all_finished / all_success / failed (real jobs, real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from conftest import Tether
from tether import Dataset
from tether.errors import UsageError
from tether.functions.backup import RestoredCodeWarning

SCRIPT = textwrap.dedent(
    """
    import json, sys, tether

    def double(x, log):
        with open(log, "a") as f:
            f.write(f"{x}\\n")
        return 2 * x

    force = sys.argv[2] == "force"
    ds = tether.Dataset(double)
    ds.append_runs({"x": i, "log": sys.argv[1]} for i in range(20))
    ds.run(force=force).wait(timeout=60)
    print(json.dumps({"results": ds.results, "job": ds.job, "status": ds.status}))
    """
)


def run_script(tether: Tether, log: Path, mode: str) -> dict[str, object]:
    env = {**os.environ, "TETHER_HOME": str(tether.home)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def test_memoised_across_processes_runs_nothing_the_second_time(
    tether: Tether, tmp_path: Path
) -> None:
    log = tmp_path / "side-effect.txt"
    first = run_script(tether, log, "skip")
    assert first["results"] == [2 * i for i in range(20)]
    assert isinstance(first["job"], int)
    assert sorted(int(x) for x in log.read_text().split()) == list(range(20))
    second = run_script(tether, log, "skip")
    assert second["results"] == [2 * i for i in range(20)]
    assert second["job"] is None and second["status"] == "memoised"
    assert len(log.read_text().split()) == 20  # nothing ran again
    forced = run_script(tether, log, "force")
    assert forced["results"] == [2 * i for i in range(20)]
    assert isinstance(forced["job"], int)
    assert len(log.read_text().split()) == 40


def flaky(x: int, flag: str) -> int:
    with open(flag + f".{x}", "a") as f:
        f.write("ran\n")
    if x % 3 == 0 and not os.path.exists(flag):
        raise ValueError(f"not yet ({x})")
    return x * 10


def test_retry_failed_reruns_only_the_failed(tether: Tether, tmp_path: Path) -> None:
    flag = str(tmp_path / "ok")
    ds = Dataset(flaky, name="flaky")
    ds.append_runs({"x": i, "flag": flag} for i in range(9))
    ds.run().wait(timeout=60)
    assert ds.failed == [0, 3, 6]
    assert ds.all_finished and not ds.all_success
    assert ds.results == [None, 10, 20, None, 40, 50, None, 70, 80]
    Path(flag).write_text("")
    ds.retry_failed().wait(timeout=60)
    assert ds.results == [10 * i for i in range(9)]
    assert ds.failed == [] and ds.all_success
    runs = {i: len(Path(f"{flag}.{i}").read_text().split()) for i in range(9)}
    assert runs == {i: 2 if i % 3 == 0 else 1 for i in range(9)}
    reopened = Dataset.open("flaky")  # follows to the retry's folder, prefilled from the memo
    assert reopened.results == [10 * i for i in range(9)]
    assert reopened.runs == [{"x": i, "flag": flag} for i in range(9)]


def test_retry_failed_on_a_dataset_reopened_in_a_new_process(
    tether: Tether, tmp_path: Path
) -> None:
    flag = str(tmp_path / "ok")
    ds = Dataset(flaky, name="flaky2")
    ds.append_runs({"x": i, "flag": flag} for i in range(4))
    ds.run().wait(timeout=60)
    assert ds.failed == [0, 3]
    Path(flag).write_text("")
    script = (
        "import json, tether\n"
        "ds = tether.Dataset.open('flaky2').retry_failed().wait(timeout=60)\n"
        "print(json.dumps(ds.results))\n"
    )
    env = {**os.environ, "TETHER_HOME": str(tether.home)}
    here = str(Path(__file__).parent)  # flaky() is pickled by reference: its module's folder
    env["PYTHONPATH"] = os.pathsep.join([here, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=90
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [0, 10, 20, 30]
    runs = {i: len(Path(f"{flag}.{i}").read_text().split()) for i in range(4)}
    assert runs == {0: 2, 1: 1, 2: 1, 3: 2}


def square(x: int) -> int:
    return x * x


def test_only_and_dry_run(tether: Tether) -> None:
    ds = Dataset(square)
    ds.append_runs({"x": i} for i in range(6))
    ds.run(only=[1, 4], dry_run=True)
    assert ds.would_run == [1, 4] and ds.job is None and ds.status == "new"
    ds.run(only=[4, 1]).wait(timeout=60)
    assert ds.results == [None, 1, None, None, 16, None]
    assert not ds.all_finished
    ds2 = Dataset(square)
    ds2.append_runs({"x": i} for i in range(6))
    ds2.run(dry_run=True)
    assert ds2.would_run == [0, 2, 3, 5]  # 1 and 4 have stored results
    ds2.run().wait(timeout=60)
    assert ds2.results == [i * i for i in range(6)] and ds2.all_success
    bad = Dataset(square)
    bad.append_run({"x": 1})
    with pytest.raises(UsageError, match="only= takes run indices"):
        bad.run(only=[3])


def halve(x: int) -> float:
    if x == 2:
        raise ValueError("two is not allowed")
    return x / 2


def test_backup_and_restore_into_a_new_tether_home(
    tether: Tether, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = Dataset(halve, name="halves")
    ds.append_runs({"x": i} for i in range(4))
    ds.append_run({"x": 4}, name="last")
    ds.run().wait(timeout=60)
    saved = ds.backup(tmp_path / "halves.tds")
    assert saved.is_file()
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "elsewhere"))
    back = Dataset.restore(saved)
    with pytest.warns(RestoredCodeWarning, match="restored from .*halves.tds") as warned:
        assert back.name == "halves" and back.is_finished and back.all_finished
    assert warned[0].filename == __file__  # it names the user's line
    assert back.results == [0.0, 0.5, None, 1.5, 2.0]
    assert back.failed == [2] and "two is not allowed" in str(back.errors[2])
    assert back.runs == [{"x": i} for i in range(5)]
    assert back.run_names == [None] * 4 + ["last"] and back.result("last") == 2.0
    with pytest.warns(RestoredCodeWarning):  # the failed run is read from the backup's copy
        assert Dataset.open("halves").results == [0.0, 0.5, None, 1.5, 2.0]
    again = Dataset(halve)  # the restored results are memoised in the new home
    again.append_runs({"x": i} for i in range(5))
    again.run(dry_run=True)
    assert again.would_run == [2]
    with pytest.raises(UsageError, match="exists here"):
        Dataset.restore(saved)
    (tmp_path / "junk").write_bytes(b"not a backup")
    with pytest.raises(UsageError, match="not a tether dataset backup"):
        Dataset.restore(tmp_path / "junk")


def test_a_two_stage_chain(tether: Tether) -> None:
    first = Dataset(halve, name="stage1")
    first.append_runs({"x": i} for i in range(5))
    second = first.then(lambda y: y + 100, name="stage2")
    first.run()
    second.run()  # returns at once; a thread submits stage 2 when stage 1 is done
    second.wait(timeout=60)
    assert second.results == [100.0, 100.5, None, 101.5, 102.0]
    assert second.failed == [2] and "upstream run 2 failed" in str(second.errors[2])
    assert isinstance(first.job, int) and isinstance(second.job, int) and second.job != first.job
    assert second.runs[3] == {"y": 1.5}
    with pytest.raises(UsageError, match="takes the previous result"):
        first.then(lambda: 1)


CHAIN_SCRIPT = """
import time

import tether


def slow(x):
    time.sleep(0.5)
    if x == 1:
        raise ValueError("one is not allowed")
    return x * 2


def plus(y):
    return y + 100


first = tether.Dataset(slow, name="first")
first.append_runs({"x": i} for i in range(4))
second = first.then(plus, name="second")
first.run()
second.run()
print("the script ends here")
"""


def test_a_then_stage_outlives_the_script_that_chained_it(tether: Tether) -> None:
    """The caller exits before its first stage is done: the second stage is handed to a job
    of the agent, which queues it once the first is done; any process can follow it."""
    (tether.cwd / "chain.py").write_text(CHAIN_SCRIPT)
    proc = subprocess.run([sys.executable, "chain.py"], cwd=tether.cwd, env=tether.env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the script ends here" in proc.stdout
    assert "dataset 'second' waits for 'first': job #" in proc.stderr
    second = Dataset.open("second")  # from another process: this test's
    second.wait(timeout=120)
    assert second.results == [100, None, 104, 106]
    assert "upstream run 1 failed" in str(second.errors[1])
    feeders = [j for j in tether.json("ls") if j["name"] == "then: second"]  # type: ignore[union-attr]
    assert [j["status"] for j in feeders] == ["succeeded"]


def test_runs_by_name(tether: Tether) -> None:
    ds = Dataset(halve, name="named")
    ds.append_run({"x": 4}, name="four")
    ds.append_run({"x": 2}, name="two")
    ds.append_run({"x": 6})
    with pytest.raises(UsageError, match="already has a run named 'four'"):
        ds.append_run({"x": 8}, name="four")
    with pytest.raises(UsageError, match="no result yet"):
        ds.result("four")
    ds.run().wait(timeout=60)
    assert ds.result("four") == 2.0 and ds.result(2) == 3.0
    with pytest.raises(ValueError, match="two is not allowed"):
        ds.result("two")
    with pytest.raises(UsageError, match="no run named 'five'"):
        ds.result("five")
    again = Dataset.open("named")
    assert again.run_names == ["four", "two", None] and again.result("four") == 2.0


class Boom:
    """A pickle that, when read, makes a file: what a crafted backup would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_a_crafted_backup_is_refused_without_running_its_code(
    tether: Tether, tmp_path: Path
) -> None:
    import pickle

    marker = tmp_path / "ran"
    crafted = tmp_path / "crafted.tds"
    crafted.write_bytes(pickle.dumps({"format": "tether-dataset-backup/1", "x": Boom(marker)}))
    with pytest.raises(UsageError, match=r"is a pickle .* runs code"):
        Dataset.restore(crafted)
    assert not marker.exists()


def test_a_backup_is_restored_as_data_and_read_only_when_asked(
    tether: Tether, tmp_path: Path
) -> None:
    """A backup whose results would run code: restoring it runs nothing; asking for the
    results warns first, then reads them."""
    import pickle
    import zipfile

    marker = tmp_path / "ran"
    good = Dataset(halve, name="plain")
    good.append_run({"x": 1})
    good.run().wait(timeout=60)
    saved = good.backup(tmp_path / "plain.tds")
    with zipfile.ZipFile(saved) as archive:
        info = json.loads(archive.read("backup.json"))
        batch = archive.read("batch.pkl")
    assert info["format"] == "tether-dataset-backup/2" and info["finished"] == ["ok"]
    assert info["function"] == "halve" and info["runs"] == 1
    crafted = tmp_path / "crafted.tds"
    with zipfile.ZipFile(crafted, "w") as archive:
        # not the memo's keys of "plain": its results here would be used instead of the file's
        archive.writestr("backup.json", json.dumps({**info, "name": "crafted", "fn_key": ""}))
        archive.writestr("batch.pkl", batch)
        archive.writestr("results.pkl", pickle.dumps([(0, True, Boom(marker), "")]))
    restored = Dataset.restore(crafted)
    assert restored.name == "crafted" and len(restored) == 1
    assert not marker.exists()  # nothing unpickled by restoring it
    with pytest.warns(RestoredCodeWarning):
        assert len(restored.results) == 1
    assert marker.exists()  # the user asked


@pytest.mark.parametrize(
    "members",
    [{}, {"backup.json": "{}"}, {"backup.json": '{"format": "tether-dataset-backup/2"}'}],
)
def test_a_damaged_backup_is_refused_in_one_line(
    tether: Tether, tmp_path: Path, members: dict[str, str]
) -> None:
    import zipfile

    damaged = tmp_path / "damaged.tds"
    with zipfile.ZipFile(damaged, "w") as archive:
        for name, text in {"batch.pkl": "", "results.pkl": "", **members}.items():
            archive.writestr(name, text)
    with pytest.raises(UsageError, match="is not a tether dataset backup") as raised:
        Dataset.restore(damaged)
    assert "\n" not in str(raised.value)


def test_extra_files_here_are_checked_and_a_missing_result_file_is_told(
    tether: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On this machine the runs work in this folder: nothing to copy, but a file to send
    must exist and a file to receive that no run made is reported."""
    monkeypatch.chdir(tether.cwd)
    (tether.cwd / "in.txt").write_text("3")
    ds = Dataset(halve, name="files", extra_files_send="in.txt", extra_files_recv=["made.txt"])
    ds.append_run({"x": 4}, extra_files_recv=["also.txt"])
    with pytest.warns(UserWarning, match="its runs made no made.txt, also.txt"):
        assert ds.run().wait(timeout=60).results == [2.0]
    with pytest.raises(UsageError, match="not inside the current folder"):
        Dataset(halve, extra_files_send=["../elsewhere.txt"])
