"""Slurm pieces that need no cluster: resource options, sbatch scripts, job states."""

from __future__ import annotations

from tether.targets.slurm.resources import Resources, merge, parse_resources
from tether.targets.slurm.script import DEFAULT_TEMPLATE, load_template, render_script
from tether.targets.slurm.states import (
    SlurmJobState,
    combine_states,
    parse_sacct,
    parse_sbatch_parsable,
    parse_scontrol,
    parse_squeue,
    poll_commands,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "Resources",
    "SlurmJobState",
    "combine_states",
    "load_template",
    "merge",
    "parse_resources",
    "parse_sacct",
    "parse_sbatch_parsable",
    "parse_scontrol",
    "parse_squeue",
    "poll_commands",
    "render_script",
]
