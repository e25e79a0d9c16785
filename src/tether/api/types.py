"""The record types and statuses the API's callers name (the CLI's and the dashboard's type
hints and choices), without loading the verbs."""

from tether.jobs.status import FINISHED, RUNNING, STATUSES
from tether.store.jobs import Job, JobStore

__all__ = ["FINISHED", "RUNNING", "STATUSES", "Job", "JobStore"]
