"""The resident front (tether.cli.front): a command handed to a warm server behaves as the
same command run in its own process: output, exit code, folder, environment, stdin, Ctrl-C;
a stale server (tether's code changed) is not used; an unsafe socket folder is never used."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import tether.cli.front_server as front_server
from tether.cli import front
from waiting import wait_for as wait_until


class Front:
    """``tether`` commands with their own front folder (so their own server), traced."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "front"
        self.trace = tmp_path / "trace.jsonl"
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.env = {
            **os.environ,
            "TETHER_HOME": str(tmp_path / "home"),
            "TETHER_CONFIG_DIR": str(tmp_path / "config"),
            "TETHER_FRONT_DIR": str(self.dir),
            "TETHER_FRONT_TRACE": str(self.trace),
        }
        self.env.pop("TETHER_FRONT", None)

    def __call__(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        options = {"cwd": self.work, "env": self.env, "capture_output": True, "text": True,
                   "timeout": 60, **kwargs}  # fmt: skip
        return subprocess.run([sys.executable, "-m", "tether", *args], **options)  # type: ignore[call-overload,no-any-return]

    def served(self) -> list[list[str]]:
        """The commands the front's children ran, in order."""
        if not self.trace.exists():
            return []
        return [json.loads(line)["argv"] for line in self.trace.read_text().splitlines()]

    def server_pid(self) -> int | None:
        for lock in self.dir.glob("*.lock"):
            text = lock.read_text().strip()
            if text:
                return int(text)
        return None

    def start(self) -> None:
        """Run one command (it starts the server) and wait until the server listens."""
        self("ls")
        wait_until(lambda: any(self.dir.glob("*.sock")), timeout=30, what="the front's socket")

    def stop(self) -> None:
        pid = self.server_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.fixture
def fronted(tmp_path: Path) -> Iterator[Front]:
    f = Front(tmp_path)
    yield f
    f.stop()


def test_first_command_runs_here_and_starts_the_server(fronted: Front) -> None:
    first = fronted("ls")
    assert first.returncode == 0
    assert fronted.served() == []  # no server yet: it ran in its own process
    wait_until(lambda: any(fronted.dir.glob("*.sock")), timeout=30, what="the front's socket")
    assert fronted.dir.stat().st_mode & 0o777 == 0o700
    second = fronted("ls")
    assert second.returncode == 0 and second.stdout == first.stdout
    assert fronted.served() == [["ls"]]


def test_same_output_exit_code_and_folder_as_without_it(fronted: Front) -> None:
    fronted.start()
    (fronted.work / "train.py").write_text("lr = 0.1  # tunable\nprint('hi')\n")
    for args in (["params", "train.py"], ["show", "99"], ["ls", "--status", "nonsense"]):
        here = fronted(*args, env={**fronted.env, "TETHER_FRONT": "0"})
        there = fronted(*args)
        assert (there.returncode, there.stdout, there.stderr) == (
            here.returncode, here.stdout, here.stderr), args  # fmt: skip
    assert fronted.served() == [["params", "train.py"], ["show", "99"],
                                ["ls", "--status", "nonsense"]]  # fmt: skip
    assert fronted("show", "99").returncode == 1


def test_the_environment_is_the_commands_own(fronted: Front, tmp_path: Path) -> None:
    fronted.start()
    (fronted.work / "job.py").write_text("print('ran')\n")
    other_home = tmp_path / "other-home"
    run = fronted("run", "-w", "job.py", env={**fronted.env, "TETHER_HOME": str(other_home)})
    assert run.returncode == 0, run.stderr
    assert "ran" in run.stdout
    assert ["run", "-w", "job.py"] in fronted.served()
    assert (other_home / "tether.db").exists() or any(other_home.iterdir())
    listed = fronted("ls", "--json", env={**fronted.env, "TETHER_HOME": str(other_home)})
    assert [job["name"] for job in json.loads(listed.stdout)] == ["job.py"]
    assert json.loads(fronted("ls", "--json").stdout) == []  # the fixture's home: none


def test_ctrl_c_reaches_the_command(fronted: Front) -> None:
    fronted.start()
    (fronted.work / "slow.py").write_text("import time\ntime.sleep(600)\n")
    job = fronted("run", "slow.py")
    assert job.returncode == 0
    client = subprocess.Popen([sys.executable, "-m", "tether", "logs", "-f"],
                              cwd=fronted.work, env=fronted.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_until(lambda: _running_children(fronted), timeout=20, what="the child following the log")
    client.send_signal(signal.SIGINT)
    assert client.wait(timeout=10) == 130
    wait_until(lambda: not _running_children(fronted), timeout=10, what="the child to end")
    fronted("cancel")


def test_a_killed_client_takes_its_command_with_it(fronted: Front) -> None:
    fronted.start()
    (fronted.work / "slow.py").write_text("import time\ntime.sleep(600)\n")
    fronted("run", "slow.py")
    client = subprocess.Popen([sys.executable, "-m", "tether", "wait"], cwd=fronted.work,
                              env=fronted.env, stdout=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: _running_children(fronted), timeout=20, what="the child waiting")
    client.kill()
    client.wait(timeout=10)
    wait_until(lambda: not _running_children(fronted), timeout=10, what="the child to end")
    fronted("cancel")


def _running_children(fronted: Front) -> list[int]:
    """The server's children running a command now (the ended ones are zombies until the
    server reaps them)."""
    pid = fronted.server_pid()
    if pid is None:
        return []
    running = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                running.append(child.pid)
        except psutil.Error:
            pass
    return running


def test_stdin_is_the_commands_own(fronted: Front) -> None:
    fronted.start()
    result = fronted("ls", "--json", input="ignored\n")
    assert result.returncode == 0
    assert fronted.served()[-1] == ["ls", "--json"]


def test_a_stale_server_is_not_used(fronted: Front) -> None:
    fronted.start()
    source = Path(front_server.__file__)
    before = source.stat()
    try:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        old = fronted.server_pid()
        result = fronted("ls")
        assert result.returncode == 0
        assert fronted.served() == []  # ran in its own process
        assert old is not None
        wait_until(lambda: not _alive(old), timeout=10, what="the stale server to exit")
        wait_until(lambda: fronted.server_pid() not in (None, old), timeout=30,
                   what="a new server")  # fmt: skip
        wait_until(lambda: any(fronted.dir.glob("*.sock")), timeout=30, what="its socket")
        time.sleep(0.2)
        fronted("ls")
        assert fronted.served() == [["ls"]]
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_an_unsafe_folder_is_never_used(fronted: Front) -> None:
    fronted.dir.mkdir(mode=0o777)
    os.chmod(fronted.dir, 0o777)
    for _ in range(2):
        assert fronted("ls").returncode == 0
    time.sleep(1)
    assert not any(fronted.dir.iterdir())
    assert fronted.served() == []


def test_off_switch_and_other_commands_run_here(fronted: Front) -> None:
    fronted.start()
    fronted("ls", env={**fronted.env, "TETHER_FRONT": "0"})
    fronted("hosts", "list")  # not a fronted command
    assert fronted.served() == []
    assert front.wanted(["ls"], {}) and not front.wanted(["ls"], {"TETHER_FRONT": "off"})
    assert not front.wanted(["ssh", "h"], {}) and not front.wanted([], {})


def test_the_client_imports_no_click(tmp_path: Path, fronted: Front) -> None:
    fronted.start()
    probe = ("import sys, json\nsys.argv = ['tether', 'ls']\nfrom tether.cli.main import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "sys.stderr.write('MODULES ' + json.dumps(sorted(sys.modules)))\n")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", probe], cwd=fronted.work, env=fronted.env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    modules = set(json.loads(result.stderr.rsplit("MODULES ", 1)[1]))
    assert fronted.served() == [["ls"]]
    heavy = {m for m in modules if m.split(".")[0] in ("click", "rich", "sqlite3", "typing")}
    assert heavy == set()
    assert "tether.store.jobs" not in modules


def test_children_import_nothing(fronted: Front) -> None:
    fronted.start()
    (fronted.work / "a.py").write_text("print(1)\n")
    for args in (["run", "a.py"], ["ls", "-n", "5"], ["show"], ["logs"], ["wait"],
                 ["scalars"], ["params", "a.py"], ["history", "a.py"], ["rerun"],
                 ["ls", "--on", "nohost"]):  # fmt: skip
        fronted(*args)
    lines = [json.loads(line) for line in fronted.trace.read_text().splitlines()]
    assert len(lines) == 10
    assert {tuple(line["argv"]): line["imported"] for line in lines if line["imported"]} == {}


def test_a_command_under_nohup_keeps_ignoring_sighup(fronted: Front) -> None:
    fronted.start()
    (fronted.work / "slow.py").write_text("import time\ntime.sleep(600)\n")
    fronted("run", "slow.py")

    def nohup() -> None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    client = subprocess.Popen([sys.executable, "-m", "tether", "wait"], cwd=fronted.work,
                              env=fronted.env, stdout=subprocess.DEVNULL,
                              preexec_fn=nohup)  # fmt: skip
    wait_until(lambda: _running_children(fronted), timeout=20, what="the child waiting")
    child = _running_children(fronted)[0]
    client.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert client.poll() is None and _alive(child)  # as `nohup tether wait` does
    client.kill()
    wait_until(lambda: not _alive(child), timeout=10, what="the child to end with its client")
    fronted("cancel")


@pytest.mark.parametrize("unbuffered", ["1", None])
def test_text_and_bytes_keep_their_order(fronted: Front, unbuffered: str | None) -> None:
    """``run --wait --json`` prints the job's JSON (text), then its output (bytes): in that
    order whether Python's stdout is buffered or not, with the front and without."""
    fronted.start()
    (fronted.work / "a.py").write_text("print('the output')\n")
    env = {k: v for k, v in fronted.env.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    for front_on in ("1", "0"):
        result = fronted("run", "--wait", "--json", "a.py", env={**env, "TETHER_FRONT": front_on})
        assert result.returncode == 0, result.stderr
        assert result.stdout.rstrip().endswith("}\nthe output"), result.stdout


def test_a_package_installed_beside_it_retires_the_server(fronted: Front, tmp_path: Path) -> None:
    """A folder of the server's sys.path that changes (pip installs or upgrades a package
    there) makes it stale: the command runs on its own, the next finds a new server."""
    extra = tmp_path / "site"
    extra.mkdir()
    fronted.env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(extra), fronted.env.get("PYTHONPATH")])
    )
    fronted.start()
    fronted("ls")
    assert fronted.served() == [["ls"]]
    old = fronted.server_pid()
    (extra / "newpkg.py").write_text("")  # the folder's time changes
    fronted("ls")
    assert fronted.served() == [["ls"]]  # not served by the old server
    assert old is not None
    wait_until(lambda: not _alive(old), timeout=10, what="the stale server to exit")


def test_a_server_that_does_not_answer_is_not_waited_for(fronted: Front) -> None:
    """A stopped (or hung) server: the command runs on its own after the handshake's bound,
    and when the server wakes up its child never runs that command a second time."""
    fronted.start()
    pid = fronted.server_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = fronted("ls", "--json")
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
    assert result.returncode == 0 and json.loads(result.stdout) == []
    assert front.HANDSHAKE_SECONDS <= took < front.HANDSHAKE_SECONDS + 10
    time.sleep(1)  # the woken server takes the connection: its child finds the client gone
    assert fronted.served() == []
    fronted("ls", "--json")
    assert fronted.served() == [["ls", "--json"]]


def test_a_folder_too_long_for_a_socket_is_not_used(fronted: Front) -> None:
    """A unix socket's path has at most 107 bytes: under a longer folder the commands run on
    their own, and no server is started for nothing."""
    deep = fronted.dir / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True, mode=0o700)
    env = {**fronted.env, "TETHER_FRONT_DIR": str(deep)}
    for _ in range(2):
        assert fronted("ls", env=env).returncode == 0
    time.sleep(1)
    assert list(deep.iterdir()) == []
    assert fronted.served() == []
