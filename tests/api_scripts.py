"""Running a Python script that calls ``tether.api`` the way users do: a file in the project,
run by the project's Python against one TETHER_HOME, printing one JSON answer."""

from __future__ import annotations

import json
import subprocess
import textwrap
from typing import Any

from conftest import Tether


def api_script(tt: Tether, body: str, *, timeout: float = 120) -> Any:
    """Run ``body`` (after ``import json; from tether import api``) as a script in ``tt``'s
    project and environment; ``body`` sets ``answer``, which is printed as JSON and returned."""
    code = "import json\nfrom tether import api\n" + textwrap.dedent(body)
    code += "\nprint(json.dumps(answer, default=str))\n"
    path = tt.cwd / "steer_with_api.py"
    path.write_text(code)
    proc = subprocess.run(
        [tt.python, str(path)], cwd=tt.cwd, env=tt.env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
