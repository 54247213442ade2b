-- Silences (Alertmanager's model): matchers as a JSON list of matcher
-- strings; instants in microseconds. Kept after they expire.
CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Ingestion asks for the silences in force: those not yet ended.
CREATE INDEX silences_by_end ON silences(ends_at);
