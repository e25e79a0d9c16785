"""The database schema as an ordered list of migrations. Never edit a shipped one: add one."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: jobs and settings
    """
    CREATE TABLE jobs (
        number INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        command TEXT NOT NULL,
        cwd TEXT NOT NULL,
        env TEXT,
        target TEXT NOT NULL DEFAULT 'local',
        status TEXT NOT NULL,
        exit_code INTEGER,
        reason TEXT,
        pid INTEGER,
        pid_started REAL,
        supervisor_pid INTEGER,
        supervisor_started REAL,
        created REAL NOT NULL,
        started REAL,
        ended REAL,
        parent INTEGER REFERENCES jobs(number),
        job_dir TEXT NOT NULL,
        log_path TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        script TEXT,
        extra TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX jobs_by_status ON jobs(status, target, number);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
