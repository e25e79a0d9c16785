"""Dashboard speed: each figure through the HTTP API of a real `tether web` (uvicorn on
loopback) beside the same data read directly through the Python API (`tether.api`).

* first page of the jobs table with 10,000 jobs in the store (goal <= 300 ms);
* chart data of one metric with 1,000,000 points (goal <= 300 ms, <= 4,000 points sent);
* opening the log of a 1 GB job: its last 1,000 lines (goal <= 200 ms).

Run: ``.venv/bin/python bench/web.py``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tether import api
from tether.store.jobs import JobSpec, JobStore

N_JOBS = 10_000
N_POINTS = 1_000_000
LOG_BYTES = 1 << 30


def best(fn, runs: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="tw-"))
    os.environ["TETHER_HOME"] = str(home)
    store = JobStore(home)
    jobs = store.add_many(JobSpec(command=["true"], cwd="/", name=f"job{i}") for i in range(N_JOBS))
    store.conn.execute("UPDATE jobs SET status = 'succeeded', exit_code = 0")
    store.conn.commit()
    metric_job, log_job = jobs[-1], jobs[-2]
    Path(metric_job.job_dir).mkdir(parents=True, exist_ok=True)
    from tether.runtime.columns import ColumnWriter
    from tether.runtime.context import METRICS_FILE

    points = [(i, 1.7e9 + i, {"loss": 1000.0 if i == 777_777 else (i % 100) / 100})
              for i in range(N_POINTS)]  # fmt: skip
    with open(Path(metric_job.job_dir) / METRICS_FILE, "w") as f:
        for step, _, values in points:
            f.write(json.dumps({"step": step, "values": values}) + "\n")
    writer = ColumnWriter(Path(metric_job.job_dir))  # as tether.report writes them (issue 28)
    for first in range(0, N_POINTS, 100_000):
        writer.append(points[first : first + 100_000])
    Path(log_job.log_path).parent.mkdir(parents=True, exist_ok=True)
    line = b"x" * 99 + b"\n"
    with open(log_job.log_path, "wb") as f:
        block = line * 10_000
        for _ in range(LOG_BYTES // len(block)):
            f.write(block)

    env = {**os.environ, "TETHER_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether", "web"], env=env, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    url = urlsplit(proc.stdout.readline().decode().strip())
    client = httpx.Client(
        base_url=f"http://{url.netloc}",
        headers={"Authorization": f"Bearer {url.query.removeprefix('token=')}"},
        timeout=60,
    )
    for _ in range(100):
        try:
            client.get("/api/jobs?limit=1")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        direct = best(lambda: api.list_jobs(store, limit=50))
        http = best(lambda: client.get("/api/jobs?limit=50").raise_for_status())
        print(
            f"jobs table, first page of {N_JOBS}: http {http:.1f} ms, api {direct:.1f} ms"
            f" ({http / direct:.2f}x), goal <= 300 ms"
        )
        metrics = f"/api/jobs/{metric_job.uuid}/metrics"
        cold = best(lambda: client.get(metrics).raise_for_status(), runs=1)
        data = client.get(metrics).json()["metrics"]["loss"]
        cold_api = best(lambda: api.job_metrics(store, metric_job.uuid), runs=1)
        direct = best(lambda: api.job_metrics(store, metric_job.uuid), runs=3)
        http = best(lambda: client.get(metrics), runs=3)
        zoom = best(lambda: client.get(metrics, params={"start": 1000, "end": 900_000}), runs=3)
        print(
            f"chart of {N_POINTS} points, first open: http {cold:.1f} ms, api {cold_api:.1f}"
            f" ms; again (live refresh): http {http:.1f} ms, api {direct:.1f} ms"
            f" ({http / direct:.2f}x); zoom re-query {zoom:.1f} ms; {data['sent']} points"
            f" sent, spike kept: {max(data['max']) == 1000.0}; goal <= 300 ms, <= 4000 points"
        )
        direct = best(lambda: api.log_range(store, log_job.uuid))
        http = best(lambda: client.get(f"/api/jobs/{log_job.uuid}/log"))
        print(
            f"open a {LOG_BYTES >> 20} MiB log (last 1,000 lines): http {http:.1f} ms,"
            f" api {direct:.1f} ms ({http / direct:.2f}x), goal <= 200 ms"
        )
    finally:
        proc.terminate()
        proc.wait(10)
        import shutil

        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
