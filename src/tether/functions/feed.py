"""A ``then()`` stage that outlives the process that chained it.

``first.then(f).run()`` returns at once: a thread of the caller waits for ``first`` and then
stages and queues the second stage. When the caller exits before that (a script that does not
``wait()``), the stage is handed to a job of this machine's agent instead of being lost: this
module, run as that job (``python -m tether.functions.feed DATASET_DIR``, named ``then:
NAME``), waits for the upstream dataset, stages the runs from its results, queues the stage's
own job and ends. The caller is told so on stderr. ``Dataset.open(NAME).wait()``, from any
process, follows the hand-off: the feeding job first, then the stage's job.

The stage's function, options and the caller's ``sys.path`` are kept in ``pending.pkl`` in the
stage's folder, written by this user's own process under TETHER_HOME (the trust boundary of
:mod:`tether.functions.serialization`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.functions import layout, serialization

if TYPE_CHECKING:
    from tether.functions.dataset import Dataset

PENDING = "pending.pkl"


def hand_off(stage: Dataset, upstream: Dataset, arg: str, force: bool) -> int:
    """Queue the job that will feed ``stage`` once ``upstream`` is done; its number."""
    from tether.backends.local import queue
    from tether.jobs.submit import captured_env
    from tether.store.jobs import JobSpec

    ddir = stage._dir
    state = {
        "function": stage.function,
        "arg": arg,
        "upstream": upstream.name,
        "target": stage._target.name,
        "options": stage._then_options,
        "force": force,
        "sys_path": [p or os.getcwd() for p in sys.path],
    }
    ddir.create()
    pending = ddir.path / PENDING
    tmp = pending.with_name(f".{PENDING}.{os.getpid()}.tmp")
    tmp.write_bytes(serialization.dumps(state))
    os.replace(tmp, pending)
    meta = layout.new_meta(ddir.name, "dataset", stage._target.name, "", 1, None, runs=0)
    spec = JobSpec(
        command=[sys.executable, "-m", "tether.functions.feed", str(ddir.path)],
        cwd=os.getcwd(),
        name=f"then: {ddir.name}",
        env=captured_env(),
        extra={"kind": "functions", "dataset": ddir.name, "feeds": ddir.name},
    )
    number = queue([spec], stage._home)[0].number
    ddir.write_meta({**meta, "feeder": number, "upstream": upstream.name})
    return number


def main(argv: list[str]) -> int:
    """The feeding job: wait for the upstream dataset, then stage and queue this one."""
    from tether.functions.dataset import Dataset

    ddir = layout.DatasetDir(Path(argv[0]))
    state: dict[str, Any] = serialization.loads((ddir.path / PENDING).read_bytes())  # our own
    sys.path[1:1] = [p for p in state["sys_path"] if p not in sys.path]
    upstream = Dataset.open(state["upstream"])
    options = {**state["options"], "name": ddir.name, "replace": True}
    stage = Dataset(state["function"], on=state["target"], **options)
    stage._upstream = (upstream, state["arg"])
    stage._feed(state["force"])
    if stage._feed_error is not None:
        print(f"tether: the stage {ddir.name!r} was not queued: {stage._feed_error}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"tether: dataset {ddir.name!r} queued as job #{stage.job} "
          f"after {upstream.name!r} finished")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
