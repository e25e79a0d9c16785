#!/usr/bin/env bash
# Install tether into .venv and run the demo job (examples/train.py) on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
  echo "python3 venv support is missing: installing python3-venv" >&2
  apt-get install -y --no-install-recommends python3-venv
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check .
.venv/bin/tether run --wait examples/train.py
.venv/bin/tether ls
.venv/bin/tether scalars
