-- Noise control at intake. `held_back` is a JSON list of reasons (silence,
-- maintenance window, inhibition, dependency, storm, flap, group): on an
-- alert, why it did not page on its own; on an incident, why it pages
-- nobody (NULL: it pages). `group_key` names the group a grouped incident
-- collects alerts for; `next_update_at` is its pending group update.
ALTER TABLE incidents ADD COLUMN held_back TEXT;
ALTER TABLE incidents ADD COLUMN group_key TEXT;
ALTER TABLE incidents ADD COLUMN storm BIGINT NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN next_update_at BIGINT;
ALTER TABLE alerts ADD COLUMN held_back TEXT;
-- New alerts look up the open incident of their group, and their service's
-- open storm incident.
CREATE INDEX incidents_open_groups ON incidents(service_id, group_key) WHERE status <> 'resolved' AND group_key IS NOT NULL;
CREATE INDEX incidents_open_storms ON incidents(service_id) WHERE status <> 'resolved' AND storm = 1;
-- Storm counting reads a service's latest new alerts.
CREATE INDEX alerts_by_service_time ON alerts(service_id, first_seen);

-- Integrations not bound to a service: the routing tree, starting at
-- `route` (a top-level route's id), picks the service of each new alert.
-- Keys are unique across these and service integrations (checked when the
-- config is applied).
CREATE TABLE routed_integrations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    route TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE
);

-- Bumped by every silence write, in its transaction: ingestion re-reads
-- the silences it caches only when this changed (on any node).
CREATE TABLE silences_version (
    id INTEGER PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO silences_version (id, n) VALUES (1, 0);
