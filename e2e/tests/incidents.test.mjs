// Working incidents from the list and from their own page, with and without
// JavaScript, and what a viewer may not do.
import assert from 'node:assert/strict';
import { incident, trigger, unique } from '../api.mjs';
import { browserTest, formWithButton, section, seeText, users } from '../lib.mjs';

/** The /incidents table row that links to this incident. */
function rowOf(page, title) {
  return page.getByRole('row').filter({ has: page.getByRole('link', { name: title, exact: true }) });
}

browserTest('alice acknowledges an incident from /incidents', async (b) => {
  const { id, title } = await trigger('checkout', `Queue backlog on worker-${unique()}`);
  const page = await b.loggedIn(users.alice);
  await page.goto('/incidents');
  await page.getByRole('main').getByRole('heading', { level: 1, name: 'Incidents', exact: true }).waitFor();
  const row = rowOf(page, title);
  await seeText(row, 'Triggered');
  await page.getByRole('checkbox', { name: `Select incident #${id}`, exact: true }).check();
  await page.getByRole('button', { name: 'Acknowledge selected', exact: true }).click();
  await seeText(rowOf(page, title), 'Acknowledged');
  assert.equal((await incident(id)).status, 'acknowledged');
  assert.equal((await incident(id)).acknowledged_by, 'user:alice');
});

browserTest('the incident list updates itself and keeps checked boxes', async (b) => {
  const first = await trigger('checkout', `Cache miss storm ${unique()}`);
  const page = await b.loggedIn(users.alice);
  await page.goto('/incidents');
  const box = page.getByRole('checkbox', { name: `Select incident #${first.id}`, exact: true });
  await box.check();
  // A new incident shows up without reloading the page.
  const second = await trigger('search', `Shard rebalancing stuck ${unique()}`);
  await page.getByRole('link', { name: second.title, exact: true }).waitFor({ timeout: 20_000 });
  assert.ok(await box.isChecked(), 'the checked box survived the refresh');
});

browserTest('alice adds a note, acknowledges and resolves on the incident page', async (b) => {
  const { id, title } = await trigger('checkout', `Payment provider timeouts ${unique()}`);
  const page = await b.loggedIn(users.alice);
  await page.goto('/incidents');
  await page.getByRole('link', { name: title, exact: true }).click();
  await page.waitForURL((url) => url.pathname === `/incidents/${id}`);
  const main = page.getByRole('main');
  await main.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
  await seeText(main, 'Triggered');
  for (const name of ['Alerts', 'Paging', 'Timeline']) {
    await page.getByRole('heading', { name, exact: true }).waitFor();
  }

  const note = `Failing over to the backup provider (${unique()})`;
  await page.getByRole('textbox', { name: 'Note', exact: true }).fill(note);
  await page.getByRole('button', { name: 'Add note', exact: true }).click();
  await section(page, 'Timeline').getByText(note).waitFor();

  await page.getByRole('button', { name: 'Acknowledge', exact: true }).click();
  await seeText(main, 'Acknowledged');
  await page.getByRole('button', { name: 'Acknowledge', exact: true }).waitFor({ state: 'detached' });
  assert.equal((await incident(id)).status, 'acknowledged');

  await page.getByRole('button', { name: 'Resolve', exact: true }).click();
  await seeText(main, 'Resolved');
  await page.getByRole('button', { name: 'Resolve', exact: true }).waitFor({ state: 'detached' });
  const resolved = await incident(id);
  assert.equal(resolved.status, 'resolved');
  assert.equal(resolved.resolved_by, 'user:alice');
  assert.ok(
    resolved.timeline.some((entry) => JSON.stringify(entry).includes(note)),
    'the note is on the stored timeline',
  );
});

browserTest('victor (viewer) sees incidents but no buttons that change them', async (b) => {
  const { id, title } = await trigger('checkout', `Read replica lag ${unique()}`);
  const page = await b.loggedIn(users.victor);
  await page.goto(`/incidents/${id}`);
  await page.getByRole('main').getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
  for (const name of ['Acknowledge', 'Resolve', 'Escalate now', 'Add note', 'Reassign']) {
    assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `no "${name}" for a viewer`);
  }

  await page.goto('/incidents');
  await page.getByRole('link', { name: title, exact: true }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Acknowledge selected', exact: true }).count(), 0);

  // Hidden buttons are not the protection: a well-formed POST is refused too.
  const csrf = await formWithButton(page, 'Log out').locator('input[name="_csrf"]').inputValue();
  await page.request.post(`/incidents/${id}/acknowledge`, {
    form: { _csrf: csrf },
    headers: { origin: new URL(page.url()).origin },
  });
  assert.equal((await incident(id)).status, 'triggered');
});

browserTest('without JavaScript alice logs in, acknowledges and adds a note', async (b) => {
  const { id, title } = await trigger('checkout', `Certificate expires soon ${unique()}`, 'warning');
  const page = await b.loggedIn(users.alice, { javaScriptEnabled: false });
  await page.goto(`/incidents/${id}`);
  const main = page.getByRole('main');
  await main.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();

  await page.getByRole('button', { name: 'Acknowledge', exact: true }).click();
  await seeText(main, 'Acknowledged');
  assert.equal((await incident(id)).status, 'acknowledged');

  const note = `Renewal ordered (${unique()})`;
  await page.getByRole('textbox', { name: 'Note', exact: true }).fill(note);
  await page.getByRole('button', { name: 'Add note', exact: true }).click();
  await section(page, 'Timeline').getByText(note).waitFor();
});
