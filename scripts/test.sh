#!/usr/bin/env bash
# Install everything the test suite needs (Debian and Python packages), then run all of it:
# lint, type check and pytest. Real servers (sshd, SMTP/IMAP, Slurm) are started by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f scripts/install-test-deps.sh ]; then
  bash scripts/install-test-deps.sh
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"

.venv/bin/ruff check src tests bench examples
.venv/bin/ruff format --check src tests bench examples
.venv/bin/mypy
export TETHER_REQUIRE_RIGS="${TETHER_REQUIRE_RIGS:-1}"
# the venv's tools (uv from the test extra) on PATH, as for a user with the venv activated:
# tether finds uv with a PATH lookup
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/pytest -q "$@"
