"""One number for every job (:mod:`tether.backends.host_numbers`): the numbers here of a host's
jobs are looked up for each answer by index, not by reading every record of the host."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tether.backends.host_numbers import HostNumbers, localize, to_host
from tether.errors import UsageError
from tether.store.jobs import JobSpec, JobStore


def _records(store: JobStore, host: str, count: int) -> list[str]:
    uuids = [str(uuid.uuid4()) for _ in range(count)]
    specs = [JobSpec(["true"], "/", "true", target=host, backend="ssh", uuid=u, remote_id=u)
             for u in uuids]  # fmt: skip
    for number, spec in enumerate(specs, start=1):
        spec.remote_number = number  # the host's numbers: 1, 2, ...
    store.add_many(specs)
    return uuids


def test_an_answer_is_numbered_with_few_queries_among_many_records(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    store.add_many(JobSpec(["true"], "/", "true") for _ in range(5))  # local jobs: #1-#5
    uuids = _records(store, "gpu1", 2000)  # here #6-#2005, there #1-#2000
    _records(store, "other", 10)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    numbers = HostNumbers(store, "gpu1")
    answer = [
        {"uuid": uuids[1500], "number": 1501, "status": "running", "parent": 12},
        {"uuid": uuids[7], "number": 8, "status": "succeeded", "parent": None},
    ]
    rows = localize(numbers, "ls", answer)
    store.conn.set_trace_callback(None)
    assert [r["number"] for r in rows] == [1506, 13]
    assert [r["remote_number"] for r in rows] == [1501, 8]
    assert rows[0]["parent"] == 17 and rows[0]["remote_parent"] == 12
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 2  # one for the rows, one for their parents
    assert all(" IN (" in s for s in selects), selects  # never every record of the host
    assert to_host(numbers, {"job": "1506"}) == {"job": uuids[1500]}
    for not_there in ("3", "2006"):  # a local job, a record of the other host
        with pytest.raises(UsageError, match="not a job on gpu1"):
            to_host(numbers, {"job": not_there})
    store.close()
