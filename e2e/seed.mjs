// Incidents in every state, sent through the ingestion endpoint, so every
// page has something to show (e2e/run.sh runs this before the tests; each
// test opens the incidents it changes itself).
import { api, resolveAlert, seeded, trigger } from './api.mjs';

const disk = await trigger('checkout', seeded.triggered);
await api(`/incidents/${disk.id}/notes`, { method: 'POST', body: { text: 'Rotating logs on db-1 first.' } });

const latency = await trigger('checkout', seeded.acknowledged, 'warning');
await api(`/incidents/${latency.id}/acknowledge`, { method: 'POST' });

const lag = await trigger('search', seeded.resolved, 'error');
await resolveAlert('search', lag.dedupKey);

const resolved = await api(`/incidents/${lag.id}`);
if (resolved.status !== 'resolved') throw new Error(`incident ${lag.id} is ${resolved.status}, not resolved`);
console.log(`seeded incidents ${disk.id} (triggered), ${latency.id} (acknowledged), ${lag.id} (resolved)`);
