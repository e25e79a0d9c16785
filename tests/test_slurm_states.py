"""Slurm states: mapping to tether statuses, and parsing recorded squeue/sacct/scontrol output.

The recorded outputs follow Slurm 22.05's formats for the exact commands poll_commands runs.
"""

from __future__ import annotations

import pytest

from tether.errors import RemoteError
from tether.targets.slurm.states import (
    STATUSES,
    SlurmJobState,
    base_job_id,
    combine_states,
    is_unknown_job_error,
    map_state,
    parse_output,
    parse_sacct,
    parse_sbatch_parsable,
    parse_scontrol,
    parse_squeue,
    poll_commands,
    scontrol_command,
)

# squeue --noheader --format=%i|%T|%r --states=all --jobs=...
SQUEUE_OUTPUT = """\
101|PENDING|Priority
102|PENDING|ReqNodeNotAvail, UnavailableNodes:node[01-02]
103|RUNNING|None
104_[3-9%2]|PENDING|JobArrayTaskLimit
104_1|RUNNING|None
104_2|COMPLETING|None
105|CONFIGURING|None
106|COMPLETED|None
107|FAILED|NonZeroExitCode
108|TIMEOUT|TimeLimit
109|CANCELLED|None
110|OUT_OF_MEMORY|OutOfMemory
111|NODE_FAIL|NodeDown
112|SUSPENDED|None
113|REQUEUED|None
114|PENDING|Dependency
"""

# sacct --noheader --parsable2 -X --format=JobID,State,ExitCode,Reason --jobs=...
SACCT_OUTPUT = """\
201|COMPLETED|0:0|None
202|FAILED|1:0|None
203|CANCELLED by 1000|0:15|None
204|CANCELLED by 0|0:0|None
205|TIMEOUT|0:15|None
206|OUT_OF_MEMORY|0:125|None
207|NODE_FAIL|1:0|None
208|RUNNING|0:0|None
209|PENDING|0:0|Priority
210_0|COMPLETED|0:0|None
210_1|FAILED|3:0|None
210_2|RUNNING|0:0|None
210_[3-7%2]|PENDING|0:0|JobArrayTaskLimit
211|FAILED|0:9|None
212|PREEMPTED|0:0|None
213|BOOT_FAIL|0:0|None
214|DEADLINE|0:0|None
215|FAILED|0:0|JobLaunchFailure
216|REQUEUED|0:0|None
"""

_COMMON = (
    "MCS_label=N/A Priority=4294901756 Nice=0 Account=(null) QOS=normal"
    " {state} Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode={exit}"
    " RunTime=00:01:12 TimeLimit=00:01:00 TimeMin=N/A SubmitTime=2024-03-01T10:00:00"
    " EligibleTime=2024-03-01T10:00:00 AccrueTime=2024-03-01T10:00:00"
    " StartTime=2024-03-01T10:00:01 EndTime=2024-03-01T10:01:13 Deadline=N/A"
    " SuspendTime=None SecsPreSuspend=0 LastSchedEval=2024-03-01T10:00:01 Scheduler=Main"
    " Partition=debug AllocNode:Sid=slurmctl:412 ReqNodeList=(null) ExcNodeList=(null)"
    " NodeList=c1 BatchHost=c1 NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1"
    " ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=500M,node=1,billing=1 Socks/Node=*"
    " NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=500M"
    " MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0"
    " Licenses=(null) Network=(null) Command=/home/alice/job.sh arg1 WorkDir=/home/alice"
    " StdErr=/home/alice/slurm-{id}.out StdIn=/dev/null StdOut=/home/alice/slurm-{id}.out"
    " Power="
)


def scontrol_line(head: str, state: str, exit_code: str, job_id: str) -> str:
    return f"{head} UserId=alice(1000) GroupId=alice(1000) " + _COMMON.format(
        state=state, exit=exit_code, id=job_id
    )


# scontrol show job -o
SCONTROL_OUTPUT = "\n".join(
    [
        scontrol_line("JobId=5 JobName=wrap", "JobState=TIMEOUT Reason=TimeLimit", "0:15", "5"),
        scontrol_line(
            "JobId=6 JobName=train resnet 50", "JobState=RUNNING Reason=None", "0:0", "6"
        ),
        scontrol_line(
            "JobId=40 ArrayJobId=40 ArrayTaskId=3-9%2 ArrayTaskThrottle=2 JobName=sweep",
            "JobState=PENDING Reason=JobArrayTaskLimit",
            "0:0",
            "40_4294967294",
        ),
        scontrol_line(
            "JobId=41 ArrayJobId=40 ArrayTaskId=0 JobName=sweep",
            "JobState=RUNNING Reason=None",
            "0:0",
            "40_0",
        ),
        scontrol_line("JobId=7 JobName=fit", "JobState=FAILED Reason=NonZeroExitCode", "2:0", "7"),
        scontrol_line("JobId=8 JobName=fit", "JobState=CANCELLED Reason=None", "0:15", "8"),
        scontrol_line(
            "JobId=9 JobName=big", "JobState=OUT_OF_MEMORY Reason=OutOfMemory", "0:125", "9"
        ),
        scontrol_line(
            "JobId=60 HetJobId=60 HetJobOffset=0 JobName=het",
            "JobState=COMPLETED Reason=None",
            "0:0",
            "60",
        ),
    ]
)

# scontrol show job 5 (without -o): the same record over several indented lines
SCONTROL_MULTILINE = """\
JobId=5 JobName=wrap
   UserId=root(0) GroupId=root(0) MCS_label=N/A
   Priority=4294901756 Nice=0 Account=(null) QOS=normal
   JobState=TIMEOUT Reason=TimeLimit Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:15
   RunTime=00:01:12 TimeLimit=00:01:00 TimeMin=N/A
   Partition=debug AllocNode:Sid=slurmctl:412
   NodeList=c1
   WorkDir=/root
   StdOut=/root/slurm-5.out
   Power=

JobId=6 JobName=wrap
   JobState=PENDING Reason=Priority Dependency=(null)
   ExitCode=0:0

"""


def state(state: str, status: str, exit_code: int | None, reason: str | None) -> SlurmJobState:
    return SlurmJobState(state, status, exit_code, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("slurm", "exit_code", "reason", "expected"),
    [
        ("PENDING", "0:0", "Priority", state("PENDING", "queued", None, "Priority")),
        ("PENDING", None, "None", state("PENDING", "queued", None, None)),
        ("CONFIGURING", None, None, state("CONFIGURING", "queued", None, "configuring nodes")),
        ("REQUEUED", None, None, state("REQUEUED", "queued", None, "requeued")),
        ("REQUEUE_HOLD", None, None, state("REQUEUE_HOLD", "queued", None, "requeued and held")),
        ("SUSPENDED", None, None, state("SUSPENDED", "running", None, "suspended")),
        ("RESIZING", None, None, state("RESIZING", "running", None, "resizing")),
        ("RUNNING", "0:0", "None", state("RUNNING", "running", None, None)),
        ("COMPLETING", None, None, state("COMPLETING", "running", None, "completing")),
        ("COMPLETED", "0:0", None, state("COMPLETED", "succeeded", 0, None)),
        ("COMPLETED", None, None, state("COMPLETED", "succeeded", 0, None)),
        ("FAILED", "1:0", None, state("FAILED", "failed", 1, "exit 1")),
        ("FAILED", "0:9", None, state("FAILED", "failed", None, "killed by signal 9")),
        (
            "FAILED",
            None,
            "NonZeroExitCode",
            state("FAILED", "failed", None, "failed (NonZeroExitCode)"),
        ),
        ("FAILED", "0:0", None, state("FAILED", "failed", None, "failed")),
        ("OUT_OF_MEMORY", "0:125", None, state("OUT_OF_MEMORY", "failed", None, "out of memory")),
        ("TIMEOUT", "0:15", "TimeLimit", state("TIMEOUT", "failed", None, "timeout")),
        ("TIMEOUT", "0:0", None, state("TIMEOUT", "failed", None, "timeout")),
        ("NODE_FAIL", "1:0", None, state("NODE_FAIL", "failed", None, "node failure")),
        ("BOOT_FAIL", None, None, state("BOOT_FAIL", "failed", None, "boot failure")),
        ("DEADLINE", None, None, state("DEADLINE", "failed", None, "deadline reached")),
        ("PREEMPTED", None, None, state("PREEMPTED", "failed", None, "preempted")),
        ("CANCELLED", None, None, state("CANCELLED", "cancelled", None, "cancelled")),
        (
            "CANCELLED by 1000",
            "0:15",
            None,
            state("CANCELLED", "cancelled", None, "cancelled by uid 1000"),
        ),
        (
            "CANCELLED by 0",
            "0:0",
            None,
            state("CANCELLED", "cancelled", None, "cancelled by root (uid 0)"),
        ),
        ("CANCELLED+", None, None, state("CANCELLED", "cancelled", None, "cancelled")),
        (
            "WEIRD_NEW",
            None,
            None,
            state("WEIRD_NEW", "running", None, "unknown Slurm state WEIRD_NEW"),
        ),
    ],
)
def test_map_state(
    slurm: str, exit_code: str | None, reason: str | None, expected: SlurmJobState
) -> None:
    assert map_state(slurm, exit_code, reason) == expected
    assert expected.status in STATUSES


def test_terminal() -> None:
    assert map_state("COMPLETED").terminal
    assert map_state("CANCELLED by 5").terminal
    assert map_state("TIMEOUT").terminal
    assert not map_state("PENDING").terminal
    assert not map_state("SUSPENDED").terminal


def test_parse_squeue() -> None:
    states = parse_squeue(SQUEUE_OUTPUT)
    assert states == {
        "101": state("PENDING", "queued", None, "Priority"),
        "102": state("PENDING", "queued", None, "ReqNodeNotAvail, UnavailableNodes:node[01-02]"),
        "103": state("RUNNING", "running", None, None),
        "104_[3-9%2]": state("PENDING", "queued", None, "JobArrayTaskLimit"),
        "104_1": state("RUNNING", "running", None, None),
        "104_2": state("COMPLETING", "running", None, "completing"),
        "105": state("CONFIGURING", "queued", None, "configuring nodes"),
        "106": state("COMPLETED", "succeeded", 0, None),
        "107": state("FAILED", "failed", None, "failed (NonZeroExitCode)"),
        "108": state("TIMEOUT", "failed", None, "timeout"),
        "109": state("CANCELLED", "cancelled", None, "cancelled"),
        "110": state("OUT_OF_MEMORY", "failed", None, "out of memory"),
        "111": state("NODE_FAIL", "failed", None, "node failure"),
        "112": state("SUSPENDED", "running", None, "suspended"),
        "113": state("REQUEUED", "queued", None, "requeued"),
        "114": state("PENDING", "queued", None, "Dependency"),
    }


def test_parse_squeue_skips_noise() -> None:
    text = (
        "JOBID|STATE|REASON\n"
        "squeue: error: slurm_receive_msg: Socket timed out\n"
        "\n"
        "  7|RUNNING|None  \n"
        "8|RUNNING\n"
    )
    assert parse_squeue(text) == {"7": state("RUNNING", "running", None, None)}
    assert parse_squeue("") == {}


def test_parse_sacct() -> None:
    states = parse_sacct(SACCT_OUTPUT)
    assert states == {
        "201": state("COMPLETED", "succeeded", 0, None),
        "202": state("FAILED", "failed", 1, "exit 1"),
        "203": state("CANCELLED", "cancelled", None, "cancelled by uid 1000"),
        "204": state("CANCELLED", "cancelled", None, "cancelled by root (uid 0)"),
        "205": state("TIMEOUT", "failed", None, "timeout"),
        "206": state("OUT_OF_MEMORY", "failed", None, "out of memory"),
        "207": state("NODE_FAIL", "failed", None, "node failure"),
        "208": state("RUNNING", "running", None, None),
        "209": state("PENDING", "queued", None, "Priority"),
        "210_0": state("COMPLETED", "succeeded", 0, None),
        "210_1": state("FAILED", "failed", 3, "exit 3"),
        "210_2": state("RUNNING", "running", None, None),
        "210_[3-7%2]": state("PENDING", "queued", None, "JobArrayTaskLimit"),
        "211": state("FAILED", "failed", None, "killed by signal 9"),
        "212": state("PREEMPTED", "failed", None, "preempted"),
        "213": state("BOOT_FAIL", "failed", None, "boot failure"),
        "214": state("DEADLINE", "failed", None, "deadline reached"),
        "215": state("FAILED", "failed", None, "failed (JobLaunchFailure)"),
        "216": state("REQUEUED", "queued", None, "requeued"),
    }


def test_parse_sacct_skips_steps_and_noise() -> None:
    text = (
        "301|FAILED|2:0|None\n"
        "301.batch|FAILED|2:0|\n"
        "301.extern|COMPLETED|0:0|\n"
        "301.0|OUT_OF_MEMORY|0:125|\n"
        "sacct: error: Slurm accounting storage is disabled\n"
        "302+0|COMPLETED|0:0|None\n"
    )
    assert parse_sacct(text) == {
        "301": state("FAILED", "failed", 2, "exit 2"),
        "302+0": state("COMPLETED", "succeeded", 0, None),
    }


def test_parse_scontrol() -> None:
    states = parse_scontrol(SCONTROL_OUTPUT)
    assert states == {
        "5": state("TIMEOUT", "failed", None, "timeout"),
        "6": state("RUNNING", "running", None, None),
        "40_[3-9%2]": state("PENDING", "queued", None, "JobArrayTaskLimit"),
        "40_0": state("RUNNING", "running", None, None),
        "7": state("FAILED", "failed", 2, "exit 2"),
        "8": state("CANCELLED", "cancelled", None, "cancelled"),
        "9": state("OUT_OF_MEMORY", "failed", None, "out of memory"),
        "60+0": state("COMPLETED", "succeeded", 0, None),
    }


def test_parse_scontrol_multiline_form() -> None:
    assert parse_scontrol(SCONTROL_MULTILINE) == {
        "5": state("TIMEOUT", "failed", None, "timeout"),
        "6": state("PENDING", "queued", None, "Priority"),
    }


def test_parse_scontrol_noise() -> None:
    assert parse_scontrol("slurm_load_jobs error: Invalid job id specified\n") == {}
    assert parse_scontrol("No jobs in the system\n") == {}
    assert parse_scontrol("JobId=3 JobName=x\n") == {}  # no JobState: skipped


def test_parse_scontrol_placeholder_task_id() -> None:
    line = "JobId=12345 ArrayJobId=12345 ArrayTaskId=4294967294 JobName=x JobState=PENDING"
    assert list(parse_scontrol(line)) == ["12345"]


def test_poll_commands_batch_every_id_in_one_call_each() -> None:
    ids = [str(n) for n in range(1000, 1050)] + ["2000_3", "1000"]
    commands = poll_commands(ids)
    assert [command[0] for command in commands] == ["squeue", "sacct"]
    joined = ",".join(dict.fromkeys(ids))
    assert commands[0] == [
        "squeue",
        "--noheader",
        "--format=%i|%T|%r",
        "--states=all",
        f"--jobs={joined}",
    ]
    assert commands[1] == [
        "sacct",
        "--noheader",
        "--parsable2",
        "-X",
        "--format=JobID,State,ExitCode,Reason",
        f"--jobs={joined}",
    ]


def test_poll_commands_edge_cases() -> None:
    assert poll_commands([]) == []
    assert poll_commands(iter(["5"]), accounting=False) == [
        ["squeue", "--noheader", "--format=%i|%T|%r", "--states=all", "--jobs=5"]
    ]
    with pytest.raises(ValueError, match="Not a Slurm job id"):
        poll_commands(["5; rm -rf ~"])


def test_scontrol_command() -> None:
    assert scontrol_command(["5"]) == ["scontrol", "show", "job", "-o", "5"]
    # scontrol takes one id: several ids ask for every job, filtered after parsing
    assert scontrol_command(["5", "6"]) == ["scontrol", "show", "job", "-o"]


def test_parse_output_dispatches_on_the_program() -> None:
    for command in poll_commands(["201", "101"]):
        text = SQUEUE_OUTPUT if command[0] == "squeue" else SACCT_OUTPUT
        assert parse_output(command, text)
    assert "5" in parse_output(["/usr/bin/scontrol", "show", "job", "-o"], SCONTROL_OUTPUT)
    with pytest.raises(ValueError, match="No parser"):
        parse_output(["sinfo"], "")


def test_combine_states() -> None:
    squeue = parse_squeue("1|RUNNING|None\n2|COMPLETING|None\n3|CANCELLED|None\n4|RUNNING|None\n")
    sacct = parse_sacct(
        "2|COMPLETED|0:0|None\n3|CANCELLED by 1000|0:15|None\n4|PENDING|0:0|None\n"
        "5|FAILED|1:0|None\n"
    )
    merged = combine_states(squeue, sacct)
    assert merged["1"].status == "running"  # only squeue knows it
    assert merged["2"] == state("COMPLETED", "succeeded", 0, None)  # terminal beats live
    assert merged["3"].reason == "cancelled by uid 1000"  # the later terminal source wins
    assert merged["4"].status == "running"  # among live states squeue, the first, wins
    assert merged["5"].reason == "exit 1"  # only sacct still knows it
    # a terminal state is never replaced by a lagging live one
    assert combine_states(sacct, squeue)["2"].status == "succeeded"


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("123\n", "123"),
        ("123;cluster1\n", "123"),
        ("  77  ", "77"),
        ("sbatch: Warning: something odd\n4242\n", "4242"),
        ("Submitted batch job 12\n", "12"),
        ("Submitted batch job 12 on cluster c2\n", "12"),
    ],
)
def test_parse_sbatch_parsable(stdout: str, expected: str) -> None:
    assert parse_sbatch_parsable(stdout) == expected


@pytest.mark.parametrize(
    "stdout", ["", "job 12\n", "sbatch: error: Batch job submission failed", "12 13"]
)
def test_parse_sbatch_parsable_refuses_other_output(stdout: str) -> None:
    with pytest.raises(RemoteError, match="did not print a job id"):
        parse_sbatch_parsable(stdout)


def test_base_job_id() -> None:
    assert base_job_id("123") == "123"
    assert base_job_id("123_4") == "123"
    assert base_job_id("123_[5-9%2]") == "123"
    assert base_job_id("60+1") == "60"


def test_is_unknown_job_error() -> None:
    assert is_unknown_job_error("slurm_load_jobs error: Invalid job id specified\n")
    assert not is_unknown_job_error("squeue: error: Unable to contact slurm controller")


class Recorded:
    """A Slurm host that answers each command with its recorded output (a moment when sacct
    has not caught up with a failure squeue already shows), and notes what it was asked."""

    where = "here"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def run(self, argv, *, input=None, timeout=None):  # type: ignore[no-untyped-def]
        from tether.targets.slurm.runner import Output

        self.asked.append(argv[0])
        return Output(0, self.answers[argv[0]].encode(), "")


def test_a_failure_sacct_has_not_recorded_yet_gets_its_exit_code_from_scontrol() -> None:
    from tether.targets.slurm import cluster
    from tether.targets.ssh.hostspec import HostSpec

    host = HostSpec(name="lagging", dest="local", scheduler="slurm")
    cluster._ACCOUNTING[host.name] = True
    recorded = Recorded(
        {
            "squeue": "85|FAILED|NonZeroExitCode\n86|FAILED|NonZeroExitCode\n",
            "sacct": "85|RUNNING|0:0|None\n",  # 86 not in the database yet either
            "scontrol": "\n".join(
                scontrol_line(
                    f"JobId={i} JobName=t", "JobState=FAILED Reason=NonZeroExitCode", code, str(i)
                )
                for i, code in ((85, "9:0"), (86, "0:9"))
            ),
        }
    )
    try:
        found = cluster.SlurmCluster(host, recorded).poll(["85", "86"])
    finally:
        del cluster._ACCOUNTING[host.name]
    assert recorded.asked == ["squeue", "sacct", "scontrol"]
    assert found["85"] == SlurmJobState("FAILED", "failed", 9, "exit 9")
    assert found["86"].reason == "killed by signal 9"
