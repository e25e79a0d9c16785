"""Small defects a newcomer hit (issue 12), each checked through the real CLI."""

from __future__ import annotations

from pathlib import Path

from conftest import Tether


def test_ls_with_a_status_and_no_match_says_so(tether: Tether) -> None:
    (tether.cwd / "ok.py").write_text("print('hi')\n")
    tether("run", "--wait", "ok.py")
    proc = tether("ls", "-s", "running")
    assert "no running jobs" in proc.stderr and "no jobs yet" not in proc.stderr


def test_mail_log_without_imap_says_steering_is_not_set_up(tether: Tether, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    tether.env["TETHER_CONFIG_DIR"] = str(config)
    proc = tether("mail", "log")
    assert "steering by mail is not set up" in proc.stdout
    assert "no mail handled yet" not in proc.stdout


def test_progress_numbers_are_numbers_in_json() -> None:
    from tether.jobs.progress import parse_progress

    prog = parse_progress(b"10%|#  | 5/50 [00:01<00:09]\r45%|#### | 1.5k/3.2k [00:10<00:12]")
    assert prog is not None
    assert prog.to_json() == {"percent": 45, "done": 1500, "total": 3200, "eta": "00:12"}


def test_smtp_user_none_means_no_login(tether: Tether, tmp_path: Path) -> None:
    import tomllib

    config = tmp_path / "config"
    config.mkdir()
    tether.env["TETHER_CONFIG_DIR"] = str(config)
    tether("mail", "setup", "--smtp-host", "127.0.0.1", "--smtp-port", "2525",
           "--smtp-security", "none", "--smtp-user", "none", "--from", "a@b.test",
           "--to", "c@d.test", "--no-check")  # fmt: skip
    smtp = tomllib.loads((config / "config.toml").read_text())["mail"]["smtp"]
    assert "user" not in smtp and smtp["host"] == "127.0.0.1"
