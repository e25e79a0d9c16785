"""How ``tests/data/store_v2.db`` was made: run with the tether of schema 2 (commit 04cfa87) on
``sys.path`` and an empty TETHER_HOME; it writes, through that release's own functions, a job
of each placement it knew (local, a function dataset, an SSH host's job, a Slurm job on a remote
login node and on this one, a Slurm job whose submission failed, and a re-run of an SSH record).

    git worktree add /tmp/rel 04cfa87
    TETHER_HOME=/tmp/v2home PYTHONPATH=/tmp/rel/src python3 tests/data/make_store_v2.py
    cp /tmp/v2home/tether.db tests/data/store_v2.db

Not run by the tests: the file it made is what they open.
"""

from __future__ import annotations

import os
from pathlib import Path

from tether.api.jobs import rerun_job
from tether.jobs import state
from tether.jobs.status import FAILED, QUEUED
from tether.store.jobs import JobSpec, JobStore
from tether.targets.ssh.remote_jobs import record_local

home = Path(os.environ["TETHER_HOME"])
home.mkdir(parents=True, exist_ok=True)
store = JobStore(home)

# 1: a plain local job, run and finished
[local] = store.add_many([JobSpec(command=["python3", "train.py"], cwd="/w", name="train.py")])
state.claim(store, local.number)
state.finish(store, local.number, "succeeded", exit_code=0, reason=None, expected="running")
# 2: a function dataset's worker job (local)
store.add(JobSpec(command=["python3", "-m", "tether.functions.worker", "/d"], cwd="/w",
                  name="ds", extra={"kind": "functions", "dataset": "ds", "dataset_dir": "/d",
                                    "runs": 3}))  # fmt: skip
# 3: the local record of a job on the SSH host gpu1 (its number there is 7)
[ssh] = record_local("gpu1", [{"number": 7, "uuid": "5d6a7b8c-0000-4000-8000-00000000aaaa",
                               "name": "fit.py", "command": ["python", "fit.py"],
                               "status": "running"}])  # fmt: skip
# 4, 5: Slurm jobs, on a remote login node and on this machine's (DEST local)
for host, slurm_id, on_this in (("hpc", "4242", False), ("login", "77", True)):
    job = store.add(JobSpec(command=["python3", "x.py"], cwd="", name="x.py", target=host))
    store.merge_extra(job.number, slurm_id=slurm_id, slurm_dir="/s", slurm_output="/s/out",
                      slurm_local=on_this, slurm_resources={"time": "1:00:00"})  # fmt: skip
# 6: a Slurm job whose sbatch failed (as slurm.submit leaves it)
failed = store.add(JobSpec(command=["python3", "y.py"], cwd="", name="y.py", target="hpc"))
state.finish(store, failed.number, FAILED, exit_code=None,
             reason="not submitted: sbatch: error: invalid partition", expected=QUEUED)  # fmt: skip
# 7: `tether rerun` of the SSH record (this release copies its remote uuid: a record that
# never ran anywhere)
rerun_job(store, str(ssh))
store.close()
