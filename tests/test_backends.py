"""Where a job runs is chosen in one place (issue 25): ``tether.backends.choose`` picks the
backend from a job's stored placement or from a host's configuration; nothing else does."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import Tether
from tether.backends import Backend, backend_for, backend_for_host, refresh_many
from tether.errors import UsageError
from tether.store.jobs import JobStore

SRC = Path(__file__).resolve().parent.parent / "src" / "tether"
FIXTURE = Path(__file__).parent / "data" / "store_v2.db"


@pytest.fixture
def old_store(tmp_path: Path) -> JobStore:
    """The last release's store (a job of each kind), migrated by opening it."""
    shutil.copy(FIXTURE, tmp_path / "tether.db")
    return JobStore(tmp_path)


def test_each_job_goes_to_the_backend_of_its_stored_placement(old_store: JobStore) -> None:
    kinds = {job.number: backend_for(job).kind for job in old_store.jobs()}
    assert kinds == {1: "local", 2: "local", 3: "ssh", 4: "slurm", 5: "slurm", 6: "slurm", 7: "ssh"}


def test_a_host_gets_the_backend_of_its_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.targets.ssh.hosts_config import save_hosts
    from tether.targets.ssh.hostspec import HostSpec

    monkeypatch.setenv("TETHER_CONFIG_DIR", str(tmp_path / "config"))
    save_hosts({
        "gpu1": HostSpec("gpu1", "me@gpu1.example"),
        "hpc": HostSpec("hpc", "me@login.example", scheduler="slurm"),
        "login": HostSpec("login", "local", scheduler="slurm"),
    })  # fmt: skip
    kinds = {name: backend_for_host(name).kind for name in ("local", "gpu1", "hpc", "login")}
    assert kinds == {"local": "local", "gpu1": "ssh", "hpc": "slurm", "login": "slurm"}
    with pytest.raises(UsageError) as err:
        backend_for_host("gpu2")
    assert str(err.value) == (
        "no host named 'gpu2' (configured: gpu1, hpc, login); "
        "add it with `tether hosts add gpu2 DEST`"
    )


def test_refresh_keeps_the_order_and_leaves_finished_jobs_alone(old_store: JobStore) -> None:
    jobs = old_store.jobs()
    fresh = refresh_many(old_store, jobs)
    assert [j.number for j in fresh] == [j.number for j in jobs]
    for before, after in zip(jobs, fresh, strict=True):
        if before.finished:
            assert after is before  # not asked about: no store read, no host call


def test_every_backend_implements_the_whole_protocol() -> None:
    from tether.backends.choose import _BACKENDS

    wanted = {n for n in [*dir(Backend), *Backend.__annotations__] if not n.startswith("_")}
    assert wanted >= {"refresh", "cancel", "rerun", "files_here", "follow", "probe", "kind"}
    for backend in _BACKENDS.values():
        assert wanted <= set(dir(backend)), type(backend).__name__
    assert sorted(_BACKENDS) == ["local", "slurm", "ssh"]


def test_no_module_but_choose_picks_a_backend() -> None:
    picks = re.compile(r"\b(LocalBackend|SshBackend|SlurmBackend)\(|_BACKENDS\b")
    found = [
        f"{path.relative_to(SRC)}:{n}"
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).as_posix() != "backends/choose.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if picks.search(line)
    ]
    assert found == []


def test_files_of_a_job_on_an_ssh_host_are_refused_with_what_to_do(old_store: JobStore) -> None:
    record = old_store.get(3)
    with pytest.raises(UsageError, match=r"job #3's files are on gpu1: read its output with"):
        backend_for(record).files_here(old_store, record)


def test_a_run_through_the_api_is_queued_and_followed_to_its_end_here(
    tether: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``tether.api.running.run`` picks the local backend, which queues the job for the
    agent; ``backends.endings`` says when it has ended, with its exit code."""
    from tether.api.running import run
    from tether.backends import RunRequest, endings

    monkeypatch.chdir(tether.cwd)
    (tether.cwd / "three.py").write_text("import sys\nprint('ran')\nsys.exit(3)\n")
    [submitted] = run(RunRequest(command=("three.py",), name="three"), on="local")
    assert submitted.job.backend == "local" and submitted.shown["name"] == "three"
    store = JobStore(tether.home)
    try:
        [(ended, nxt)] = list(endings(store, [submitted.job]))
    finally:
        store.close()
    assert (ended.number, ended.status, ended.exit_code, nxt) == (
        submitted.job.number, "failed", 3, None
    )  # fmt: skip
    assert (tether.home / "jobs").exists() and b"ran" in Path(ended.log_path).read_bytes()


def test_flags_that_do_not_apply_where_the_job_goes_are_refused_before_anything_runs(
    tether: Tether, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tether.api.running import run
    from tether.backends import RunRequest
    from tether.targets.ssh.hosts_config import save_hosts
    from tether.targets.ssh.hostspec import HostSpec

    monkeypatch.setenv("TETHER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tether.cwd)
    save_hosts({"gpu1": HostSpec("gpu1", "me@gpu1.invalid")})
    (tether.cwd / "train.py").write_text("print(1)\n")
    with pytest.raises(UsageError, match=r"^--cpus: Slurm options, but the job runs here"):
        run(RunRequest(command=("train.py",), resources={"cpus": 4}), on="local")
    with pytest.raises(UsageError, match=r"^sweep --on needs a Slurm host; 'gpu1' is not one"):
        run(RunRequest(command=("train.py",), points=({"lr": 1},)), on="gpu1")
    with pytest.raises(UsageError, match=r"host 'gpu1' is not a Slurm cluster"):
        run(RunRequest(command=("train.py",), resources={"mem": "4G"}), on="gpu1")
    assert JobStore(tether.home).jobs() == []  # nothing queued, nothing reached gpu1.invalid
