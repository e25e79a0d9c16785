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
    """This machine's numbers for ``host``'s jobs, looked up in the records here of them as
    needed (indexed queries, one per answer's batch of jobs: flat in the number of records)."""

    _SSH = "backend = 'ssh' AND target = ?"

    def __init__(self, store: JobStore, host: str) -> None:
        self.store = store
        self.host = host
        self._by_uuid: dict[str, int | None] = {}
        self._uuid_of: dict[int, str | None] = {}
        self._by_number: dict[int, int | None] = {}

    def _remember(self, number: int, uuid: str | None, remote_number: int | None) -> None:
        if uuid:
            self._by_uuid[uuid] = number
            self._uuid_of[number] = uuid
        if remote_number is not None:
            self._by_number[remote_number] = number

    def prefetch(self, uuids: list[str], remote_numbers: list[int]) -> None:
        """Look up at once the numbers here of the jobs with these uuids, and of the host's
        jobs with these numbers (an answer's rows and their parents)."""
        for uuid in self._lookup("remote_id", [u for u in uuids if u not in self._by_uuid]):
            self._by_uuid.setdefault(uuid, None)  # no record here (yet)
        wanted = [n for n in remote_numbers if n not in self._by_number]
        for remote_number in self._lookup("remote_number", wanted):
            self._by_number.setdefault(remote_number, None)

    def _lookup(self, column: str, values: list[Any]) -> list[Any]:
        """Remember the records here of the host's jobs whose ``column`` is one of
        ``values`` (in batches); the values asked for."""
        asked = sorted(set(values))
        for start in range(0, len(asked), 500):
            part = asked[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.store.conn.execute(
                f"SELECT number, remote_id, remote_number FROM jobs WHERE {self._SSH} "
                f"AND {column} IN ({marks})",
                (self.host, *part),
            ).fetchall()
            for number, uuid, remote_number in rows:
                self._remember(number, uuid, remote_number)
        return asked

    def _number_of_uuid(self, uuid: str) -> int | None:
        if uuid not in self._by_uuid:
            self.prefetch([uuid], [])
        return self._by_uuid.get(uuid)

    def host_ref(self, ref: object) -> str:
        """What the host knows the job typed here as ``ref`` by: its uuid for a number here
        (which must be a record of one of the host's jobs); a uuid or prefix as typed."""
        text = str(ref)
        if not text.isdigit():
            return text
        number = int(text)
        if number not in self._uuid_of:
            row = self.store.conn.execute(
                f"SELECT remote_id FROM jobs WHERE number = ? AND {self._SSH}", (number, self.host)
            ).fetchone()
            self._uuid_of[number] = row[0] if row else None
        uuid = self._uuid_of[number]
        if uuid is not None:
            return uuid
        raise UsageError(
            f"job #{text} is not a job on {self.host}; `tether ls --on {self.host}` lists "
            "its jobs with their numbers here"
        )

    def local(self, host_number: object) -> int | None:
        """This machine's number for the host's job number ``host_number`` (None: unknown)."""
        if not isinstance(host_number, int):
            return None
        if host_number not in self._by_number:
            self.prefetch([], [host_number])
        return self._by_number.get(host_number)

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
        number = self._number_of_uuid(uuid)
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
        remote_number = row.get("number")
        self._remember(
            number, str(row["uuid"]), remote_number if isinstance(remote_number, int) else None
        )
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
        jobs = [r for r in answer if _is_job(r)]
        parents = [r["parent"] for r in jobs if isinstance(r.get("parent"), int)]
        numbers.prefetch([str(r["uuid"]) for r in jobs], parents)
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
