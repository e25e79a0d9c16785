"""Running a Python function over many inputs as one tether job: ``Dataset`` and ``Executor``.

Modules, one per noun: ``serialization`` (cloudpickle, Python version check), ``layout`` (the
files of one dataset under ``TETHER_HOME/datasets/NAME``), ``targets`` (where the worker job
runs: the seam between "here" and "over SSH"), ``choose`` (which target ``on=`` names),
``ssh_target`` with ``remote_host`` (the one-call probe of a host) and ``remote_files`` (the
rsync calls), ``slurm_target`` (job arrays), ``worker`` (the job's launcher and its forked
worker processes), ``dataset``, ``executor`` and ``magic`` (the ``%%tether`` cell magic).

This package's ``__init__`` imports nothing, so the worker job starts fast.
"""
