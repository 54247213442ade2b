-- Reads the web pages need, each through an index:
-- the incident list by service and status together, and by creation time;
CREATE INDEX incidents_by_service_status ON incidents(service_id, status, id);
CREATE INDEX incidents_by_created ON incidents(created_at, id);
-- a person's open incidents: the pages they were sent;
CREATE INDEX notifications_by_user ON notifications(user_id, incident_id);
-- escalations still under way (whom they target now).
CREATE INDEX escalations_open ON escalations(incident_id) WHERE status <> 'resolved';
-- (alerts_by_incident already orders by id here: SQLite index entries end
-- with the rowid.)

-- Test pages a person sent to their own contact methods, and what became of
-- each: queued, sent or failed. The newest per method is what a profile
-- shows, and what limits them to one a minute.
CREATE TABLE test_pages (
    id INTEGER PRIMARY KEY,
    user_id TEXT NOT NULL,
    contact_method TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    requested_at BIGINT NOT NULL,
    requested_by TEXT NOT NULL,
    sent_at BIGINT,
    last_error TEXT
);
CREATE INDEX test_pages_by_method ON test_pages(contact_method, id);
CREATE INDEX test_pages_by_user ON test_pages(user_id, contact_method, id);
