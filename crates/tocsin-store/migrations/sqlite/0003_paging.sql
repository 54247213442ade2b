-- One row per incident whose service has an escalation policy: the
-- escalation state machine as JSON, with the policy snapshot taken at open.
-- `version` makes every update conditional (several engine nodes);
-- `episode` grows when paging stops (acknowledge, resolve), so notifications
-- queued before that are dropped instead of sent.
CREATE TABLE escalations (
    incident_id BIGINT PRIMARY KEY REFERENCES incidents(id),
    policy_id TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT NOT NULL,
    episode BIGINT NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every notification the engine decided to send and what became of it.
-- status: pending, held (rate-limited, waiting for a bundle), sent, failed, cancelled.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    incident_id BIGINT NOT NULL REFERENCES incidents(id),
    user_id TEXT NOT NULL,
    contact_method TEXT NOT NULL,
    channel TEXT NOT NULL,
    episode BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX notifications_by_incident ON notifications(incident_id, id);
CREATE INDEX notifications_held ON notifications(contact_method, id) WHERE status = 'held';

-- Rate-limit windows per contact method: JSON list of recent send instants.
CREATE TABLE method_windows (
    contact_method TEXT PRIMARY KEY,
    sent TEXT NOT NULL
);

-- Secrets the server generates once and every node shares (ack-link signing).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
