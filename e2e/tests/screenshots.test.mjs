// Every main page, full length, at a desktop and a phone width, in light and
// dark: saved under e2e/screenshots/<width>/<name>-<scheme>.png for people to
// look at. Each page is also checked for what every page must have.
import assert from 'node:assert/strict';
import { incidentTitled, seeded } from '../api.mjs';
import { browserTest, screenshotDir, users } from '../lib.mjs';

const viewports = [
  { width: 1280, height: 800 },
  { width: 375, height: 812 },
];
const schemes = ['light', 'dark'];
const mainLinks = ['Home', 'Incidents', 'Services', 'Schedules', 'Escalation policies', 'Users'];

/** Pages by who sees them: name (the file name) → path. */
async function pages() {
  const { id } = await incidentTitled(seeded.triggered);
  return {
    anonymous: { login: '/login' },
    alice: {
      home: '/',
      incidents: '/incidents',
      incident: `/incidents/${id}`,
      services: '/services',
      service: '/services/checkout',
      schedules: '/schedules',
      schedule: '/schedules/primary',
      'escalation-policies': '/escalation-policies',
      user: '/users/alice',
      account: '/account',
      silences: '/silences',
    },
    admin: { audit: '/audit' },
  };
}

for (const viewport of viewports) {
  for (const colorScheme of schemes) {
    browserTest(`screenshots at ${viewport.width}px, ${colorScheme}`, async (b) => {
      const dir = `${screenshotDir}${viewport.width}/`;
      for (const [who, byName] of Object.entries(await pages())) {
        const options = { viewport, colorScheme };
        const page = who === 'anonymous' ? await b.page(options) : await b.loggedIn(users[who], options);
        for (const [name, path] of Object.entries(byName)) {
          const res = await page.goto(path);
          assert.equal(res.status(), 200, `${path} answered ${res.status()}`);
          assert.equal(new URL(page.url()).pathname, path, `${path} was not redirected`);
          assert.equal(await page.locator('main h1').count(), 1, `${path}: one h1 in <main>`);
          if (who !== 'anonymous') {
            const nav = page.getByRole('banner').getByRole('navigation', { name: 'Main' });
            for (const link of mainLinks) await nav.getByRole('link', { name: link, exact: true }).waitFor();
            const audit = await nav.getByRole('link', { name: 'Audit', exact: true }).count();
            assert.equal(audit, who === 'admin' ? 1 : 0, `${path}: Audit link for admins only`);
          }
          await page.screenshot({ path: `${dir}${name}-${colorScheme}.png`, fullPage: true });
        }
      }
    });
  }
}
