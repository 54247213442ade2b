-- Schedule overrides created at run time (API, CLI), on top of the ones the
-- config declares. Rows are never removed: deleting sets deleted_at, so ids
-- only grow and keep ordering creation (the later override wins overlaps).
-- schedule_id and user_id name config entries, which live outside the database.
CREATE TABLE schedule_overrides (
    id INTEGER PRIMARY KEY,
    schedule_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    start_at BIGINT NOT NULL,
    end_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    deleted_at BIGINT,
    deleted_by TEXT,
    CHECK (end_at > start_at)
);
CREATE INDEX schedule_overrides_by_schedule ON schedule_overrides(schedule_id, end_at);

-- One iCalendar feed secret per user; only its SHA-256 is kept. Rotating
-- replaces the row, which invalidates the old link.
CREATE TABLE ical_tokens (
    user_id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
