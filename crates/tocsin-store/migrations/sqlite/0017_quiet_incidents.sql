-- The engine sweeps the open quiet incidents (held back, nobody paged) to
-- release those whose silence, window or inhibition ended while no sender
-- re-sent their alerts.
CREATE INDEX incidents_quiet ON incidents(id) WHERE held_back IS NOT NULL AND status = 'triggered';
