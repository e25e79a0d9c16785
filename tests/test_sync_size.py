"""Sizes for the sync cap (``[sync] max_size``, ``--max-size``) and its refusal, without a host."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.config import DEFAULT_SYNC_MAX_SIZE, parse_size, sync_max_size
from tether.errors import ConfigError, UsageError
from tether.targets.ssh.project import Project
from tether.targets.ssh.sync import _parse_rsync
from tether.targets.ssh.sync_size import check_cap, fits_without_asking, human_size


@pytest.mark.parametrize(
    ("text", "size"),
    [("500MB", 500_000_000), ("1.5GB", 1_500_000_000), ("200MiB", 200 * 2**20), ("10k", 10_000),
     ("1000", 1000), (4096, 4096), ("0", 0), (0, 0), ("none", 0), ("None", 0), ("2 g", 2 * 10**9)],
)  # fmt: skip
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text, "x") == size


@pytest.mark.parametrize("bad", ["lots", "-1", -5, True, "5XB", "", "1.2.3MB"])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"^where: .* is not a size; write e.g. 500MB"):
        parse_size(bad, "where")


def test_the_cap_from_tether_toml(tmp_path: Path) -> None:
    assert sync_max_size(tmp_path) == DEFAULT_SYNC_MAX_SIZE
    toml = tmp_path / "tether.toml"
    toml.write_text('[tether]\nhost = "gpu1"\n')
    assert sync_max_size(tmp_path) == DEFAULT_SYNC_MAX_SIZE
    toml.write_text('[sync]\nmax_size = "2GB"\n')
    assert sync_max_size(tmp_path / "sub") == 2 * 10**9
    toml.write_text('[sync]\n\nmax_size = "big"\n')
    with pytest.raises(ConfigError, match=r"tether.toml, line 3: \[sync\] max_size: 'big'"):
        sync_max_size(tmp_path)
    toml.write_text('sync = "x"\n')
    with pytest.raises(ConfigError, match=r"\[sync\] must be a table"):
        sync_max_size(tmp_path)


def test_the_refusal_names_the_biggest_files_and_the_lines() -> None:
    send = [(f"f{i}.bin", 30_000_000) for i in range(7)] + [("a b/[x].pt", 50_000_000)]
    check_cap(send, 0, "gpu1")  # no cap
    check_cap(send, 10**9, "gpu1")
    with pytest.raises(UsageError) as info:
        check_cap(send, 100_000_000, "gpu1")
    text = str(info.value)
    assert text.startswith("sync to gpu1 refused, nothing sent: 8 files to send total 260.0 MB")
    assert "  50.0 MB  a b/[x].pt\n  30.0 MB  f0.bin\n" in text
    assert text.count(" MB  ") == 5  # the five biggest
    assert "\n  a b/\\[x].pt\n  /f0.bin\n  /f1.bin\n  /f2.bin\n  /f3.bin\n" in text  # 260-170 MB
    assert "--max-size 1GB" in text


def test_rsync_output_is_read() -> None:
    out = (
        "*deleting   0 old.py\n.d..t...... 4096 ./\n<f+++++++++ 1200 a.py\n"
        "<f.st...... 34 dir/b c.py\ncd+++++++++ 4096 dir/\n\n"
        "Number of files: 1,005 (reg: 1,002, dir: 3)\nTotal file size: 9 bytes\n"
    )
    plan = _parse_rsync(out)
    assert plan.send == [("a.py", 1200), ("dir/b c.py", 34)]
    assert plan.deleted == 1 and plan.unchanged == 1000
    assert human_size(999) == "999 B" and human_size(1234) == "1.2 kB"


def test_a_small_project_needs_no_dry_run(tmp_path: Path) -> None:
    project = Project(tmp_path, "p")
    (tmp_path / "a.py").write_bytes(b"x" * 600)
    for left_out in ("data", ".venv", "pkg/__pycache__", ".git"):
        (tmp_path / left_out).mkdir(parents=True)
        (tmp_path / left_out / "big").write_bytes(b"y" * 5000)
    (tmp_path / "pkg" / "m.pyc").write_bytes(b"z" * 5000)
    assert fits_without_asking(project, 1000)
    assert not fits_without_asking(project, 500)
    (tmp_path / "pkg" / "data").mkdir()  # data/ below the top is synced
    (tmp_path / "pkg" / "data" / "d").write_bytes(b"d" * 600)
    assert not fits_without_asking(project, 1000)
    assert not fits_without_asking(project, 10**6, max_files=1)
