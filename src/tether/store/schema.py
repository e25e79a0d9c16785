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
    # 3: typed placement: which backend runs the job (``target`` stays the host's name), the
    # job's id there (a Slurm job id, the host's uuid for an SSH job) and the host's number.
    # Filled from the ``extra`` keys earlier versions kept it in. A record on a host with
    # neither key can only be a Slurm job whose submission failed (an SSH host's record is
    # written after the host took the job). A re-run of an SSH record copied its parent's
    # remote uuid without running anywhere: it gets no remote id.
    """
    ALTER TABLE jobs ADD COLUMN backend TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE jobs ADD COLUMN remote_id TEXT;
    ALTER TABLE jobs ADD COLUMN remote_number INTEGER;
    UPDATE jobs SET backend = 'slurm', remote_id = CAST(json_extract(extra, '$.slurm_id') AS TEXT)
        WHERE json_extract(extra, '$.slurm_id') IS NOT NULL;
    UPDATE jobs SET backend = 'ssh', remote_id = json_extract(extra, '$.remote_uuid'),
            remote_number = json_extract(extra, '$.remote_number')
        WHERE backend = 'local' AND json_extract(extra, '$.remote_uuid') IS NOT NULL;
    UPDATE jobs SET backend = 'slurm' WHERE backend = 'local' AND target != 'local';
    UPDATE jobs SET remote_id = NULL, remote_number = NULL
        WHERE backend = 'ssh' AND parent IS NOT NULL
        AND remote_id = (SELECT p.remote_id FROM jobs AS p WHERE p.number = jobs.parent);
    CREATE INDEX jobs_by_remote ON jobs(backend, target, remote_id)
    """,
    # 4: the agent's questions about the queue (the gated jobs, the services, the first plain
    # job) answered from indexes, not by reading every queued job's ``extra`` each turn: with
    # 10,000 jobs queued, each start read them all. ``extra`` is Python's JSON, whose NaN
    # (a metric's summary) SQLite before 3.42 rejects: such a row is indexed as having none.
    """
    CREATE INDEX jobs_by_gate ON jobs(status, target,
        CASE WHEN json_valid(extra) THEN json_extract(extra, '$.gate') END);
    CREATE INDEX jobs_by_kind ON jobs(status, target,
        CASE WHEN json_valid(extra) THEN json_extract(extra, '$.kind') END)
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
