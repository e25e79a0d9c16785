"""The hosts verbs of the API called directly (issue 25, step 3): add, list, look up and
remove hosts, Slurm settings and scripts, and the probe, in a fresh config folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.api import host_admin as api
from tether.errors import UsageError


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TETHER_CONFIG_DIR", str(folder))
    return folder


def test_add_list_get_and_remove_hosts(config: Path) -> None:
    assert api.list_hosts() == {}
    options = api.parse_options(("Port=2222",))
    path = api.add_host(api.HostSpec(name="gpu1", dest="me@gpu1", options=options))
    assert path == config / "hosts.toml" and path.is_file()
    settings = api.slurm_settings({"partition": "short", "cpus": "4"}, ["SLURM_CONF=/etc/s.conf"])
    api.add_host(api.HostSpec(name="login", dest="local", scheduler="slurm", **settings))

    assert list(api.list_hosts()) == ["gpu1", "login"]
    assert api.get_host("gpu1").options == {"Port": "2222"}
    assert api.get_host("login").partition == "short"
    assert api.get_host("login").env == {"SLURM_CONF": "/etc/s.conf"}
    assert not api.host_runs_here("gpu1") and api.host_runs_here("login")
    with pytest.raises(UsageError, match="exists already"):
        api.add_host(api.HostSpec(name="gpu1", dest="other"))

    api.remove_host("gpu1")
    assert list(api.list_hosts()) == ["login"]
    with pytest.raises(UsageError, match="no host named 'gpu1'"):
        api.get_host("gpu1")


def test_slurm_settings_and_script(config: Path) -> None:
    with pytest.raises(UsageError, match="NAME=VALUE"):
        api.slurm_settings({}, ["nope"])
    api.add_host(api.HostSpec(name="login", dest="local", scheduler="slurm", partition="short"))
    api.add_host(api.HostSpec(name="plain", dest="me@plain"))

    script = api.slurm_script("login", {"mem": "2G"}, ["python", "train.py"])
    assert script.startswith("#!") and script.endswith("python train.py\n")
    assert "#SBATCH --partition=short\n" in script and "#SBATCH --mem=2G\n" in script
    with pytest.raises(UsageError, match="not a Slurm cluster"):
        api.slurm_script("plain", {}, ["true"])


def test_probe_here_and_no_gpu_holders(config: Path) -> None:
    rows = api.probe(timeout=5, include_local=True)
    assert [row.name for row in rows] == ["local"]
    assert rows[0].resources is not None and rows[0].resources.cpu_count >= 1
    assert api.gpu_holders() == {}
