-- Fair work sharing in the engine. Each unfinished outbox row names its
-- lane (the service of the incident it concerns, or `contact_method:<id>`
-- for one contact method's bundles) and its priority within the lane (0: a
-- notification due at once; 1: an incident opened, acknowledged, resolved,
-- escalated or reassigned; 2: follow-ups such as timers, later rules,
-- retries, bundles). The engine claims round-robin across lanes, each lane
-- in priority order, reading each lane from its own index range.
ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN priority BIGINT NOT NULL DEFAULT 2;
CREATE INDEX outbox_lanes ON outbox(lane, priority, due_at, id) WHERE done_at IS NULL;
-- The one global due-time order is gone; left in place, the planner would
-- walk it across every lane's backlog instead of the one lane it wants.
DROP INDEX outbox_pending;

-- Work queued before this migration gets its lane and priority too.
UPDATE outbox SET priority = 0 WHERE done_at IS NULL AND kind = 'notify.send' AND due_at <= created_at;
UPDATE outbox SET priority = 1
 WHERE done_at IS NULL
   AND kind IN ('incident.opened', 'incident.acknowledged', 'incident.resolved', 'incident.escalate', 'incident.reassign');
UPDATE outbox SET lane = COALESCE(
        (SELECT service_id FROM incidents WHERE incidents.id = json_extract(outbox.payload, '$.incident_id')), '')
 WHERE done_at IS NULL AND json_extract(payload, '$.incident_id') IS NOT NULL;
UPDATE outbox SET lane = COALESCE(
        (SELECT i.service_id FROM notifications n JOIN incidents i ON i.id = n.incident_id
          WHERE n.id = json_extract(outbox.payload, '$.notification_id')), '')
 WHERE done_at IS NULL AND kind = 'notify.send';
UPDATE outbox SET lane = 'contact_method:' || json_extract(payload, '$.contact_method')
 WHERE done_at IS NULL AND kind = 'notify.bundle';
