"""The public Python API under the CLI and the web dashboard: one implementation of each verb."""

from tether.api.jobs import (
    cancel_job,
    get_job,
    job_metrics,
    list_jobs,
    log_range,
    probe_hosts,
    rerun_job,
)

__all__ = [
    "cancel_job",
    "get_job",
    "job_metrics",
    "list_jobs",
    "log_range",
    "probe_hosts",
    "rerun_job",
]
