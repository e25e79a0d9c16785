"""``python -m tether.agent --home DIR``: the agent process (normally started by the CLI)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tether.agent import testclock
from tether.agent.daemon import Agent


def main() -> None:
    parser = argparse.ArgumentParser(prog="tether-agent")
    parser.add_argument("--home", required=True)
    parser.add_argument("--parallel", type=int, default=None)
    args = parser.parse_args()
    testclock.install()
    Agent(Path(args.home), parallel=args.parallel).serve()


if __name__ == "__main__":
    main()
