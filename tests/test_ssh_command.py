"""Host specs and the ssh/rsync command lines built from them (nothing connects anywhere)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.errors import ConfigError, UsageError
from tether.targets.ssh.command import (
    MAX_SOCKET_PATH,
    Remote,
    auth_fingerprint,
    control_socket_dir,
    count_itemized_changes,
    master_check_argv,
    master_exit_argv,
    master_start_argv,
    remote_join,
    remote_shell,
    rsync_argv,
    rsync_quote,
    rsync_shell,
    ssh_argv,
    ssh_options,
)
from tether.targets.ssh.hostspec import (
    Destination,
    HostSpec,
    parse_destination,
    parse_option,
    parse_options,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w

EVIL = [
    "$(touch PWNED1)",
    "`touch PWNED2`",
    "; touch PWNED3",
    "&& touch PWNED4",
    "| touch PWNED5",
    "a'b\"c",
    "'; touch PWNED6; '",
    '"; touch PWNED7; "',
    "$HOME",
    "${IFS}touch${IFS}PWNED8",
    "*",
    "~",
    "line1\nline2; touch PWNED9",
    "back\\slash",
    "-oProxyCommand=touch PWNED10",
    "",
    " leading and trailing ",
    "tab\there",
    "ünïcødé ✓",
    "!event",
    "#comment",
    "> PWNED11",
    "<(touch PWNED12)",
]


@pytest.fixture
def ctl() -> Iterator[Path]:
    """A control folder short enough to be used as is (pytest's tmp_path is too long)."""
    path = Path(tempfile.mkdtemp(prefix="tc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def spec() -> HostSpec:
    return HostSpec(name="gpu1", dest="alice@gpu.example.org:2222")


def run_sh(command: str, cwd: Path, shell: str = "sh") -> str:
    """Run a remote command string as a remote login shell would (``shell -c``)."""
    out = subprocess.run(
        [shell, "-c", command], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    )
    return out.stdout


# --- destinations and options ----------------------------------------------------------


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        ("host", Destination("host")),
        ("alice@host", Destination("host", "alice")),
        ("alice@host:2222", Destination("host", "alice", 2222)),
        ("host.example.org:22", Destination("host.example.org", None, 22)),
        ("10.0.0.5", Destination("10.0.0.5")),
        ("[::1]:2222", Destination("::1", None, 2222)),
        ("bob@[fe80::1%eth0]:22", Destination("fe80::1%eth0", "bob", 22)),
        ("[::1]", Destination("::1")),
        ("::1", Destination("::1")),
        ("2001:db8::7", Destination("2001:db8::7")),
        ("my-alias", Destination("my-alias")),
        ("ssh://carol@box:2200", Destination("box", "carol", 2200)),
        ("first.last@host", Destination("host", "first.last")),
    ],
)
def test_parse_destination(dest: str, expected: Destination) -> None:
    assert parse_destination(dest) == expected


@pytest.mark.parametrize(
    "dest",
    [
        "",
        "   ",
        "-oProxyCommand=evil",
        "alice@-host",
        "-alice@host",
        "host:0",
        "host:65536",
        "host:port",
        "host:",
        "a b",
        "host;rm",
        "host\nother",
        "$(evil)",
        "[::1",
        "[::1]x",
        "[nothost]:22",
        "@host",
        "alice@",
        "ho`st",
    ],
)
def test_parse_destination_rejects(dest: str) -> None:
    with pytest.raises(UsageError):
        parse_destination(dest)


def test_destination_forms() -> None:
    v6 = parse_destination("bob@[::1]:2222")
    assert v6.ssh_target == "bob@::1"
    assert v6.rsync_target == "bob@[::1]"
    assert str(v6) == "bob@[::1]:2222"
    assert str(parse_destination("alice@host:22")) == "alice@host:22"
    assert parse_destination("host").rsync_target == "host"


def test_parse_option() -> None:
    assert parse_option("ProxyJump=gateway") == ("ProxyJump", "gateway")
    assert parse_option(" ServerAliveInterval = 30 ") == ("ServerAliveInterval", "30")
    assert parse_option("LocalForward=8080 localhost:80") == ("LocalForward", "8080 localhost:80")
    assert parse_options(["A=1", "B=x=y", "A=2"]) == {"A": "2", "B": "x=y"}


@pytest.mark.parametrize(
    "text",
    [
        "NoEquals",
        "=value",
        "Key=",
        "Bad-Key=1",
        "Bad Key=1",
        "1Key=1",
        "Key=line\nProxyCommand=evil",
        "Key=a\rb",
        "-oKey=1",
        "Key\n=1",
    ],
)
def test_parse_option_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_option(text)


# --- HostSpec --------------------------------------------------------------------------


def test_hostspec_validation() -> None:
    with pytest.raises(UsageError):
        HostSpec(name="bad name", dest="host")
    with pytest.raises(UsageError):
        HostSpec(name="auto", dest="host")
    with pytest.raises(UsageError):
        HostSpec(name="local", dest="host")
    with pytest.raises(UsageError):
        HostSpec(name="h", dest="host", scheduler="pbs")
    with pytest.raises(UsageError):
        HostSpec(name="h", dest="host", partition="gpu")  # partition needs slurm
    with pytest.raises(UsageError):
        HostSpec(name="h", dest="host", scheduler="slurm", partition="gpu; rm -rf")
    with pytest.raises(UsageError):
        HostSpec(name="h", dest="host", options={"Bad Key": "1"})
    with pytest.raises(UsageError):
        HostSpec(name="h", dest="host", identity="key\nfile")
    with pytest.raises(UsageError):
        HostSpec(name="h", dest="host", python="-c evil")
    with pytest.raises(UsageError):
        HostSpec(name="h", dest="host", python="'unclosed")
    spec = HostSpec(name="h", dest="host", scheduler="slurm", partition="gpu,debug", account="x1")
    assert spec.partition == "gpu,debug"
    assert HostSpec(name="h", dest="h", python="conda run -n ml python").python_argv == [
        "conda",
        "run",
        "-n",
        "ml",
        "python",
    ]


def test_hostspec_toml_round_trip() -> None:
    spec = HostSpec(
        name="cluster",
        dest="alice@login.hpc.org:2222",
        identity="~/.ssh/id_hpc",
        options={"ProxyJump": "bastion", "ServerAliveInterval": "60"},
        ssh_config="~/.ssh/hpc_config",
        scheduler="slurm",
        partition="gpu",
        account="proj42",
        python="/opt/py/bin/python3",
    )
    text = tomli_w.dumps({"hosts": {spec.name: spec.to_dict()}})
    data = tomllib.loads(text)
    back = HostSpec.from_dict("cluster", data["hosts"]["cluster"], source="hosts.toml")
    assert back == spec
    minimal = HostSpec(name="m", dest="m")
    assert minimal.to_dict() == {"dest": "m"}
    assert HostSpec.from_dict("m", {"dest": "m"}) == minimal


def test_hostspec_from_dict_errors() -> None:
    with pytest.raises(ConfigError, match=r"hosts\.toml: host 'x'.*unknown key"):
        HostSpec.from_dict("x", {"dest": "h", "prot": 22}, source="hosts.toml")
    with pytest.raises(ConfigError, match="no dest"):
        HostSpec.from_dict("x", {})
    with pytest.raises(ConfigError, match="must be a string"):
        HostSpec.from_dict("x", {"dest": 5})
    with pytest.raises(ConfigError, match=r"bad destination|bad host"):
        HostSpec.from_dict("x", {"dest": "-oProxyCommand=x"})
    with pytest.raises(ConfigError, match="options"):
        HostSpec.from_dict("x", {"dest": "h", "options": "ProxyJump=b"})
    spec = HostSpec.from_dict("x", {"dest": "h", "options": {"Compression": True, "Port": 22}})
    assert spec.options == {"Compression": "yes", "Port": "22"}


# --- ssh argv --------------------------------------------------------------------------


def test_ssh_argv_shape(tmp_path: Path, ctl: Path) -> None:
    spec = HostSpec(
        name="h",
        dest="alice@gpu.example.org:2222",
        identity="~/.ssh/id_x",
        options={"ProxyJump": "bastion", "ServerAliveInterval": "60"},
        ssh_config="/etc/tether/ssh_config",
    )
    argv = ssh_argv(spec, ctl, remote_cmd=["python3", "-c", "print(1)"])
    assert argv[0] == "ssh"
    assert argv[argv.index("-F") + 1] == "/etc/tether/ssh_config"
    assert argv[argv.index("-i") + 1] == os.path.expanduser("~/.ssh/id_x")
    assert argv[argv.index("-p") + 1] == "2222"
    pairs = [argv[i + 1] for i, word in enumerate(argv) if word == "-o"]
    for expected in (
        "IdentitiesOnly=yes",
        "ControlMaster=auto",
        "ControlPersist=10m",
        f"ControlPath={ctl}/{auth_fingerprint(spec)}-%C",
        "BatchMode=yes",
        "ConnectTimeout=10",
        "ServerAliveCountMax=3",
        "ProxyJump=bastion",
    ):
        assert expected in pairs
    # The user's options come first, so ssh (first value wins) lets them override ours.
    assert pairs.index("ServerAliveInterval=60") < pairs.index("ServerAliveInterval=15")
    assert "-T" in argv
    assert argv[-3:] == ["--", "alice@gpu.example.org", "python3 -c 'print(1)'"]
    assert (ctl).is_dir()


def test_ssh_argv_variants(spec: HostSpec, tmp_path: Path, ctl: Path) -> None:
    interactive = ssh_argv(spec, ctl, remote_cmd=[], tty=True, batch=False)
    assert "-t" in interactive
    assert "BatchMode=yes" not in interactive
    assert interactive[-2:] == ["--", "alice@gpu.example.org"]
    plain = ssh_argv(HostSpec(name="a", dest="myalias"), ctl, remote_cmd=["true"])
    assert "-p" not in plain
    assert "-i" not in plain
    assert "IdentitiesOnly=yes" not in plain
    assert plain[-3:] == ["--", "myalias", "true"]
    timeout = ssh_argv(spec, ctl, remote_cmd=["true"], connect_timeout=3)
    assert "ConnectTimeout=3" in timeout
    v6 = ssh_argv(HostSpec(name="v", dest="[::1]:2200"), ctl, remote_cmd=["true"])
    assert v6[-2] == "::1"
    assert v6[v6.index("-p") + 1] == "2200"


def test_master_argvs(spec: HostSpec, tmp_path: Path, ctl: Path) -> None:
    check = master_check_argv(spec, ctl)
    assert check[-4:] == ["-O", "check", "--", "alice@gpu.example.org"]
    exit_ = master_exit_argv(spec, ctl)
    assert exit_[-4:] == ["-O", "exit", "--", "alice@gpu.example.org"]
    assert f"ControlPath={ctl}/{auth_fingerprint(spec)}-%C" in check
    start = master_start_argv(spec, ctl)
    assert start[-5:] == ["-M", "-N", "-f", "--", "alice@gpu.example.org"]


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client")
def test_real_ssh_accepts_the_options(tmp_path: Path, ctl: Path) -> None:
    """``ssh -G`` parses our argv and prints the resulting config without connecting."""
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  User fromconfig\n")
    (tmp_path / "id key").write_text("not really a key\n")
    spec = HostSpec(
        name="h",
        dest="alice@gpu.example.org:2222",
        identity=str(tmp_path / "id key"),
        options={"ProxyJump": "bastion.example.org"},
        ssh_config=str(config),
    )
    argv = ssh_argv(spec, ctl, remote_cmd=["-oProxyCommand=touch PWNED", "x"])
    dash = argv.index("--")
    out = subprocess.run(
        [*argv[:dash], "-G", *argv[dash:]],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        cwd=tmp_path,
    ).stdout
    seen = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert seen["user"] == "alice"
    assert seen["hostname"] == "gpu.example.org"
    assert seen["port"] == "2222"
    assert seen["batchmode"] == "yes"
    assert seen["identitiesonly"] == "yes"
    assert seen["controlmaster"] == "auto"
    assert seen["controlpersist"] == "600"
    assert seen["serveraliveinterval"] == "15"
    assert seen["serveralivecountmax"] == "3"
    assert seen["connecttimeout"] == "10"
    assert seen["proxyjump"] == "bastion.example.org"
    assert seen["controlpath"].startswith(str(ctl) + "/")
    assert str(tmp_path / "id key") in out
    # The command word starting with "-o" was not taken as an option.
    assert "proxycommand" not in seen or "PWNED" not in seen["proxycommand"]
    assert not (tmp_path / "PWNED").exists()


# --- control sockets -------------------------------------------------------------------


def test_control_dir_short_is_kept(ctl: Path) -> None:
    assert control_socket_dir(ctl) == ctl


def test_control_dir_too_long_falls_back(tmp_path: Path, spec: HostSpec) -> None:
    long_dir = tmp_path / ("x" * 80) / "ssh"
    sockets = control_socket_dir(long_dir)
    assert sockets != long_dir
    assert str(sockets).startswith(f"/tmp/tether-{os.getuid()}/")
    # Room for "/" + fingerprint + "-" + 40 hex of %C + ssh's 17-character temporary suffix.
    assert len(str(sockets)) + 1 + 12 + 1 + 40 + 17 <= MAX_SOCKET_PATH
    assert control_socket_dir(long_dir) == sockets  # stable
    assert control_socket_dir(tmp_path / ("y" * 80)) != sockets  # distinct per dir
    argv = ssh_argv(spec, long_dir, remote_cmd=["true"])
    assert f"ControlPath={sockets}/{auth_fingerprint(spec)}-%C" in argv
    mode = sockets.stat().st_mode
    assert stat.S_IMODE(mode) == 0o700
    assert stat.S_IMODE(sockets.parent.stat().st_mode) == 0o700
    sockets.rmdir()


def test_control_dir_with_odd_characters_falls_back(tmp_path: Path) -> None:
    for name in ("with space", "per%cent", "quo'te"):
        sockets = control_socket_dir(tmp_path / name)
        assert str(sockets).startswith(f"/tmp/tether-{os.getuid()}/")


# --- remote command quoting ------------------------------------------------------------


def test_remote_join_basics() -> None:
    assert remote_join(["echo", "hello world"]) == "echo 'hello world'"
    assert remote_join(["~/venv/bin/python", "x.py"]) == '"$HOME"/venv/bin/python x.py'
    assert remote_join(["python3", "~/x"]) == "python3 '~/x'"  # only the program expands
    with pytest.raises(UsageError):
        remote_join([])
    with pytest.raises(UsageError):
        remote_join(["echo", "a\0b"])


@pytest.mark.parametrize("shell", ["sh", "bash", "dash", "zsh"])
def test_injection_stays_quoted(tmp_path: Path, spec: HostSpec, shell: str, ctl: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    argv = ssh_argv(spec, ctl, remote_cmd=["printf", "%s\\0", *EVIL])
    out = run_sh(argv[-1], tmp_path, shell)
    assert out.split("\0")[:-1] == EVIL
    assert not list(tmp_path.glob("PWNED*"))


def test_injection_in_program_and_paths(tmp_path: Path, spec: HostSpec, ctl: Path) -> None:
    evil_dir = tmp_path / "dir $(touch PWNED) 'q'"
    evil_dir.mkdir()
    (evil_dir / "f; touch PWNED2").write_text("content\n")
    cmd = ssh_argv(spec, ctl, remote_cmd=["cat", str(evil_dir / "f; touch PWNED2")])
    assert run_sh(cmd[-1], tmp_path) == "content\n"
    bad_program = ssh_argv(spec, ctl, remote_cmd=["touch PWNED3;echo", "x"])
    result = subprocess.run(["sh", "-c", bad_program[-1]], cwd=tmp_path, capture_output=True)
    assert result.returncode == 127  # one (missing) program name, nothing ran
    assert not list(tmp_path.glob("PWNED*"))


def test_home_program_is_expanded(tmp_path: Path, spec: HostSpec, ctl: Path) -> None:
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "tool"
    script.write_text("#!/bin/sh\nprintf '%s|' \"$@\"\n")
    script.chmod(0o755)
    cmd = ssh_argv(spec, ctl, remote_cmd=["~/bin/tool", "~/x", "$(touch PWNED)"])
    out = subprocess.run(
        ["sh", "-c", cmd[-1]],
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "~/x|$(touch PWNED)|"
    assert not (tmp_path / "PWNED").exists()


def test_remote_shell_runs_multiline_script(tmp_path: Path, spec: HostSpec, ctl: Path) -> None:
    script = textwrap.dedent(
        """\
        set -e
        name='it'"'"'s'
        for i in 1 2; do echo "$name $i"; done
        echo "$0"
        """
    )
    words = remote_shell(script)
    assert words[:2] == ["sh", "-c"]
    cmd = ssh_argv(spec, ctl, remote_cmd=words)[-1]
    assert cmd.startswith("sh -c '")
    assert run_sh(cmd, tmp_path, "bash") == "it's 1\nit's 2\nsh\n"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0")),
        max_size=5,
    )
)
def test_any_words_round_trip_through_sh(words: list[str]) -> None:
    command = remote_join(["printf", "%s\\0", "start", *words])
    out = subprocess.run(["sh", "-c", command], capture_output=True, check=True, timeout=30)
    assert out.stdout.decode().split("\0")[1:-1] == words


# --- rsync -----------------------------------------------------------------------------


def _rsync_split(value: str) -> list[str]:
    """rsync's own -e splitter (main.c), for checking our quoting without rsync."""
    words: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] == " ":
            i += 1
            continue
        word, quote = [], ""
        while i < n and (value[i] != " " or quote):
            c = value[i]
            if c in "'\"":
                if not quote:
                    quote = c
                    i += 1
                    continue
                if c == quote:
                    if i + 1 < n and value[i + 1] == quote:
                        word.append(c)
                        i += 2
                        continue
                    quote = ""
                    i += 1
                    continue
            word.append(c)
            i += 1
        words.append("".join(word))
    return words


@pytest.mark.parametrize(
    "word", ["plain", "with space", "it's", 'say "hi"', "", "'", "''", "a 'b' \"c\"", "x\\y"]
)
def test_rsync_quote(word: str) -> None:
    assert _rsync_split(rsync_quote(word)) == [word]


def test_rsync_argv_shape(spec: HostSpec, tmp_path: Path, ctl: Path) -> None:
    argv = rsync_argv(
        spec,
        ctl,
        "project/",
        Remote("~/.tether/jobs/7/code/"),
        excludes=["*.ckpt", "data/"],
        filter_files=[tmp_path / ".tetherignore"],
        dir_merge=[".gitignore"],
    )
    assert argv[:4] == ["rsync", "-az", "--partial", "--itemize-changes"]
    shell = argv[argv.index("-e") + 1]
    assert _rsync_split(shell) == ["ssh", *ssh_options(spec, ctl)]
    assert "--delete" in argv
    assert "--dry-run" not in argv
    assert "--exclude=*.ckpt" in argv
    assert "--exclude=data/" in argv
    assert f"--exclude-from={tmp_path / '.tetherignore'}" in argv
    assert "--filter=:- .gitignore" in argv
    assert "--rsync-path=mkdir -p .tether/jobs/7/code/ && rsync" in argv
    assert argv[-2:] == ["project/", "alice@gpu.example.org:.tether/jobs/7/code/"]
    assert "-p" in _rsync_split(shell)


def test_rsync_argv_options(spec: HostSpec, tmp_path: Path, ctl: Path) -> None:
    pull = rsync_argv(spec, ctl, Remote("out/"), tmp_path / "back", delete=False, dry_run=True)
    assert "--delete" not in pull
    assert "--dry-run" in pull
    assert not any(a.startswith("--rsync-path") for a in pull)
    assert pull[-2:] == ["alice@gpu.example.org:out/", str(tmp_path / "back")]
    v6 = HostSpec(name="v", dest="bob@[::1]:2222")
    assert rsync_argv(v6, ctl, "a", Remote("b"))[-1] == "bob@[::1]:b"
    # Local names that rsync would read as host:path or as an option become ./name.
    odd = rsync_argv(spec, ctl, "we:ird", Remote("x"), make_parents=False)
    assert odd[-2] == "./we:ird"
    assert rsync_argv(spec, ctl, "-rf", Remote("x"))[-2] == "./-rf"
    with pytest.raises(UsageError):
        rsync_argv(spec, ctl, "a", "b")
    with pytest.raises(UsageError):
        rsync_argv(spec, ctl, Remote("a"), Remote("b"))


@pytest.mark.parametrize(
    "path", ["$(touch x)", "a b", "a;b", "-rf", "back`tick`", "new\nline", "", "~other/x"]
)
def test_rsync_rejects_unsafe_remote_paths(
    spec: HostSpec, tmp_path: Path, path: str, ctl: Path
) -> None:
    with pytest.raises(UsageError):
        rsync_argv(spec, ctl, "src/", Remote(path))


@pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")
def test_real_rsync_parses_our_shell(tmp_path: Path, ctl: Path) -> None:
    """rsync runs our -e command: a fake ``ssh`` records the argv rsync gave it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.json"
    fake = bin_dir / "ssh"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(record)!r}, 'w'))\nsys.exit(255)\n"
    )
    fake.chmod(0o755)
    weird = tmp_path / 'it\'s a "key"'
    spec = HostSpec(
        name="h",
        dest="alice@gpu.example.org:2222",
        identity=str(weird),
        options={"ProxyJump": "bastion"},
    )
    src = tmp_path / "src"
    src.mkdir()
    argv = rsync_argv(spec, ctl, f"{src}/", Remote("code/"))
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(argv, env=env, capture_output=True, timeout=60)
    got = json.loads(record.read_text())
    options = ssh_options(spec, ctl)
    assert got[: len(options)] == options
    assert str(weird) in got
    rest = got[len(options) :]
    assert "gpu.example.org" in rest
    assert "alice" in rest
    assert any("rsync" in word for word in rest)


def test_rsync_shell_matches_ssh_options(spec: HostSpec, tmp_path: Path, ctl: Path) -> None:
    assert _rsync_split(rsync_shell(spec, ctl)) == ["ssh", *ssh_options(spec, ctl)]


def test_count_itemized_changes() -> None:
    output = textwrap.dedent(
        """\
        created directory /remote/dest
        cd+++++++++ ./
        <f+++++++++ a b.txt
        cd+++++++++ sub/
        <f.st...... sub/c.py
        .d..t...... sub/
        .f...p..... unchanged-content.txt
        *deleting   gone.txt
        *deleting   olddir/
        >f+++++++++ pulled.txt
        """
    )
    assert count_itemized_changes(output) == 4
    assert count_itemized_changes("") == 0


def test_auth_fingerprint_covers_everything_that_changes_authentication(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    config.write_text("Host *\n  User a\n")
    base = HostSpec(name="a", dest="alice@h:22", identity="/k1", ssh_config=str(config))
    same = HostSpec(name="other-name", dest="alice@h:22", identity="/k1", ssh_config=str(config))
    assert auth_fingerprint(base) == auth_fingerprint(same)  # the alias is not part of it
    variants = [
        HostSpec(name="a", dest="alice@h:22", identity="/k2", ssh_config=str(config)),
        HostSpec(name="a", dest="alice@h:22", ssh_config=str(config)),
        HostSpec(name="a", dest="alice@h:22", identity="/k1"),
        HostSpec(
            name="a",
            dest="alice@h:22",
            identity="/k1",
            ssh_config=str(config),
            options={"StrictHostKeyChecking": "no"},
        ),
        HostSpec(
            name="a",
            dest="alice@h:22",
            identity="/k1",
            ssh_config=str(config),
            options={"UserKnownHostsFile": "/elsewhere"},
        ),
    ]
    prints = {auth_fingerprint(spec) for spec in variants}
    assert len(prints) == len(variants) and auth_fingerprint(base) not in prints
    before = auth_fingerprint(base)
    config.write_text("Host *\n  User b\n")  # the config file's contents count too
    assert auth_fingerprint(base) != before


def test_the_control_path_digest_is_sha256_without_hashlib() -> None:
    """The digests naming control sockets are SHA-256's (the same names as with ``hashlib``),
    from CPython's own module: the warm control call does not load OpenSSL (issue 26)."""
    import hashlib

    from tether.targets.ssh.command import sha256_hex

    for data in (b"", b"/root/.tether/ssh", bytes(range(256)) * 10):
        assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_the_stderr_file_of_a_call_is_a_temp_file_where_memfd_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ssh's stderr goes to an anonymous file: a memfd (no ``tempfile`` import), else, where
    the kernel or a sandbox refuses one, a temporary file as before."""
    import os

    from tether.targets.ssh import transport

    def refuse(*args: object) -> int:
        raise OSError(38, "Function not implemented")

    for patch in (False, True):
        if patch:
            monkeypatch.setattr(os, "memfd_create", refuse, raising=False)
        with transport._stderr_file() as f:
            os.write(f.fileno(), b"ssh: said this\n")
            assert transport._read(f) == "ssh: said this\n"
