"""Across hosts: ``ls --all``, local verbs on a remote job's local record, ``run --on auto``.

Two real sshd "machines": ``rig1`` on loopback and ``rig2`` in a network namespace whose
link the tests cut. There is no GPU on the test machine: rig2's probe finds a fake
``nvidia-smi`` (a script printing a recorded A100 sample) through its host setting
``--python "env PATH=FAKEBIN:... python3"``, the same way a user points tether at a conda
python; rig1 has no GPU at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from rigs.common import free_port
from rigs.sshd import NetNamespace, SSHServer
from ssh_fixtures import Remote, module_cli, remote
from waiting import wait_for

__all__ = ["remote"]

pytestmark = [pytest.mark.rig, pytest.mark.timeout(600)]

SMI = "0, NVIDIA A100-SXM4-80GB, 1024, 81920, 3\n"


def _fake_gpu_bin(server: SSHServer) -> Path:
    """A folder on rig2 holding an ``nvidia-smi`` that prints :data:`SMI`."""
    folder = server.remote_path("fakegpu")
    folder.mkdir(exist_ok=True)
    smi = folder / "nvidia-smi"
    smi.write_text(f"#!/bin/sh\ncat <<'EOF'\n{SMI}EOF\n")
    smi.chmod(0o755)
    server.chown_to_user(folder)
    return folder


@pytest.fixture(scope="module")
def two(
    sshd_host: SSHServer, sshd_host2: SSHServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Remote]:
    """A CLI with rig1 and rig2 set up; rig2 notices a dead link within ~3 s."""
    fake = _fake_gpu_bin(sshd_host2)
    with module_cli(tmp_path_factory.mktemp("allhosts"), sshd_host) as cli:
        cli.add_alias("rig1")
        cli.tt(
            "hosts", "add", "rig2", "rig2", "--ssh-config", str(sshd_host2.ssh_config),
            "--option", "ServerAliveInterval=1", "--option", "ServerAliveCountMax=2",
            "--option", "ConnectTimeout=3",
            "--python", f"env PATH={fake}:/usr/local/bin:/usr/bin:/bin python3",
        )  # fmt: skip
        cli.tt("hosts", "setup", "rig1", timeout=600)
        cli.tt("hosts", "setup", "rig2", timeout=600)
        yield cli


def _run(cli: Remote, host: str, *command: str) -> dict[str, Any]:
    data = json.loads(cli.tt("run", "--on", host, "--json", "--", *command).stdout)
    assert isinstance(data, dict)
    return data


def _wait_there(cli: Remote, host: str, uuid: str) -> None:
    """Wait for a job with the host's own tether, leaving the record here as it was (every
    verb of this machine's tether that hears of the job brings its record up to date)."""
    cli.tt("ssh", host, f"$HOME/.tether/venv/bin/tether wait {uuid}", timeout=120)


def _local_row(cli: Remote, number: int) -> dict[str, Any]:
    rows = cli.tt.json("ls")
    assert isinstance(rows, list)
    return next(r for r in rows if r["number"] == number)


def test_ls_all_shows_every_host_once_and_updates_local_records(two: Remote) -> None:
    one = _run(two, "rig1", "sh", "-c", "echo one")
    other = _run(two, "rig2", "sh", "-c", "echo two")
    here = two.tt("run", "--", "sh", "-c", "echo here").stdout.strip()
    for data in (one, other):
        _wait_there(two, data["host"], data["uuid"])
    two.tt("wait", here)
    # the local records still say what `run --on` saw
    assert _local_row(two, one["local_number"])["status"] == "queued"

    rows = two.tt.json("ls", "--all")
    assert isinstance(rows, list)
    by_uuid = {r["uuid"]: r for r in rows}
    assert len(by_uuid) == len(rows)  # nobody twice
    for data in (one, other):
        row = by_uuid[data["uuid"]]
        assert row["host"] == data["host"] and row["number"] == data["number"]
        assert row["local_number"] == data["local_number"] and row["status"] == "succeeded"
    mirrors = {data["local_number"] for data in (one, other)}
    assert not [r for r in rows if r["host"] == "local" and r["number"] in mirrors]
    assert [r["status"] for r in rows if r["host"] == "local" and r["number"] == int(here)] == [
        "succeeded"
    ]
    # ... and brought the local records up to date
    assert _local_row(two, one["local_number"])["status"] == "succeeded"
    created = [datetime.fromisoformat(r["created"]) for r in rows]
    assert created == sorted(created)  # oldest first, whichever host

    limited = two.tt.json("ls", "--all", "--limit", "2")
    assert isinstance(limited, list) and limited == rows[-2:]
    table = two.tt("ls", "--all").stdout
    header = table.splitlines()[0].split()
    assert header[:2] == ["host", "#"]
    assert {line.split()[0] for line in table.splitlines()[1:]} >= {"local", "rig1", "rig2"}


def test_wait_all_waits_for_jobs_on_hosts_too(two: Remote) -> None:
    slow = _run(two, "rig1", "sh", "-c", "sleep 2; echo slow")
    other = _run(two, "rig2", "sh", "-c", "sleep 1")
    here = two.tt("run", "--", "sleep", "1").stdout.strip()
    two.tt("wait", "--all", timeout=120)  # it waited for the slow one: all ended, below
    statuses = {_local_row(two, n)["status"] for n in (slow["local_number"], other["local_number"])}
    assert statuses == {"succeeded"} and _local_row(two, int(here))["status"] == "succeeded"
    failing = _run(two, "rig2", "sh", "-c", "sleep 1; exit 3")
    assert two.tt("wait", "--all", check=False, timeout=120).returncode == 1
    assert _local_row(two, failing["local_number"])["status"] == "failed"
    assert two.tt("wait", str(failing["local_number"]), check=False).returncode == 3


def test_ls_all_with_a_cut_link_warns_once_and_shows_last_seen(
    two: Remote, sshd_link: NetNamespace
) -> None:
    data = _run(two, "rig2", "sh", "-c", "echo cut")
    _wait_there(two, "rig2", data["uuid"])
    with sshd_link.link_cut():
        proc = two.tt("ls", "--all", "--json", timeout=120)  # it must give up, not hang
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("tether: rig2 not reached"), proc.stderr
    rows = json.loads(proc.stdout)
    (mirror,) = [r for r in rows if r["uuid"] == data["uuid"]]  # one row: one identity
    # rig2 did not answer, so the row is its local record, as last seen
    assert (mirror["host"], mirror["number"]) == ("rig2", data["local_number"])
    assert mirror["status"] == "queued"
    assert any(r["host"] == "rig1" for r in rows)  # the other host answered


def test_local_verbs_on_a_remote_record_go_to_the_host(two: Remote) -> None:
    data = _run(two, "rig1", "sh", "-c", "echo started; sleep 60")
    local = str(data["local_number"])
    wait_for(lambda: two.tt("logs", local).stdout == "started\n", "the job's first line")
    shown = two.tt.json("show", local)
    assert isinstance(shown, dict)
    assert shown["uuid"] == data["uuid"] and shown["status"] == "running"
    assert shown["host"] == "rig1" and shown["local_number"] == data["local_number"]
    assert re.search(r"^  host +rig1$", two.tt("show", local).stdout, re.MULTILINE)
    assert two.tt("logs", "--tail", "1", local).stdout == "started\n"
    out = two.tt("cancel", "--grace", "1", local).stdout
    assert f"job #{local} cancelled" in out  # the local number, not the host's
    waited = two.tt("wait", local, check=False)
    assert waited.returncode != 0
    assert _local_row(two, data["local_number"])["status"] == "cancelled"  # brought up to date
    there = two.tt.json("show", "--on", "rig1", data["uuid"])
    assert isinstance(there, dict) and there["status"] == "cancelled"
    assert two.tt("logs", "-f", local).stdout == "started\n"  # ended: -f returns


def test_on_auto_picks_the_gpu_host_then_the_reachable_one(
    two: Remote, sshd_link: NetNamespace
) -> None:
    proc = two.tt("run", "--on", "auto", "--json", "--", "hostname")
    assert "--on auto chose rig2 (79.0 GiB free on its emptiest GPU)" in proc.stderr
    data = json.loads(proc.stdout)
    assert data["host"] == "rig2"
    assert two.tt("logs", "-f", str(data["local_number"])).stdout == "rig2-host\n"

    with sshd_link.link_cut():
        proc = two.tt("run", "--on", "auto", "--json", "--", "sh", "-c", "echo $USER", timeout=90)
    assert "--on auto chose rig1 (load " in proc.stderr
    assert "not reached: rig2" in proc.stderr
    data = json.loads(proc.stdout)
    assert data["host"] == "rig1"
    out = two.tt("logs", "-f", str(data["local_number"])).stdout
    assert out == f"{two.server.user}\n"


def test_on_auto_without_reachable_hosts_is_one_line(remote: Remote) -> None:
    proc = remote.tt("run", "--on", "auto", "--", "true", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "no SSH hosts configured" in proc.stderr
    remote.tt("hosts", "add", "closed", f"nobody@127.0.0.1:{free_port()}")
    proc = remote.tt("run", "--on", "auto", "--", "true", check=False)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1, proc.stderr
    assert "no host could be reached for --on auto (closed)" in proc.stderr


def test_merge_shows_each_job_once(tmp_path: Path) -> None:
    """The merge on its own: mirrors of listed jobs give way to the host's rows; a mirror
    of a host that did not answer, or of a job gone from its host, is shown as last seen."""
    from tether.jobs.views import listing_json
    from tether.store.jobs import JobSpec, JobStore
    from tether.targets.ssh.all_hosts import HostListing, merge

    store = JobStore(tmp_path)

    def add(target: str = "local", uuid: str | None = None) -> Any:
        extra = {"remote_uuid": uuid, "remote_number": 1} if uuid else {}
        spec = JobSpec(command=["true"], cwd=str(tmp_path), name=f"{target}-{uuid}",
                       target=target, extra=extra, backend="ssh" if uuid else None,
                       remote_id=uuid, remote_number=1 if uuid else None)  # fmt: skip
        return store.add(spec)

    here, listed, gone, away = add(), add("a", "u-1"), add("a", "u-old"), add("b", "u-9")
    from tether.jobs import state

    state.start(store, listed)
    remote_row = {"uuid": "u-1", "number": 7, "status": "succeeded", "host": "local",
                  "created": "2100-01-01T00:00:00.000+00:00"}  # fmt: skip
    listings = [HostListing("a", [remote_row]), HostListing("b", None, "on b: timed out")]
    local = [(job, listing_json(job)) for job in store.jobs()]
    rows = merge(local, listings)
    assert [(r["host"], r["number"]) for r in rows] == [
        ("local", here.number),
        ("a", gone.number),
        ("b", away.number),
        ("a", 7),
    ]
    assert rows[-1]["local_number"] == listed.number
    running = merge(local, listings, statuses=["running"])
    assert running == []  # the stale mirror says running; the host says succeeded
    assert merge(local, listings, limit=1) == rows[-1:]
    assert merge(local, [], statuses=["running"])[0]["number"] == listed.number
