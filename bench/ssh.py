"""Remote call latency and re-sync time over SSH, in the same run.

* a remote control call through tether's multiplexed connection, warm:
  ``tether ls --on HOST --json`` (this CLI's start-up, one ssh round trip, the host's
  tether answering one JSON request), its parts (that request, answered on the host by
  ``python -I -m tether.api.answer_main``, alone, and by the CLI's ``tether _answer`` for
  comparison; this CLI's start-up for ``--version``), ``tether ls --all --json`` (this
  machine and the host), the ``tether hosts check`` CLI, and the bare transport call
  (``Transport.run(["true"])``) without the CLI's start-up;
* a bare ``ssh HOST true`` with multiplexing (warm master) and without (new connection);
* ``tether sync`` after changing one file in a generated 5,000-file project;
* ``tether run --on HOST main.py`` of a project importing a package (a local wheel): the first
  run (makes the env there), the next ones (the env reused: no extra round trip), and with
  ``--no-env`` for comparison; a blocking ``run --on HOST -w main.py`` against the same
  program run by plain ``ssh HOST`` (a new connection) and through a ControlMaster.

Goals (issue 4): warm remote control call <= 400 ms; re-sync <= 1 s. Issue 26: the warm
control call against ``ssh HOST true`` through a ControlMaster, in one run: <= 150 ms and
<= 10x. Issue 27: a blocking run with the env reused adds <= 0.2 s over the same program run
by ssh through a ControlMaster.

The checkout's modules are byte-compiled first, as an installed package's are (pip compiles
them; a checkout run with ``PYTHONDONTWRITEBYTECODE`` would compile them on every start).
Run as root (it starts the test suite's private sshd): ``.venv/bin/python bench/ssh.py``
(``--quick``: only the control-call rows, no sync or env rows).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
N = 15
N_FILES = 5000


def median_ms(fn: Callable[[], object], n: int = N) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def paired_ms(
    fn: Callable[[], object], peer: Callable[[], object], n: int = 31
) -> tuple[float, float, float]:
    """``fn`` and its ``peer`` timed in turns (so both meet the same moments of a busy
    machine): the median of each, and the median of the ratios of each pair."""
    mine, theirs, ratios = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        peer()
        t2 = time.perf_counter()
        mine.append(t1 - t0)
        theirs.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    med = statistics.median
    return med(mine) * 1000, med(theirs) * 1000, med(ratios)


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def quiet(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    import compileall

    import tether

    compileall.compile_dir(Path(tether.__file__).parent, quiet=1)  # as an installed package
    from rigs.sshd import SSHServer
    from tether.backends import wire
    from tether.targets.ssh.hosts_config import get_host
    from tether.targets.ssh.remote_jobs import remote_cli, remote_module
    from tether.targets.ssh.transport import Transport

    work = Path(tempfile.mkdtemp(prefix="tb-ssh-"))
    env = {
        **os.environ,
        "TETHER_HOME": str(work / "home"),
        "TETHER_CONFIG_DIR": str(work / "config"),
    }
    os.environ.update({k: env[k] for k in ("TETHER_HOME", "TETHER_CONFIG_DIR")})
    tether = [sys.executable, "-m", "tether"]
    with SSHServer("rig1") as server:
        cfg = str(server.ssh_config)
        run([*tether, "hosts", "add", "rig1", "rig1", "--ssh-config", cfg], env)
        transport = Transport(get_host("rig1"))
        transport.run(["true"])  # opens the master
        subprocess.run([*tether, "hosts", "setup", "rig1"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        jobs_project = work / "jobs-project"
        jobs_project.mkdir()
        (jobs_project / "tether.toml").write_text("")
        for _ in range(3):  # a few finished jobs there, so that `ls` has rows to print
            run([*tether, "run", "--on", "rig1", "--", "true"], env, cwd=jobs_project)
        run([*tether, "wait", "--on", "rig1", "--all"], env)
        # and one running (its status is checked on every `ls`)
        sleeper = subprocess.run(
            [*tether, "run", "--on", "rig1", "--", "sleep", "600"],
            env=env,
            cwd=jobs_project,
            check=True,
            capture_output=True,
            text=True,
        )
        sleeping = sleeper.stdout.strip()  # its number: cancelled after the control-call rows
        ls_all_ms = median_ms(lambda: run([*tether, "ls", "--all", "--json"], env))
        cli_ms = median_ms(lambda: run([*tether, "--version"], env))
        asked = wire.request("ls", {})
        there_ms = median_ms(lambda: transport.run(remote_module(wire.MODULE), input=asked))
        there_cli_ms = median_ms(lambda: transport.run(remote_cli([wire.COMMAND]), input=asked))
        check_ms = median_ms(lambda: run([*tether, "hosts", "check", "rig1"], env))
        transport_ms = median_ms(lambda: transport.run(["true"]))
        mux = ["ssh", "-F", cfg, "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
               "-o", f"ControlPath={work}/cm-%C"]  # fmt: skip
        run([*mux, "rig1", "true"], env)
        ls_ms, mux_ms, ls_ratio = paired_ms(
            lambda: run([*tether, "ls", "--on", "rig1", "--json"], env),
            lambda: run([*mux, "rig1", "true"], env),
        )
        bare_ms = median_ms(lambda: run(["ssh", "-F", cfg, "rig1", "true"], env))
        run([*tether, "cancel", sleeping], env)  # the host's job slot is free for the run rows

        if quick:
            run(["ssh", "-F", cfg, "-O", "exit", "-o", f"ControlPath={work}/cm-%C", "rig1"], env)
            transport.close()
        else:
            (first_s, resync_s, env_first_s, env_again_ms, no_env_ms, wait_ms, plain_run_ms,
             mux_run_ms) = sync_and_env_rows(work, env, cfg, tether)  # fmt: skip
            run(["ssh", "-F", cfg, "-O", "exit", "-o", f"ControlPath={work}/cm-%C", "rig1"], env)
            transport.close()

    print(f"warm `tether ls --on HOST --json`:           {ls_ms:7.1f} ms (goal <= 400 ms)")
    print(f"  its parts: CLI start-up here (--version):  {cli_ms:7.1f} ms")
    print(f"  its parts: the host's answer to ls:        {there_ms:7.1f} ms (Transport.run, "
          "python -m tether.api.answer_main)")  # fmt: skip
    print(f"  (the same by the host's `tether _answer`:  {there_cli_ms:7.1f} ms)")
    print(f"warm `tether ls --all --json` (one host):    {ls_all_ms:7.1f} ms")
    print(f"warm remote call, `tether hosts check` CLI:  {check_ms:7.1f} ms")
    print(f"warm transport call (Transport.run true):   {transport_ms:7.1f} ms")
    print(f"bare `ssh HOST true`, multiplexed (warm):    {mux_ms:7.1f} ms")
    print(f"bare `ssh HOST true`, new connection:        {bare_ms:7.1f} ms")
    print(f"ratio `ls --on` / multiplexed ssh:           {ls_ratio:7.1f} x (goal <= 10x, "
          "<= 150 ms)")  # fmt: skip
    if not quick:
        print(f"first sync of {N_FILES} files:               {first_s * 1000:7.1f} ms")
        print(f"re-sync after changing one file:             {resync_s * 1000:7.1f} ms "
              "(goal <= 1 s)")  # fmt: skip
        print(f"`run --on HOST main.py`, first (makes the env): {env_first_s * 1000:7.1f} ms")
        print(f"`run --on HOST main.py`, again (env reused):   {env_again_ms:7.1f} ms")
        print(f"`run --on HOST --no-env main.py`:              {no_env_ms:7.1f} ms")
        print(f"blocking `run --on HOST -w main.py` (env reused): {wait_ms:7.1f} ms")
        print(f"  the same program by plain `ssh HOST`:          {plain_run_ms:7.1f} ms")
        print(f"  by `ssh HOST` through a ControlMaster:         {mux_run_ms:7.1f} ms")
        print(f"  added over ssh through the ControlMaster:      {wait_ms - mux_run_ms:7.1f} ms "
              "(goal <= 200 ms)")  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)


def sync_and_env_rows(
    work: Path, env: dict[str, str], cfg: str, tether: list[str]
) -> tuple[float, float, float, float, float]:
    """The sync and env rows: first sync, re-sync, first/again/--no-env `run --on HOST`."""
    project = work / "project"
    for i in range(N_FILES):
        folder = project / f"pkg{i // 100:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i:04d}.py").write_text(f"VALUE = {i}\n")
    (project / "tether.toml").write_text('[tether]\nhost = "rig1"\n')
    t0 = time.perf_counter()
    run([*tether, "sync"], env, cwd=project)
    first_s = time.perf_counter() - t0
    changed = project / "pkg00" / "mod0000.py"
    changed.write_text("VALUE = -1\n")
    t0 = time.perf_counter()
    run([*tether, "sync"], env, cwd=project)
    resync_s = time.perf_counter() - t0
    env_project = work / "env-project"
    env_project.mkdir()
    from test_env_cmd import make_wheel

    make_wheel(env_project / "wheels", "tinybench", "1.0")
    (env_project / "tether.toml").write_text('[env]\nfind_links = ["wheels"]\nno_index = true\n')
    (env_project / "main.py").write_text("import tinybench\n")
    runs = [*tether, "run", "--on", "rig1"]
    t0 = time.perf_counter()
    quiet([*runs, "main.py"], env, cwd=env_project)
    env_first_s = time.perf_counter() - t0
    env_again_ms = median_ms(lambda: quiet([*runs, "main.py"], env, cwd=env_project), n=5)
    no_env_ms = median_ms(lambda: quiet([*runs, "--no-env", "main.py"], env, cwd=env_project), n=5)
    # the same program run by plain ssh, in the project's copy there with the env's python
    rows = subprocess.run([*tether, "ls", "--on", "rig1", "--json"], env=env, check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    import json
    import shlex

    last = json.loads(rows)[-1]
    there = f"cd {shlex.quote(last['cwd'])} && {shlex.quote(last['launch'][0])} main.py"
    mux = ["ssh", "-F", cfg, "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
           "-o", f"ControlPath={work}/cm-%C"]  # fmt: skip
    plain_ms = median_ms(lambda: quiet(["ssh", "-F", cfg, "rig1", there], env), n=9)
    quiet([*mux, "rig1", "true"], env)  # the master, opened before the timed turns
    wait_ms, mux_ms, _ = paired_ms(
        lambda: quiet([*runs, "-w", "main.py"], env, cwd=env_project),
        lambda: quiet([*mux, "rig1", there], env),
        n=15,
    )
    return first_s, resync_s, env_first_s, env_again_ms, no_env_ms, wait_ms, plain_ms, mux_ms


if __name__ == "__main__":
    main()
