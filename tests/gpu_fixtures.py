"""The fake ``nvidia-smi`` (tests/data/nvidia_smi_standin.py; there is no GPU here) first on a
``tether`` fixture's PATH, as the agent and the CLI then find it."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Tether

STANDIN = Path(__file__).parent / "data" / "nvidia_smi_standin.py"


def fake_nvidia_smi(tether: Tether, folder: Path, **env: str) -> Tether:
    """Put the stand-in on ``tether``'s PATH (in ``folder``/bin), with its settings in ``env``
    (``NVIDIA_SMI_STANDIN_COUNT="3"``, ...), and an empty config folder (no hosts from other
    tests). Returns ``tether``."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    shutil.copy(STANDIN, bin_dir / "nvidia-smi")
    (bin_dir / "nvidia-smi").chmod(0o755)
    tether.env["PATH"] = f"{bin_dir}:{tether.env['PATH']}"
    tether.env.update(env)
    config = folder / "config"
    config.mkdir()
    tether.env["TETHER_CONFIG_DIR"] = str(config)
    return tether
