"""Jobs on a real Slurm cluster (munge + slurmctld + slurmd on loopback), in both modes.

Each test runs with the host ``here`` (tether on the login node, DEST ``local``) and
``far`` (the same cluster through the loopback sshd: laptop mode). See slurm_fixtures.py.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from conftest import Tether
from slurm_fixtures import (
    MODES,
    SlurmSetup,
    slurm_setup_fixture,  # noqa: F401 (the session's, shared)
)
from tether.store.jobs import Job

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]


def _script(slurm_setup: SlurmSetup, name: str, text: str) -> str:
    (slurm_setup.project / name).write_text(text)
    return name


def _sbatch_lines(slurm_setup: SlurmSetup, number: str) -> list[str]:
    job_dir = slurm_setup.show(number)["job_dir"]
    text = (
        slurm_setup.tt.home / "jobs" / str(job_dir).rsplit("/", 1)[-1] / "job.sbatch"
    ).read_text()
    return [line for line in text.splitlines() if line.startswith("#SBATCH")]


@pytest.mark.parametrize("mode", MODES)
def test_resources_reach_slurm_and_the_job_succeeds(slurm_setup: SlurmSetup, mode: str) -> None:
    number = slurm_setup.run(
        mode, "--cpus", "1", "--mem", "100M", "--time", "5m", "--sbatch", "--comment=from-tether",
        "--", "sh", "-c", 'echo "out $PWD"; echo err >&2',
    )  # fmt: skip
    lines = _sbatch_lines(slurm_setup, number)
    for expected in ("--cpus-per-task=1", "--mem=100M", "--time=00:05:00", "--partition=debug",
                     "--oversubscribe", "--comment=from-tether", "--job-name=sh"):  # fmt: skip
        assert f"#SBATCH {expected}" in lines, lines
    assert "#SBATCH --mem=64M" not in lines  # the job's value replaced the host's default
    waited = slurm_setup.tt("wait", number, check=False, timeout=90)
    assert waited.returncode == 0, waited.stderr
    data = slurm_setup.show(number)
    assert (data["status"], data["exit_code"], data["host"]) == ("succeeded", 0, mode)
    info = slurm_setup.cluster.job_info(slurm_setup.slurm_id(number))
    assert info["JobState"] == "COMPLETED"
    assert info["TimeLimit"] == "00:05:00" and info["Partition"] == "debug"
    assert info["MinMemoryNode"] == "100M" and info["Comment"] == "from-tether"
    out = slurm_setup.tt("logs", number).stdout.splitlines()
    where = (
        slurm_setup.project
        if mode == "here"
        else slurm_setup.server.remote_path("tether", "projects", slurm_setup.project.name)
    )
    assert out == [f"out {where}", "err"]


@pytest.mark.parametrize("mode", MODES)
def test_failing_job_is_failed_with_its_exit_code(slurm_setup: SlurmSetup, mode: str) -> None:
    proc = slurm_setup.tt(
        "run", "--on", mode, "--wait", "--", "sh", "-c", "echo boom; exit 3", check=False,
        timeout=90,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "boom" in proc.stdout
    rows = slurm_setup.tt.json("ls")
    assert isinstance(rows, list)
    last = rows[-1]
    assert (last["status"], last["exit_code"], last["host"]) == ("failed", 3, mode)
    assert slurm_setup.show(str(last["number"]))["reason"] == "exit 3"


def test_ls_on_a_cluster_lists_the_jobs_submitted_there(slurm_setup: SlurmSetup) -> None:
    """``ls --on CLUSTER`` lists the jobs this machine submitted to that cluster, from either
    mode (before, ``here`` listed every local job and ``far`` the login node's own list)."""
    here = slurm_setup.run("here", "--", "true")
    far = slurm_setup.run("far", "--", "true")
    slurm_setup.tt("run", "--wait", "--name", "not-slurm", "--", "true")
    for mode, mine, other in (("here", here, far), ("far", far, here)):
        rows = slurm_setup.tt.json("ls", "--on", mode)
        assert isinstance(rows, list) and rows
        assert {r["host"] for r in rows} == {mode}
        numbers = {r["number"] for r in rows}
        assert int(mine) in numbers and int(other) not in numbers
        table = slurm_setup.tt("ls", "--on", mode).stdout
        assert f" {mine} " in f" {table} " and "not-slurm" not in table


@pytest.mark.parametrize("mode", MODES)
def test_rerun_goes_back_to_slurm_with_the_same_resources(
    slurm_setup: SlurmSetup, mode: str
) -> None:
    first = slurm_setup.run(mode, "--time", "7m", "--", "sh", "-c", "echo again")
    assert slurm_setup.tt("wait", first, check=False, timeout=90).returncode == 0
    data = json.loads(slurm_setup.tt("rerun", "--json", first).stdout)
    second = str(data["number"])
    assert slurm_setup.slurm_id(second) != slurm_setup.slurm_id(first)
    assert "#SBATCH --time=00:07:00" in _sbatch_lines(slurm_setup, second)
    assert slurm_setup.tt("wait", second, check=False, timeout=90).returncode == 0
    shown = slurm_setup.show(second)
    assert (shown["host"], shown["parent"], shown["status"]) == (mode, int(first), "succeeded")
    assert slurm_setup.tt("logs", second).stdout == "again\n"


@pytest.mark.parametrize("mode", MODES)
def test_cancel_uses_scancel(slurm_setup: SlurmSetup, mode: str) -> None:
    number = slurm_setup.run(mode, "--", "sleep", "300")
    slurm_setup.wait_status(number, "running")
    out = slurm_setup.tt("cancel", number).stdout
    assert f"job #{number} cancelled" in out
    assert slurm_setup.cluster.job_state(slurm_setup.slurm_id(number)) == "CANCELLED"
    assert slurm_setup.show(number)["status"] == "cancelled"


@pytest.mark.parametrize("mode", MODES)
def test_cancel_a_pending_job(slurm_setup: SlurmSetup, mode: str) -> None:
    number = slurm_setup.run(mode, "--sbatch", "--begin=now+1hour", "--", "true")
    slurm_id = slurm_setup.slurm_id(number)
    assert slurm_setup.cluster.job_state(slurm_id) == "PENDING"
    assert slurm_setup.show(number)["status"] == "queued"
    slurm_setup.tt("cancel", number)
    assert slurm_setup.cluster.job_state(slurm_id) == "CANCELLED"
    assert slurm_setup.show(number)["status"] == "cancelled"


@pytest.mark.parametrize("mode", MODES)
def test_logs_follow_and_metrics(slurm_setup: SlurmSetup, mode: str) -> None:
    name = _script(
        slurm_setup,
        f"train_{mode}.py",
        "import time\nimport tether\n"
        "for i in range(4):\n"
        "    print('step', i, flush=True)\n"
        "    tether.report(step=i, loss=1.0 / (i + 1))\n"
        "    time.sleep(0.5)\n",
    )
    number = slurm_setup.run(mode, name)
    followed = slurm_setup.tt("logs", "-f", number, timeout=90).stdout
    assert followed.splitlines() == [f"step {i}" for i in range(4)]
    assert slurm_setup.show(number)["status"] == "succeeded"
    scalars = slurm_setup.tt.json("scalars", number)
    assert isinstance(scalars, dict)
    assert scalars["loss"]["last"] == pytest.approx(0.25)
    assert scalars["loss"]["count"] == 4


@pytest.mark.parametrize("mode", MODES)
def test_invalid_resources_are_refused_before_anything_is_submitted(
    slurm_setup: SlurmSetup, mode: str
) -> None:
    before_jobs = [row["number"] for row in slurm_setup.tt.json("ls")]  # type: ignore[union-attr]
    before_slurm = slurm_setup.cluster.run(
        ["squeue", "-h", "--states=all", "-o", "%i"]
    ).stdout.split()
    cases = {
        ("--mem", "12Q"): "Invalid mem '12Q': use a number of megabytes",
        ("--cpus", "0"): "Invalid cpus '0'",
        ("--time", "5x"): "Invalid time '5x': use seconds (3600)",
        ("--gpus", "a100:0"): "Invalid gpus 'a100:0'",
        ("--sbatch", "exclusive"): "an sbatch option starting with -",
    }
    for flags, message in cases.items():
        proc = slurm_setup.tt("run", "--on", mode, *flags, "--", "true", check=False)
        assert proc.returncode != 0
        assert message in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
    assert [row["number"] for row in slurm_setup.tt.json("ls")] == before_jobs  # type: ignore[union-attr]
    after = slurm_setup.cluster.run(["squeue", "-h", "--states=all", "-o", "%i"]).stdout.split()
    assert sorted(after) == sorted(before_slurm)


def test_resource_flags_need_a_slurm_host(slurm_setup: SlurmSetup) -> None:
    proc = slurm_setup.tt("run", "--cpus", "2", "--", "true", check=False)
    assert proc.returncode != 0
    assert "--cpus: Slurm options" in proc.stderr and "--scheduler slurm" in proc.stderr


@pytest.mark.parametrize("mode", MODES)
def test_one_squeue_call_polls_all_jobs(slurm_setup: SlurmSetup, mode: str) -> None:
    host = f"{mode}-count"
    batch = "".join(f"sleep {30 + i}\n" for i in range(4))
    out = slurm_setup.tt("run", "--on", host, "--json", "--batch", "-", input=batch).stdout
    numbers = [str(job["number"]) for job in json.loads(out)]
    assert len(numbers) == 4
    ids = [slurm_setup.slurm_id(n) for n in numbers]
    start = len(slurm_setup.calls_log())
    rows = slurm_setup.tt.json("ls")
    assert isinstance(rows, list)
    calls = slurm_setup.calls_log()[start:]
    # ls asks once; the agent's own polls (of these jobs, or of another test's) may fall in
    # this window too: every call that names one of these jobs names all four (never one
    # call per job)
    ours = set(ids)
    named = [set(c.rsplit("--jobs=", 1)[-1].split(",")) for c in calls if c.startswith("squeue ")]
    touching = [found for found in named if found & ours]
    assert touching and all(found >= ours for found in touching), calls
    assert all(not c.startswith(("scontrol", "sacct")) for c in calls), calls
    start = len(slurm_setup.calls_log())
    slurm_setup.tt("cancel", *numbers, timeout=120)
    scancel = [c for c in slurm_setup.calls_log()[start:] if c.startswith("scancel ")]
    assert scancel == ["scancel " + " ".join(ids)]
    assert {r["status"] for r in slurm_setup.tt.json("ls") if str(r["number"]) in numbers} == {
        "cancelled"
    }


def test_job_slurm_forgot_is_lost_not_running(slurm_setup: SlurmSetup) -> None:
    from tether.store.jobs import JobSpec, JobStore

    store = JobStore(slurm_setup.tt.home)
    try:
        extra = {"slurm_id": "987654", "slurm_local": True}
        spec = JobSpec(
            ["true"],
            str(slurm_setup.project),
            "ghost",
            target="here",
            extra=extra,
            backend="slurm",
            remote_id="987654",
        )
        job = store.add(spec)
        from tether.jobs import state

        state.start(store, job, started=time.time())
    finally:
        store.close()
    data = slurm_setup.show(str(job.number))
    assert data["status"] == "lost"
    assert "Slurm no longer knows job 987654" in str(data["reason"])


@pytest.mark.parametrize("mode", MODES)
def test_the_agent_records_the_end_without_any_cli_call(slurm_setup: SlurmSetup, mode: str) -> None:
    """Over ssh too: the agent asks the cluster from a child process, never in its loop."""
    from tether.store.jobs import JobStore

    number = slurm_setup.run(mode, "--", "sh", "-c", "echo bye; exit 4")
    store = JobStore(slurm_setup.tt.home)
    try:
        deadline = time.monotonic() + 60
        while not (job := store.get(int(number))).finished:
            assert time.monotonic() < deadline, "the agent never recorded the end"
            time.sleep(0.5)
    finally:
        store.close()
    assert (job.status, job.exit_code) == ("failed", 4)
    assert Path(job.log_path).read_text().strip() == "bye"  # over ssh: fetched at the end


def test_hosts_check_and_show_script(slurm_setup: SlurmSetup) -> None:
    for host in MODES:
        out = slurm_setup.tt("hosts", "check", host, timeout=60).stdout
        assert re.search(rf"{host}: Slurm answers \(sinfo: debug\* up", out), out
    script = slurm_setup.tt(
        "hosts", "show-script", "here", "--time", "3600", "--gpus", "2", "--", "python", "t.py"
    ).stdout
    assert "#SBATCH --time=01:00:00\n" in script and "#SBATCH --gres=gpu:2\n" in script
    assert "#SBATCH --mem=64M\n" in script and script.rstrip().endswith("python t.py")
    bad = slurm_setup.tt("hosts", "show-script", "here", "--time", "soon", "--", "x", check=False)
    assert bad.returncode != 0 and "Invalid time 'soon'" in bad.stderr


class _Hook(http.server.BaseHTTPRequestHandler):
    """Records Apprise ``json://`` posts (title and type) in ``posts``."""

    posts: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.posts.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_notifications_fire_for_a_slurm_job_without_any_cli_call(
    slurm_setup: SlurmSetup,
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"json://127.0.0.1:{server.server_address[1]}/hook"
        number = slurm_setup.run(
            "here", "--name", "notified", "--notify", url, "--notify-on", "ended",
            "--", "sh", "-c", "echo done; exit 2",
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while not [p for p in _Hook.posts if "notified" in str(p.get("title"))]:
            assert time.monotonic() < deadline, "no notification"
            time.sleep(0.5)
        [post] = [p for p in _Hook.posts if "notified" in str(p.get("title"))]
        assert f"#{number}" in str(post["title"]) and "failed" in str(post["title"])
        assert post["type"] == "failure"
    finally:
        server.shutdown()
        server.server_close()


def _job(job_dir: str, cwd: str, command: list[str], extra: dict[str, object]) -> Job:
    return Job(
        number=7, uuid="0f0e0d0c-uuid", name="train.py", command=command, cwd=cwd, env=None,
        target="gpu", status="queued", exit_code=None, reason=None, pid=None, pid_started=None,
        supervisor_pid=None, supervisor_started=None, created=0.0, started=None, ended=None,
        parent=None, job_dir=job_dir, log_path=f"{job_dir}/output.log", cancel_requested=False,
        script=None, extra=extra,
    )  # fmt: skip


def test_submitted_scripts_match_the_golden_files() -> None:
    """What tether submits in each mode: resources merged, output and metrics in the job's
    folder, the job's identity and parameters exported, the command quoted."""
    from test_slurm_script import check_golden
    from tether.targets.slurm.resources import merge, parse_resources
    from tether.targets.slurm.submit import Placement, job_script

    host = parse_resources(partition="debug", mem="4G", time="1h", sbatch_lines=["--exclusive"])
    job = parse_resources(cpus=8, time=5400, gpus="a100:2", sbatch_lines=["--mail-type=END"])
    resources = merge(host, job)
    here = _job("/home/me/.tether/jobs/0f0e0d0c-uuid", "/home/me/proj",
                ["/usr/bin/python3", "/home/me/.tether/programs/v1/train.py", "--lr", "0.1"],
                {"params": {"LR": 0.5}})  # fmt: skip
    script, folder = job_script(here, resources, Placement(local=True), None)
    assert folder == here.job_dir
    check_golden("tether_job_local", script)
    command = ["/home/me/.tether/venv/bin/python", "train.py", "it's; $(rm -rf ~)"]
    far = _job("/laptop/.tether/jobs/0f0e0d0c-uuid", "/home/me/tether/projects/proj", command, {})
    placement = Placement(local=False, home="/home/me", workdir="/home/me/tether/projects/proj")
    script, folder = job_script(far, resources, placement, None)
    assert folder == "/home/me/.tether/slurm/jobs/0f0e0d0c-uuid"
    check_golden("tether_job_laptop", script)


def test_slurm_host_settings_are_checked_and_kept(tether: Tether, tmp_path: Path) -> None:
    tether.env["TETHER_CONFIG_DIR"] = str(tmp_path / "config")
    refused = {
        ("c", "local"): "DEST local needs scheduler 'slurm'",
        ("c", "login", "--mem", "4G"): "resources needs scheduler 'slurm'",
        ("c", "local", "--scheduler", "slurm", "--time", "soon"): "Invalid time 'soon'",
        ("c", "local", "--scheduler", "slurm", "--env", "1X=y"): "bad env entry 1X='y'",
        ("c", "local", "--scheduler", "slurm", "--partition", "a;b"): "bad Slurm partition",
    }
    for args, message in refused.items():
        proc = tether("hosts", "add", *args, check=False)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr)
    tether("hosts", "add", "c", "local", "--scheduler", "slurm", "--partition", "gpu",
           "--account", "lab", "--time", "90m", "--mem", "1.5G", "--sbatch=--exclusive",
           "--env", "SLURM_CONF=/etc/x.conf", "--template", "~/t.sh")  # fmt: skip
    [row] = json.loads(tether("hosts", "ls", "--json").stdout)
    assert row == {
        "name": "c", "dest": "local", "scheduler": "slurm", "partition": "gpu", "account": "lab",
        "resources": {"time": "01:30:00", "mem": "1536M", "sbatch_lines": ["--exclusive"]},
        "template": "~/t.sh", "env": {"SLURM_CONF": "/etc/x.conf"},
    }  # fmt: skip
    missing = tether("hosts", "show-script", "c", "--", "true", check=False)
    assert missing.returncode != 0 and "Cannot read the sbatch template" in missing.stderr
    template = tmp_path / "t.sh"
    template.write_text("#!/bin/sh\n#SBATCH -t #time:format=time:default=60#\n#SBATCH #qos#\n"
                        "cd #workdir#\n#command#\n")  # fmt: skip
    tether("hosts", "add", "c", "local", "--scheduler", "slurm", "--template", str(template),
           "--replace")  # fmt: skip
    shown = tether("hosts", "show-script", "c", "--", "echo", "a b").stdout
    assert shown == f"#!/bin/sh\n#SBATCH -t 00:01:00\ncd {tether.cwd}\necho 'a b'\n"
    shown = tether("hosts", "show-script", "c", "--time", "2h", "--qos", "x", "--", "t").stdout
    assert "#SBATCH -t 02:00:00\n#SBATCH x\n" in shown


def test_show_logs_and_wait_on_a_login_node_host_by_its_name(slurm_setup: SlurmSetup) -> None:
    """`--on here` (DEST local) reads this machine's records; it never tries ssh to 'here'."""
    number = slurm_setup.run("here", "--", "sh", "-c", "echo on-the-login-node")
    waited = slurm_setup.tt("wait", number, "--on", "here", check=False, timeout=90)
    assert waited.returncode == 0, waited.stderr
    shown = json.loads(slurm_setup.tt("show", number, "--on", "here", "--json").stdout)
    assert (shown["number"], shown["status"], shown["host"]) == (int(number), "succeeded", "here")
    logs = slurm_setup.tt("logs", number, "--on", "here")
    assert logs.stdout == "on-the-login-node\n", logs.stderr
