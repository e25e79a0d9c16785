"""Slurm resource options: accepted forms, normalization, errors, merging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.errors import UsageError
from tether.targets.slurm.resources import (
    PARAMETERS,
    Resources,
    format_duration,
    merge,
    parse_duration,
    parse_resources,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("4G", "4G"),
        ("500M", "500M"),
        (16000, "16000M"),
        ("16000", "16000M"),
        ("1.5G", "1536M"),
        ("4096M", "4G"),
        ("2g", "2G"),
        ("8GB", "8G"),
        ("8 GiB", "8G"),
        ("512K", "512K"),
        ("1T", "1T"),
        ("0.5T", "512G"),
    ],
)
def test_mem_is_normalized(given: object, expected: str) -> None:
    assert parse_resources(mem=given).mem == expected


@pytest.mark.parametrize("bad", ["4X", "G", "", "-1G", "4.5.1", "1.0000001K", 0, True, 1.5])
def test_bad_mem_names_the_accepted_forms(bad: object) -> None:
    with pytest.raises(UsageError, match=r"Invalid mem .*(megabytes|kilobytes)"):
        parse_resources(mem=bad)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (3600, "01:00:00"),
        ("3600", "01:00:00"),
        (59, "00:00:59"),
        ("90m", "01:30:00"),
        ("2h", "02:00:00"),
        ("1d12h", "1-12:00:00"),
        ("2h30m15s", "02:30:15"),
        ("1.5h", "01:30:00"),
        ("01:00:00", "01:00:00"),
        ("1:2:3", "01:02:03"),
        ("36:00:00", "1-12:00:00"),
        ("2-03:04:05", "2-03:04:05"),
        ("1-2", "1-02:00:00"),
        ("1-2:30", "1-02:30:00"),
        (timedelta(hours=3), "03:00:00"),
        ("UNLIMITED", "UNLIMITED"),
        ("infinite", "UNLIMITED"),
    ],
)
def test_time_is_normalized(given: object, expected: str) -> None:
    assert parse_resources(time=given).time == expected


@pytest.mark.parametrize(
    "bad", ["2:30", "1h1h", "ten minutes", "01:60:00", "1-24:00:00", "1.5s", 1.5]
)
def test_bad_time_names_the_accepted_forms(bad: object) -> None:
    with pytest.raises(UsageError, match=r"Invalid time .*HH:MM:SS, D-HH:MM:SS"):
        parse_resources(time=bad)


@pytest.mark.parametrize("zero", [0, "0", "0m", "00:00:00"])
def test_zero_time_is_refused(zero: object) -> None:
    with pytest.raises(UsageError, match="longer than 0 seconds"):
        parse_resources(time=zero)


@given(st.integers(min_value=1, max_value=400 * 86400))
def test_durations_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
    assert parse_duration(seconds) == seconds


def test_time_seconds() -> None:
    assert Resources(time="1d").time_seconds == 86400
    assert Resources(time="unlimited").time_seconds is None
    assert Resources().time_seconds is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [(2, "2"), ("2", "2"), ("a100:2", "a100:2"), ("a100", "a100:1"), ("gpu:v100:4", "v100:4")],
)
def test_gpus_are_normalized(given: object, expected: str) -> None:
    assert parse_resources(gpus=given).gpus == expected


@pytest.mark.parametrize("bad", [0, "0", "a100:0", ":2", "a 100", -1, True, "2:a100"])
def test_bad_gpus_are_refused(bad: object) -> None:
    with pytest.raises(UsageError, match=r"Invalid gpus .*type:count"):
        parse_resources(gpus=bad)


def test_gpu_option_follows_the_style() -> None:
    assert parse_resources(gpus=2).gpu_option == "--gres=gpu:2"
    assert Resources(gpus="a100:2", gpu_style="gres").gpu_option == "--gres=gpu:a100:2"
    assert Resources(gpus="a100:2", gpu_style="GPUS").gpu_option == "--gpus=a100:2"
    assert Resources().gpu_option is None
    with pytest.raises(UsageError, match="gres or gpus"):
        Resources(gpu_style="tres")


@pytest.mark.parametrize("good", ["4", 4, " 16 "])
def test_cpus(good: object) -> None:
    assert parse_resources(cpus=good).cpus == int(str(good))


@pytest.mark.parametrize("bad", [0, -2, "four", 1.0, True, "2.5"])
def test_bad_cpus(bad: object) -> None:
    with pytest.raises(UsageError, match="Invalid cpus"):
        parse_resources(cpus=bad)


@pytest.mark.parametrize("spec", ["0-15", "1,3,5", "0-20:4", "0-99%10", "7", 7, "1-3,8,10-20:2%3"])
def test_array_specs(spec: object) -> None:
    assert parse_resources(array=spec).array == str(spec)


@pytest.mark.parametrize("bad", ["", "a-b", "1-", "%2", "1-3%", "1;2"])
def test_bad_array_specs(bad: str) -> None:
    with pytest.raises(UsageError, match="Invalid array"):
        parse_resources(array=bad)


@pytest.mark.parametrize(
    "name", ["partition", "account", "qos", "constraint", "job_name", "output", "error"]
)
def test_text_values_must_be_one_line(name: str) -> None:
    assert getattr(parse_resources(**{name: " value "}), name) == "value"
    for bad in ["two\nlines", "cr\r", "", "   ", "tab\tinside"]:
        with pytest.raises(UsageError, match=f"Invalid {name}"):
            parse_resources(**{name: bad})


def test_sbatch_lines() -> None:
    resources = parse_resources(sbatch_lines=["--exclusive", "#SBATCH --mail-type=END", " -N 2 "])
    assert resources.sbatch_lines == ("--exclusive", "--mail-type=END", "-N 2")
    assert parse_resources(sbatch_lines="--exclusive").sbatch_lines == ("--exclusive",)
    assert parse_resources(sbatch_lines=None).sbatch_lines == ()


@pytest.mark.parametrize(
    "bad", ["exclusive", "--exclusive\n--mail-type=END", "echo hi", "-", "", 5]
)
def test_bad_sbatch_lines_are_refused(bad: object) -> None:
    with pytest.raises(UsageError, match="Invalid sbatch line"):
        parse_resources(sbatch_lines=[bad])


def test_unknown_options_list_the_valid_ones() -> None:
    with pytest.raises(UsageError) as caught:
        parse_resources(cpus=2, memory="4G", nodes=2)
    message = str(caught.value)
    assert message.startswith("Unavailable parameter(s): memory, nodes")
    assert "'memory' -> 'mem'" in message
    assert "Valid parameters are: " + ", ".join(PARAMETERS) in message


def test_dashed_names_are_accepted() -> None:
    assert parse_resources(**{"job-name": "x", "gpu-style": "gpus"}).job_name == "x"


def test_none_means_unset() -> None:
    assert parse_resources(cpus=None, mem=None) == Resources()


def test_as_dict_round_trips() -> None:
    resources = parse_resources(cpus=2, mem="1.5G", time=90, sbatch_lines=["--exclusive"])
    assert resources.as_dict() == {
        "cpus": 2,
        "mem": "1536M",
        "time": "00:01:30",
        "sbatch_lines": ["--exclusive"],
    }
    assert parse_resources(**resources.as_dict()) == resources


def test_merge_job_values_override_host_defaults() -> None:
    host = parse_resources(
        partition="batch",
        account="lab",
        time="1h",
        gpu_style="gpus",
        sbatch_lines=["--mail-type=END", "--exclusive"],
    )
    job = {"time": "2h", "cpus": 8, "sbatch_lines": ["--exclusive", "--mail-type=FAIL"]}
    merged = merge(host, job)
    assert merged.partition == "batch"
    assert merged.account == "lab"
    assert merged.time == "02:00:00"
    assert merged.cpus == 8
    assert merged.gpu_style == "gpus"
    # host lines first, repeats dropped, the job's later --mail-type wins in sbatch
    assert merged.sbatch_lines == ("--mail-type=END", "--exclusive", "--mail-type=FAIL")


def test_merge_accepts_missing_sides() -> None:
    assert merge(None, None) == Resources()
    assert merge({"cpus": 2}, None) == Resources(cpus=2)
    assert merge(None, Resources(mem="1G")) == Resources(mem="1G")
    with pytest.raises(UsageError, match="Unavailable parameter"):
        merge({"cpu": 2}, None)
