"""tether's overhead per Slurm job, beside plain ``sbatch --wrap`` in the same run.

On the test suite's one-node Slurm rig (munge + slurmctld + slurmd, started here), 100
one-second jobs are submitted three ways, each timed from the first submit to the last,
then waited for until all have ended:

* plain ``sbatch --parsable --wrap "sleep 1"`` in a loop (the floor);
* ``tether run --on CLUSTER -- sleep 1`` in a loop (one CLI call per job);
* ``tether run --on CLUSTER --batch FILE`` (one CLI call for the 100 jobs).

Every job asks for the same resources (``--mem 32M --oversubscribe``, so up to 8 share
the rig's 2 cores). Overhead per job = (tether's submit time - sbatch's) / 100.

Goal (issue 8): <= 50 ms per job above plain sbatch. The CLI loop also shows what is left
once the CLI's own start-up (`tether hosts ls --json`, no Slurm call) is taken off.
Run as root: ``.venv/bin/python bench/slurm.py [N_JOBS]``
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
GOAL_MS = 50.0


def tether_cmd() -> list[str]:
    exe = shutil.which("tether", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "tether"]


def wait_slurm_idle(env: dict[str, str], timeout: float = 600) -> float:
    """Seconds until squeue lists no pending or running job."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True, check=True
        ).stdout
        if not out.strip():
            return time.perf_counter() - t0
        time.sleep(0.2)
    raise SystemExit("jobs still in the queue after 10 minutes")


def timed(label: str, fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    print(f"  {label}: {seconds:.2f} s", flush=True)
    return seconds


def main() -> None:
    # Measure tether as installed by pip: byte-compiled (see bench/submit.py).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    import compileall

    import tether
    from rigs.slurm import SlurmCluster

    compileall.compile_dir(str(Path(tether.__file__).parent), quiet=1)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    work = Path(tempfile.mkdtemp(prefix="tb-slurm-"))
    with SlurmCluster() as cluster:
        env = {
            **cluster.env,
            "TETHER_HOME": str(work / "home"),
            "TETHER_CONFIG_DIR": str(work / "config"),
        }
        tether = tether_cmd()
        out = work / "plain"
        out.mkdir()

        def run(argv: list[str]) -> None:
            subprocess.run(argv, env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)

        host = ["bench", "local", "--scheduler", "slurm", "--partition", cluster.partition]
        run([*tether, "hosts", "add", *host, "--mem", "32M", "--sbatch=--oversubscribe"])
        run([*tether, "run", "--on", "bench", "--", "true"])  # warm up: agent, caches
        wait_slurm_idle(env)
        print(f"{n} one-second jobs on a one-node Slurm rig ({os.cpu_count()} CPUs)")

        sbatch = [
            "sbatch",
            "--parsable",
            "--mem=32M",
            "--oversubscribe",
            f"--partition={cluster.partition}",
            f"--output={out}/%j.out",
        ]

        def plain_loop() -> None:
            for _ in range(n):
                run([*sbatch, "--wrap", "sleep 1"])

        def tether_loop() -> None:
            for _ in range(n):
                run([*tether, "run", "--on", "bench", "--", "sleep", "1"])

        batch_file = work / "batch.txt"
        batch_file.write_text("sleep 1\n" * n)

        def tether_batch() -> None:
            run([*tether, "run", "--on", "bench", "--batch", str(batch_file)])

        def until_idle() -> None:
            wait_slurm_idle(env)

        def cli_floor() -> None:
            for _ in range(n):
                run([*tether, "hosts", "ls", "--json"])

        floor = timed("tether hosts ls --json loop (CLI start-up floor)", cli_floor)
        plain = timed("sbatch --wrap loop, submit", plain_loop)
        plain_all = plain + timed("  ... until all ended", until_idle)
        loop = timed("tether run loop, submit", tether_loop)
        loop_all = loop + timed("  ... until all ended", until_idle)
        batch = timed("tether run --batch, submit", tether_batch)
        batch_all = batch + timed("  ... until all ended", until_idle)
        timed("tether wait --all (records every end)", lambda: run([*tether, "wait", "--all"]))

        def per_job(seconds: float) -> float:
            return seconds / n * 1000

        print()
        print(
            f"plain sbatch:        {per_job(plain):6.1f} ms per job ({plain_all:.1f} s end to end)"
        )
        print(f"tether CLI start-up: {per_job(floor):6.1f} ms per call (`tether hosts ls --json`)")
        for label, seconds, total, startup in (
            ("tether run loop:", loop, loop_all, floor),
            ("tether --batch:", batch, batch_all, 0.0),
        ):
            over = per_job(seconds - plain)
            verdict = "meets" if over <= GOAL_MS else "misses"
            print(
                f"{label:<20} {per_job(seconds):6.1f} ms per job: {over:+.1f} ms over sbatch "
                f"({verdict} the {GOAL_MS:g} ms goal), {per_job(seconds - plain - startup):+.1f} "
                f"ms beyond the CLI's start-up; {total:.1f} s end to end"
            )
        subprocess.run([*tether, "agent", "stop"], env=env, capture_output=True, check=False)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
