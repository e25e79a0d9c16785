"""ssh/rsync failure messages (recorded from OpenSSH 9.2 and rsync 3.5) become clear lines."""

from __future__ import annotations

import pytest

from tether.errors import RemoteError
from tether.targets.ssh.failures import SshFailure, classify_ssh_failure

HOST_KEY_CHANGED = """\
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Someone could be eavesdropping on you right now (man-in-the-middle attack)!
It is also possible that a host key has just been changed.
The fingerprint for the ED25519 key sent by the remote host is
SHA256:wimNdz9dCrCjcO+kwG29AKaUp5pw79IWAg246Alo+Bo.
Please contact your system administrator.
Add correct host key in /home/alice/.ssh/known_hosts to get rid of this message.
Offending ED25519 key in /home/alice/.ssh/known_hosts:1
  remove with:
  ssh-keygen -f "/home/alice/.ssh/known_hosts" -R "[gpu1.lab]:2222"
Host key for [gpu1.lab]:2222 has changed and you have requested strict checking.
Host key verification failed.
"""

RSYNC_MISSING = """\
bash: line 1: rsync: command not found
rsync: connection unexpectedly closed (0 bytes received so far) [sender]
rsync error: error in rsync protocol data stream (code 12) at io.c(285) [sender=3.5.0]
"""

CASES = [
    # (returncode, stderr, kind, words the message must contain)
    (
        255,
        "ssh: Could not resolve hostname gpu1.lab: Name or service not known\n",
        "unresolved",
        ["resolve"],
    ),
    (
        255,
        "ssh: Could not resolve hostname gpu1.lab: nodename nor servname provided, or not known\n",
        "unresolved",
        ["resolve"],
    ),
    (
        255,
        "ssh: Could not resolve hostname gpu1.lab: Temporary failure in name resolution\r\n",
        "unresolved",
        ["resolve"],
    ),
    (
        255,
        "ssh: connect to host gpu1.lab port 2222: Connection refused\n",
        "refused",
        ["refused", "2222"],
    ),
    (
        255,
        "ssh: connect to host gpu1.lab port 22: Connection timed out\n",
        "timeout",
        ["timed out"],
    ),
    (
        255,
        "ssh: connect to host gpu1.lab port 22: Operation timed out\n",
        "timeout",
        ["timed out"],
    ),
    (
        255,
        "Connection timed out during banner exchange\nConnection to gpu1.lab port 22 timed out\n",
        "timeout",
        ["timed out"],
    ),
    (
        255,
        "ssh: connect to host gpu1.lab port 22: No route to host\n",
        "unreachable",
        ["unreachable"],
    ),
    (
        255,
        "ssh: connect to host gpu1.lab port 22: Network is unreachable\n",
        "unreachable",
        ["unreachable"],
    ),
    (
        255,
        "alice@gpu1.lab: Permission denied (publickey).\n",
        "auth",
        ["refused the login", "publickey", "--identity"],
    ),
    (
        255,
        "Warning: Permanently added 'gpu1.lab' (ED25519) to the list of known hosts.\r\n"
        "alice@gpu1.lab: Permission denied (publickey,password,keyboard-interactive).\n",
        "auth",
        ["publickey,password", "--identity"],
    ),
    (
        255,
        "Received disconnect from 10.0.0.5 port 22:2: Too many authentication failures\n"
        "Disconnected from 10.0.0.5 port 22\n",
        "auth",
        ["--identity"],
    ),
    (
        255,
        "Warning: Identity file /home/alice/.ssh/id_nope not accessible: No such file or "
        "directory.\nalice@gpu1.lab: Permission denied (publickey).\n",
        "auth",
        ["/home/alice/.ssh/id_nope", "--identity"],
    ),
    (255, HOST_KEY_CHANGED, "host_key_changed", ["changed", "ssh-keygen", "-R"]),
    (255, "Host key verification failed.\n", "host_key_unknown", ["not known", "accept"]),
    (
        255,
        "No ED25519 host key is known for [gpu1.lab]:2222 and you have requested strict "
        "checking.\nHost key verification failed.\n",
        "host_key_unknown",
        ["not known"],
    ),
    (
        1,
        "mkdir: cannot create directory '.tether/jobs/3': No space left on device\n",
        "disk_full",
        ["disk", "full"],
    ),
    (
        11,
        'rsync: [Receiver] write failed on "/home/alice/x.bin": No space left on device (28)\n',
        "disk_full",
        ["full"],
    ),
    (1, "cp: cannot create 'x': Disk quota exceeded\n", "disk_full", ["quota"]),
    (127, "bash: python3: command not found\n", "no_python", ["python3", "Python 3"]),
    (127, "bash: line 1: python3: command not found\n", "no_python", ["python3"]),
    (127, "sh: 1: python3: not found\n", "no_python", ["python3"]),
    (127, "zsh:1: command not found: python3\n", "no_python", ["python3"]),
    (
        127,
        "bash: line 1: /opt/py/bin/python: No such file or directory\n",
        "no_python",
        ["/opt/py/bin/python"],
    ),
    (127, "python3: Command not found.\n", "no_python", ["python3"]),
    (12, RSYNC_MISSING, "no_rsync", ["rsync", "install"]),
    (127, "sh: 1: rsync: not found\n", "no_rsync", ["rsync"]),
    (
        12,
        "protocol version mismatch -- is your shell clean?\n(see the rsync manpage for an "
        "explanation)\nrsync error: protocol incompatibility (code 2) at compat.c(622)\n",
        "rsync_protocol",
        ["bashrc"],
    ),
    (127, "bash: sbatch: command not found\n", "not_found", ["sbatch"]),
    (
        255,
        "command-line: line 0: Bad configuration option: bogusoption\n",
        "bad_option",
        ["bogusoption"],
    ),
    (
        255,
        "Bad owner or permissions on /home/alice/.ssh/config\n",
        "config",
        ["chmod 600 /home/alice/.ssh/config"],
    ),
    (
        255,
        "kex_exchange_identification: Connection closed by remote host\n"
        "Connection closed by 10.0.0.5 port 22\n",
        "closed",
        ["closed"],
    ),
    (255, "", "ssh", ["ssh -v"]),
    (255, "something odd happened\n", "ssh", ["something odd happened"]),
    (
        1,
        "Traceback (most recent call last):\nValueError: boom\n",
        "command",
        ["exit code 1", "ValueError: boom"],
    ),
]


@pytest.mark.parametrize(("returncode", "stderr", "kind", "words"), CASES)
def test_classify(returncode: int, stderr: str, kind: str, words: list[str]) -> None:
    error = classify_ssh_failure(returncode, stderr, "gpu1")
    assert isinstance(error, RemoteError)
    assert isinstance(error, SshFailure)
    assert error.kind == kind, str(error)
    message = str(error)
    assert "gpu1" in message
    assert "\n" not in message
    for word in words:
        assert word in message
    assert error.returncode == returncode
    assert error.stderr == stderr


def test_host_key_changed_suggests_the_exact_command() -> None:
    error = classify_ssh_failure(255, HOST_KEY_CHANGED, "gpu1")
    assert 'ssh-keygen -f "/home/alice/.ssh/known_hosts" -R "[gpu1.lab]:2222"' in str(error)


def test_host_name_is_read_from_the_message_when_not_given() -> None:
    cases = {
        "ssh: connect to host box.lab port 22: Connection refused\n": "box.lab",
        "ssh: Could not resolve hostname nowhere.invalid: Name or service not known\n": (
            "nowhere.invalid"
        ),
        "bob@10.1.2.3: Permission denied (publickey).\n": "bob@10.1.2.3",
    }
    for stderr, host in cases.items():
        error = classify_ssh_failure(255, stderr)
        assert error.host == host
        assert host in str(error)
    assert "the remote host" in str(classify_ssh_failure(255, ""))


def test_network_messages_from_the_program_are_not_taken_for_ssh_errors() -> None:
    """A program that prints 'Connection refused' and exits 1 failed by itself."""
    error = classify_ssh_failure(1, "requests: Connection refused by api.example.org\n", "gpu1")
    assert error.kind == "command"
    assert "Connection refused" in str(error)


def test_retryable() -> None:
    assert classify_ssh_failure(255, "Connection timed out\n", "h").retryable
    assert classify_ssh_failure(255, "ssh: connect to host h port 22: No route to host").retryable
    assert not classify_ssh_failure(255, "h: Permission denied (publickey).", "h").retryable
    assert not classify_ssh_failure(255, "Host key verification failed.", "h").retryable


def test_suggested_commands_use_the_destination() -> None:
    error = classify_ssh_failure(
        255, "alice@gpu1.lab: Permission denied (publickey).\n", "gpu1", dest="alice@gpu1.lab"
    )
    assert "gpu1 refused the login" in str(error)
    assert "ssh-copy-id alice@gpu1.lab" in str(error)
    unknown = classify_ssh_failure(255, "Host key verification failed.\n", "gpu1", dest="g.lab")
    assert "`ssh g.lab`" in str(unknown)


def test_hints_are_valid_ssh_and_resolve_errors_name_the_destination() -> None:
    """`user@host:port` is shown as `ssh -p PORT user@host` (issue 17)."""
    unknown = classify_ssh_failure(
        255, "Host key verification failed.\n", "gpu1", dest="ncuser@127.0.0.1:54445"
    )
    assert "`ssh -p 54445 ncuser@127.0.0.1`" in str(unknown)
    unresolved = classify_ssh_failure(
        255,
        "ssh: Could not resolve hostname tpyo.lab: Name or service not known\n",
        "typo",
        dest="tpyo.lab",
    )
    assert "cannot resolve the host name typo (tpyo.lab)" in str(unresolved)


def test_hints_carry_the_hosts_ssh_config_and_identity() -> None:
    """A host added with --ssh-config/--identity is reached with -F/-i: so are the hints
    (issue 27: `ssh-copy-id` without -F copied the key to the wrong host)."""
    from tether.targets.ssh.hostspec import HostSpec
    from tether.targets.ssh.transport import Transport

    spec = HostSpec(
        name="gpu1",
        dest="alice@gpu1.lab:2222",
        ssh_config="/home/alice/my ssh/config",
        identity="/home/alice/.ssh/id_lab",
    )
    error = Transport(spec).failure(255, "alice@gpu1.lab: Permission denied (publickey).\n")
    assert error.kind == "auth"
    assert (
        "ssh-copy-id -F '/home/alice/my ssh/config' -i /home/alice/.ssh/id_lab -p 2222 "
        "alice@gpu1.lab" in str(error)
    )
    unknown = Transport(spec).failure(255, "Host key verification failed.\n")
    assert "`ssh -F '/home/alice/my ssh/config' -i /home/alice/.ssh/id_lab -p 2222" in str(unknown)
    plain = Transport(HostSpec(name="gpu2", dest="bob@gpu2.lab")).failure(
        255, "bob@gpu2.lab: Permission denied (publickey).\n"
    )
    assert "(ssh-copy-id bob@gpu2.lab)" in str(plain)


def test_no_python_names_the_flag_that_sets_it() -> None:
    """The hint is the real `hosts add` command, with the host's ssh config again (issue 27)."""
    error = classify_ssh_failure(
        127, "sh: 1: python3: not found\n", "gpu1", dest="gpu1.lab", flags=["-F", "/a b/cfg"]
    )
    assert error.kind == "no_python"
    assert str(error) == (
        "gpu1 has no python3 on PATH (no Python 3 found there): install python3 there or give "
        "one with `tether hosts add gpu1 gpu1.lab --ssh-config '/a b/cfg' "
        "--python /path/to/python3 --replace`"
    )
