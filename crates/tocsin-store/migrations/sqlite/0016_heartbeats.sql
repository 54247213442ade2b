-- Heartbeat monitors as config declares them (the key only as its SHA-256
-- and a hint, like integration keys), with what pings and the monitor have
-- recorded. Instants and durations are BIGINT microseconds.
CREATE TABLE heartbeats (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id),
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    interval_us BIGINT NOT NULL,
    grace_us BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_ping_at BIGINT,
    -- COALESCE(last_ping_at, created_at) + interval_us + grace_us, kept in
    -- step by every write, so what is due is one index range.
    deadline_at BIGINT NOT NULL,
    -- When the monitor opened the heartbeat's alert, and on which service
    -- (config may move the monitor); cleared by the ping that resolves it.
    missed_at BIGINT,
    missed_service_id TEXT
);
-- The monitor reads the deadlines of monitors whose alert is not open.
CREATE INDEX heartbeats_due ON heartbeats(deadline_at) WHERE missed_at IS NULL;
