// Run-time overrides from the schedule page, checked against the final
// schedule the page shows and the one the API computes.
import assert from 'node:assert/strict';
import { api } from '../api.mjs';
import { browserTest, eventually, formWithButton, users } from '../lib.mjs';

/** `YYYY-MM-DD` of today plus `days`, in UTC (the schedule's and the browser's zone). */
function dayFromNow(days) {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

browserTest('alice takes a night shift with an override and gives it back', async (b) => {
  const page = await b.loggedIn(users.alice);
  await page.goto('/schedules/primary');
  await page.getByRole('main').getByRole('heading', { level: 1, name: /primary/i }).waitFor();
  await page.getByLabel('Time zone', { exact: true }).waitFor();
  await page.getByRole('img', { name: 'Schedule timeline', exact: true }).waitFor();
  const table = page.getByRole('table', { name: 'Final schedule', exact: true });
  for (const name of ['Start', 'End', 'On call']) {
    await table.getByRole('columnheader', { name, exact: true }).waitFor();
  }
  const aliceRows = () => table.getByRole('row').filter({ hasText: /alice/i }).allInnerTexts();
  const before = await aliceRows();

  // Bob covers every night (e2e/tocsin.yaml), so Alice on call from 01:00 to
  // 04:00 three days from now can only come from this override.
  const day = dayFromNow(3);
  const form = formWithButton(page, 'Add override');
  const who = form.getByLabel('Who', { exact: true });
  const alice = await who
    .locator('option')
    .evaluateAll((options) => options.find((o) => o.value === 'alice' || /alice/i.test(o.textContent))?.value);
  assert.ok(alice, 'alice is one of the "Who" options');
  await who.selectOption(alice);
  await form.getByLabel('Start', { exact: true }).fill(`${day}T01:00`);
  await form.getByLabel('End', { exact: true }).fill(`${day}T04:00`);
  await form.getByRole('button', { name: 'Add override', exact: true }).click();

  await page.getByRole('button', { name: 'Remove override', exact: true }).first().waitFor();
  const stored = (await api('/schedules/primary/overrides')).items.filter((o) => o.source === 'api');
  assert.deepEqual(
    stored.map(({ user, start, end }) => ({ user, start: Date.parse(start), end: Date.parse(end) })),
    [{ user: 'alice', start: Date.parse(`${day}T01:00:00Z`), end: Date.parse(`${day}T04:00:00Z`) }],
    'the override was stored for the period typed in, in the page time zone',
  );

  let after = before;
  await eventually(async () => (after = await aliceRows()).length > before.length, {
    what: 'a new "Final schedule" row naming alice',
  });
  const added = after.filter((row) => !before.includes(row));
  assert.equal(added.length, 1, `one new "Final schedule" row names alice: ${JSON.stringify(added)}`);
  assert.match(added[0], /\b0?1:00\b/, 'it starts at 01:00');
  assert.match(added[0], /\b0?4:00\b/, 'it ends at 04:00');

  await page.getByRole('button', { name: 'Remove override', exact: true }).click();
  await page.getByRole('button', { name: 'Remove override', exact: true }).waitFor({ state: 'detached' });
  assert.deepEqual((await api('/schedules/primary/overrides')).items.filter((o) => o.source === 'api'), []);
  let now = after;
  await eventually(async () => (now = await aliceRows()).length === before.length, {
    what: 'the final schedule without the override',
  });
  assert.deepEqual(now, before, 'the final schedule is as it was');
});
