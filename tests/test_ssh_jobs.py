"""Jobs on a host: ``run --on``, ``ls/show/logs/wait/cancel --on``, against a real sshd.

One host with tether installed is shared by the whole module (installing takes ~15 s).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from rigs.sshd import SSHServer
from ssh_fixtures import Remote, host_cli
from waiting import wait_for

pytestmark = [pytest.mark.rig, pytest.mark.timeout(300)]

HOST = "rig1"


@pytest.fixture(scope="module")
def host(sshd_host: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A tether CLI (own home, config, project) with ``rig1`` added and set up."""
    with host_cli(tmp_path_factory.mktemp("sshjobs"), sshd_host, HOST) as remote:
        yield remote


def _script(remote: Remote, name: str, text: str) -> str:
    (remote.project / name).write_text(text)
    return name


def _kill_master(remote: Remote) -> int:
    """Kill the shared ssh connection (the control master); return its pid."""
    from tether.targets.ssh.command import master_check_argv
    from tether.targets.ssh.hosts_config import get_host

    argv = master_check_argv(get_host(HOST), remote.tt.home / "ssh")
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    match = re.search(r"pid=(\d+)", out.stderr + out.stdout)
    assert match, out
    pid = int(match.group(1))
    os.kill(pid, signal.SIGKILL)
    return pid


def test_run_remote_and_follow_its_log(host: Remote) -> None:
    _script(
        host, "count.py", "import sys\nfor i in range(3):\n    print('line', i, sys.argv[1:])\n"
    )
    number = host.tt("run", "--on", HOST, "count.py", "a", "b c").stdout.strip()
    assert number.isdigit()  # the local number: local verbs take it
    out = host.tt("logs", "-f", number).stdout
    assert out.splitlines() == [f"line {i} ['a', 'b c']" for i in range(3)]
    uuid = host.tt.json("show", number)["uuid"]  # type: ignore[index]
    rows = host.tt.json("ls", "--on", HOST)
    assert isinstance(rows, list)
    row = next(r for r in rows if r["uuid"] == uuid)
    number = str(row["number"])  # the host's number, for the verbs with --on
    assert row["status"] == "succeeded" and row["exit_code"] == 0
    # the project was synced and the job ran in its copy there
    assert host.remote_project("count.py").is_file()
    # the local record: host rig1, status as last seen by `ls --on`
    local = host.tt.json("ls")
    assert isinstance(local, list)
    mine = [r for r in local if r["host"] == HOST and r["name"] == "count.py"]
    assert mine and mine[-1]["status"] == "succeeded"
    shown = host.tt.json("show", "--on", HOST, number)
    assert isinstance(shown, dict) and shown["status"] == "succeeded"
    tail = host.tt("logs", "--on", HOST, "--tail", "1", number).stdout
    assert tail == "line 2 ['a', 'b c']\n"


def test_logs_on_a_host_filter_lines_and_follow_the_rest(host: Remote) -> None:
    """``--grep`` and ``--tail`` apply to what was written before; ``-f`` then filters what
    comes here (the host sends all of it, so a reconnection knows the byte reached)."""
    _script(
        host, "mixed.py",
        "import os, time\nfor i in range(6):\n    print(('even' if i % 2 == 0 else 'odd'), i,"
        " flush=True)\n    while i == 3 and not os.path.exists('more'):\n"
        "        time.sleep(0.05)\n",
    )  # fmt: skip
    host.remote_project("more").unlink(missing_ok=True)
    number = str(host.tt.json("run", "--on", HOST, "--json", "mixed.py")["number"])  # type: ignore[index]
    wait_for(lambda: "odd 3" in host.tt("logs", number).stdout, "the first four lines")
    grep = host.tt("logs", "--grep", "^even", number).stdout
    assert grep == "even 0\neven 2\n"
    assert host.tt("logs", "--grep", "odd", "--tail", "1", number).stdout == "odd 3\n"
    follower = host.tt.popen(
        "logs", "-f", "--grep", "odd", "--tail", "1", number, stdout=subprocess.PIPE
    )
    assert follower.stdout is not None
    assert follower.stdout.readline() == b"odd 3\n"
    host.remote_project("more").touch()
    assert follower.stdout.read() == b"odd 5\n"
    assert follower.wait(timeout=60) == 0
    bad = host.tt("logs", "--grep", "(", number, check=False)
    assert bad.returncode != 0 and "not a valid regular expression" in bad.stderr


def test_waits_on_a_host_all_and_timeouts_name_the_number_here(host: Remote) -> None:
    """A wait request: ``wait --all --on HOST`` waits there for every unfinished job; a
    timeout names the job by the number typed here, not the host's."""
    slow = json.loads(host.tt("run", "--on", HOST, "--json", "--", "sleep", "60").stdout)
    local = str(slow["local_number"])
    proc = host.tt("wait", "--timeout", "1", local, check=False)
    assert proc.returncode == 124 and f"#{local} (on {HOST})" in proc.stderr, proc.stderr
    proc = host.tt("wait", "--all", "--on", HOST, "--timeout", "1", check=False)
    assert proc.returncode == 124 and "timed out" in proc.stderr, proc.stderr
    host.tt("cancel", local)
    host.tt("run", "--on", HOST, "--", "sh", "-c", "sleep 1; exit 4")
    assert host.tt("wait", "--all", "--on", HOST, check=False, timeout=60).returncode == 1
    assert host.tt("wait", "--all", "--on", HOST, timeout=60).returncode == 0  # none left


def test_warm_calls_take_the_short_way_and_fall_back_when_it_goes(host: Remote) -> None:
    """After one request the long way (a new Python there), the host's resident answerer
    answers through a socket its ssh master forwards here; when the server or the master
    goes, the next call goes the long way again and puts the short way back."""
    from tether import __version__
    from tether.backends import wire
    from tether.targets.ssh import answer_socket
    from tether.targets.ssh.hosts_config import get_host
    from tether.targets.ssh.transport import Transport

    transport = Transport(get_host(HOST), controls=host.tt.home / "ssh")
    there = host.server.remote_path(".local", "share", "tether", f"answer-{__version__}.sock")
    here = answer_socket.local_path(transport)

    def short_way() -> object:
        text = answer_socket.ask(transport, wire.request("ls", {}), 10)
        return None if text is None else wire.read_answer(HOST, text, 0)

    host.tt("ls", "--on", HOST)
    wait_for(there.exists, "the resident answerer to listen on the host")
    host.tt("ls", "--on", HOST)
    assert here.exists() and there.stat().st_mode & 0o777 == 0o600
    assert isinstance(short_way(), list)  # answered through the forwarded socket
    # the server goes: the short way says so, the long way answers and starts it again
    host.tt("ssh", HOST, "pkill -f tether.api.answer_server", check=False)
    wait_for(lambda: not there.exists(), "the server to go (and remove its socket)")
    assert short_way() is None
    assert isinstance(host.tt.json("ls", "--on", HOST), list)
    wait_for(there.exists, "the server to come back")
    # the master goes: its forwarded socket stays behind, unanswered, and is dropped
    _kill_master(host)
    assert isinstance(host.tt.json("ls", "--on", HOST), list)
    host.tt("ls", "--on", HOST)
    assert isinstance(short_way(), list)


def test_failing_remote_job_exit_code(host: Remote) -> None:
    proc = host.tt(
        "run", "--on", HOST, "--wait", "--", "sh", "-c", "echo boom; exit 3", check=False
    )
    assert proc.returncode == 3, proc.stderr
    assert "boom" in proc.stdout
    data = json.loads(host.tt("run", "--on", HOST, "--json", "--", "sh", "-c", "exit 5").stdout)
    assert isinstance(data, dict) and data["host"] == HOST
    waited = host.tt("wait", "--on", HOST, str(data["number"]), check=False)
    assert waited.returncode == 5


def test_arguments_with_shell_metacharacters_arrive_intact(host: Remote) -> None:
    _script(host, "args.py", "import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    args = ["$HOME", "; touch pwned", "a b", "\"q'", "$(id)", "*", "`id`", "x\ny", "--name", "-"]
    proc = host.tt("run", "--on", HOST, "--wait", "args.py", *args)
    assert json.loads(proc.stdout) == args
    assert not host.remote_project("pwned").exists()
    assert not host.server.remote_path("pwned").exists()


def test_job_survives_a_dropped_link_and_logs_reconnect(host: Remote) -> None:
    _script(
        host,
        "slow.py",
        "import os, time\nfor i in range(25):\n    print('tick', i, flush=True)\n"
        "    while i == 0 and not os.path.exists('go-on'):  # the rest after the link drop\n"
        "        time.sleep(0.05)\n",
    )
    host.remote_project("go-on").unlink(missing_ok=True)
    number = str(host.tt.json("run", "--on", HOST, "--json", "slow.py")["number"])  # type: ignore[index]
    follower = host.tt.popen(
        "logs", "-f", "--on", HOST, number, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert follower.stdout is not None
    first = follower.stdout.readline()
    assert first == b"tick 0\n"
    _kill_master(host)
    host.remote_project("go-on").touch()
    out = follower.stdout.read()  # not communicate(): it would skip what readline buffered
    assert follower.stderr is not None
    err = follower.stderr.read()
    assert follower.wait(timeout=60) == 0, err
    lines = (first + out).decode().splitlines()
    assert lines == [f"tick {i}" for i in range(25)]
    assert b"reconnecting" in err
    waited = host.tt("wait", "--on", HOST, number, check=False)
    assert waited.returncode == 0


def test_a_run_sends_the_project_only_when_a_file_here_changed(host: Remote) -> None:
    """``run --on`` asks nothing of the host for the sync when no file here changed since
    the last one (a file removed there stays removed); a change here sends again; a copy
    wiped there is sent whole again before the job is queued."""
    _script(host, "a.py", "print(open('b.txt').read(), end='')\n")
    (host.project / "b.txt").write_text("one\n")
    assert host.tt("run", "--on", HOST, "--wait", "a.py").stdout == "one\n"
    host.remote_project("b.txt").unlink()
    second = host.tt("run", "--on", HOST, "--wait", "a.py", check=False)
    assert second.returncode != 0 and "b.txt" in second.stdout + second.stderr
    (host.project / "b.txt").write_text("two!\n")
    assert host.tt("run", "--on", HOST, "--wait", "a.py").stdout == "two!\n"
    import shutil

    shutil.rmtree(host.remote_project())
    assert host.tt("run", "--on", HOST, "--wait", "a.py").stdout == "two!\n"


def test_run_on_max_size_caps_the_sync(host: Remote) -> None:
    """``run --on --max-size``: over the cap the run is refused with nothing sent or queued;
    a higher cap lets it through; a bad size is one line."""
    _script(host, "big.py", "import os\nprint(os.path.getsize('blob.bin'))\n")
    with open(host.project / "blob.bin", "wb") as out:
        os.truncate(out.fileno(), 2_000_000)
    try:
        before = len(host.tt.json("ls", "--on", HOST))  # type: ignore[arg-type]
        refused = host.tt("run", "--on", HOST, "--max-size", "1MB", "big.py", check=False)
        assert refused.returncode == 2, refused
        assert "refused, nothing sent" in refused.stderr and "blob.bin" in refused.stderr
        assert len(host.tt.json("ls", "--on", HOST)) == before  # type: ignore[arg-type]
        assert not host.remote_project("blob.bin").exists()
        ran = host.tt("run", "--on", HOST, "--max-size", "10MB", "--wait", "big.py")
        assert ran.stdout == "2000000\n"
        bad = host.tt("run", "--on", HOST, "--max-size", "lots", "big.py", check=False)
        assert bad.returncode == 2 and "--max-size" in bad.stderr, bad
    finally:
        (host.project / "blob.bin").unlink()


def test_run_on_prints_one_identity_that_local_verbs_accept(host: Remote) -> None:
    """`run --on` prints the local number; `show`/`cancel` with it act on that very job,
    never on the host's job that happens to have the same number (issue 17)."""
    host.tt("run", "--wait", "--", "true")  # local jobs: local numbers run ahead of the host's
    host.tt("run", "--wait", "--", "true")
    before = json.loads(host.tt("run", "--on", HOST, "--json", "--", "true").stdout)["number"]
    host.tt("wait", str(before))
    proc = host.tt("run", "--on", HOST, "--", "sleep", "60")
    number = proc.stdout.strip()
    assert number.isdigit()
    shown = host.tt.json("show", number)
    assert isinstance(shown, dict)
    assert shown["number"] == int(number) and shown["host"] == HOST
    remote = host.tt.json("show", "--on", HOST, shown["uuid"])
    assert isinstance(remote, dict) and remote["uuid"] == shown["uuid"]
    # one number: the number here, also with --on; the host's is a field of --json
    assert remote["number"] == int(number) != remote["remote_number"] == shown["remote_number"]
    # the local record carries the same uuid as the job on the host
    local_row = next(r for r in host.tt.json("ls") if r["number"] == int(number))  # type: ignore[union-attr]
    assert local_row["uuid"] == shown["uuid"]
    text = host.tt("show", number).stdout
    assert text.startswith(f"#{number} ") and f"uuid       {shown['uuid']}" in text
    # `cancel NUMBER` stops that job on the host (and the host's job #1 stays as it was)
    out = host.tt("cancel", "--grace", "1", number).stdout
    assert f"job #{number} cancelled" in out
    after = host.tt.json("show", "--on", HOST, shown["uuid"])
    assert isinstance(after, dict) and after["status"] == "cancelled"
    first = host.tt.json("show", "--on", HOST, str(before))
    assert isinstance(first, dict) and first["status"] == "succeeded"
    assert first["remote_number"] == remote["remote_number"] - 1


def test_cancel_on_host(host: Remote) -> None:
    number = host.tt("run", "--on", HOST, "--json", "--", "sleep", "60").stdout
    number = str(json.loads(number)["number"])  # the host's number, for --on HOST
    wait_for(
        lambda: host.tt.json("show", "--on", HOST, number)["status"] == "running",  # type: ignore[index]
        "the job to run on the host",
    )
    out = host.tt("cancel", "--on", HOST, "--grace", "1", number).stdout
    assert f"job #{number} cancelled" in out
    missing = host.tt("show", "--on", HOST, "99999", check=False)
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1


def test_run_on_unknown_host_is_one_line(host: Remote) -> None:
    proc = host.tt("run", "--on", "nosuch", "--", "true", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("tether: error: no host named 'nosuch'")
    assert proc.stderr.count("\n") == 1


def test_ls_on_table_refreshes_local_records(host: Remote) -> None:
    """`ls --on HOST` (the table, not only --json) updates the local records (issue 17)."""
    go, done = (f"{what}-{uuid.uuid4().hex[:8]}" for what in ("go", "done"))
    held = f"while [ ! -e {go} ]; do sleep 0.05; done; touch {done}"
    number = host.tt("run", "--on", HOST, "--", "sh", "-c", held).stdout.strip()
    assert host.tt.json("show", number)["status"] in ("queued", "running")  # type: ignore[index]
    host.remote_project(go).touch()  # only now may it end
    wait_for(lambda: host.remote_project(done).exists(), "the job to end on the host")
    assert _local_status(host, number) in ("queued", "running")  # nothing asked the host yet

    def refreshed() -> bool:
        host.tt("ls", "--on", HOST)  # the only thing here that asks the host
        return _local_status(host, number) == "succeeded"

    wait_for(refreshed, "ls --on to bring the end home")


def _local_status(host: Remote, number: str) -> str:
    rows = host.tt.json("ls")
    assert isinstance(rows, list)
    return str(next(r for r in rows if str(r["number"]) == number)["status"])


def test_top_on_host_and_top_of_a_local_record(host: Remote) -> None:
    go = f"go-{uuid.uuid4().hex[:8]}"
    held = f"while [ ! -e {go} ]; do sleep 0.05; done"
    local = host.tt("run", "--on", HOST, "--", "sh", "-c", held).stdout.strip()
    mine = host.tt.json("show", local)["uuid"]  # type: ignore[index]

    def sampled() -> list[dict[str, object]]:
        rows = host.tt.json("top", "--on", HOST)
        assert isinstance(rows, list)
        return [r for r in rows if r["uuid"] == mine and r["usage"] is not None]

    [row] = wait_for(sampled, "a sample of the job on the host")
    assert row["usage"]["peak"]["sys/procs"] >= 1  # type: ignore[index]
    assert "cpu: now/mean/peak" in host.tt("top", "--on", HOST).stdout
    host.remote_project(go).touch()
    host.tt("wait", local, timeout=60)
    [ended] = host.tt.json("top", local)  # type: ignore[misc]  # the local number: asks the host
    assert ended["uuid"] == mine and ended["status"] == "succeeded"
    assert ended["usage"]["samples"] >= 1


def test_ctrl_c_in_run_on_wait_says_the_job_keeps_running_there(host: Remote) -> None:
    go = f"go-{uuid.uuid4().hex[:8]}"
    _script(host, "slow_there.py", "import os, time\nprint('started', flush=True)\n"
            f"while not os.path.exists({go!r}):\n    time.sleep(0.05)\n")  # fmt: skip
    proc = host.tt.popen(
        "run", "--on", HOST, "--wait", "slow_there.py",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    assert b"started" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    text = err.decode()
    assert "keeps running on rig1" in text and "aborted" not in text, text
    number = re.search(r"tether cancel (\d+)", text)
    assert number, text
    host.remote_project(go).touch()  # it went on there: it ends when told to
    host.tt("wait", number.group(1), timeout=60)
    assert host.tt.json("show", number.group(1))["status"] == "succeeded"  # type: ignore[index]


def test_the_api_cancels_the_record_of_a_job_on_a_host_there(host: Remote) -> None:
    """``tether.api.cancel_job`` on the local record of an SSH job goes through the SSH
    backend: the job stops on the host and the record says so (issue 25)."""
    number = host.tt("run", "--on", HOST, "--", "sleep", "60").stdout.strip()
    uuid_there = host.tt.json("show", number)["uuid"]  # type: ignore[index]
    wait_for(
        lambda: host.tt.json("show", "--on", HOST, uuid_there)["status"] == "running",  # type: ignore[index]
        "the job to run on the host",
    )
    code = (
        "from tether import api\n"
        f"print(api.cancel_job(api.open_store(), {number!r}, grace=1)['status'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=host.tt.env, cwd=host.project,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "cancelled"
    there = host.tt.json("show", "--on", HOST, uuid_there)
    assert isinstance(there, dict) and there["status"] == "cancelled"


def test_the_api_verbs_take_on_an_ssh_host(host: Remote) -> None:
    """A script drives a job on the host through ``tether.api`` with ``on=``: the numbers are
    those here, the answers the host's own, and the records here follow."""
    from api_scripts import api_script

    _script(host, "tune.py", "import tether\n\nscale = 1.0\nprint('scale', scale)\n"
            "tether.report(loss=scale)\n")  # fmt: skip
    answer = api_script(
        host.tt,
        """
        [job] = api.run("tune.py", params={"scale": 2.0}, on="rig1")
        n = job["number"]  # the number here, as everywhere
        [mine] = api.wait(job["local_number"], timeout=60)  # the record here: asked there
        [done] = api.wait(n, on="rig1", timeout=60)
        [again] = api.rerun(n, params={"scale": 3.0}, on="rig1")
        api.wait(again["number"], on="rig1", timeout=60)
        answer = {
            "local_number": job["local_number"], "done": done["status"],
            "mine": mine["status"],
            "show": api.show(again["number"], on="rig1")["parent"], "n": n,
            "logs": api.logs(again["number"], on="rig1", tail=1),
            "scalars": api.scalars(again["number"], on="rig1"),
            "diff": api.diff(again["number"], on="rig1")["params"],
            "history": [r["params"] for r in api.history("tune.py", on="rig1")],
            "cancel": api.cancel(n, on="rig1"),
            "on_host": [r["uuid"] for r in api.ls(on="rig1")],
            "here": {r["uuid"]: r["status"] for r in api.ls()},
            "uuid": job["uuid"],
        }
        """,
    )
    assert answer["done"] == "succeeded" and answer["mine"] == "succeeded"
    assert answer["show"] == answer["n"]
    assert answer["logs"] == ["scale 3.0\n"]
    assert answer["scalars"]["loss"]["last"] == 3.0
    assert answer["diff"] == {"scale": {"before": 2.0, "after": 3.0}}
    assert answer["history"][-2:] == [{"scale": 2.0}, {"scale": 3.0}]
    [cancelled] = answer["cancel"]
    assert cancelled["already"] is True and cancelled["status"] == "succeeded"
    assert answer["uuid"] in answer["on_host"]
    assert answer["here"][answer["uuid"]] == "succeeded"  # the record here followed


def test_rerun_of_a_records_job_runs_on_its_host(host: Remote) -> None:
    """``tether rerun N`` of the record of a job on a host: the host re-runs it (with -p, or
    an edited program from --program), and the new record here is its child."""
    _script(host, "again.py", "scale = 1.0\nprint('scale', scale)\n")
    first = json.loads(host.tt("run", "--on", HOST, "--json", "again.py").stdout)
    local = str(first["local_number"])
    assert host.tt("wait", local).returncode == 0
    new = host.tt.json("rerun", "-p", "scale=5.0", local)
    assert isinstance(new, dict)
    number = str(new["number"])
    assert host.tt("wait", number).returncode == 0
    assert host.tt("logs", number).stdout == "scale 5.0\n"
    shown = host.tt.json("show", number)
    assert isinstance(shown, dict)
    assert shown["host"] == HOST and shown["parent"] == int(local)
    assert shown["uuid"] != first["uuid"]  # a new job there, not the old one again
    edited = host.tt("rerun", "--json", "--program", "-", local, input="print('edited')\n")
    number = str(json.loads(edited.stdout)["number"])
    assert host.tt("wait", number).returncode == 0
    assert host.tt("logs", number).stdout == "edited\n"
    broken = host.tt("rerun", "--program", "-", local, input="def (:\n", check=False)
    assert broken.returncode != 0 and broken.stderr.count("\n") == 1, broken.stderr
    assert "nothing" in broken.stderr or "compile" in broken.stderr or "syntax" in broken.stderr


def test_the_tuning_verbs_take_on(host: Remote) -> None:
    """scalars, history, diff, save, notifications, rerun and clean with ``--on HOST``: the
    host answers for its jobs, named by their numbers here, and the records here follow."""
    _script(host, "knob.py", "import tether\n\nknob = 1.0\ntether.report(loss=knob)\n")
    first = json.loads(host.tt("run", "--on", HOST, "--json", "knob.py").stdout)
    n = str(first["number"])  # one number: the one here, also for the verbs with --on
    assert first["number"] == first["local_number"] != first["remote_number"]
    assert host.tt("wait", "--on", HOST, n).returncode == 0
    again = host.tt.json("rerun", "--on", HOST, "-p", "knob=2.0", n)
    assert isinstance(again, dict) and again["host"] == HOST
    assert host.tt.json("show", str(again["local_number"]))["parent"] == first["local_number"]  # type: ignore[index]
    m = str(again["number"])
    assert host.tt("wait", "--on", HOST, m).returncode == 0
    assert host.tt.json("scalars", "--on", HOST, m)["loss"]["last"] == 2.0  # type: ignore[index]
    assert "loss" in host.tt("scalars", "--on", HOST, m).stdout
    rows = host.tt.json("history", "--on", HOST, "knob.py")
    assert isinstance(rows, list) and [r["params"] for r in rows][-2:] == [{}, {"knob": 2.0}]
    assert "knob=2.0" in host.tt("history", "--on", HOST, "knob.py").stdout
    out = host.tt("diff", "--on", HOST, m).stdout
    assert f"--- job #{n}" in out and "param knob: '<unset>' -> 2.0" in out
    assert "-knob = 1.0" in out and "+knob = 2.0" in out
    saved = host.tt.json("save", "--on", HOST, "--to", "best.py", m)
    assert isinstance(saved, dict) and saved["backup"] is None
    assert "knob = 2.0" in host.remote_project("best.py").read_text()
    assert saved["number"] == int(m)
    assert host.tt.json("notifications", "--on", HOST, m) == []
    mine = str(json.loads(host.tt("run", "--json", "--", "true").stdout)["number"])
    wrong = host.tt("show", "--on", HOST, mine, check=False)  # a job here is none of the host's
    assert wrong.returncode != 0 and f"not a job on {HOST}" in wrong.stderr
    # clean --on: the host's cancelled jobs go, and so do the records here of them
    job = json.loads(host.tt("run", "--on", HOST, "--json", "--", "sleep", "60").stdout)
    host.tt("cancel", "--on", HOST, "--grace", "1", str(job["number"]))
    refused = host.tt("clean", "--on", HOST, "--status", "cancelled", check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    cleaned = host.tt.json("clean", "--on", HOST, "--status", "cancelled", "--yes")
    assert isinstance(cleaned, dict) and job["uuid"] in cleaned["uuids"]
    assert job["number"] in cleaned["removed"]  # numbers here
    here = host.tt.json("ls")
    assert isinstance(here, list) and job["uuid"] not in {r["uuid"] for r in here}
    assert first["uuid"] in {r["uuid"] for r in here}  # a finished job that was not cleaned
