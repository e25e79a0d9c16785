"""The CLI and the dashboard are thin clients of ``tether.api`` (issue 25, step 3): a ratchet
on the lines of ``cli/`` and ``web/`` that import the store, the agent or the targets
directly. The count may only go down (lower ``CEILING`` when a command moves onto the API);
the goal is 0, when the import contract can forbid these imports outright."""

from __future__ import annotations

import re

from ratchets import matching_lines

BELOW_THE_API = re.compile(r"^\s*(from|import)\s+tether\.(store|agent|targets)\b")
CEILING = 0  # 62 when added (issue 25); `show`, the types (tether.api.types), the host
# commands, then the job verbs that ask hosts, ls --all, agent, notifications and notebook


def direct_imports() -> list[str]:
    """``path:line: text`` of each import of the store, agent or targets in cli/ and web/."""
    return matching_lines(BELOW_THE_API, lambda relative: relative.parts[0] in ("cli", "web"))


def test_the_clients_import_below_the_api_in_no_more_places_than_before() -> None:
    found = direct_imports()
    assert len(found) <= CEILING, "new direct imports below the API:\n" + "\n".join(found)


def test_the_count_finds_what_it_looks_for() -> None:
    assert BELOW_THE_API.match("    from tether.store.jobs import Job")
    assert BELOW_THE_API.match("from tether.targets.ssh import remote_jobs")
    assert not BELOW_THE_API.match("from tether.api.jobs import ls")
    assert not BELOW_THE_API.match("from tether.errors import UsageError")
