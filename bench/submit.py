"""Submit speed and job throughput, beside task-spooler (``tsp``) in the same run.

* one ``tether run -- true`` CLI call (agent already running), median wall time,
  with ``python -c pass`` as the floor;
* 200 trivial jobs with ``--parallel 2``: one CLI call each, and one ``--batch`` call,
  end to end (submit to all finished);
* the same 200 jobs through ``tsp -S 2`` when installed.

Goals (issue 2): one submit <= 100 ms; batch end to end >= 100 jobs/s.
* submitting ``main.py`` of a project of 3,000 ``.py`` and 500 data files (first submit, and a
  second one with the hash cache warm) beside ``cp -r`` of the project (``--project`` runs only
  this part).

* submitting ``train.py`` in a project of 20 files, and outside any project from a folder that
  holds a virtualenv (which is not stored), beside ``python -c pass`` (``--script``: only this).

Run: ``.venv/bin/python bench/submit.py [--project | --script]``
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_JOBS = 200
N_SINGLE = 15


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def tether_cmd() -> list[str]:
    exe = shutil.which("tether", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "tether"]


def fresh_home() -> dict[str, str]:
    home = tempfile.mkdtemp(prefix="tb-")
    return {**os.environ, "TETHER_HOME": home}


def bench_tether() -> dict[str, float]:
    tether = tether_cmd()
    out: dict[str, float] = {}
    env = fresh_home()
    subprocess.run(
        [*tether, "agent", "start", "--parallel", "2"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    out["python -c pass (floor), ms"] = 1000 * statistics.median(
        timed([sys.executable, "-c", "pass"], env) for _ in range(N_SINGLE)
    )
    out["tether run -- true, ms"] = 1000 * statistics.median(
        timed([*tether, "run", "--", "true"], env) for _ in range(N_SINGLE)
    )
    subprocess.run([*tether, "wait", "--all"], env=env, check=True)
    subprocess.run([*tether, "agent", "stop"], env=env, check=True, stdout=subprocess.DEVNULL)

    env = fresh_home()
    subprocess.run(
        [*tether, "agent", "start", "--parallel", "2"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    start = time.perf_counter()
    for _ in range(N_JOBS):
        subprocess.run(
            [*tether, "run", "--", "true"], env=env, check=True, stdout=subprocess.DEVNULL
        )
    subprocess.run([*tether, "wait", "--all"], env=env, check=True)
    out[f"{N_JOBS} jobs, one CLI call each, jobs/s"] = N_JOBS / (time.perf_counter() - start)
    subprocess.run([*tether, "agent", "stop"], env=env, check=True, stdout=subprocess.DEVNULL)

    env = fresh_home()
    subprocess.run(
        [*tether, "agent", "start", "--parallel", "2"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    batch = Path(env["TETHER_HOME"], "batch.txt")
    batch.write_text("true\n" * N_JOBS)
    start = time.perf_counter()
    subprocess.run(
        [*tether, "run", "--batch", str(batch)], env=env, check=True, stdout=subprocess.DEVNULL
    )
    subprocess.run([*tether, "wait", "--all"], env=env, check=True)
    out[f"{N_JOBS} jobs, one --batch call, jobs/s"] = N_JOBS / (time.perf_counter() - start)
    subprocess.run([*tether, "agent", "stop"], env=env, check=True, stdout=subprocess.DEVNULL)
    return out


def bench_project(n_py: int = 3000, n_data: int = 500, trials: int = 3) -> dict[str, float]:
    """Submit of a big project's script (stores its Python files) beside ``cp -r`` of it:
    each the median of ``trials``, taken in turn (a fresh copy, a fresh tether home), with
    the disk's dirty pages written out before each (``sync``) so that neither pays for the
    other's writes."""
    base = Path(tempfile.mkdtemp(prefix="tb-proj-"))
    project = base / "proj"
    for i in range(n_py):
        folder = project / f"pkg{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i % 100}.py").write_text(f"VALUE = {i}\n" + "# padding\n" * 40)
    for i in range(n_data):
        folder = project / "assets" / f"set{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"item{i}.json").write_text(f'{{"x": {i}}}\n')
    (project / "pyproject.toml").write_text("[project]\nname = 'big'\nversion = '0'\n")
    (project / "main.py").write_text("print('ok')\n")
    tether = tether_cmd()
    times: dict[str, list[float]] = {}
    for trial in range(trials):
        os.sync()
        copy = ["cp", "-r", str(project), str(base / f"copy{trial}")]
        cp_ms = timed(copy, dict(os.environ))
        times.setdefault("cp -r project (3,500 files), ms", []).append(cp_ms)
        env = fresh_home()
        subprocess.run([*tether, "agent", "start"], env=env, check=True, stdout=subprocess.DEVNULL)
        for label in ("first", "second"):
            os.sync()
            start = time.perf_counter()
            subprocess.run([*tether, "run", "main.py"], env=env, cwd=project, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            elapsed = time.perf_counter() - start
            times.setdefault(f"tether run main.py ({label} submit), ms", []).append(elapsed)
        subprocess.run([*tether, "wait", "--all"], env=env, check=True)
        subprocess.run([*tether, "agent", "stop"], env=env, check=True, stdout=subprocess.DEVNULL)
        shutil.rmtree(env["TETHER_HOME"], ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def bench_script_folders() -> dict[str, float]:
    """Submit of ``train.py`` in a project folder of 20 files, and outside any project from a
    folder that holds a real virtualenv (which must not be stored), beside ``python -c pass``."""
    base = Path(tempfile.mkdtemp(prefix="tb-script-"))
    project = base / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '0'\n")
    for i in range(18):
        (project / f"mod{i}.py").write_text(f"VALUE = {i}\n")
    loose = base / "home"
    loose.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(loose / "env")], check=True)
    for folder in (project, loose):
        (folder / "train.py").write_text("print('ok')\n")
    env = fresh_home()
    tether = tether_cmd()
    subprocess.run([*tether, "agent", "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    out = {
        "python -c pass (floor), ms": 1000
        * statistics.median(timed([sys.executable, "-c", "pass"], env) for _ in range(N_SINGLE))
    }
    for label, folder in (("project of 20 files", project), ("outside a project, venv", loose)):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(
                [*tether, "run", "train.py"], env=env, cwd=folder, check=True,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            times.append(time.perf_counter() - start)
        out[f"tether run train.py ({label}), ms"] = 1000 * statistics.median(times)
    subprocess.run([*tether, "wait", "--all"], env=env, check=True)
    last = subprocess.run(
        [*tether, "show", "--json"], env=env, check=True, capture_output=True, text=True
    ).stdout
    from tether.tuning.snapshot import VersionStore

    version = __import__("json").loads(last)["extra"]["version"]
    stored = VersionStore(Path(env["TETHER_HOME"]) / "versions").manifest(version).files
    venv_files = sum(1 for rel in stored if rel.startswith("env/"))
    out["outside a project: files stored"] = len(stored)
    out["outside a project: venv files stored"] = venv_files
    subprocess.run([*tether, "agent", "stop"], env=env, check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(base, ignore_errors=True)
    return out


def bench_tsp() -> dict[str, float]:
    tsp = shutil.which("tsp")
    if tsp is None:
        print("tsp (Debian package task-spooler) not installed: skipped", file=sys.stderr)
        return {}
    env = {
        **os.environ,
        "TS_SOCKET": tempfile.mktemp(prefix="tsp-"),
        "TS_MAXFINISHED": "1000",
        "TS_SAVELIST": "",
    }
    subprocess.run([tsp, "-S", "2"], env=env, check=True)
    out = {
        "tsp true (one submit), ms": 1000
        * statistics.median(timed([tsp, "true"], env) for _ in range(N_SINGLE))
    }
    subprocess.run([tsp, "-w"], env=env, stdout=subprocess.DEVNULL)
    subprocess.run([tsp, "-C"], env=env, check=True)
    start = time.perf_counter()
    for _ in range(N_JOBS):
        subprocess.run([tsp, "true"], env=env, check=True, stdout=subprocess.DEVNULL)
    while True:  # tsp -w waits for the last job only; poll until the queue is empty
        listing = subprocess.run([tsp], env=env, capture_output=True, text=True).stdout
        if " running " not in listing and " queued " not in listing:
            break
        time.sleep(0.005)
    out[f"tsp {N_JOBS} jobs, jobs/s"] = N_JOBS / (time.perf_counter() - start)
    subprocess.run([tsp, "-K"], env=env)
    return out


def main() -> None:
    # Measure tether as installed by pip: with byte-compiled modules (a session or CI may set
    # PYTHONDONTWRITEBYTECODE, which would make every CLI call compile tether from source).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import compileall

    import tether

    compileall.compile_dir(str(Path(tether.__file__).parent), quiet=1)
    if "--project" in sys.argv:
        for name, value in bench_project().items():
            print(f"{name:<44}{value:>10.1f}")
        return
    if "--script" in sys.argv:
        for name, value in bench_script_folders().items():
            print(f"{name:<50}{value:>10.1f}")
        return
    results = {**bench_tether(), **bench_tsp(), **bench_project(), **bench_script_folders()}
    for name, value in results.items():
        print(f"{name:<44}{value:>10.1f}")
    single = results["tether run -- true, ms"]
    batch = results[f"{N_JOBS} jobs, one --batch call, jobs/s"]
    print(f"goal one submit <= 100 ms: {'met' if single <= 100 else 'NOT met'}")
    print(f"goal batch >= 100 jobs/s: {'met' if batch >= 100 else 'NOT met'}")
    if "tsp true (one submit), ms" in results:
        print(f"submit ratio tether/tsp: {single / results['tsp true (one submit), ms']:.1f}x")


if __name__ == "__main__":
    main()
