"""One number for every job: the jobs of an SSH host are known here by this machine's numbers
(their records here), which users see and type; the host's own numbers appear only as the
``remote_number`` and ``remote_parent`` fields of ``--json``.

A verb asked of a host (``--on HOST``, :func:`tether.backends.ssh.ask_host`) goes through
:func:`to_host` on the way out (a number typed here becomes the job's uuid, which both sides
know it by) and :func:`localize` on the way back (each job in the answer gets its number here;
a job of the host not yet recorded here is recorded, so it has one).
"""

from __future__ import annotations

from typing import Any

from tether.errors import UsageError
from tether.store.jobs import JobStore

REF_ARGS = ("job", "other")
"""Request arguments naming one job."""
LIST_ARGS = ("jobs",)
"""Request arguments naming several jobs."""


class HostNumbers:
    """This machine's numbers for ``host``'s jobs, read from the records here of them."""

    def __init__(self, store: JobStore, host: str) -> None:
        self.store = store
        self.host = host
        self._by_uuid: dict[str, int] = {}
        self._uuid_of: dict[int, str] = {}
        self._by_number: dict[int, int] = {}
        for job in store.iter_where("backend = 'ssh' AND target = ?", (host,)):
            if job.remote_id:
                self._by_uuid[job.remote_id] = job.number
                self._uuid_of[job.number] = job.remote_id
            if job.remote_number is not None:
                self._by_number[job.remote_number] = job.number

    def host_ref(self, ref: object) -> str:
        """What the host knows the job typed here as ``ref`` by: its uuid for a number here
        (which must be a record of one of the host's jobs); a uuid or prefix as typed."""
        text = str(ref)
        if not text.isdigit():
            return text
        uuid = self._uuid_of.get(int(text))
        if uuid is not None:
            return uuid
        raise UsageError(
            f"job #{text} is not a job on {self.host}; `tether ls --on {self.host}` lists "
            "its jobs with their numbers here"
        )

    def local(self, host_number: object) -> int | None:
        """This machine's number for the host's job number ``host_number`` (None: unknown)."""
        return self._by_number.get(host_number) if isinstance(host_number, int) else None

    def label(self, text: object) -> object:
        """``job #N`` (the host's N) with this machine's number; anything else as it is."""
        if isinstance(text, str) and text.startswith("job #") and text[5:].isdigit():
            local = self.local(int(text[5:]))
            return f"job #{local}" if local is not None else text
        return text

    def row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A job row of the host's answer with this machine's numbers (the job recorded here
        first when it is not yet, so it has one)."""
        uuid = str(row["uuid"])
        number = self._by_uuid.get(uuid)
        if number is None and "status" in row:
            number = self._record(row)
        out = {**row, "host": self.host, "remote_number": row.get("number")}
        out.update(number=number, local_number=number)
        if "parent" in row:
            out.update(parent=self.local(row.get("parent")), remote_parent=row.get("parent"))
        return out

    def _record(self, row: dict[str, Any]) -> int:
        from tether.targets.ssh import remote_jobs

        [number] = remote_jobs.record_local(self.host, [row], parent=self.local(row.get("parent")))
        self._by_uuid[str(row["uuid"])] = number
        self._uuid_of[number] = str(row["uuid"])
        if isinstance(row.get("number"), int):
            self._by_number[row["number"]] = number
        return number


def to_host(numbers: HostNumbers, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` of a request to the host with each job typed here as the host knows it."""
    out = dict(args)
    for key in REF_ARGS:
        if out.get(key) is not None:
            out[key] = numbers.host_ref(out[key])
    for key in LIST_ARGS:
        if out.get(key):
            out[key] = [numbers.host_ref(ref) for ref in out[key]]
    return out


def _is_job(data: object) -> bool:
    return isinstance(data, dict) and "uuid" in data and "number" in data


def localize(numbers: HostNumbers, verb: str, answer: Any) -> Any:
    """The host's answer to ``verb`` with this machine's numbers for its jobs."""
    if isinstance(answer, list):
        return [numbers.row(r) if _is_job(r) else r for r in answer]
    if not isinstance(answer, dict):
        return answer
    if _is_job(answer):
        return numbers.row(answer)
    out = dict(answer)
    if verb == "diff":  # labels: "job #N" or a file's name
        out.update(old=numbers.label(answer.get("old")), new=numbers.label(answer.get("new")))
    elif verb == "save" and "number" in answer:
        out.update(number=numbers.local(answer["number"]), remote_number=answer["number"])
    elif verb == "clean":
        removed = answer.get("removed") or []
        here = [numbers.local(n) for n in removed]
        out.update(removed=[n for n in here if n is not None], remote_removed=removed)
    return out
