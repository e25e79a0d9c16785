"""Where a job runs is read in few places (issue 25): a ratchet on the count of lines outside the
backends' own code that look at a job's placement (its backend, remote id, the Slurm job id, the
SSH host's uuid, ``target == "local"``, the placement keys of ``extra``).

The count may only go down: lower ``CEILING`` when a change moves such a read behind the
Backend seam, never raise it. The goal of issue 25 is 0 for the verbs it moves.
"""

from __future__ import annotations

import re

from ratchets import matching_lines

# The backends' own code (and the store, which defines the placement) may read it freely.
OWNERS = ("store", "agent", "targets", "backends")
READ = re.compile(
    r"\.slurm_id\b|\.remote_uuid\b|\.remote_id\b|\.remote_number\b|\.backend\b|\.placement\b"
    r"|target\s*(==|!=)\s*['\"]local['\"]|(target|backend) = '\w+'"
    r"|extra(\.get\(|\[)['\"](slurm_\w+|remote_\w+)['\"]"
)
CEILING = 0


def placement_reads() -> list[str]:
    """``path:line: text`` of each line outside the owners that reads a job's placement."""
    return matching_lines(READ, lambda relative: relative.parts[0] not in OWNERS)


def test_placement_is_read_in_no_more_places_than_before() -> None:
    found = placement_reads()
    assert len(found) <= CEILING, "new reads of a job's placement:\n" + "\n".join(found)


def test_the_count_finds_what_it_looks_for() -> None:
    assert READ.search("if job.slurm_id is not None:")
    assert READ.search("if record.target == 'local' or x:")
    assert READ.search('job.extra.get("slurm_local")')
    assert READ.search("status = ? AND backend = 'local'")
    assert not READ.search('job.extra.get("params")')
