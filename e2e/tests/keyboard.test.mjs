// Keyboard use: focus can be seen where it lands.
import assert from 'node:assert/strict';
import { browserTest, users } from '../lib.mjs';

browserTest('Tab from the top of /incidents reaches an element with visible focus', async (b) => {
  const page = await b.loggedIn(users.alice);
  await page.goto('/incidents');
  await page.getByRole('main').getByRole('heading', { level: 1, name: 'Incidents', exact: true }).waitFor();
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const style = getComputedStyle(el);
    return {
      element: `${el.tagName.toLowerCase()} ${el.textContent.trim().slice(0, 40)}`,
      outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
      boxShadow: style.boxShadow !== 'none',
      style: `outline: ${style.outlineStyle} ${style.outlineWidth}; box-shadow: ${style.boxShadow}`,
    };
  });
  assert.ok(focused, 'Tab moved the focus into the page');
  assert.ok(focused.outline || focused.boxShadow, `focus is visible on ${focused.element} (${focused.style})`);
});
