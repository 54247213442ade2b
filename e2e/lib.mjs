// Browser side of the tests: one headless Chromium per test file, a fresh
// context (cookies, storage) per test, logging in, and finding things by
// role and accessible name as the UI contract states them.
import { after, test } from 'node:test';
import { mkdir } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { baseURL } from './api.mjs';

export { baseURL };

/** The accounts the tests log in as; e2e/run.sh sets their passwords. */
export const users = {
  alice: { username: 'alice', password: process.env.TOCSIN_E2E_ALICE_PASSWORD },
  victor: { username: 'victor', password: process.env.TOCSIN_E2E_VICTOR_PASSWORD },
  admin: { username: 'admin', password: process.env.TOCSIN_E2E_ADMIN_PASSWORD },
};

export const screenshotDir = new URL('./screenshots/', import.meta.url).pathname;

// Debian's chromium (CI installs it with apt). `headless: true` makes
// playwright-core pass `--headless` (Chromium's only headless mode now) and
// `--no-sandbox`; the rest keep it from reaching out to the network, and
// `--no-zygote` leaves no orphaned zygote processes behind when it closes
// (they linger as zombies under a container's init).
const launchOptions = {
  executablePath: process.env.TOCSIN_E2E_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--no-zygote',
  ],
};

let launched;
function browser() {
  launched ??= chromium.launch(launchOptions);
  return launched;
}
after(async () => {
  if (launched) await (await launched).close();
});

/** A fresh browser context: no cookies, UTC, US English, 1280×800 unless told. */
export async function newContext(options = {}) {
  const context = await (await browser()).newContext({
    baseURL,
    timezoneId: 'UTC',
    locale: 'en-US',
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  // Fail fast when something the contract promises is not on the page.
  context.setDefaultTimeout(10_000);
  context.setDefaultNavigationTimeout(15_000);
  return context;
}

/**
 * A test with browser contexts that are closed afterwards, whatever happens.
 * `fn` gets { context(options), page(options), loggedIn(user, options) }; on
 * failure every open page is saved under screenshots/failures/.
 */
export function browserTest(name, fn) {
  test(name, { timeout: 120_000 }, async (t) => {
    const contexts = [];
    const b = {
      async context(options) {
        const context = await newContext(options);
        contexts.push(context);
        return context;
      },
      async page(options) {
        return (await b.context(options)).newPage();
      },
      async loggedIn(user, options) {
        const page = await b.page(options);
        await logIn(page, user);
        return page;
      },
    };
    try {
      await fn(b, t);
    } catch (error) {
      await saveFailure(name, contexts);
      throw error;
    } finally {
      await Promise.all(contexts.map((c) => c.close()));
    }
  });
}

async function saveFailure(name, contexts) {
  const dir = `${screenshotDir}failures/`;
  await mkdir(dir, { recursive: true });
  const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  const pages = contexts.flatMap((c) => c.pages());
  await Promise.all(
    pages.map((page, i) =>
      page.screenshot({ path: `${dir}${slug}-${i}.png`, fullPage: true }).catch(() => {}),
    ),
  );
}

/** Fills the login form and submits it; does not wait for the outcome. */
export async function submitLogin(page, user) {
  await page.getByLabel('Username', { exact: true }).fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
}

/** Logs in through /login and waits until the browser has left it. */
export async function logIn(page, user) {
  await page.goto('/login');
  await submitLogin(page, user);
  await page.waitForURL((url) => url.pathname !== '/login');
}

/**
 * The part of the page under a heading: a region (a <section> named by its
 * heading) or, failing that, the innermost <section> holding the heading.
 */
export function section(page, name) {
  const heading = page.getByRole('heading', { name, exact: true });
  return page
    .getByRole('region', { name, exact: true })
    .or(page.locator('section').filter({ has: heading }))
    .last();
}

/** The first <form> on the page holding a button with this name. */
export function formWithButton(page, name) {
  return page.locator('form').filter({ has: page.getByRole('button', { name, exact: true }) }).first();
}

/** Waits until `text` (a whole text node, e.g. a status) is visible within `scope`. */
export async function seeText(scope, text) {
  await scope.getByText(text, { exact: true }).filter({ visible: true }).first().waitFor();
}

/** Polls `check` (an async predicate) until it holds or `timeout` ms pass. */
export async function eventually(check, { timeout = 10_000, interval = 250, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
