// Logging in and out, the home page, and where the login form sends people.
import assert from 'node:assert/strict';
import { baseURL, browserTest, section, submitLogin, users } from '../lib.mjs';

const mainLinks = ['Home', 'Incidents', 'Services', 'Schedules', 'Escalation policies', 'Users'];

browserTest('alice logs in and sees her "On call" home', async (b) => {
  const page = await b.loggedIn(users.alice);
  assert.equal(new URL(page.url()).pathname, '/');
  await page.getByRole('main').getByRole('heading', { level: 1, name: 'On call', exact: true }).waitFor();
  for (const name of ['My open incidents', 'On call now', 'My next shifts', 'My contact methods']) {
    await page.getByRole('heading', { name, exact: true }).waitFor();
  }
  const nav = page.getByRole('banner').getByRole('navigation', { name: 'Main' });
  for (const name of mainLinks) {
    await nav.getByRole('link', { name, exact: true }).waitFor();
  }
  assert.equal(await nav.getByRole('link', { name: 'Audit', exact: true }).count(), 0, 'Audit is for admins');
  await page.getByRole('link', { name: 'Account', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Log out', exact: true }).waitFor();
});

browserTest('a test page to a contact method is sent', async (b) => {
  const page = await b.loggedIn(users.alice);
  const methods = section(page, 'My contact methods');
  await methods.getByRole('button', { name: 'Send test page', exact: true }).first().click();
  // The receiver answers 204 at once, so the latest result becomes "sent".
  const deadline = Date.now() + 15_000;
  for (;;) {
    await page.goto('/');
    const text = await section(page, 'My contact methods').innerText();
    if (/\bsent\b/.test(text)) break;
    assert.doesNotMatch(text, /failed/, 'the test page failed');
    assert.ok(Date.now() < deadline, `the test page was not sent; the section reads: ${text}`);
    await page.waitForTimeout(500);
  }
});

browserTest('logging out ends the session', async (b) => {
  const page = await b.loggedIn(users.alice);
  const cookies = await page.context().cookies();
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.waitForURL((url) => url.pathname === '/login');
  await page.goto('/');
  assert.equal(new URL(page.url()).pathname, '/login');

  // The old session cookie is dead on the server too, not only forgotten.
  const replay = await b.page();
  await replay.context().addCookies(cookies);
  await replay.goto('/');
  assert.equal(new URL(replay.url()).pathname, '/login');
});

browserTest('a wrong password or unknown user stays on /login with an alert', async (b) => {
  const page = await b.page();
  for (const user of [
    { username: 'alice', password: `${users.alice.password}x` },
    { username: 'nobody', password: 'not-a-password' },
  ]) {
    await page.goto('/login');
    await submitLogin(page, user);
    await page.getByRole('alert').filter({ hasText: /wrong username or password/i }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');
  }
  await page.goto('/');
  assert.equal(new URL(page.url()).pathname, '/login', 'a failed login logs nobody in');
});

browserTest('a page asked for before logging in is where the login lands', async (b) => {
  const page = await b.page();
  const res = await page.request.get('/incidents', { maxRedirects: 0 });
  assert.equal(res.status(), 303);
  assert.match(res.headers().location, /^\/login\?next=/);

  await page.goto('/incidents');
  assert.equal(new URL(page.url()).pathname, '/login');
  await submitLogin(page, users.alice);
  await page.waitForURL((url) => url.pathname === '/incidents');
});

browserTest('the login never sends people to another site', async (b) => {
  const page = await b.page();
  await page.goto('/login?next=//evil.example/');
  await submitLogin(page, users.alice);
  await page.waitForURL((url) => url.pathname !== '/login');
  assert.equal(new URL(page.url()).origin, new URL(baseURL).origin);
  assert.equal(new URL(page.url()).pathname, '/');
});
