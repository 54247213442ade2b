-- Typed work and dead letters. A node claims only the kinds it knows, so an
-- item queued by a newer version waits for a node that knows it: each lane
-- is read one index range per priority and kind, and an unknown kind holds
-- back nothing behind it. An item whose handler keeps failing is retried
-- with backoff (`attempts`, `last_error`) and after too many attempts gets
-- `dead_at`: it leaves the claimable index until a person puts it back.
ALTER TABLE outbox ADD COLUMN dead_at BIGINT;
DROP INDEX outbox_lanes;
CREATE INDEX outbox_lanes ON outbox(lane, priority, kind, due_at, id) WHERE done_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead ON outbox(id) WHERE dead_at IS NOT NULL;
