// The harness itself, so a failure elsewhere is about the pages: the server
// e2e/run.sh started answers, the seeded incidents are there in every
// state, pages reach the webhook receiver, and the browser reaches the server.
import assert from 'node:assert/strict';
import { incidentTitled, seeded } from '../api.mjs';
import { browserTest, eventually } from '../lib.mjs';

browserTest('the browser reaches the server and the seeded incidents are there', async (b) => {
  for (const [status, title] of Object.entries(seeded)) {
    assert.equal((await incidentTitled(title)).status, status, title);
  }
  // Someone is always on call for the seeded incident's service; their page
  // arrives at the receiver the contact methods point at.
  const receiver = process.env.TOCSIN_E2E_RECEIVER;
  await eventually(
    async () => Object.keys(await (await fetch(`${receiver}/deliveries`)).json()).length > 0,
    { what: 'a page at the webhook receiver' },
  );
  const page = await b.page();
  const res = await page.goto('/healthz');
  assert.equal(res.status(), 200);
});
