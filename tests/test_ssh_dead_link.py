"""A dead link (every packet dropped) makes each remote verb fail within the host's timeout,
with one line naming the host; nothing hangs (issue 26).

``rig2`` lives in a network namespace; ``link_cut`` drops its packets like a pulled cable.
The host is added with tether's ssh defaults and ``--timeout 4``: each call must give up
after about 4 s. The bound checked here is the subprocess's (30 s: a hang fails the test);
how many seconds each verb took is not asserted (they were measured for the closing note).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from rigs.sshd import NetNamespace, SSHServer
from ssh_fixtures import Remote, module_cli

pytestmark = [pytest.mark.rig, pytest.mark.timeout(600)]

HOST = "rig2"
BOUND = 30  # seconds: far above the host's 4 s timeout, far below the minute a hang takes


@pytest.fixture(scope="module")
def rig2(sshd_host2: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with module_cli(tmp_path_factory.mktemp("deadlink"), sshd_host2) as cli:
        config = str(sshd_host2.ssh_config)
        cli.tt("hosts", "add", HOST, HOST, "--ssh-config", config, "--timeout", "4")
        cli.tt("hosts", "setup", HOST, timeout=600)
        yield cli


def test_every_remote_verb_gives_up_within_the_hosts_timeout(
    rig2: Remote, sshd_link: NetNamespace
) -> None:
    (rig2.project / "a.py").write_text("import tether\n\nx = 1\ntether.report(loss=x)\n")
    data = json.loads(rig2.tt("run", "--on", HOST, "--json", "a.py").stdout)
    local, there = str(data["local_number"]), str(data["number"])
    rig2.tt("wait", local)
    verbs = [
        ["ls", "--on", HOST], ["show", "--on", HOST, there], ["show", local],
        ["cancel", "--on", HOST, there], ["wait", "--on", HOST, there],
        ["logs", "--on", HOST, there], ["scalars", "--on", HOST, there],
        ["history", "--on", HOST, "a.py"], ["diff", "--on", HOST, there],
        ["rerun", "--on", HOST, there], ["rerun", local], ["top", "--on", HOST],
        ["clean", "--on", HOST, "--yes"], ["hosts", "check", HOST], ["run", "--on", HOST, "a.py"],
    ]  # fmt: skip
    with sshd_link.link_cut():
        # the verbs are separate processes that each wait out the host's timeout: run a few
        # at a time (each is still checked on its own; a hang still fails at BOUND)
        with ThreadPoolExecutor(max_workers=5) as pool:
            procs = list(pool.map(lambda a: rig2.tt(*a, check=False, timeout=BOUND), verbs))
        for args, proc in zip(verbs, procs, strict=True):
            what = " ".join(args)
            assert proc.returncode != 0, what
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and "rig2" in lines[0], f"{what}: {proc.stderr!r}"
            assert "Traceback" not in proc.stderr, what
        # clean --all: what is here is cleaned; the records of the unreached host's jobs stay
        proc = rig2.tt("clean", "--all", "--yes", "--json", timeout=BOUND)
        assert "error" in json.loads(proc.stdout)["hosts"][HOST]
    assert data["uuid"] in {r["uuid"] for r in rig2.tt.json("ls")}  # type: ignore[union-attr]
    # the link is back: the same verbs work again, and nothing was lost
    shown = rig2.tt.json("show", "--on", HOST, there)
    assert isinstance(shown, dict) and shown["status"] == "succeeded"
    # clean --all cleans both sides, consistently
    cleaned = rig2.tt.json("clean", "--all", "--yes")
    assert isinstance(cleaned, dict) and data["uuid"] in cleaned["hosts"][HOST]["uuids"]
    assert data["uuid"] not in {r["uuid"] for r in rig2.tt.json("ls")}  # type: ignore[union-attr]
    assert data["uuid"] not in {r["uuid"] for r in rig2.tt.json("ls", "--on", HOST)}  # type: ignore[union-attr]


def test_a_bad_timeout_is_refused_in_one_line(rig2: Remote) -> None:
    proc = rig2.tt("hosts", "add", "x", "x.example.org", "--timeout", "0", check=False)
    assert proc.returncode == 2 and "timeout" in proc.stderr and proc.stderr.count("\n") == 1
    config = rig2.config_dir / "hosts.toml"
    text = config.read_text()
    config.write_text(text + '\n[hosts.y]\ndest = "y"\ntimeout = "soon"\n')
    try:
        proc = rig2.tt("hosts", "ls", check=False)
        assert proc.returncode != 0 and "timeout must be a number" in proc.stderr
    finally:
        config.write_text(text)
