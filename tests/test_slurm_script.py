"""sbatch script rendering: golden scripts, template syntax, quoting that survives bash and sbatch.

Golden files live in tests/golden/slurm/; rerun with TETHER_UPDATE_GOLDEN=1 to rewrite them.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tether.backends.slurm_submit import dependency_line
from tether.errors import ConfigError, UsageError
from tether.targets.slurm.resources import Resources, parse_resources
from tether.targets.slurm.script import (
    DEFAULT_TEMPLATE,
    check_template,
    load_template,
    render_script,
)

GOLDEN = Path(__file__).parent / "golden" / "slurm"

HOSTILE_ARGS = [
    "train.py",
    "--name",
    'it\'s a "test"',
    "$HOME",
    "`id`",
    "$(touch /tmp/tether-pwned)",
    "a;b|c&d",
    "two\nlines",
    "*",
    "#not-a-comment",
    "",
    "ünïcode ✓",
]
HOSTILE_ENV = {
    "PLAIN": "value",
    "SPACES": "a b  c",
    "QUOTES": 'it\'s "quoted"',
    "DOLLAR": "$PATH `id` $(id)",
    "NEWLINE": "one\ntwo",
    "EMPTY": "",
}

HOST_TEMPLATE = """\
#!/bin/bash -l
#SBATCH --job-name=#job_name:default=tether#
#SBATCH --partition=#partition:default=batch#
#SBATCH --time=#time:format=time:default=86400#
#SBATCH --cpus-per-task=#cpus#
#SBATCH --mem=#mem#
#SBATCH --gres=#gres#
#SBATCH --nodes=1
#SBATCH #sbatch_lines#
##SBATCH --exclusive  (disabled directive, left as is)

# site setup: $# and ${#list[@]} are shell, not placeholders
module load #modules#
cd #workdir:default=/scratch#
export #env#
echo "started $(date)" #job_name:default=job#
srun #command#
"""


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/slurm/<name>.sh.

    Under TETHER_UPDATE_GOLDEN=1 a file that differs is rewritten and the test still fails
    (an update run never passes a comparison it did not make); refused when CI=true.
    """
    path = GOLDEN / f"{name}.sh"
    if os.environ.get("TETHER_UPDATE_GOLDEN") == "1":
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                "TETHER_UPDATE_GOLDEN=1 is refused when CI=true: "
                "update golden files locally and commit them",
                pytrace=False,
            )
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            pytest.fail(
                f"golden file {path} rewritten; run again without TETHER_UPDATE_GOLDEN",
                pytrace=False,
            )
        return
    if not path.exists():
        pytest.fail(f"{path} is missing; run with TETHER_UPDATE_GOLDEN=1 to create it")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=str(path),
                tofile="rendered",
            )
        )
        pytest.fail(
            f"rendered script differs from {path}:\n{diff}\n"
            "If the change is intended, rerun with TETHER_UPDATE_GOLDEN=1.",
            pytrace=False,
        )


def test_golden_update_mode_rewrites_then_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    golden = tmp_path / "case.sh"
    golden.write_text("old\n")
    monkeypatch.delenv("TETHER_UPDATE_GOLDEN", raising=False)
    with pytest.raises(pytest.fail.Exception, match="rendered script differs"):
        check_golden("case", "new\n")
    assert golden.read_text() == "old\n"

    monkeypatch.setenv("TETHER_UPDATE_GOLDEN", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        check_golden("case", "new\n")
    assert str(failed.value) == (
        f"golden file {golden} rewritten; run again without TETHER_UPDATE_GOLDEN"
    )
    assert golden.read_text() == "new\n"
    check_golden("case", "new\n")  # equal: nothing rewritten, passes
    with pytest.raises(pytest.fail.Exception, match="rewritten"):
        check_golden("created", "x\n")  # a missing file is created, and fails too
    assert (tmp_path / "created.sh").read_text() == "x\n"


def test_golden_update_mode_is_refused_on_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)
    (tmp_path / "case.sh").write_text("old\n")
    monkeypatch.setenv("TETHER_UPDATE_GOLDEN", "1")
    monkeypatch.setenv("CI", "true")
    for text in ("new\n", "old\n"):
        with pytest.raises(pytest.fail.Exception, match="refused when CI=true"):
            check_golden("case", text)
    assert (tmp_path / "case.sh").read_text() == "old\n"


def full_resources() -> Resources:
    return parse_resources(
        job_name="train-resnet",
        output="/scratch/alice/runs/%j/out.log",
        error="/scratch/alice/runs/%j/err.log",
        cpus=8,
        mem="1.5G",
        gpus="a100:2",
        time="1d12h",
        partition="gpu",
        account="lab-42",
        qos="high",
        constraint="a100&ib",
        array="0-9%2",
        sbatch_lines=["--exclusive", "--mail-type=END,FAIL", "--signal=B:USR1@120"],
    )


GOLDEN_CASES = {
    "default_minimal": lambda: render_script(Resources(), ["python3", "train.py"], None, {}),
    "default_full": lambda: render_script(
        full_resources(),
        ["python3", "-u", "train.py", "--epochs", "10"],
        "/home/alice/project",
        {"TETHER_JOB": "17", "OMP_NUM_THREADS": "8"},
    ),
    "default_gpus_option": lambda: render_script(
        parse_resources(gpus=4, gpu_style="gpus", time=3600, mem=16000),
        ["python3", "main.py"],
        "~/project",
        None,
    ),
    "hostile_values": lambda: render_script(
        parse_resources(
            job_name='it\'s #1 "best" job',
            output="/scratch/my runs/%x-%j.out",
            account="proj\\x",
        ),
        ["python3", *HOSTILE_ARGS],
        "~/dir with 'quotes' $HOME",
        HOSTILE_ENV,
    ),
    "dependency": lambda: render_script(
        parse_resources(time=600, sbatch_lines=[dependency_line(["4101", "4102"], ["4099"]) or ""]),
        ["python3", "evaluate.py"],
        "~/project",
        None,
    ),
    "host_template": lambda: render_script(
        parse_resources(cpus=4, gpus="v100:1", sbatch_lines=["--mail-type=END"]),
        ["python3", "train.py", "--lr", "1e-3"],
        None,
        {"WANDB_MODE": "offline"},
        HOST_TEMPLATE,
        values={"modules": "cuda/12.1"},
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_scripts(name: str) -> None:
    check_golden(name, GOLDEN_CASES[name]())


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_rendered_scripts_are_valid_bash(name: str, tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text(GOLDEN_CASES[name](), encoding="utf-8")
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_body_quoting_survives_bash(tmp_path: Path) -> None:
    """Run the rendered body with bash: arguments, env values and workdir arrive unchanged."""
    workdir = tmp_path / "dir with 'quotes' $HOME `id`"
    workdir.mkdir()
    probe = (
        "import json, os, sys; "
        "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), "
        f"'env': {{k: os.environ.get(k) for k in {sorted(HOSTILE_ENV)!r}}}}}))"
    )
    script = render_script(
        parse_resources(job_name="x'y", output="/tmp/a b"),
        [sys.executable, "-c", probe, *HOSTILE_ARGS],
        str(workdir),
        HOSTILE_ENV,
    )
    path = tmp_path / "job.sh"
    path.write_text(script, encoding="utf-8")
    result = subprocess.run(
        ["bash", str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["argv"] == HOSTILE_ARGS
    assert seen["cwd"] == str(workdir)
    assert seen["env"] == HOSTILE_ENV
    assert not Path("/tmp/tether-pwned").exists()


def sbatch_argument(line: str) -> list[str]:
    """Split a #SBATCH line's options the way sbatch's _get_argument (src/sbatch/opt.c) does."""
    args: list[str] = []
    rest = line
    while True:
        rest = rest.lstrip()
        if not rest:
            return args
        out: list[str] = []
        quote, escape, i = "", False, 0
        while i < len(rest) and (quote or not rest[i].isspace()):
            char = rest[i]
            i += 1
            if escape:
                escape = False
            elif char == "\\":
                escape = True
                continue
            elif quote:
                if char == quote:
                    quote = ""
                    continue
            elif char in "\"'":
                quote = char
                continue
            elif char == "#":
                return [*args, "".join(out)] if out else args
            out.append(char)
        args.append("".join(out))
        rest = rest[i:]


def sbatch_options(script: str) -> list[str]:
    return [
        arg
        for line in script.splitlines()
        if line.startswith("#SBATCH")
        for arg in sbatch_argument(line[len("#SBATCH") :])
    ]


def test_directive_values_survive_sbatch_parsing() -> None:
    resources = parse_resources(
        job_name='it\'s #1 "best" job',
        output="/scratch/my runs/%x-%j.out",
        account="back\\slash",
        constraint="a100&(ib|eth)",
        sbatch_lines=["--mail-type=END", "--comment='two words'"],
    )
    options = sbatch_options(render_script(resources, ["true"]))
    assert options == [
        '--job-name=it\'s #1 "best" job',
        "--output=/scratch/my runs/%x-%j.out",
        "--account=back\\slash",
        "--constraint=a100&(ib|eth)",
        "--mail-type=END",
        "--comment=two words",
    ]


def test_default_template_lines_drop_when_unset() -> None:
    script = render_script(Resources(cpus=2), ["python3", "x.py"])
    assert script == "#!/bin/bash\n#SBATCH --cpus-per-task=2\n\npython3 x.py\n"


def test_time_format_and_defaults() -> None:
    template = "#SBATCH --time=#time:format=time:default=5400#\n#SBATCH --x=#qos:default=a:b c#\n"
    assert render_script(Resources(), ["true"], template=template) == (
        '#SBATCH --time=01:30:00\n#SBATCH --x="a:b c"\n'
    )
    assert render_script(Resources(time="2d"), ["true"], template=template).startswith(
        "#SBATCH --time=2-00:00:00\n"
    )
    assert render_script(
        Resources(), ["true"], template="#SBATCH --time=#limit:format=time#\n", values={"limit": 90}
    ) == ("#SBATCH --time=00:01:30\n")


def test_time_format_after_the_default() -> None:
    """`#time:default=600:format=time#` (issue 17) renders a Slurm time, not `600:format=time`."""
    template = "#SBATCH --time=#time:default=600:format=time#\n"
    check_template(template)
    assert render_script(Resources(), ["true"], template=template) == "#SBATCH --time=00:10:00\n"
    assert render_script(Resources(time="90m"), ["true"], template=template) == (
        "#SBATCH --time=01:30:00\n"
    )
    with pytest.raises(ConfigError, match="unknown format 'tim'"):
        check_template("#SBATCH --time=#time:default=600:format=tim#\n")


def test_body_defaults_are_quoted_too() -> None:
    script = render_script(Resources(), ["true"], template="cd #workdir:default=/a b#\n")
    assert script == "cd '/a b'\n"


def test_mixed_line_keeps_values_and_blanks_missing_ones() -> None:
    template = "#SBATCH --comment=#qos#/#account#\n"
    assert render_script(Resources(account="lab"), ["true"], template=template) == (
        "#SBATCH --comment=/lab\n"
    )


def test_list_placeholders_repeat_their_line() -> None:
    template = "export #env# # set\n"
    script = render_script(Resources(), ["true"], env={"A": "1", "B": "x y"}, template=template)
    assert script == "export A=1 # set\nexport B='x y' # set\n"


def test_shell_hashes_are_not_placeholders() -> None:
    template = 'echo $# ${#list[@]} "#" # comment\n##SBATCH --exclusive\n#!/bin/bash\n'
    assert render_script(Resources(), ["true"], template=template) == template


def test_home_relative_workdir_stays_expandable() -> None:
    assert "cd ~/'my project'\n" in render_script(Resources(), ["true"], "~/my project")
    assert "cd ~\n" in render_script(Resources(), ["true"], "~")
    assert "cd '~user/x'\n" in render_script(Resources(), ["true"], "~user/x")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("#SBATCH --partition=#partiton#\n", r"line 1: unknown placeholder #partiton#.*partition"),
        ("ok\n#SBATCH --time=#time:format=minutes#\n", r"line 2: unknown format 'minutes'.*time"),
        ("echo #env# #sbatch_lines#\n", "line 1: a line may hold one list placeholder"),
    ],
)
def test_template_errors_name_the_line(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        render_script(Resources(), ["true"], template=template)


def test_load_template(tmp_path: Path) -> None:
    good = tmp_path / "host.sbatch"
    good.write_text(HOST_TEMPLATE, encoding="utf-8")
    assert load_template(good, extra_names=["modules"]) == HOST_TEMPLATE
    with pytest.raises(ConfigError, match=rf"{good}, line 13: unknown placeholder #modules#"):
        load_template(good)
    bad = tmp_path / "bad.sbatch"
    bad.write_text("#!/bin/bash\n#SBATCH --mem=#memory#\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{bad}, line 2: unknown placeholder #memory#"):
        load_template(bad)
    with pytest.raises(ConfigError, match="Cannot read the sbatch template"):
        load_template(tmp_path / "missing.sbatch")


def test_host_template_names_are_allowed_when_given_values() -> None:
    with pytest.raises(ConfigError, match="unknown placeholder #modules#"):
        render_script(Resources(), ["true"], template=HOST_TEMPLATE)


def test_values_never_add_script_lines() -> None:
    """A newline in an argument cannot end a comment and run the rest as a command."""
    template = "#!/bin/bash\n# runs: #command#\necho #job_name:default=x# # env: #env#\ntrue\n"
    script = render_script(
        Resources(), ["python3", "x\nrm -rf ~\n"], None, {"A": "1\ntouch /tmp/p"}, template
    )
    assert script == (
        "#!/bin/bash\n"
        "# runs: python3 $'x\\nrm -rf ~\\n'\n"
        "echo x # env: A=$'1\\ntouch /tmp/p'\n"
        "true\n"
    )


def test_newlines_cannot_reach_sbatch_lines() -> None:
    with pytest.raises(UsageError, match="must not contain a newline"):
        render_script(
            Resources(),
            ["true"],
            template="#SBATCH --x=#note#\n",
            values={"note": "a\n#SBATCH --y"},
        )


@pytest.mark.parametrize("command", [[], "python3 train.py", ["python3", 3]])
def test_command_must_be_a_list_of_strings(command: object) -> None:
    with pytest.raises(UsageError, match="non-empty list"):
        render_script(Resources(), command, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "", "A=B", "X;rm"])
def test_env_names_are_checked(name: str) -> None:
    with pytest.raises(UsageError, match="Invalid environment variable name"):
        render_script(Resources(), ["true"], env={name: "x"})


def test_default_template_is_exported() -> None:
    assert DEFAULT_TEMPLATE.startswith("#!/bin/bash\n")
    assert render_script(Resources(), ["true"], template=DEFAULT_TEMPLATE) == render_script(
        Resources(), ["true"]
    )


def test_dependency_line_uses_slurms_syntax() -> None:
    assert dependency_line(["7"], []) == "--dependency=afterok:7"
    assert dependency_line([], ["7", "8"]) == "--dependency=afterany:7:8"
    assert dependency_line([], []) is None
