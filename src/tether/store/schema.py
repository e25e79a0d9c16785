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
    # 2: notifications: the outbox, and how far each job's events have been turned into it
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job INTEGER REFERENCES jobs(number) ON DELETE CASCADE,
        key TEXT NOT NULL,
        event TEXT NOT NULL,
        channel TEXT NOT NULL,
        channel_display TEXT NOT NULL,
        created REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,
        sent_at REAL,
        last_error TEXT,
        status TEXT NOT NULL DEFAULT 'pending',
        payload TEXT NOT NULL DEFAULT '{}',
        UNIQUE (job, key, channel)
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt);
    CREATE TABLE notify_state (
        job INTEGER PRIMARY KEY REFERENCES jobs(number) ON DELETE CASCADE,
        started_done INTEGER NOT NULL DEFAULT 0,
        events_offset INTEGER NOT NULL DEFAULT 0,
        last_interval REAL,
        stall_mark REAL,
        done INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO notify_state (job, started_done, done) SELECT number, 1, 1 FROM jobs
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
