"""The record types and statuses the API's callers name (the CLI's and the dashboard's type
hints and choices), without loading the verbs."""

from tether.jobs.status import FINISHED, RUNNING, STATUSES
from tether.store.jobs import Job, JobStore

__all__ = ["FINISHED", "LATEST", "RUNNING", "STATUSES", "Job", "JobStore"]

LATEST = 20
"""Finished jobs the default ``tether ls`` shows (beside every queued and running one)."""
