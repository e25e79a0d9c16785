"""A ``then()`` stage that outlives the process that chained it.

``first.then(f).run()`` returns at once: a thread of the caller waits for ``first`` and then
stages and queues the second stage. When the caller exits before that (a script that does not
``wait()``), the stage is handed to a job of this machine's agent instead of being lost: this
module, run as that job (``python -m tether.functions.feed DATASET_DIR``, named ``then:
NAME``), waits for the upstream dataset, stages the runs from its results, queues the stage's
own job and ends. The caller is told so on stderr. ``Dataset.open(NAME).wait()``, from any
process, follows the hand-off: the feeding job first, then the stage's job.

The stage's function, options and the caller's ``sys.path`` are kept in ``pending.pkl`` in the
stage's folder (written by the caller as it exits: ``dataset._hand_off``), by this user's own
process under TETHER_HOME (the trust boundary of :mod:`tether.functions.serialization`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tether.functions import layout, serialization


def main(argv: list[str]) -> int:
    """The feeding job: wait for the upstream dataset, then stage and queue this one."""
    from tether.functions.dataset import Dataset

    ddir = layout.DatasetDir(Path(argv[0]))
    state: dict[str, Any] = serialization.loads((ddir.path / layout.PENDING).read_bytes())
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
