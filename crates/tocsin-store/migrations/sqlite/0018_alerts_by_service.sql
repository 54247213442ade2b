-- The alert list filtered by service (and status) reads that service's
-- alerts newest first from here, instead of walking every alert by id until
-- a page of matches turns up (seconds with a million alerts).
CREATE INDEX alerts_by_service_status ON alerts(service_id, status, id);
