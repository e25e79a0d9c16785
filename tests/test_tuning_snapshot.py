"""The content-addressed store of program versions."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from tether.errors import ProgramError, UsageError
from tether.tuning import snapshot as snapshot_module
from tether.tuning.project_files import PROJECT_MARKERS
from tether.tuning.snapshot import (
    Manifest,
    VersionStore,
    find_project_root,
    list_project_files,
)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def objects(store: VersionStore) -> list[Path]:
    return [p for p in store.objects.rglob("*") if p.is_file()]


@pytest.fixture
def store(tmp_path: Path) -> VersionStore:
    return VersionStore(tmp_path / "store")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root / "pyproject.toml", "[project]\nname = 'p'\n")
    write(root / "train.py", "import model\nlr = 0.1\n")
    write(root / "model.py", "LAYERS = 3\n")
    write(root / "pkg" / "__init__.py", "")
    write(root / "pkg" / "util.py", "def f():\n    return 1\n")
    write(root / "README.md", "not python\n")
    return root


def test_snapshot_covers_project_python_files(store: VersionStore, project: Path) -> None:
    version = store.snapshot(project / "train.py")
    assert version.project_root == project
    assert version.entry == "train.py"
    assert set(version.manifest.files) == {
        "train.py",
        "model.py",
        "pkg/__init__.py",
        "pkg/util.py",
    }
    assert store.manifest(version.id) == version.manifest
    assert store.read_file(version.id, "pkg/util.py") == (project / "pkg/util.py").read_bytes()
    assert store.has_version(version.id)


def test_same_content_is_stored_once(store: VersionStore, project: Path) -> None:
    write(project / "copy_of_model.py", "LAYERS = 3\n")
    first = store.snapshot(project / "train.py")
    files = first.manifest.files
    assert len(files) == 5
    assert files["copy_of_model.py"] == files["model.py"]
    count = len(objects(store))
    assert count == 4 + 1  # 4 distinct contents + the manifest
    second = store.snapshot(project / "train.py")
    assert second.id == first.id
    assert len(objects(store)) == count
    for path in objects(store):
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not [p for p in store.objects.rglob(".tmp-*")]


def test_editing_the_original_changes_nothing_stored(store: VersionStore, project: Path) -> None:
    version = store.snapshot(project / "train.py")
    (project / "train.py").write_text("import model\nlr = 0.9\n")  # same size, same second
    assert store.read_file(version.id, "train.py") == b"import model\nlr = 0.1\n"
    again = store.snapshot(project / "train.py")
    assert again.id != version.id
    assert store.read_file(again.id, "train.py") == b"import model\nlr = 0.9\n"
    assert store.read_file(version.id, "train.py") == b"import model\nlr = 0.1\n"


def test_hash_cache_notices_edits_that_keep_size_and_mtime(
    store: VersionStore, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_module, "_RACY_NS", 0)  # trust every file's stat at once
    script = project / "train.py"
    first = store.snapshot(script)
    assert list((store.root / "cache").glob("*.json"))
    before = script.stat()
    time.sleep(0.05)  # let the (coarse) ctime clock tick, as it does between real edits
    script.write_text("import model\nlr = 0.2\n")
    os.utime(script, ns=(before.st_atime_ns, before.st_mtime_ns))
    second = store.snapshot(script)
    assert second.id != first.id
    assert store.read_file(second.id, "train.py").endswith(b"lr = 0.2\n")


def test_ignore_files_and_always_skipped_folders(store: VersionStore, project: Path) -> None:
    write(project / ".gitignore", "build/\n*_secret.py\n/scratch.py\n")
    write(project / ".tetherignore", "experiments/\n!keep_secret.py\n")
    write(project / "build" / "gen.py", "")
    write(project / "api_secret.py", "")
    write(project / "keep_secret.py", "")
    write(project / "scratch.py", "")
    write(project / "pkg" / "scratch.py", "")  # /scratch.py is anchored at the root
    write(project / "experiments" / "e1.py", "")
    write(project / "pkg" / ".gitignore", "local.py\n")
    write(project / "pkg" / "local.py", "")
    write(project / "data" / "prepare.py", "")
    write(project / "sub" / "data" / "more.py", "")
    write(project / "loaders" / "data" / "__init__.py", "")  # a package named data is code
    write(project / ".venv" / "lib" / "x.py", "")
    write(project / "venv" / "x.py", "")
    write(project / "myenv" / "pyvenv.cfg", "home = /usr\n")
    write(project / "myenv" / "lib" / "y.py", "")
    write(project / "__pycache__" / "m.py", "")
    write(project / ".git" / "hooks" / "h.py", "")
    write(project / ".git" / "info" / "exclude", "excluded_by_git.py\n")
    write(project / "excluded_by_git.py", "")
    files = set(store.snapshot(project / "train.py").manifest.files)
    assert files == {
        "train.py",
        "model.py",
        "pkg/__init__.py",
        "pkg/util.py",
        "pkg/scratch.py",
        "keep_secret.py",
        "loaders/data/__init__.py",
    }


def test_extra_ignores_and_includes(store: VersionStore, project: Path) -> None:
    write(project / "configs" / "base.yaml", "lr: 1\n")
    version = store.snapshot(
        project / "train.py", extra_ignores=["pkg/"], include=["*.py", "configs/*.yaml"]
    )
    assert set(version.manifest.files) == {"train.py", "model.py", "configs/base.yaml"}


def test_entry_script_is_always_included(store: VersionStore, project: Path) -> None:
    write(project / ".gitignore", "scripts/\n")
    script = write(project / "scripts" / "run", "print('no .py suffix')\n")
    version = store.snapshot(script)
    assert version.entry == "scripts/run"
    assert "scripts/run" in version.manifest.files
    assert version.project_root == project


def test_size_limit(store: VersionStore, project: Path) -> None:
    write(project / "big.py", b"#" * 2000)
    write(project / "small.py", b"#" * 10)
    version = store.snapshot(project / "train.py", max_file_bytes=1000)
    assert "big.py" not in version.manifest.files
    assert "small.py" in version.manifest.files
    assert version.skipped == ("big.py",)
    default = store.snapshot(project / "train.py")
    assert "big.py" in default.manifest.files
    big_entry = write(project / "huge_entry.py", b"#" * 5000)
    assert "huge_entry.py" in store.snapshot(big_entry, max_file_bytes=1000).manifest.files


def test_project_root_detection(tmp_path: Path) -> None:
    for i, marker in enumerate(
        (".git", "pyproject.toml", "setup.py", "tether.toml", ".tetherignore")
    ):
        # not tmp_path / marker: a folder named "setup.py" in tmp_path would make it a project
        root = tmp_path / f"project{i}"
        write(root / marker / "x" if marker == ".git" else root / marker, "")
        script = write(root / "a" / "b" / "s.py", "")
        assert find_project_root(script) == root
    lonely = write(tmp_path / "lonely" / "s.py", "")
    # no marker in lonely/ nor in tmp_path: the root is the nearest marked folder above
    # tmp_path (on a normal machine none: None), never tmp_path or a sibling project
    above = next(
        (p for p in tmp_path.parents if any(os.path.lexists(p / m) for m in PROJECT_MARKERS)),
        None,
    )
    assert find_project_root(lonely) == above


def test_script_outside_any_project_stores_its_folder(
    store: VersionStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_module, "find_project_root", lambda script: None)
    script = write(tmp_path / "loose" / "run.py", "print(1)\n")
    write(tmp_path / "loose" / "helper.py", "")
    write(tmp_path / "elsewhere.py", "")
    version = store.snapshot(script)
    assert version.manifest.files.keys() == {"run.py", "helper.py"}  # sibling imports work
    assert version.project_root == tmp_path / "loose"


def test_explicit_project_root(store: VersionStore, project: Path, tmp_path: Path) -> None:
    version = store.snapshot(project / "pkg" / "util.py", project)
    assert version.entry == "pkg/util.py"
    other = write(tmp_path / "elsewhere" / "x.py", "")
    with pytest.raises(UsageError, match="not inside the project"):
        store.snapshot(other, project)


def test_missing_script(store: VersionStore, tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match="does not exist"):
        store.snapshot(tmp_path / "nope.py")
    with pytest.raises(ProgramError, match="not a file"):
        store.snapshot(tmp_path)


def test_materialize(store: VersionStore, project: Path, tmp_path: Path) -> None:
    version = store.snapshot(project / "train.py")
    dest = tmp_path / "run" / "1"
    entry = store.materialize(version.id, dest)
    assert entry == dest / "train.py"
    for rel in version.manifest.files:
        assert (dest / rel).read_bytes() == (project / rel).read_bytes()
    (dest / "train.py").write_text("edited in the run folder\n")
    assert store.read_file(version.id, "train.py") == b"import model\nlr = 0.1\n"


def put_manifest(store: VersionStore, files: dict[str, str], entry: str = "a.py") -> str:
    return store._put(Manifest(entry=entry, files=files).to_bytes())


@pytest.mark.parametrize(
    "bad", ["../evil.py", "a/../../evil.py", "/tmp/evil.py", "a//b.py", "./a.py", "..\\evil.py"]
)
def test_materialize_refuses_traversal(store: VersionStore, tmp_path: Path, bad: str) -> None:
    sha = store._put(b"print('evil')\n")
    version_id = put_manifest(store, {"a.py": sha, bad: sha})
    dest = tmp_path / "dest"
    with pytest.raises(ProgramError, match="unsafe path"):
        store.materialize(version_id, dest)
    assert not (tmp_path / "evil.py").exists()
    assert not dest.exists() or not any(dest.rglob("*"))


def test_materialize_refuses_symlink_out_of_dest(store: VersionStore, tmp_path: Path) -> None:
    sha = store._put(b"x = 1\n")
    version_id = put_manifest(store, {"a.py": sha, "link/b.py": sha})
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    (dest / "link").symlink_to(outside)
    with pytest.raises(ProgramError, match="outside"):
        store.materialize(version_id, dest)
    assert not (outside / "b.py").exists()


def test_store_text_makes_a_new_version(store: VersionStore, project: Path) -> None:
    version = store.snapshot(project / "train.py")
    new_id = store.store_text(version, "train.py", "import model\nlr = 0.5\n")
    assert new_id != version.id
    assert store.read_file(new_id, "train.py") == b"import model\nlr = 0.5\n"
    assert store.read_file(version.id, "train.py") == b"import model\nlr = 0.1\n"
    new = store.manifest(new_id)
    assert new.entry == version.entry
    assert {k: v for k, v in new.files.items() if k != "train.py"} == {
        k: v for k, v in version.manifest.files.items() if k != "train.py"
    }
    assert store.store_text(version.id, "train.py", "import model\nlr = 0.1\n") == version.id
    with pytest.raises(ProgramError, match="unsafe"):
        store.store_text(version, "../x.py", "")


def test_bad_and_unknown_ids(store: VersionStore, project: Path) -> None:
    with pytest.raises(UsageError, match="64 hex"):
        store.manifest("abc")
    with pytest.raises(ProgramError, match="missing"):
        store.manifest("0" * 64)
    version = store.snapshot(project / "train.py")
    file_sha = version.manifest.files["model.py"]
    with pytest.raises(ProgramError, match="not a program version"):
        store.manifest(file_sha)
    assert not store.has_version(file_sha)
    with pytest.raises(ProgramError, match=r"no file 'nope\.py'"):
        store.read_file(version.id, "nope.py")


def test_damaged_object_is_reported(store: VersionStore, project: Path) -> None:
    version = store.snapshot(project / "train.py")
    path = store._object_path(version.manifest.files["model.py"])
    path.chmod(0o644)
    path.write_bytes(b"tampered\n")
    with pytest.raises(ProgramError, match="damaged"):
        store.read_file(version.id, "model.py")


def test_list_project_files(project: Path) -> None:
    write(project / "big.py", b"#" * 50)
    files, skipped = list_project_files(project, max_file_bytes=40)
    assert sorted(files) == ["model.py", "pkg/__init__.py", "pkg/util.py", "train.py"]
    assert skipped == ["big.py"]


def test_store_inside_the_project_is_not_snapshotted(project: Path) -> None:
    store = VersionStore(project / ".tether-store")
    store.snapshot(project / "train.py")
    write(store.root / "stray.py", "")
    files = store.snapshot(project / "train.py").manifest.files
    assert not [f for f in files if f.endswith("stray.py")]


def test_unchanged_project_of_5000_files_is_not_read_again(
    store: VersionStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_module, "_RACY_NS", 0)  # files are "old" at once
    root = tmp_path / "bigproj"
    write(root / "pyproject.toml", "")
    write(root / ".gitignore", "*.log\nbuild/\n")
    for d in range(50):
        folder = root / f"pkg{d}"
        folder.mkdir()
        for i in range(100):
            (folder / f"m{i}.py").write_text(f"x = {d * 1000 + i}\n")
    script = write(root / "train.py", "lr = 0.1\n")
    first = store.snapshot(script)
    assert len(first.manifest.files) == 5001
    opened: list[str] = []

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).startswith(str(root)):
            opened.append(str(file))
        return open(file, *args, **kwargs)

    # what makes it fast: the stat cache, so no project file is read again (the speed itself
    # is a figure for a benchmark, not a wall-clock assert)
    monkeypatch.setattr(snapshot_module, "open", counting_open, raising=False)
    second = store.snapshot(script)
    assert second.id == first.id
    assert opened == [], f"an unchanged snapshot read {len(opened)} files again"


def test_a_folder_named_like_a_marker_file_is_no_project_marker(tmp_path: Path) -> None:
    (tmp_path / "proj" / "setup.py").mkdir(parents=True)  # a folder, not setuptools' file
    (tmp_path / "proj" / "pyproject.toml").mkdir()
    script = write(tmp_path / "proj" / "s.py", "")
    assert find_project_root(script) != tmp_path / "proj"
    write(tmp_path / "proj" / "tether.toml", "")
    assert find_project_root(script) == tmp_path / "proj"


def test_materialize_writes_a_new_folder_whole_or_not_at_all(
    store: VersionStore, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = store.snapshot(project / "train.py")
    runs = tmp_path / "runs"
    real_write = snapshot_module._write_file
    written: list[str] = []

    def fail_on_second(path: str, data: bytes, mode: int) -> None:
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        real_write(path, data, mode)

    monkeypatch.setattr(snapshot_module, "_write_file", fail_on_second)
    with pytest.raises(OSError, match="No space"):
        store.materialize(version.id, runs / "v1")
    assert list(runs.iterdir()) == []  # no half-written folder, no staging folder left
    monkeypatch.setattr(snapshot_module, "_write_file", real_write)
    entry = store.materialize(version.id, runs / "v1")
    assert entry.read_bytes() == (project / "train.py").read_bytes()
    assert [p.name for p in runs.iterdir()] == ["v1"]
    files = sorted(p.relative_to(runs / "v1").as_posix() for p in runs.rglob("*") if p.is_file())
    assert files == sorted(version.manifest.files)


def test_materialize_after_a_snapshot_still_refuses_a_damaged_object_later(
    store: VersionStore, project: Path, tmp_path: Path
) -> None:
    """The bytes a snapshot just stored are written out without reading them back, once:
    a later read of the same store checks the object on disk again."""
    version = store.snapshot(project / "train.py")
    store.materialize(version.id, tmp_path / "a")
    path = store._object_path(version.manifest.files["model.py"])
    path.chmod(0o644)
    path.write_bytes(b"tampered\n")
    with pytest.raises(ProgramError, match="damaged"):
        store.materialize(version.id, tmp_path / "b")


@pytest.fixture
def big_project(project: Path) -> Path:
    """The project with 100 more modules: over the count from which new files are packed."""
    for i in range(100):
        write(project / "layers" / f"layer{i}.py", f"WIDTH = {i}\n")
    return project


def test_many_new_files_go_into_one_pack(store: VersionStore, big_project: Path) -> None:
    version = store.snapshot(big_project / "train.py")
    packs = sorted(p.name for p in (store.objects / "pack").iterdir())
    assert len(packs) == 2 and packs[0].endswith(".idx") and packs[1].endswith(".pack")
    assert [p.name for p in objects(store) if "pack" not in p.parts] == [version.id]  # manifest
    for rel in version.manifest.files:
        assert store.read_file(version.id, rel) == (big_project / rel).read_bytes()
    again = VersionStore(store.root).snapshot(big_project / "train.py")  # another process
    assert again.id == version.id
    assert len(list((store.objects / "pack").iterdir())) == 2  # nothing stored twice


def test_a_damaged_packed_object_is_reported(store: VersionStore, big_project: Path) -> None:
    version = store.snapshot(big_project / "train.py")
    [pack] = (store.objects / "pack").glob("*.pack")
    pack.chmod(0o644)
    data = bytearray(pack.read_bytes())
    data[0] ^= 0xFF
    pack.write_bytes(bytes(data))
    reader = VersionStore(store.root)
    damaged = [rel for rel in version.manifest.files if _damaged(reader, version.id, rel)]
    assert len(damaged) == 1


def _damaged(store: VersionStore, version_id: str, rel: str) -> bool:
    try:
        store.read_file(version_id, rel)
    except ProgramError as exc:
        assert "damaged" in str(exc) and ".pack" in str(exc)
        return True
    return False


def test_a_pack_without_its_index_is_not_used(store: VersionStore, big_project: Path) -> None:
    """A crash between a pack and its index: the objects are missing, and stored again."""
    version = store.snapshot(big_project / "train.py")
    [index] = (store.objects / "pack").glob("*.idx")
    index.unlink()
    reader = VersionStore(store.root)
    with pytest.raises(ProgramError, match="missing"):
        reader.read_file(version.id, "model.py")
    for cached in (store.root / "cache").glob("*"):  # no hashes known: every file read again
        cached.unlink()
    again = VersionStore(store.root).snapshot(big_project / "train.py")
    assert VersionStore(store.root).read_file(again.id, "model.py") == b"LAYERS = 3\n"


def test_a_pack_written_later_by_another_process_is_found(
    store: VersionStore, big_project: Path
) -> None:
    reader = VersionStore(store.root)
    with pytest.raises(ProgramError):
        reader.read_file("0" * 64, "x.py")  # the reader has looked at the (empty) store
    version = store.snapshot(big_project / "train.py")
    assert reader.read_file(version.id, "layers/layer7.py") == b"WIDTH = 7\n"


def test_tethers_own_home_inside_the_project_is_never_taken(tmp_path: Path) -> None:
    """A TETHER_HOME inside the project (or the script's folder) holds written-out versions
    (their .py files): each snapshot took the earlier ones again, and grew without end."""
    from tether.tuning.program import code_dir, version_store

    project = tmp_path / "proj"
    write(project / "train.py", "print('hi')\n")
    home = project / "home"
    store = version_store(home)
    for _ in range(3):
        version = store.snapshot(project / "train.py")
        store.materialize(version.id, code_dir(home, version.id))
        write(project / "train.py", f"print({version.id[:6]!r})\n")  # a new version each time
    assert sorted(version.manifest.files) == ["train.py"]
