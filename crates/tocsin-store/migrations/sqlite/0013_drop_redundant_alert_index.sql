-- Nothing to drop: SQLite's alerts_by_incident (incident_id) already ends
-- each entry with the row id, so it is the (incident_id, id) index; this
-- migration keeps the numbering the same on both backends.
SELECT 1;
