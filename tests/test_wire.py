"""The JSON protocol between two tethers (``tether _answer``): a request in, an answer out;
errors come back as the same class, and a host that speaks no or another protocol is named
with the command that upgrades it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Tether
from tether.backends import RunRequest, wire
from tether.errors import JobNotFound, RemoteError, TetherError, UsageError


def _answer(tether: Tether, request: object) -> dict[str, object]:
    text = request if isinstance(request, str) else json.dumps(request)
    proc = tether("_answer", input=text)
    answer = json.loads(proc.stdout)
    assert isinstance(answer, dict) and answer["protocol"] == wire.PROTOCOL
    return answer


def test_a_request_is_answered_by_the_verb_of_the_api(tether: Tether) -> None:
    tether("run", "-w", "--", "echo", "hello")
    shown = _answer(tether, {"protocol": 1, "verb": "show", "args": {"job": "1"}})
    assert shown["ok"] is True
    assert shown["result"]["status"] == "succeeded"  # type: ignore[index]
    logs = _answer(tether, {"protocol": 1, "verb": "logs", "args": {"job": "1"}})
    assert logs["result"] == ["hello\n"]
    waited = _answer(tether, {"protocol": 1, "verb": "wait", "args": {"jobs": ["1"]}})
    assert [r["number"] for r in waited["result"]] == [1]  # type: ignore[union-attr]
    assert "_answer" not in tether("--help").stdout  # not for people


def test_a_submit_request_queues_jobs_as_run_does(tether: Tether) -> None:
    """``run --on``'s request: the host queues the jobs itself, with the parameters, name and
    flags as sent, and answers with them as ``run --json`` prints them."""
    (tether.cwd / "train.py").write_text("lr = 0.5\nprint('lr', lr)\n")
    request = RunRequest(command=("train.py",), name="t", params=("lr=0.1",),
                         schedule={"retry": 2})  # fmt: skip
    fields = request.wire_fields()
    answer = _answer(tether, {"protocol": 1, "verb": "submit", "args": json.loads(
        json.dumps(fields))})  # fmt: skip
    assert answer["ok"] is True, answer
    [row] = answer["result"]  # type: ignore[misc]
    assert row["name"] == "t" and row["number"] == 1
    tether("wait", "1")
    assert tether("logs", "1").stdout == "lr 0.1\n"
    assert json.loads(tether("show", "1", "--json").stdout)["extra"]["retry"]["max"] == 2


def test_a_submit_needing_an_env_the_host_lacks_is_refused_before_queueing(
    tether: Tether,
) -> None:
    """``run --on``'s requirement lines: no env here for them is an EnvNeeded answer, and
    nothing is queued (the other machine makes the env, then asks again); no lines, no
    check; a request without them is what an older host knows."""
    (tether.cwd / "train.py").write_text("print('ok')\n")
    assert "env" not in RunRequest(command=("train.py",)).wire_fields()
    env = {"lines": ["tinypkg==1.0"], "source": "imports"}
    fields = RunRequest(command=("train.py",), env=env).wire_fields()
    assert RunRequest.from_wire(fields).env == env
    answer = _answer(tether, {"protocol": 1, "verb": "submit", "args": fields})
    assert answer["ok"] is False and answer["error"]["kind"] == "EnvNeeded"  # type: ignore[index]
    assert tether.json("ls") == []
    fields["env"] = {"lines": [], "source": "imports"}
    assert _answer(tether, {"protocol": 1, "verb": "submit", "args": fields})["ok"] is True


@pytest.mark.parametrize(
    ("request_", "kind"),
    [
        ({"protocol": 1, "verb": "show", "args": {"job": "99"}}, "JobNotFound"),
        ({"protocol": 1, "verb": "run", "args": {"command": "x.py"}}, "UsageError"),
        ({"protocol": 1, "verb": "show", "args": {"on": "elsewhere"}}, "UsageError"),
        ({"protocol": 1, "verb": "show", "args": {"color": "red"}}, "UsageError"),
        ({"protocol": 1, "verb": "submit", "args": {"cwd": "/etc"}}, "UsageError"),
        ({"protocol": 1, "verb": "submit", "args": {"command": ["missing.py"]}}, "ProgramError"),
        ({"protocol": 7, "verb": "show", "args": {}}, "UsageError"),
        ("not json", "UsageError"),
    ],
)  # fmt: skip
def test_a_bad_request_gets_an_error_answer(tether: Tether, request_: object, kind: str) -> None:
    answer = _answer(tether, request_)
    assert answer["ok"] is False
    assert answer["error"]["kind"] == kind  # type: ignore[index]


def test_the_answer_is_read_without_reading_what_people_see() -> None:
    ok = json.dumps({"protocol": 1, "tether": "9", "ok": True, "result": [1]})
    assert wire.read_answer("h", ok, 0) == [1]
    error = {"kind": "JobNotFound", "message": "no job matches '9'"}
    failed = json.dumps({"protocol": 1, "ok": False, "error": error})
    with pytest.raises(JobNotFound, match="on h: no job matches '9'"):
        wire.read_answer("h", failed, 0)
    odd = json.dumps({"protocol": 1, "ok": False, "error": {"kind": "Bogus", "message": "m"}})
    with pytest.raises(TetherError) as caught:
        wire.read_answer("h", odd, 0)
    assert type(caught.value) is TetherError
    newer = json.dumps({"protocol": 2, "tether": "2.0", "ok": True, "result": None})
    with pytest.raises(RemoteError, match=r"tether 2.0 speaks protocol 2.*hosts setup h"):
        wire.read_answer("h", newer, 0)
    with pytest.raises(RemoteError, match=r"older.*tether hosts setup h --force"):
        wire.read_answer("h", "", 2)  # click: no such command
    with pytest.raises(RemoteError, match="no answer"):
        wire.read_answer("h", "Traceback ...", 1)
    assert issubclass(UsageError, TetherError)


def _loaded(stderr: str) -> set[str]:
    """The modules ``python -X importtime`` reports loading."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    } - {"package"}


def test_the_host_answers_with_its_python_without_the_cli(tether: Tether) -> None:
    """A host answers ``ls`` from ``python -m tether.api.answer_main``: no click, no rich, no
    psutil, none of the SSH or Slurm machinery (issue 26: the warm control call)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", wire.MODULE],
        input=wire.request("ls", {}), capture_output=True, cwd=tether.cwd, env=tether.env,
        check=True, timeout=60,
    )  # fmt: skip
    answer = json.loads(proc.stdout)
    assert answer["ok"] is True and answer["result"] == []
    loaded = _loaded(proc.stderr.decode())
    assert "tether.api.commands" in loaded
    heavy = ("click", "rich", "psutil", "tether.cli", "tether.backends.ssh", "tether.targets")
    assert not [m for m in loaded if any(m == h or m.startswith(f"{h}.") for h in heavy)]


def test_an_older_host_without_the_answer_module_is_named_with_the_upgrade() -> None:
    from types import SimpleNamespace

    from tether.targets.ssh import remote_jobs
    from tether.targets.ssh.transport import Result

    said = "/home/u/.tether/venv/bin/python: No module named tether.api.answer_main\n"
    transport = SimpleNamespace(
        spec=SimpleNamespace(name="h"), run=lambda *a, **k: Result(1, "", said)
    )
    result = remote_jobs.answer_call(transport, wire.MODULE, wire.request("ls", {}))  # type: ignore[arg-type]
    with pytest.raises(RemoteError, match=r"older.*tether hosts setup h --force"):
        wire.read_answer("h", result.stdout, result.returncode)


def test_ls_on_a_host_loads_nothing_for_people_or_the_web(tether: Tether, tmp_path: Path) -> None:
    """``tether ls --on HOST --json`` loads no rich, web or notification packages (here the
    host refuses the connection: what is loaded up to the call is what a warm call loads)."""
    import subprocess
    import sys

    env = {**tether.env, "TETHER_CONFIG_DIR": str(tmp_path / "config"), "TETHER_FRONT": "0"}
    tether_cmd = [sys.executable, "-m", "tether"]
    subprocess.run([*tether_cmd, "hosts", "add", "h", "nobody@127.0.0.1:1", "--timeout", "5"],
                   env=env, check=True, capture_output=True, timeout=60)  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tether", "ls", "--on", "h", "--json"],
        env=env, cwd=tether.cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0 and "refused" in proc.stderr
    loaded = _loaded(proc.stderr)
    assert "tether.backends.wire" in loaded  # it got as far as asking the host
    assert not {m.split(".")[0] for m in loaded} & {"rich", "starlette", "apprise", "psutil"}
    # nor what only writing hosts.toml or a temp file needs (issue 26); `socket` reaches the
    # host's resident answerer
    assert not loaded & {"tempfile", "tomli_w", "tether.jobs.views", "tether.targets.ssh.check"}
    if sys.version_info[:2] == (3, 11):  # its own SHA-256 module spares OpenSSL's start-up
        assert "hashlib" not in loaded


def test_a_job_is_followed_for_another_machine_framed(tether: Tether) -> None:
    """``python -m tether.api.stream_main``: the first line says where the live part starts
    and how many bytes of earlier lines come first; a request it cannot serve gets one JSON
    error answer, raised on the other side as its class."""
    import subprocess
    import sys

    tether("run", "-w", "--", "sh", "-c", "echo one; echo two; echo three")
    uuid = json.loads(tether("show", "1", "--json").stdout)["uuid"]

    def ask(request: dict[str, object]) -> bytes:
        proc = subprocess.run(
            [sys.executable, "-m", "tether.api.stream_main"], env=tether.env,
            input=json.dumps(request).encode() + b"\n", capture_output=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    framed = ask({"protocol": 1, "job": uuid, "tail": 2, "grep": None, "from_byte": None})
    assert framed == b"14 10\ntwo\nthree\n"
    assert ask({"protocol": 1, "job": uuid, "from_byte": 4}) == b"4 0\ntwo\nthree\n"
    error = ask({"protocol": 1, "job": "no-such-job"})
    with pytest.raises(JobNotFound, match="on rig9: no job matches"):
        wire.read_answer("rig9", error.decode(), 0)
    assert json.loads(ask({"protocol": 9, "job": uuid}))["error"]["kind"] == "UsageError"


def test_the_resident_answerer_answers_and_goes_when_idle(
    tether: Tether, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tether.api.answer_server``: one request per connection on a private unix socket,
    the same answers as ``answer_main``; it exits (and removes its socket) when idle."""
    import socket
    import threading
    import time

    from tether.api import answer_server

    for name in ("TETHER_HOME", "TETHER_CONFIG_DIR"):
        if name in tether.env:
            monkeypatch.setenv(name, tether.env[name])
    tether("run", "-w", "--", "true")
    path = tmp_path / "answer.sock"
    server = threading.Thread(target=answer_server.serve, args=(path, 1.0), daemon=True)
    server.start()
    deadline = time.monotonic() + 10
    while not answer_server.is_serving(path):
        assert time.monotonic() < deadline, "the server never listened"
        time.sleep(0.05)
    assert path.stat().st_mode & 0o777 == 0o600
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(path))
    conn.sendall(wire.request("ls", {}))
    conn.shutdown(socket.SHUT_WR)
    text = b"".join(iter(lambda: conn.recv(65536), b"")).decode()
    conn.close()
    [row] = wire.read_answer("here", text, 0)
    assert row["number"] == 1 and row["status"] == "succeeded"
    server.join(timeout=10)
    assert not server.is_alive() and not path.exists()  # idle: gone, and its socket too


def _ask_socket(path: Path, payload: bytes) -> bytes:
    import socket

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    conn.connect(str(path))
    conn.sendall(payload)
    conn.shutdown(socket.SHUT_WR)
    data = b"".join(iter(lambda: conn.recv(65536), b""))
    conn.close()
    return data


def test_the_resident_answerer_submits_in_a_folder_and_streams_a_log(
    tether: Tether, tmp_path: Path
) -> None:
    """A ``submit`` naming a folder is answered there (by a child forked from the server);
    a ``follow`` request streams the job's log framed, as ``stream_main`` does, to its end."""
    import subprocess
    import sys
    import time

    from tether.api import answer_server

    (tether.cwd / "hello.py").write_text("import os\nprint('here', os.getcwd())\n")
    path = tmp_path / "answer.sock"
    server = subprocess.Popen(
        [sys.executable, "-m", "tether.api.answer_server", str(path)], env=tether.env,
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not answer_server.is_serving(path):
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.05)
        fields = RunRequest(command=("hello.py",)).wire_fields()
        text = _ask_socket(path, wire.request("submit", fields, str(tether.cwd))).decode()
        [row] = wire.read_answer("here", text, 0)
        assert row["cwd"] == str(tether.cwd)
        follow = {"protocol": 1, "job": row["uuid"], "from_byte": 0, "follow": True}
        streamed = _ask_socket(path, json.dumps(follow).encode())
        head, _, rest = streamed.partition(b"\n")
        assert head == b"0 0" and rest == f"here {tether.cwd}\n".encode()
        assert tether.json("show", str(row["number"]))["status"] == "succeeded"
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert not path.exists()


def test_a_forked_submit_finds_every_module_it_needs_imported(tether: Tether) -> None:
    """The server imports, once, all that answering a script's ``submit`` needs: a forked
    child imports nothing (each import there would be paid on every run)."""
    import subprocess
    import sys

    (tether.cwd / "train.py").write_text("import json\nlr = 0.5\nprint(lr)\n")
    fields = RunRequest(command=("train.py",), params=("lr=0.1",)).wire_fields()
    asked = json.dumps({"protocol": 1, "verb": "submit", "args": fields})
    probe = (
        "import importlib, json, sys\n"
        "from tether.api import answer_server\n"
        "for name in answer_server.WARM_MODULES: importlib.import_module(name)\n"
        "from tether.api.answer import answer\n"
        "before = set(sys.modules)\n"
        f"out = answer({json.dumps(asked)})\n"
        "assert json.loads(out)['ok'], out\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], env=tether.env, cwd=tether.cwd,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    tether("wait", "--all")
