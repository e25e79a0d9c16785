"""The public Python API under the CLI and the web dashboard: one implementation of each verb."""

from tether.api.jobs import (
    cancel_job,
    get_job,
    job_metrics,
    job_program,
    list_jobs,
    log_range,
    probe_hosts,
    rerun_job,
)
from tether.api.verbs import (
    follow_log,
    grep_log,
    job_history,
    open_store,
    submit_job,
    tail_log,
    wait_jobs,
)

__all__ = [
    "cancel_job",
    "follow_log",
    "get_job",
    "grep_log",
    "job_history",
    "job_metrics",
    "job_program",
    "list_jobs",
    "log_range",
    "open_store",
    "probe_hosts",
    "rerun_job",
    "submit_job",
    "tail_log",
    "wait_jobs",
]
