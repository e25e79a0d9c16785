"""Real servers for the test suite, started on loopback by the tests themselves.

* :mod:`rigs.sshd`  - OpenSSH sshd (+ a second "host" in a network namespace)
* :mod:`rigs.mail`  - aiosmtpd SMTP/submission/SMTPS + dovecot IMAP/IMAPS/LMTP
* :mod:`rigs.slurm` - munged + slurmctld + slurmd, one node
* :mod:`rigs.plugin` - the session-scoped pytest fixtures built on them

Every class is a context manager that starts its daemons in a short private
temp dir (``/tmp/tt-*``) and stops them, by PID, on exit.
"""

from __future__ import annotations

from rigs.common import RigError, RigUnavailable

__all__ = ["RigError", "RigUnavailable"]
