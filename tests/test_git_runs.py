"""Each attempt records its code's git state, and ``tether run --git REF`` runs a clean
checkout of REF (issue 30): a real repository with three commits and a dirty tree."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import Tether

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    import os

    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True, env={**os.environ, **GIT_ENV})  # fmt: skip
    return proc.stdout.strip()


@pytest.fixture
def repo(tether: Tether) -> Path:
    """Commit 1: util.X = 1; commit 2: util.X = 2; then a dirty tree: util.X = 3 (not
    committed) and an untracked notes.txt."""
    root = tether.cwd
    git(root, "init", "-q", "-b", "main")
    (root / "pyproject.toml").write_text("[project]\nname = 'g'\n")
    (root / "train.py").write_text("import util\nprint('X is', util.X)\n")
    (root / "util.py").write_text("X = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    (root / "util.py").write_text("X = 2\n")
    git(root, "commit", "-qam", "two")
    (root / "util.py").write_text("X = 3\n")
    (root / "notes.txt").write_text("scratch\n")
    return root


def shown(tether: Tether) -> dict[str, Any]:
    data = tether.json("show")
    assert isinstance(data, dict)
    return data


def test_an_attempt_records_the_commit_and_the_uncommitted_changes(
    tether: Tether, repo: Path
) -> None:
    assert "X is 3" in tether("run", "-w", "train.py").stdout
    record = shown(tether)["git"]
    assert record["commit"] == git(repo, "rev-parse", "HEAD") and record["branch"] == "main"
    assert record["changed"] == ["util.py"] and record["untracked"] == ["notes.txt"]
    assert "-X = 2\n+X = 3" in record["diff"]
    text = tether("show").stdout
    assert f"git        {record['commit'][:12]} (main), 1 changed, 1 untracked" in text
    assert "uncommitted changes (git diff HEAD)" in text and "+X = 3" in text
    # a re-run is the same code: it keeps the record
    tether("rerun", "-w", str(shown(tether)["number"]))
    assert shown(tether)["git"]["commit"] == record["commit"]


def test_run_git_runs_a_clean_checkout_of_the_ref(tether: Tether, repo: Path) -> None:
    first = git(repo, "rev-parse", "HEAD~1")
    assert "X is 1" in tether("run", "-w", "--git", "HEAD~1", "train.py").stdout
    record = shown(tether)["git"]
    assert record["commit"] == first and record["ref"] == "HEAD~1"
    assert record["changed"] == [] and record["diff"] is None
    assert "X is 2" in tether("run", "-w", "--git", "main", "train.py").stdout
    assert (repo / "util.py").read_text() == "X = 3\n"  # the tree here is left alone


def test_clean_removes_a_checkout_no_job_runs_from(tether: Tether, repo: Path) -> None:
    """Two finished --git jobs and a running one: clean removes the checkout only finished
    jobs used, and keeps the one the running job runs from."""
    (repo / "wait.py").write_text(
        "import pathlib, time\nwhile not pathlib.Path('go').exists():\n    time.sleep(0.05)\n"
    )
    git(repo, "add", "wait.py")
    git(repo, "commit", "-qm", "three")
    tether("run", "-w", "--git", "HEAD~2", "train.py")
    tether("run", "-w", "--git", "HEAD~1", "train.py")
    running = tether("run", "--git", "HEAD", "wait.py").stdout.strip()
    old, new = git(repo, "rev-parse", "HEAD~2"), git(repo, "rev-parse", "HEAD")
    checkouts = tether.home / "checkouts"
    tether("clean", "--yes")
    assert sorted(p.name for p in checkouts.iterdir()) == [new]
    assert old != new
    (repo / "go").write_text("")
    tether("wait", running)
    tether("clean", "--yes")
    assert list(checkouts.iterdir()) == []


def test_a_bad_ref_or_a_command_is_refused_with_nothing_queued(tether: Tether, repo: Path) -> None:
    proc = tether("run", "--git", "nope", "train.py", check=False)
    assert proc.returncode == 2
    assert "--git nope: no such commit, branch or tag" in proc.stderr
    proc = tether("run", "--git", "HEAD", "--", "true", check=False)
    assert proc.returncode == 2 and "'true' is not one" in proc.stderr
    assert tether.json("ls") == []


def test_a_project_outside_git_records_nothing(tether: Tether) -> None:
    (tether.cwd / "a.py").write_text("print('hi')\n")
    tether("run", "-w", "a.py")
    assert "git" not in shown(tether)
