"""The JSON protocol between two tethers (``tether _answer``): a request in, an answer out;
errors come back as the same class, and a host that speaks no or another protocol is named
with the command that upgrades it."""

from __future__ import annotations

import json

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
