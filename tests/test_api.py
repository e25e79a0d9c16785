"""tether.api as users script it: submit, wait, logs (tail, grep, follow), history, against a
real agent; and the public names of ``tether`` and ``tether.api`` are guarded."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest

import tether
from conftest import Tether
from tether import api
from tether.errors import ProgramError, UsageError

PUBLIC_TETHER = {
    "Dataset", "Executor", "__version__", "add_condition", "flush", "load_ipython_extension",
    "notify", "param", "report", "report_scalar", "send_status", "submit", "watch",
}  # fmt: skip
PUBLIC_API = {
    "cancel_job", "follow_log", "get_job", "grep_log", "job_history", "job_metrics",
    "job_program", "list_jobs", "log_range", "open_store", "probe_hosts", "rerun_job", "submit_job",
    "tail_log", "wait_jobs",
}  # fmt: skip

TRAIN = textwrap.dedent(
    """\
    import tether

    lr = 0.5
    for i in range(3):
        print(f"step {i} lr={lr}", flush=True)
        tether.report(step=i, loss=lr / (i + 1))
    """
)


def test_public_names_are_guarded_and_documented() -> None:
    assert set(tether.__all__) == PUBLIC_TETHER
    assert set(api.__all__) >= PUBLIC_API
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in api.__all__:
        func = getattr(api, name)
        assert inspect.getdoc(func), f"tether.api.{name} has no docstring"
        assert f"`{name}" in readme, f"tether.api.{name} is not in the README's API section"


def test_submit_wait_logs_and_history(tether: Tether) -> None:
    script = tether.cwd / "train.py"
    script.write_text(TRAIN)
    store = api.open_store(tether.home)
    try:
        [job] = api.submit_job(store, ["train.py"], params={"lr": 0.25}, cwd=str(tether.cwd))
        chunks = b"".join(api.follow_log(store, job["number"])).decode()
        [done] = api.wait_jobs(store, [job["number"]], timeout=60)
        assert done["status"] == "succeeded"
        assert "step 2 lr=0.25" in chunks
        assert api.tail_log(store, job["number"], 1) == ["step 2 lr=0.25\n"]
        assert api.grep_log(store, job["uuid"], r"step [01]") == [
            "step 0 lr=0.25\n", "step 1 lr=0.25\n"
        ]  # fmt: skip
        [row] = api.job_history(store, script=script)
        assert row["number"] == job["number"] and row["params"] == {"lr": 0.25}
        assert row["metrics"]["loss"] == pytest.approx(0.25 / 3)
    finally:
        store.close()


def test_bad_input_is_one_clear_error_and_queues_nothing(tether: Tether) -> None:
    (tether.cwd / "broken.py").write_text("def f(:\n")
    store = api.open_store(tether.home)
    try:
        with pytest.raises(ProgramError, match=r"broken\.py"):
            api.submit_job(store, ["broken.py"], cwd=str(tether.cwd))
        with pytest.raises(ProgramError, match="no such file"):
            api.submit_job(store, ["missing.py"], cwd=str(tether.cwd))
        assert store.jobs() == []
        with pytest.raises(UsageError, match=re.escape("give script= or sweep=")):
            api.job_history(store)
    finally:
        store.close()


def test_wait_scalars_notifications_and_clean_of_a_finished_job(tether: Tether) -> None:
    from tether.api.agent import agent_status
    from tether.api.cleaning import clean_jobs
    from tether.api.metrics import job_scalars
    from tether.api.outbox import job_notifications
    from tether.api.watch import wait_for_exit

    (tether.cwd / "train.py").write_text(TRAIN)
    store = api.open_store(tether.home)
    try:
        [job] = api.submit_job(store, ["train.py"], cwd=str(tether.cwd))
        assert wait_for_exit(store, str(job["number"]), timeout=60).code == 0
        record = store.get(job["number"])
        assert job_scalars(store, record).summary()["loss"].count == 3
        assert job_notifications(store, job["number"]) == []  # no channel configured
        assert agent_status()["queued"] == 0
        asked: list[int] = []
        assert clean_jobs(store, ["failed"], confirm=asked.append) == []
        assert [j.number for j in clean_jobs(store, confirm=asked.append)] == [job["number"]]
        assert asked == [1] and store.jobs() == []
        assert not Path(record.job_dir).exists()
    finally:
        store.close()
