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
