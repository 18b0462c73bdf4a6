// What every browser test shares: the pass/fail report, the overall deadline and clean-up,
// Debian's Chromium launched through playwright-core with the project's flags, axe-core.
//
// Usage:
//   import { check, runBrowserTest, launchChromium, axeCheck } from './harness.mjs';
//   await runBrowserTest({ name: 'groups', timeoutMs: 180_000, shotDir, run, cleanup, onError });
// runBrowserTest never returns: it exits 0 only when every check passed and there was one.
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = require('axe-core').source;

export const CHROMIUM = process.env.KITH_CHROMIUM ?? '/usr/bin/chromium';

let failures = 0;
let passes = 0;

// Prints one check ("ok" or "FAIL", with `detail` on failure) and counts it.
export function check(ok, what, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `\n     ${detail}` : ''}`);
  if (ok) passes++;
  else failures++;
  return ok;
}

// Debian's Chromium, headless, with the flags the project uses everywhere.
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    timeout: 30_000,
  });
}

// Runs axe-core in the page; fails on serious or critical violations (lists them all).
export async function axeCheck(page, name) {
  await page.evaluate(axeSource);  // through DevTools, not a <script>: the page's CSP stays on
  const result = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = result.violations.filter((v) => !bad.includes(v));
  check(bad.length === 0, `axe-core: no serious or critical violations on the ${name} page`,
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`)
      .join('\n     '));
  for (const v of minor) console.log(`     note: ${v.impact} ${v.id}: ${v.help}`);
}

// Runs `run` under an overall deadline of `timeoutMs`; an exception is a failed check (then
// `onError` may print logs). `cleanup` always runs (bounded by `cleanupMs` at the deadline).
// Prints the summary and exits.
export async function runBrowserTest({ timeoutMs, run, cleanup, onError, shotDir,
  cleanupMs = 5000 }) {
  const timer = setTimeout(async () => {
    console.log(`FAIL overall deadline of ${timeoutMs / 1000} s passed`);
    await Promise.race([cleanup(), new Promise((r) => setTimeout(r, cleanupMs))]);
    process.exit(1);
  }, timeoutMs);
  try {
    await run();
  } catch (e) {
    check(false, 'unexpected error', e?.stack ?? String(e));
    if (onError) onError();
  } finally {
    await cleanup();
    clearTimeout(timer);
  }
  console.log(`# ${passes} passed, ${failures} failed; screenshots in ${shotDir}`);
  process.exit(failures === 0 && passes > 0 ? 0 : 1);
}
