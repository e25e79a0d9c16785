"""Every CLI verb is a ``tether.api`` function taking ``on=`` (issue 25, step 3), and a script
can drive a program's whole tuning loop through them here; the same verbs with ``on=`` an SSH
host are in ``test_ssh_jobs.py``."""

from __future__ import annotations

import inspect
import textwrap

from api_scripts import api_script
from conftest import Tether
from tether import api
from tether.cli.main import COMMANDS

VERBS = (
    "run", "sweep", "ls", "show", "logs", "wait", "cancel", "rerun", "save", "history", "diff",
    "scalars", "clean", "hosts", "notifications", "top",
)  # fmt: skip

TRAIN = textwrap.dedent(
    """\
    import tether

    scale = 1.0
    for i in range(3):
        print(f"step {i} scale={scale}", flush=True)
        tether.report(loss=scale / (i + 1))
    """
)


def test_every_cli_verb_is_an_api_function_taking_on() -> None:
    for verb in VERBS:
        assert verb in COMMANDS, f"tether {verb} is not a CLI command"
        func = getattr(api, verb)
        assert verb in api.__all__ and inspect.getdoc(func), verb
        on = inspect.signature(func).parameters.get("on")
        assert on is not None and on.kind is inspect.Parameter.KEYWORD_ONLY, verb
        assert on.default is None, verb


def test_a_script_drives_the_tuning_loop_through_the_api(tether: Tether) -> None:
    (tether.cwd / "train.py").write_text(TRAIN)
    answer = api_script(
        tether,
        """
        [job] = api.run(["train.py"], params={"scale": 2.0})
        [done] = api.wait(job["number"], timeout=60)
        [again] = api.rerun(job["number"], params={"scale": 4.0})
        [redone] = api.wait(again["number"], timeout=60)
        answer = {
            "first": done["status"],
            "second": redone["status"],
            "tail": api.logs(again["number"], tail=1),
            "grep": api.logs(job["number"], grep="step [02]"),
            "scalars": api.scalars(again["number"]),
            "show": api.show(again["number"])["parent"],
            "history": [r["params"] for r in api.history("train.py")],
            "diff": api.diff(again["number"]),
            "saved": api.save(again["number"], to="best.py"),
            "cancel": api.cancel(job["number"]),
            "notifications": api.notifications(job["number"]),
            "hosts": api.hosts(),
            "ls": [r["number"] for r in api.ls()],
            "clean": api.clean(status=["succeeded"]),
            "left": api.ls(),
        }
        """,
    )
    assert answer["first"] == answer["second"] == "succeeded"
    assert answer["tail"] == ["step 2 scale=4.0\n"]
    assert answer["grep"] == ["step 0 scale=2.0\n", "step 2 scale=2.0\n"]
    assert (
        answer["scalars"]["loss"]["last"] == 4.0 / 3 and answer["scalars"]["loss"]["min"] == 4.0 / 3
    )
    assert answer["show"] == 1
    assert answer["history"] == [{"scale": 2.0}, {"scale": 4.0}]
    assert answer["diff"]["params"] == {"scale": {"before": 2.0, "after": 4.0}}
    assert answer["diff"]["old"] == "job #1" and "+scale = 4.0" in answer["diff"]["program_diff"]
    assert answer["saved"]["path"] == "best.py" and answer["saved"]["backup"] is None
    assert "scale = 4.0" in (tether.cwd / "best.py").read_text()
    [cancelled] = answer["cancel"]
    assert cancelled["already"] is True and cancelled["status"] == "succeeded"
    assert answer["notifications"] == [] and answer["hosts"] == []
    assert answer["ls"] == [1, 2]
    assert sorted(answer["clean"]["removed"]) == [1, 2] and answer["left"] == []


def test_a_sweep_through_the_api(tether: Tether) -> None:
    (tether.cwd / "train.py").write_text(TRAIN)
    answer = api_script(
        tether,
        """
        made = api.sweep("train.py", ["scale=1.0,3.0"])
        done = api.wait(*made["jobs"], timeout=60)
        answer = {"made": made, "done": [d["status"] for d in done],
                  "best": api.history(sweep=made["sweep"], best_of="loss", minimize=True)}
        """,
    )
    assert answer["made"]["points"] == [{"scale": 1.0}, {"scale": 3.0}]
    assert answer["done"] == ["succeeded", "succeeded"]
    [best] = answer["best"]
    assert best["params"] == {"scale": 1.0}
