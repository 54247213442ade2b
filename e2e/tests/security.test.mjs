// What a browser session is protected by: CSRF tokens on every POST,
// security headers on every page, and a session cookie scripts cannot read.
import assert from 'node:assert/strict';
import { incident, trigger, unique } from '../api.mjs';
import { browserTest, formWithButton, seeText, users } from '../lib.mjs';

browserTest('a POST without the right CSRF token is refused and changes nothing', async (b) => {
  const { id, title } = await trigger('checkout', `Login errors spiking ${unique()}`);
  const page = await b.loggedIn(users.alice);
  await page.goto(`/incidents/${id}`);
  await page.getByRole('main').getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
  const origin = new URL(page.url()).origin;
  const path = `/incidents/${id}/acknowledge`;

  const attempts = {
    'no token': {},
    'a form without _csrf': { form: { note: 'x' } },
    'a wrong token': { form: { _csrf: 'not-the-token' } },
    'a wrong htmx header': { form: {}, headers: { 'x-csrf-token': 'not-the-token', 'hx-request': 'true' } },
  };
  for (const [what, options] of Object.entries(attempts)) {
    const res = await page.request.post(path, {
      ...options,
      headers: { origin, ...options.headers },
      maxRedirects: 0,
    });
    assert.equal(res.status(), 403, `${what}: answered ${res.status()}`);
  }
  assert.equal((await incident(id)).status, 'triggered');
  await page.reload();
  await seeText(page.getByRole('main'), 'Triggered');

  // The same request with the page's token works, so the 403s were the token's.
  const csrf = await formWithButton(page, 'Acknowledge').locator('input[name="_csrf"]').inputValue();
  assert.ok(csrf.length >= 16, 'the form carries a real token');
  const res = await page.request.post(path, { form: { _csrf: csrf }, headers: { origin }, maxRedirects: 0 });
  assert.ok(res.status() < 400, `with the token: answered ${res.status()}`);
  assert.equal((await incident(id)).status, 'acknowledged');
});

/** Checks the headers every page must answer with. */
function assertSecurityHeaders(res, what) {
  assert.ok(res, `${what}: no response`);
  const csp = res.headers()['content-security-policy'];
  assert.ok(csp, `${what}: Content-Security-Policy is set`);
  assert.ok(!csp.includes("'unsafe-inline'"), `${what}: no 'unsafe-inline' in ${csp}`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: frame-ancestors 'none' in ${csp}`);
}

browserTest('pages send CSP and the session cookie is HttpOnly and SameSite=Lax', async (b) => {
  const anonymous = await b.page();
  assertSecurityHeaders(await anonymous.goto('/login'), '/login');

  const page = await b.loggedIn(users.alice);
  const { id } = await trigger('search', `Slow queries ${unique()}`);
  for (const path of ['/', '/incidents', `/incidents/${id}`, '/services', '/schedules/primary', '/account']) {
    const res = await page.goto(path);
    assert.equal(res.status(), 200, `${path} answered ${res.status()}`);
    assertSecurityHeaders(res, path);
  }

  const session = (await page.context().cookies()).find((c) => c.name === 'tocsin_session');
  assert.ok(session, 'a tocsin_session cookie is set after logging in');
  assert.equal(session.httpOnly, true, 'HttpOnly');
  assert.equal(session.sameSite, 'Lax', 'SameSite=Lax');
  assert.equal(await page.evaluate(() => document.cookie.includes('tocsin_session')), false);
});
