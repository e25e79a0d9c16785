"""Prove each real-server rig works: sshd (+ second host), SMTP/IMAP, Slurm."""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from rigs.common import remove_tree
from rigs.mail import MailServer, make_message
from rigs.slurm import SlurmCluster
from rigs.sshd import SSHServer

pytestmark = [pytest.mark.rig, pytest.mark.timeout(60)]


def sh(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, check=check, timeout=timeout, stdin=subprocess.DEVNULL
    )


# ---------------------------------------------------------------- sshd


def test_ssh_alias_echo(sshd_host: SSHServer) -> None:
    out = sh("ssh", "-F", str(sshd_host.ssh_config), "rig1", "echo ok; id -un; echo $HOME").stdout
    assert out.split() == ["ok", sshd_host.user, str(sshd_host.home)]
    # Debian's python3 with venv support and rsync are there for the remote side
    r = sshd_host.run(
        "/usr/bin/python3 -c 'import sys, venv; print(sys.version_info[0])'; rsync -V"
    )
    assert r.stdout.startswith("3\nrsync")


def test_rsync_over_ssh(sshd_host: SSHServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("hello\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 100)
    rsync = ["rsync", "-a", "-e", sshd_host.rsync_rsh]
    sh(*rsync, f"{src}/", "rig1:proj/")
    remote = sshd_host.remote_path("proj")
    assert (remote / "a.txt").read_text() == "hello\n"
    assert sshd_host.run("cat proj/a.txt; stat -c %U proj/sub/b.bin").stdout.split() == [
        "hello",
        sshd_host.user,
    ]
    sshd_host.run("echo changed >> proj/a.txt")
    back = tmp_path / "back"
    sh(*rsync, "rig1:proj/", f"{back}/")
    assert (back / "a.txt").read_text() == "hello\nchanged\n"
    assert (back / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()


def test_controlmaster(sshd_host: SSHServer) -> None:
    d = Path(tempfile.mkdtemp(prefix="tt-cm-", dir="/tmp"))  # socket path < 108 bytes
    cm = ["-o", "ControlMaster=auto", "-o", f"ControlPath={d}/%C", "-o", "ControlPersist=60"]
    try:
        assert sshd_host.run("echo first", options=cm).stdout == "first\n"
        check = sh(*sshd_host.ssh_argv(*cm, "-O", "check"))
        assert "Master running" in check.stderr
        muxed = sshd_host.run("echo muxed", options=[*cm, "-v"])
        assert muxed.stdout == "muxed\n"
        assert "auto-mux: Trying existing master" in muxed.stderr  # through the master
        assert "Authenticated to" not in muxed.stderr  # no login of its own
    finally:
        sh(*sshd_host.ssh_argv(*cm, "-O", "exit"), check=False)
        remove_tree(d)


def test_second_host_and_link_cut(sshd_host: SSHServer, sshd_host2: SSHServer) -> None:
    cfg = str(sshd_host2.ssh_config)  # holds both rig1 and rig2
    h1 = sh("ssh", "-F", cfg, "rig1", "hostname").stdout.strip()
    h2 = sh("ssh", "-F", cfg, "rig2", "hostname").stdout.strip()
    assert h1 != h2 == "rig2-host"
    assert sshd_host2.run("id -un").stdout.strip() == sshd_host2.user != sshd_host.user

    ns = sshd_host2.netns
    assert ns is not None
    with ns.link_cut():
        r = sshd_host2.run("true", check=False, options=["-o", "ConnectTimeout=1"])
        assert r.returncode == 255  # (the run's own 60 s timeout: it did not hang)
        assert "timed out" in r.stderr or "Connection" in r.stderr, r.stderr
    assert sshd_host2.run("echo back").stdout == "back\n"


# ---------------------------------------------------------------- mail


def test_submission_starttls_reaches_imap(mail_server: MailServer) -> None:
    m = mail_server
    msg = make_message(m.user, m.human, "[job 1] finished", "done\n")
    with smtplib.SMTP(m.host, m.submission_port, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        with pytest.raises(smtplib.SMTPNotSupportedError):  # no AUTH before TLS
            s.login(m.user, m.password)
        s.starttls(context=m.ssl_context())
        s.login(m.user, m.password)
        s.send_message(msg)
    rec = m.wait_for_outbox(lambda r: r.message["Message-ID"] == msg["Message-ID"])[0]
    assert (rec.listener, rec.auth_user, rec.rcpt_tos) == ("submission", m.user, [m.human])

    c = m.imap(m.human)
    try:
        uids = c.search(["UNSEEN", "HEADER", "Message-ID", msg["Message-ID"]])
        assert len(uids) == 1
        body = c.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
        assert b"[job 1] finished" in body
    finally:
        c.logout()


def test_smtps_and_imap_tls_variants(mail_server: MailServer) -> None:
    m = mail_server
    msg = make_message(m.human, m.user, "via smtps", "x")
    with smtplib.SMTP_SSL(m.host, m.smtps_port, context=m.ssl_context(), timeout=10) as s:
        s.login(m.human, m.human_password)
        s.send_message(msg)
    # IMAPS with the self-signed cert (stdlib client)
    i = imaplib.IMAP4_SSL(m.host, m.imaps_port, ssl_context=m.ssl_context())
    i.login(m.user, m.password)
    i.select("INBOX")
    typ, data = i.search(None, "HEADER", "Message-ID", msg["Message-ID"])
    assert typ == "OK" and data[0].split()
    i.logout()
    # plain IMAP + STARTTLS, and plaintext LOGIN on loopback
    c = m.imap(security="starttls")
    c.logout()
    c = m.imap(security="plain")
    c.logout()
    # the system trust store does not know the cert
    with pytest.raises(ssl.SSLCertVerificationError):
        imaplib.IMAP4_SSL(m.host, m.imaps_port, ssl_context=ssl.create_default_context())


def test_idle_sees_new_message(mail_server: MailServer) -> None:
    m = mail_server
    c = m.imap()
    try:
        assert b"IDLE" in c.capabilities()
        c.idle()
        mid = m.send(make_message(m.human, m.user, "push", "rerun\n"))
        responses: list[tuple[object, ...]] = []
        end = time.monotonic() + 60  # a deadline; the loop ends at the EXISTS
        while time.monotonic() < end and not any(
            len(r) > 1 and r[1] == b"EXISTS" for r in responses
        ):
            responses += c.idle_check(timeout=1)
        c.idle_done()
        assert any(len(r) > 1 and r[1] == b"EXISTS" for r in responses), responses
        assert c.search(["HEADER", "Message-ID", mid])
    finally:
        c.logout()
    # inject bypasses SMTP; the Maildir shows both
    m.inject(make_message(m.human, m.user, "injected", "x"))
    subjects = [str(x["Subject"]) for x in m.wait_for_inbox(m.user, count=2)]
    assert {"push", "injected"} <= set(subjects)


# ---------------------------------------------------------------- slurm


def test_sbatch_completes(slurm_cluster: SlurmCluster) -> None:
    out = slurm_cluster.jobs_dir / "hello-%j.out"
    # plain sbatch: SLURM_CONF is exported into this process's environment
    jid = sh(
        "sbatch", "--parsable", "-p", "debug", "-o", str(out), "--wrap", "echo hi $SLURM_JOB_ID"
    )
    job = jid.stdout.strip()
    assert slurm_cluster.wait_job(job, timeout=30) == "COMPLETED"
    path = slurm_cluster.jobs_dir / f"hello-{job}.out"
    assert path.read_text() == f"hi {job}\n"
    assert slurm_cluster.job_info(job)["ExitCode"] == "0:0"


def test_sbatch_over_ssh(slurm_cluster: SlurmCluster, sshd_host: SSHServer) -> None:
    sshd_host.set_env("SLURM_CONF", str(slurm_cluster.conf_path))
    job = sshd_host.run("sbatch --parsable -o $HOME/job-%j.out --wrap 'id -un'").stdout.strip()
    assert slurm_cluster.wait_job(job, timeout=30) == "COMPLETED"
    assert sshd_host.remote_path(f"job-{job}.out").read_text() == f"{sshd_host.user}\n"
