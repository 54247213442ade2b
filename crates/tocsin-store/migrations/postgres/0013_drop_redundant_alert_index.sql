-- alerts_by_incident_id (incident_id, id) serves every read the older
-- single-column index did, so ingestion keeps one index fewer up to date.
DROP INDEX IF EXISTS alerts_by_incident;
