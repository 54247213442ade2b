// Talking to the server the tests run against without a browser: sending
// alerts through the ingestion endpoint (as monitoring would) and reading or
// changing state through /api/v1 with the admin token, to set up and check
// what the pages show. e2e/run.sh sets the environment.
import { randomUUID } from 'node:crypto';

export const baseURL = required('TOCSIN_E2E_URL');
const adminToken = required('TOCSIN_E2E_TOKEN');

/** PagerDuty routing keys of the services in e2e/tocsin.yaml. */
export const routingKeys = {
  checkout: 'e2e-checkout-pagerduty-0123456789',
  search: 'e2e-search-pagerduty-0123456789ab',
};

/** Titles of the incidents e2e/seed.mjs opens, one in each state. */
export const seeded = {
  triggered: 'Disk full on db-1',
  acknowledged: 'Checkout latency above 2s',
  resolved: 'Search index lagging behind',
};

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the tests with e2e/run.sh`);
  return value;
}

/** A short random suffix that keeps titles and notes unique across tests. */
export function unique() {
  return randomUUID().slice(0, 8);
}

/** Sends a PagerDuty event; answers the parsed reply, throws unless 202. */
export async function enqueue(event) {
  const res = await fetch(`${baseURL}/v2/enqueue`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  const body = await res.text();
  if (res.status !== 202) throw new Error(`POST /v2/enqueue answered ${res.status}: ${body}`);
  return JSON.parse(body);
}

/**
 * Opens a new incident by sending a new alert to a service's PagerDuty
 * integration. The ingestion answer comes after the commit, so the incident
 * exists when this returns. Answers { id, title, dedupKey }.
 */
export async function trigger(service, title, severity = 'critical') {
  const dedupKey = `e2e-${unique()}`;
  await enqueue({
    routing_key: routingKeys[service],
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: { summary: title, source: 'e2e', severity },
  });
  const alerts = await api(`/alerts?dedup_key=${encodeURIComponent(dedupKey)}`);
  const id = alerts.items[0]?.incident_id;
  if (!id) throw new Error(`no incident opened for alert ${dedupKey}: ${JSON.stringify(alerts)}`);
  return { id, title, dedupKey };
}

/** Sends the resolve event for an alert `trigger` opened. */
export async function resolveAlert(service, dedupKey) {
  await enqueue({ routing_key: routingKeys[service], event_action: 'resolve', dedup_key: dedupKey });
}

/** Calls /api/v1 as the admin; answers the JSON reply, throws unless 2xx. */
export async function api(path, { method = 'GET', body } = {}) {
  const res = await fetch(`${baseURL}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} /api/v1${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

/** The incident as the API reports it (status is `triggered`, `acknowledged` or `resolved`). */
export function incident(id) {
  return api(`/incidents/${id}`);
}

/** The newest incident with this title (for incidents e2e/seed.mjs opened). */
export async function incidentTitled(title) {
  const page = await api('/incidents?limit=200');
  const found = page.items.find((i) => i.title === title);
  if (!found) throw new Error(`no incident titled ${JSON.stringify(title)}`);
  return found;
}
