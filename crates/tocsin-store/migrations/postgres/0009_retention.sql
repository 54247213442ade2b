-- Retention: alert details of long-resolved incidents are pruned (the row
-- stays, with the instant its details were dropped), and so are their
-- notifications and the engine's long-finished work items. Each index holds
-- only what may still be pruned, so a pruning batch costs the same however
-- much was pruned before.
ALTER TABLE alerts ADD COLUMN details_pruned_at BIGINT;
CREATE INDEX alerts_payload_kept ON alerts(resolved_at) WHERE details_pruned_at IS NULL AND status = 'resolved';
CREATE INDEX notifications_by_created ON notifications(created_at);
CREATE INDEX outbox_finished ON outbox(done_at) WHERE done_at IS NOT NULL;
-- A re-sent alert rewrites its row. Room left in each page lets PostgreSQL
-- put the new version beside the old one without touching the indexes
-- (HOT) and reclaim the old one on the next visit, so a steady stream of
-- re-sends needs no vacuum to stay the same size.
ALTER TABLE alerts SET (fillfactor = 70);
