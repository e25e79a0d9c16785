"""Snapshot speed: taking the snapshot of an unchanged project of 5,000 files again (its
stat cache means no file is read; goal <= 1 s). tests/test_tuning_snapshot.py checks that no
file is read again; this measures how long it takes.

Run: ``.venv/bin/python bench/snapshot.py``
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tether.tuning import snapshot as snapshot_module
from tether.tuning.snapshot import VersionStore


def main() -> None:
    snapshot_module._RACY_NS = 0  # files are "old" at once, as after a few seconds
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bigproj"
        root.mkdir()
        (root / "pyproject.toml").write_text("")
        for d in range(50):
            folder = root / f"pkg{d}"
            folder.mkdir()
            for i in range(100):
                (folder / f"m{i}.py").write_text(f"x = {d * 1000 + i}\n")
        script = root / "train.py"
        script.write_text("lr = 0.1\n")
        store = VersionStore(Path(tmp) / "store")
        start = time.perf_counter()
        first = store.snapshot(script)
        cold = time.perf_counter() - start
        times = []
        for _ in range(5):
            start = time.perf_counter()
            again = store.snapshot(script)
            times.append(time.perf_counter() - start)
            assert again.id == first.id
        print(f"first snapshot of {len(first.manifest.files)} files: {cold * 1000:.0f} ms")
        print(
            f"unchanged snapshot again (median of 5): {statistics.median(times) * 1000:.0f} ms"
            " (goal <= 1000 ms)"
        )


if __name__ == "__main__":
    main()
