"""tether.Dataset, tether.Executor and ``%%tether --on HOST`` over SSH, against a real sshd.

One host with tether installed is shared by the module (installing takes a few seconds). The
rig's sshd runs on this machine, but as its own throwaway user with its own HOME: a function
that reports ``os.getuid()`` shows where it ran.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from rigs.sshd import SSHServer
from ssh_fixtures import Remote, _close_masters, host_cli
from tether import Dataset, Executor
from tether.errors import RemoteError, UsageError
from tether.functions.errors import DatasetStopped, DatasetTimeout, RemoteTraceback
from waiting import wait_for

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]

HOST = "rig1"


@pytest.fixture(scope="module")
def host(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A TETHER_HOME, config and project (this process's too) with ``rig1`` added and set up."""
    with host_cli(tmp_path_factory.mktemp("sshfunctions"), sshd_host, HOST) as remote:
        yield remote


@pytest.fixture
def here(host: Remote, monkeypatch: pytest.MonkeyPatch) -> Remote:
    """The host, with this process working in the project (what gets synced)."""
    monkeypatch.chdir(host.project)
    return host


def _rig_uid(server: SSHServer) -> int:
    return pwd.getpwnam(server.user).pw_uid


def _remote_tether_home(server: SSHServer) -> Path:
    return server.remote_path(".local", "share", "tether")


def test_lambda_and_closure_run_on_the_host(here: Remote) -> None:
    ds = Dataset(lambda x: (x * x, __import__("os").getuid()), on=HOST)
    ds.append_runs({"x": i} for i in range(20))
    ds.run().wait(timeout=60)
    uid = _rig_uid(here.server)
    assert uid != os.getuid()
    assert ds.results == [(i * i, uid) for i in range(20)]

    offset = 1000

    def shifted(x: int) -> tuple[int, str]:
        return x + offset, os.environ["HOME"]

    ds2 = Dataset(shifted, on=HOST, max_parallel=1, chunk_size=3)
    ds2.append_runs({"x": i} for i in range(10))
    ds2.run().wait(timeout=60)
    assert ds2.results == [(i + 1000, str(here.server.home)) for i in range(10)]
    assert ds2.errors == [None] * 10


def test_thousand_runs_come_back_in_order_as_one_job(here: Remote) -> None:
    ds = Dataset(lambda a, b: a * b, on=HOST, name=f"products-{uuid.uuid4().hex[:6]}")
    ds.append_runs({"a": i, "b": 3} for i in range(1000))
    ds.run()
    ds.wait(interval=0.2, timeout=120)
    assert ds.results == [3 * i for i in range(1000)]
    assert ds.is_finished
    # how fast (goal 3 s warm) is measured by bench/functions.py, not asserted here
    # one job on the host, in its `tether ls`, with its log there
    rows = here.tt.json("ls", "--on", HOST)
    assert isinstance(rows, list)
    (row,) = [r for r in rows if r["name"] == ds.name]
    assert row["number"] == ds.job
    log = here.tt("logs", "--on", HOST, str(ds.job)).stdout
    assert "done: 1000 runs" in log
    # and in the local `tether ls`, as a job on that host
    local = here.tt.json("ls")
    assert isinstance(local, list)
    (mine,) = [r for r in local if r["name"] == ds.name]
    assert mine["host"] == HOST
    # the results were copied here, in a few files (not one per run)
    assert 1 <= len(os.listdir(Path(ds.path) / "results")) <= 64
    remote_dir = _remote_tether_home(here.server) / "datasets" / ds.name
    assert sorted(os.listdir(remote_dir / "results")) == sorted(
        os.listdir(Path(ds.path) / "results")
    )


def test_an_exception_leaves_the_other_runs_and_carries_the_remote_traceback(
    here: Remote,
) -> None:
    def fragile(x: int) -> int:
        if x == 7:
            raise ValueError(f"seven is not allowed (x={x})")
        return x + 1

    ds = Dataset(fragile, on=HOST, chunk_size=5)
    ds.append_runs({"x": i} for i in range(20))
    ds.run().wait(timeout=60)
    assert ds.results == [None if i == 7 else i + 1 for i in range(20)]
    errors = ds.errors
    assert [i for i, e in enumerate(errors) if e is not None] == [7]
    err = errors[7]
    assert isinstance(err, ValueError)
    assert isinstance(err.__cause__, RemoteTraceback)
    assert "in fragile" in err.__cause__.text
    assert "seven is not allowed" in err.__cause__.text

    with Executor(on=HOST, max_workers=2) as ex:
        good = [ex.submit(fragile, i) for i in range(5)]
        bad = ex.submit(fragile, 7)
        with pytest.raises(ValueError, match="seven") as info:
            bad.result(timeout=60)
        assert isinstance(info.value.__cause__, RemoteTraceback)
        assert "in fragile" in info.value.__cause__.text
        assert [f.result(timeout=60) for f in good] == [1, 2, 3, 4, 5]
        assert list(ex.map(lambda v: -v, range(300), timeout=60)) == [-v for v in range(300)]
        number = ex.job
    shown = here.tt.json("show", "--on", HOST, str(number))
    assert isinstance(shown, dict) and shown["status"] == "succeeded"


def test_reopened_by_name_in_a_new_process(here: Remote) -> None:
    env = {**here.tt.env}
    name = f"powers-{uuid.uuid4().hex[:6]}"
    first = textwrap.dedent(
        f"""
        import tether

        def power(base, exp):
            return base ** exp

        ds = tether.Dataset(power, on={HOST!r}, name={name!r})
        ds.append_runs({{"base": 2, "exp": n}} for n in range(50))
        ds.run()
        print(ds.job)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", first],
        env=env,
        cwd=here.project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    number = int(out.stdout.strip())
    second = textwrap.dedent(
        f"""
        import json, tether

        ds = tether.Dataset.open({name!r})
        ds.wait(timeout=60)
        print(json.dumps({{"job": ds.job, "results": ds.results, "finished": ds.is_finished}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", second],
        env=env,
        cwd=here.project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "job": number,
        "results": [2**n for n in range(50)],
        "finished": True,
    }
    # the results were copied here: this process reads them too
    again = Dataset.open(name)
    assert again.job == number and again.is_finished
    assert again.results == [2**n for n in range(50)]
    assert again.runs[3] == {"base": 2, "exp": 3}
    assert os.listdir(Path(again.path) / "results")


def test_cancel_stops_a_running_remote_dataset(here: Remote) -> None:
    def nap(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    ds = Dataset(nap, on=HOST, name=f"sleepy-{uuid.uuid4().hex[:6]}", max_parallel=2, chunk_size=1)
    ds.append_runs({"seconds": 600} for _ in range(6))  # only a cancel ends it in the test
    ds.run()
    with pytest.raises(DatasetTimeout):
        ds.wait(timeout=1)
    remote_dir = str(_remote_tether_home(here.server) / "datasets" / ds.name)
    workers = wait_for(  # the launcher and two workers
        lambda: (lambda w: w if len(w) >= 3 else None)(_processes_using(remote_dir)),
        "the launcher and two remote workers",
    )
    assert {p.uids().real for p in workers} == {_rig_uid(here.server)}
    assert ds.status == "running"
    ds.cancel(grace=5)
    with pytest.raises(DatasetStopped, match=f"cancelled.*tether logs --on {HOST} {ds.job}"):
        ds.wait(timeout=120)  # far below the 600 s naps: the cancel stopped them
    shown = here.tt.json("show", "--on", HOST, str(ds.job))
    assert isinstance(shown, dict) and shown["status"] == "cancelled"
    local = here.tt.json("ls")
    assert isinstance(local, list)
    (mine,) = [r for r in local if r["name"] == ds.name]
    assert mine["status"] == "cancelled"
    assert ds.results == [None] * 6
    psutil.wait_procs(workers, timeout=10)
    assert not [p for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _processes_using(path: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if path in (proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_only_chunk_files_come_back_and_no_symlink_is_followed(here: Remote) -> None:
    import pickle

    flag = str(here.remote_project(f"go-{uuid.uuid4().hex[:8]}"))

    def gated(i: int) -> int:
        while not os.path.exists(flag):
            time.sleep(0.05)
        return i

    ds = Dataset(gated, on=HOST, max_parallel=1, chunk_size=1)
    ds.append_runs({"i": i} for i in range(3))
    ds.run()
    with pytest.raises(DatasetTimeout):
        ds.wait(timeout=1)
    # planted on the host: a chunk-named symlink to a forged chunk, and files not named so
    remote_results = _remote_tether_home(here.server) / "datasets" / ds.name / "results"
    forged = here.server.remote_path("forged.pkl")
    forged.write_bytes(pickle.dumps([(0, True, "forged", "")]))
    (remote_results / "000000-00099.pkl").symlink_to(forged)
    (remote_results / "000000-00000.pkl.evil").write_bytes(forged.read_bytes())
    (remote_results / "notes.txt").write_text("not a chunk")
    Path(flag).write_text("")
    ds.wait(timeout=60)
    assert ds.results == [0, 1, 2]
    local = Path(ds.path) / "results"
    names = sorted(os.listdir(local))
    assert names == ["000000-00000.pkl", "000000-00001.pkl", "000000-00002.pkl"]
    assert not any((local / n).is_symlink() for n in names)


def test_a_dataset_rides_out_a_killed_ssh_connection(here: Remote) -> None:
    flag = str(here.remote_project(f"go-{uuid.uuid4().hex[:8]}"))

    def gated(i: int) -> int:
        while not os.path.exists(flag):
            time.sleep(0.05)
        return 2 * i

    ds = Dataset(gated, on=HOST, max_parallel=2)
    ds.append_runs({"i": i} for i in range(10))
    ds.run()
    with pytest.raises(DatasetTimeout):
        ds.wait(timeout=1)
    _kill_master(here)
    Path(flag).write_text("")
    ds.wait(timeout=60)  # the next poll opens a new connection
    assert ds.results == [2 * i for i in range(10)]
    _kill_master(here)
    assert ds.status == "succeeded"


def _kill_master(remote: Remote) -> None:
    """Kill the shared ssh connection (the control master) to the host."""
    import re
    import signal

    from tether.paths import tether_home
    from tether.targets.ssh.command import master_check_argv
    from tether.targets.ssh.hosts_config import get_host

    argv = master_check_argv(get_host(HOST), tether_home() / "ssh")
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    match = re.search(r"pid=(\d+)", out.stderr + out.stdout)
    assert match, out
    os.kill(int(match.group(1)), signal.SIGKILL)


def test_tether_is_installed_on_a_fresh_host_by_the_first_dataset(here: Remote) -> None:
    host = here
    with SSHServer("rig3") as fresh:
        assert not fresh.remote_path(".tether").exists()
        host.tt("hosts", "add", "rig3", "rig3", "--ssh-config", str(fresh.ssh_config))
        try:
            ds = Dataset(lambda x: x + 1, on="rig3")
            ds.append_runs({"x": i} for i in range(5))
            ds.run().wait(timeout=120)
            assert ds.results == [1, 2, 3, 4, 5]
            assert fresh.remote_path(".tether", "venv", "tether-version").is_file()
            rows = host.tt.json("ls", "--on", "rig3")
            assert isinstance(rows, list) and [r["name"] for r in rows] == [ds.name]
        finally:
            _close_masters(host.tt.home, host.config_dir)
            host.tt("hosts", "rm", "rig3")


def test_python_version_mismatch_is_refused_before_anything_is_sent(here: Remote) -> None:
    from tether.functions.ssh_target import SshTarget
    from tether.paths import tether_home
    from tether.targets.ssh.hosts_config import get_host

    class OldPython(SshTarget):
        def python_version(self) -> str:
            return "2.7"

    real = SshTarget(get_host(HOST), tether_home())
    this = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert real.python_version() == this  # asked over ssh
    name = f"mismatch-{uuid.uuid4().hex[:6]}"
    ds = Dataset(lambda x: x, on=OldPython(get_host(HOST), tether_home()), name=name)
    ds.append_run({"x": 1})
    with pytest.raises(UsageError, match=rf"Python 2\.7 but this is Python {this}") as info:
        ds.run()
    assert "\n" not in str(info.value)
    assert ds.job is None
    assert not (_remote_tether_home(here.server) / "datasets" / name).exists()
    rows = here.tt.json("ls", "--on", HOST)
    assert isinstance(rows, list) and not [r for r in rows if r["name"] == name]
    with pytest.raises(UsageError, match=r"Python 2\.7"):
        Executor(on=OldPython(get_host(HOST), tether_home()))


def test_a_local_helper_module_is_importable_on_the_host(
    here: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"helper_{uuid.uuid4().hex[:8]}"
    lib = here.project / "lib"
    lib.mkdir(exist_ok=True)
    (lib / f"{module}.py").write_text(
        "import os\n\ndef triple(x):\n    return 3 * x, os.getuid()\n"
    )
    monkeypatch.syspath_prepend(str(lib))
    helper = __import__(module)
    ds = Dataset(helper.triple, on=HOST)  # pickled by reference: the host imports the module
    ds.append_runs({"x": i} for i in range(5))
    ds.run().wait(timeout=60)
    assert ds.errors == [None] * 5
    assert ds.results == [(3 * i, _rig_uid(here.server)) for i in range(5)]
    assert here.remote_project("lib", f"{module}.py").is_file()


def test_cell_magic_runs_a_cell_on_the_host(here: Remote, ipython: Any) -> None:
    shell = ipython
    shell.user_ns["factor"] = 3
    result = shell.run_cell(
        f"%%tether --on {HOST} --args a=10 b=7 --in factor\n"
        "import os\nc = a * b\n(c * factor, os.getuid())\n"
    )
    assert result.error_in_exec is None, result.error_in_exec
    assert result.result == (210, _rig_uid(here.server))
    ds = shell.user_ns["tether_last"]
    assert isinstance(ds, Dataset) and ds.is_finished
    failing = shell.run_cell(f"%%tether --on {HOST}\n1 / 0\n")
    assert isinstance(failing.error_in_exec, ZeroDivisionError)
    assert isinstance(failing.error_in_exec.__cause__, RemoteTraceback)


def test_a_bad_host_is_one_clear_line(here: Remote) -> None:
    for make in (lambda: Dataset(lambda x: x, on="no-such-host"), lambda: Executor(on="nope")):
        with pytest.raises(UsageError, match="no host named") as info:
            make()
        assert "\n" not in str(info.value)
        assert "tether hosts add" in str(info.value)
    # a configured host that does not answer: one line naming it, before anything is queued
    here.tt("hosts", "add", "deadhost", "nobody@127.0.0.1:9", "--option", "ConnectTimeout=3")
    try:
        ds = Dataset(lambda x: x, on="deadhost")
        ds.append_run({"x": 1})
        with pytest.raises(RemoteError, match="deadhost") as failure:
            ds.run()
        assert "\n" not in str(failure.value)
        assert ds.job is None
    finally:
        here.tt("hosts", "rm", "deadhost")


def _calls(tag: str, n: int) -> dict[int, int]:
    out = {}
    for i in range(n):
        p = Path(f"/tmp/{tag}.{i}")
        out[i] = len(p.read_text().split()) if p.exists() else 0
        p.unlink(missing_ok=True)
    return out


def test_memoised_and_retry_failed_on_the_host(here: Remote) -> None:
    def _counting(x: int, tag: str) -> int:
        """Appends a line to /tmp/TAG.X on each call (world-writable /tmp: any user can write)."""
        path = f"/tmp/{tag}.{x}"
        first = not os.path.exists(path)
        with open(path, "a") as f:
            f.write("ran\n")
        if x % 3 == 0 and first:
            raise ValueError(f"first try of {x}")
        return x * 10

    tag = f"tether-memo-{uuid.uuid4().hex[:8]}"
    ds = Dataset(_counting, on=HOST)
    ds.append_runs({"x": i, "tag": tag} for i in range(6))
    ds.run().wait(timeout=60)
    assert ds.failed == [0, 3] and not ds.all_success
    ds.retry_failed().wait(timeout=60)
    assert ds.results == [10 * i for i in range(6)] and ds.all_success
    again = Dataset(_counting, on=HOST)
    again.append_runs({"x": i, "tag": tag} for i in range(6))
    again.run().wait(timeout=60)
    assert again.job is None and again.results == [10 * i for i in range(6)]
    # the failed ones ran twice, the others once; the memoised Dataset ran nothing
    assert _calls(tag, 6) == {i: 2 if i % 3 == 0 else 1 for i in range(6)}


def test_a_chain_from_the_host_to_local(here: Remote) -> None:
    def cube(x: int) -> tuple[int, int]:
        return x**3, os.getuid()

    first = Dataset(cube, on=HOST)
    first.append_runs({"x": i} for i in range(4))
    second = first.then(lambda pair: (pair[0] + 1, os.getuid()), on="local")
    first.run()
    second.run()
    second.wait(timeout=90)
    assert [uid for _, uid in first.results] == [_rig_uid(here.server)] * 4
    assert second.results == [(i**3 + 1, os.getuid()) for i in range(4)]


def test_the_worker_job_is_started_and_followed_over_the_protocol(
    here: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start, status and cancel of the worker job are requests of the JSON protocol
    (``ask_host``), never the host's human CLI; the job runs in the project's copy there and
    the record here has the host's uuid."""
    from tether.functions import ssh_target
    from tether.paths import tether_home
    from tether.targets.ssh import remote_jobs
    from tether.targets.ssh.hosts_config import get_host

    verbs: list[str] = []
    ask = ssh_target.ask_host

    def spy(host: str, verb: str, args: dict[str, Any], **kwargs: Any) -> Any:
        verbs.append(verb)
        return ask(host, verb, args, **kwargs)

    def no_cli(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the host's CLI was run: {args[1:]}")

    monkeypatch.setattr(ssh_target, "ask_host", spy)
    monkeypatch.setattr(remote_jobs, "call", no_cli)
    ds = Dataset(lambda x: x + 1, on=HOST, name=f"wire-{uuid.uuid4().hex[:6]}")
    ds.append_runs({"x": i} for i in range(5))
    ds.run().wait(timeout=60)
    assert ds.results == [1, 2, 3, 4, 5]
    assert verbs[:1] == ["submit"]
    shown = here.tt.json("show", "--on", HOST, str(ds.job))
    assert isinstance(shown, dict)
    assert shown["status"] == "succeeded" and shown["name"] == ds.name
    assert shown["cwd"] == str(here.remote_project())
    local = here.tt.json("ls")
    assert isinstance(local, list)
    (mine,) = [r for r in local if r["name"] == ds.name]
    assert mine["uuid"] == shown["uuid"] and mine["host"] == HOST
    assert mine["number"] == ds.job == shown["number"] != shown["remote_number"]
    # a target of another process knows only the number here: it asks by the record's uuid
    target = ssh_target.make_target(get_host(HOST), tether_home())
    assert target.job_status(ds.job) == ("succeeded", None)
    target.cancel(ds.job, grace=1)  # it has ended: nothing to stop, no error
    assert verbs[-2:] == ["show", "cancel"]


def test_extra_files_are_sent_before_and_received_after(here: Remote) -> None:
    """remotemanager's extra_files_send / extra_files_recv, per dataset and per run."""

    def read_then_write(x: int) -> str:  # by value: a test module is not on the host
        """Reads the sent ``data/scale.txt`` (``data/`` is never synced) and writes a file
        to be received; returns where it ran."""
        scale = int(Path("data/scale.txt").read_text())
        Path("out").mkdir(exist_ok=True)
        Path(f"out/r{x}.txt").write_text(str(x * scale))
        return os.environ["HOME"]

    project = here.project
    (project / "data").mkdir(exist_ok=True)
    (project / "data" / "scale.txt").write_text("7\n")
    (project / "out").mkdir(exist_ok=True)
    for old in (project / "out").glob("*"):
        old.unlink()
    ds = Dataset(read_then_write, on=HOST, name=f"files-{uuid.uuid4().hex[:6]}",
                 extra_files_send=["data/scale.txt"])  # fmt: skip
    for x in range(3):
        ds.append_run({"x": x}, extra_files_recv=[f"out/r{x}.txt"])
    ds.run().wait(timeout=60)
    assert ds.results == [str(here.server.home)] * 3  # ran there
    assert [(project / "out" / f"r{x}.txt").read_text() for x in range(3)] == ["0", "7", "14"]
    again = Dataset(read_then_write, on=HOST, name=f"nofile-{uuid.uuid4().hex[:6]}",
                    extra_files_send=["data/absent.txt"])  # fmt: skip
    again.append_run({"x": 1})
    with pytest.raises(UsageError, match=r"extra_files_send names data/absent.txt.*nothing"):
        again.run()
