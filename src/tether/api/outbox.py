"""A job's notifications through the API: each one queued, sent or given up, from the outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether.store.jobs import JobStore

if TYPE_CHECKING:
    from tether.store.outbox import OutboxRow


def job_notifications(store: JobStore, number: int) -> list[OutboxRow]:
    """Each notification of job NUMBER, oldest first: event, channel, times, delivery status
    (``row.to_json()`` is a row of ``tether notifications --json``)."""
    from tether.store.outbox import Outbox

    return Outbox(store.conn).for_job(number)
