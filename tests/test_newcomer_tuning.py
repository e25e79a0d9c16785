"""Defects a new user reported in tuning, functions and the dashboard, each through real parts."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from conftest import Tether
from web_fixtures import Web, web_server  # noqa: F401

TRAIN = textwrap.dedent(
    """\
    import tether

    lr = 0.01
    layers = 2


    def main():
        print(f"lr={lr} layers={layers}")
        tether.report(score=lr * layers)


    main()
    """
)


def _project(tether: Tether) -> Path:
    script = tether.cwd / "train.py"
    script.write_text(TRAIN)
    return script


# -- 1. history: "changed" is against the file, not the first row ------------------------


def test_history_changed_compares_with_the_file_not_the_first_row(tether: Tether) -> None:
    _project(tether)
    result = json.loads(
        tether("sweep", "--json", "-p", "lr=0.1,0.01", "-p", "layers=2,3", "train.py").stdout
    )
    tether("wait", "--all", timeout=120)
    rows = tether.json("history", "--sweep", result["sweep"])
    changed = {(r["params"]["lr"], r["params"]["layers"]): r["changed"] for r in rows}
    assert changed[(0.1, 3)] == {"lr": 0.1, "layers": 3}
    assert changed[(0.1, 2)] == {"lr": 0.1}
    assert changed[(0.01, 3)] == {"layers": 3}
    assert changed[(0.01, 2)] == {}
    table = tether("history", "--sweep", result["sweep"]).stdout
    assert "lr=0.1 layers=3" in table


# -- 2. diff of a job without a parent: against the file -----------------------------------


def test_diff_of_a_job_without_parent_compares_with_the_file(tether: Tether) -> None:
    script = _project(tether)
    tether("run", "-w", "-p", "layers=5", "train.py")
    script.write_text(TRAIN.replace("lr = 0.01", "lr = 0.7"))  # edited after submit
    proc = tether("diff", "1", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "has no parent" not in proc.stdout + proc.stderr
    assert "(as submitted)" in proc.stdout
    assert "param layers: 2 -> 5" in proc.stdout
    assert "-layers = 2" in proc.stdout and "+layers = 5" in proc.stdout
    assert "0.7" not in proc.stdout  # the later edit is not the job's
    data = tether.json("diff", "1")  # the same answer, as tether.api.tuning.diff gives it
    assert data["old"].endswith("train.py (as submitted)") and data["new"] == "job #1"
    assert data["params"] == {"layers": {"before": 2, "after": 5}}
    assert "+layers = 5" in data["program_diff"] and "0.7" not in data["program_diff"]


# -- 3. save: the first backup is kept; the file is replaced atomically, mode kept ----------


def test_save_twice_keeps_the_original_backup_and_the_file_mode(tether: Tether) -> None:
    script = _project(tether)
    script.chmod(0o751)
    tether("run", "-w", "-p", "layers=8", "train.py")
    tether("save")
    assert Path(f"{script}.bak").read_text() == TRAIN
    tether("run", "-w", "-p", "layers=9", "train.py")
    saved = tether.json("save")
    assert saved == {"number": 2, "path": str(script), "backup": f"{script}.bak.1"}
    assert Path(f"{script}.bak").read_text() == TRAIN  # the original is not lost
    assert "layers = 8" in Path(f"{script}.bak.1").read_text()
    assert "layers = 9" in script.read_text()
    assert stat.S_IMODE(script.stat().st_mode) == 0o751
    leftovers = [p.name for p in tether.cwd.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_save_replaces_the_file_rather_than_writing_into_it(tether: Tether) -> None:
    script = _project(tether)
    tether("run", "-w", "-p", "layers=8", "train.py")
    before = os.stat(script).st_ino
    tether("save")
    assert os.stat(script).st_ino != before  # a new file renamed over the old one
    assert "layers = 8" in script.read_text()


# -- 4. params: loop variables are not tunables ---------------------------------------------


def test_params_leaves_out_variables_a_top_level_loop_changes(tether: Tether) -> None:
    (tether.cwd / "loop.py").write_text(
        textwrap.dedent(
            """\
            import tether

            lr = 0.01
            loss = 0.0
            total = 0
            for step in range(3):
                loss = 1.0 / (step + 1)
                tether.report(loss=loss)
            total += 1
            epochs = 5


            def f():
                for epochs in range(2):
                    pass
            """
        )
    )
    listed = tether.json("params", "loop.py")
    assert [p["name"] for p in listed] == ["lr", "epochs"]
    proc = tether("run", "-p", "loss=1", "loop.py", check=False)
    assert proc.returncode != 0 and "loss" in proc.stderr


# -- 5. a script building a named Dataset can be run again ---------------------------------

DATASET_SCRIPT = textwrap.dedent(
    """\
    import json, sys
    import tether


    def square(x):
        return x * x


    ds = tether.Dataset(square, name="squares")
    ds.append_runs({"x": i} for i in range(int(sys.argv[1])))
    ds.run()
    if sys.argv[2] == "wait":
        ds.wait(0.1, 60)
    print(json.dumps({"would_run": ds.would_run, "results": ds.results}))
    """
)


def _run_script(tether: Tether, script: str, *args: str) -> dict[str, object]:
    import sys

    proc = subprocess.run(
        [sys.executable, script, *args],
        cwd=tether.cwd,
        env=tether.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_running_a_dataset_script_again_runs_only_what_is_missing(tether: Tether) -> None:
    (tether.cwd / "squares.py").write_text(DATASET_SCRIPT)
    first = _run_script(tether, "squares.py", "3", "nowait")  # exits before the job ends
    assert first["would_run"] == [0, 1, 2]
    tether("wait", "--all", timeout=120)
    again = _run_script(tether, "squares.py", "3", "wait")
    assert again == {"would_run": [], "results": [0, 1, 4]}
    more = _run_script(tether, "squares.py", "5", "wait")
    assert more == {"would_run": [3, 4], "results": [0, 1, 4, 9, 16]}


def test_a_different_function_under_a_taken_dataset_name_is_refused(tether: Tether) -> None:
    (tether.cwd / "squares.py").write_text(DATASET_SCRIPT)
    _run_script(tether, "squares.py", "2", "wait")
    other = DATASET_SCRIPT.replace("return x * x", "return x + x")
    (tether.cwd / "doubles.py").write_text(other)
    import sys

    proc = subprocess.run(
        [sys.executable, "doubles.py", "2", "wait"],
        cwd=tether.cwd,
        env=tether.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "different function" in proc.stderr and "replace=True" in proc.stderr
    (tether.cwd / "doubles.py").write_text(
        other.replace('name="squares")', 'name="squares", replace=True)')
    )
    assert _run_script(tether, "doubles.py", "2", "wait")["results"] == [0, 2]


# -- 6. after run(force=True), the newest stored result wins -------------------------------


def test_after_a_forced_run_a_plain_run_returns_the_newest_result(tether: Tether) -> None:
    from tether import Dataset

    source = tether.cwd / "value.txt"

    def read(path: str) -> str:
        return Path(path).read_text()

    for round_, value in enumerate(["a", "b", "c", "d", "e"]):
        source.write_text(value)
        forced = Dataset(read, name=f"forced{round_}")
        forced.append_run({"path": str(source)})
        forced.run(force=round_ > 0)
        forced.wait(0.1, 60)
        assert forced.results == [value]
        plain = Dataset(read, name=f"plain{round_}")
        plain.append_run({"path": str(source)})
        plain.run()
        assert plain.would_run == []
        assert plain.results == [value]


# -- dashboard -------------------------------------------------------------------------------

WEB_TRAIN = textwrap.dedent(
    """\
    import sys
    import time

    batch = 32

    sys.stderr.write(" 30%|###       | 3/10 [00:03<00:09,  1.00it/s]\\n")
    sys.stderr.flush()
    time.sleep(60)
    """
)


def _start_web(tether: Tether, *args: str) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """`tether web ARGS` as a subprocess: yields (base URL as printed, token, process)."""
    proc = tether.popen("web", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    parts = urlsplit(url)
    try:
        yield f"{parts.scheme}://{parts.netloc}", parts.query.removeprefix("token="), proc
    finally:
        proc.terminate()
        proc.wait(10)


def _get(url: str, token: str, host: str | None = None, timeout: float = 20) -> httpx.Response:
    """GET with the bearer token (and this Host header), retrying while the server starts."""
    headers = {"Authorization": f"Bearer {token}", **({"Host": host} if host else {})}
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, headers=headers)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_jobs_table_shows_a_tqdm_eta_string(tether: Tether, web: Web) -> None:
    (tether.cwd / "train.py").write_text(WEB_TRAIN)
    tether("run", "train.py")
    client = web.client()
    deadline = time.monotonic() + 30
    while True:
        jobs = client.get("/api/jobs").json()["jobs"]
        if jobs and jobs[0].get("progress"):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.2)
    progress = jobs[0]["progress"]
    assert progress["eta"] == "00:09"  # what the server sends
    assert "progressText" in client.get("/static/jobs.js").text
    module = client.get("/static/format.js")
    assert module.status_code == 200
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is needed to run the page's formatting code")
    (tether.cwd / "format.mjs").write_text(module.text)
    shown = subprocess.run(
        [node, "--input-type=module", "-e",
         "import { progressText } from './format.mjs';"
         f"console.log(progressText({json.dumps(progress)}));"],
        cwd=tether.cwd, capture_output=True, text=True, timeout=30, check=True,
    ).stdout.strip()  # fmt: skip
    assert shown == "3/10 eta 00:09"
    assert "NaN" not in shown


def test_the_page_of_a_missing_job_is_a_404_saying_so(tether: Tether, web: Web) -> None:
    client = web.client()
    page = client.get("/jobs/doesnotexist")
    assert page.status_code == 404
    assert "no such job" in page.text
    assert "id=cancel" not in page.text and "job.js" not in page.text
    tether("run", "--", "true")
    uuid = tether.json("show")["uuid"]
    assert client.get(f"/jobs/{uuid}").status_code == 200


def test_a_refused_edit_quotes_the_edited_line(tether: Tether, web: Web) -> None:
    source = WEB_TRAIN.replace("time.sleep(60)", "pass")
    (tether.cwd / "train.py").write_text(source)  # the server's folder holds the original
    tether("run", "-w", "train.py")
    uuid = tether.json("show")["uuid"]
    client = web.client()
    edited = source.replace("batch = 32", "batch = = 32")
    refused = client.post(f"/api/jobs/{uuid}/rerun", json={"source": edited})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert "batch = = 32" in error and "line 4" in error
    assert len(tether.json("ls")) == 1


def test_web_bound_to_every_address_answers_by_ip_and_name(tether: Tether) -> None:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    gen = _start_web(tether, "--host", "0.0.0.0", "--port", str(port))
    _, token, _ = next(gen)
    try:
        assert _get(f"http://127.0.0.1:{port}/api/jobs", token).status_code == 200
        assert _get(f"http://localhost:{port}/api/jobs", token).status_code == 200
        own = [
            a.address
            for addrs in psutil.net_if_addrs().values()
            for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        ]
        for address in own[:2]:
            assert _get(f"http://{address}:{port}/api/jobs", token).status_code == 200
        evil = _get(f"http://127.0.0.1:{port}/api/jobs", token, host=f"evil.test:{port}")
        assert evil.status_code == 421  # DNS rebinding protection kept
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs").status_code == 401  # token gate
    finally:
        gen.close()


ARGPARSE = """import argparse

EPOCHS = 3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--out", dest="output", default="out.txt")
    p.add_argument("data", nargs="?", default="x")
    a = p.parse_args()
    print("ran", a.lr, a.batch_size, a.output, EPOCHS)


main()
"""


def test_argparse_defaults_are_tunables_and_a_flag_still_wins(tether: Tether) -> None:
    (tether.cwd / "argp.py").write_text(ARGPARSE)
    listing = tether("params", "argp.py").stdout
    for name in ("EPOCHS", "lr", "batch_size", "output"):
        assert name in listing
    assert "data" not in listing.split()  # a positional is set on the command line
    tether("run", "--wait", "-p", "lr=0.5", "-p", "batch_size=64", "argp.py")
    assert "ran 0.5 64 out.txt 3" in tether("logs").stdout
    tether("run", "--wait", "-p", "lr=0.5", "argp.py", "--lr", "0.9")
    assert "ran 0.9 32 out.txt 3" in tether("logs").stdout
    assert (tether.cwd / "argp.py").read_text() == ARGPARSE  # the file itself is untouched
