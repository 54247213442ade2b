-- Instants are BIGINT microseconds since the Unix epoch (UTC); JSON is TEXT.
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL
);

-- Services removed from config stay (incidents point at them) but go inactive.
CREATE TABLE services (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    team_id TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

-- Integration keys are secrets: only their SHA-256 and a short hint are kept.
CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id),
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id),
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at BIGINT,
    resolved_by TEXT,
    alert_count BIGINT NOT NULL DEFAULT 0,
    open_alerts BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX incidents_by_status ON incidents(status, id);
CREATE INDEX incidents_by_service ON incidents(service_id, id);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id),
    integration_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT NOT NULL,
    severity TEXT NOT NULL,
    source TEXT,
    labels TEXT NOT NULL,
    details TEXT NOT NULL,
    links TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    occurrences BIGINT NOT NULL,
    acknowledged_at BIGINT,
    resolved_at BIGINT,
    expires_at BIGINT,
    incident_id BIGINT REFERENCES incidents(id)
);
-- Dedup: at most one open alert per service and key.
CREATE UNIQUE INDEX alerts_open_key ON alerts(service_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_by_incident ON alerts(incident_id);
CREATE INDEX alerts_by_key ON alerts(dedup_key, id);
CREATE INDEX alerts_expiring ON alerts(expires_at) WHERE status <> 'resolved' AND expires_at IS NOT NULL;

-- Append-only: rows are never updated or deleted.
CREATE TABLE timeline (
    id INTEGER PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX timeline_by_incident ON timeline(incident_id, id);

CREATE TABLE service_changes (
    id INTEGER PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services(id),
    at BIGINT NOT NULL,
    occurred_at BIGINT,
    summary TEXT NOT NULL,
    source TEXT,
    actor TEXT NOT NULL,
    details TEXT NOT NULL,
    links TEXT NOT NULL
);
CREATE INDEX service_changes_by_service ON service_changes(service_id, id);

-- Hash-chained audit log; audit_head holds the newest hash and serialises writers.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE audit_head (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    hash TEXT NOT NULL
);
INSERT INTO audit_head (singleton, hash) VALUES (1, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT
);

-- Durable work queue: everything the engine must do later, with its due time.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    claimed_by TEXT,
    lease_until BIGINT,
    done_at BIGINT,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(due_at) WHERE done_at IS NULL;
