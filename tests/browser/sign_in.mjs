// Browser test of kith's member pages: Debian's Chromium driven by npm playwright-core
// (issue 4, "Acceptance").
//
//   node tests/browser/sign_in.mjs BUILD/bin [SCREENSHOT_DIR]     (default BUILD/screenshots)
//
// Starts one kithd (identity.password_cost = minimum), adds a member with kithctl, then in a
// real browser: signs in through the labelled fields with the keyboard (a wrong password first:
// the GOV.UK error summary), sees the account page, signs out, sees the signed-out page, signs
// in again and uses "Sign out everywhere"; runs
// axe-core on the sign-in, error, account, signed-out and consent pages and fails on serious or
// critical violations; drives one OpenID Connect authorization through the browser to a local
// callback and lets openid-client exchange the code; checks that every GOV.UK Frontend asset
// loads and that the strict CSP produced no console errors. Screenshots go to SCREENSHOT_DIR.
//
// Prints one line per check; exits 0 only when all passed. Bounded by an overall deadline.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as oidc from 'openid-client';

import { KithNode, binDirFrom } from '../oidc/kith_node.mjs';
import { axeCheck, check, launchChromium, runBrowserTest } from './harness.mjs';

const OVERALL_TIMEOUT_MS = 150_000;

const binDir = binDirFrom(process.argv[2]);
const shotDir = path.resolve(process.argv[3] ?? path.join(binDir, '..', 'screenshots'));
fs.mkdirSync(shotDir, { recursive: true });

let node;
let browser;
let callbackServer;
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (callbackServer) callbackServer.close();
  if (node) await node.stop();
}
await runBrowserTest({ timeoutMs: OVERALL_TIMEOUT_MS, run, cleanup, shotDir });

async function shot(page, name) {
  await page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true });
}

// Fills a labelled field from the keyboard: focus through its label, then type.
async function typeInto(page, label, text) {
  await page.getByLabel(label, { exact: false }).first().focus();
  await page.keyboard.press('Control+A');
  await page.keyboard.type(text);
}

async function run() {
  node = await KithNode.start({ binDir, passwordCost: 'minimum' });
  console.log(`# kithd at ${node.url}`);
  const password = 'violet-anchor-27-meadow-glass';
  node.addMember('bea', password, { email: 'bea@council.example', name: 'Bea Browser' });

  // The relying party's callback: records what the browser brings back.
  let callbackUrl;
  callbackServer = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    // Only the authorization response (Chromium also asks for /favicon.ico).
    if (url.searchParams.has('code') || url.searchParams.has('error')) callbackUrl = url;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html lang="en"><title>Callback</title><h1>Back at the client</h1>');
  });
  await new Promise((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
  const cbBase = `http://127.0.0.1:${callbackServer.address().port}`;

  browser = await launchChromium();
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();

  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const assetFailures = [];
  const fontRequests = [];
  page.on('request', (r) => {
    if (/\.(woff2?|ttf|otf)$/.test(new URL(r.url()).pathname)) fontRequests.push(r.url());
  });
  let stylesheets = 0;
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (url.origin !== node.url || !url.pathname.startsWith('/assets/')) return;
    if (r.status() !== 200 && r.status() !== 304) assetFailures.push(`${r.status()} ${url.pathname}`);
    if (url.pathname.endsWith('.css')) stylesheets++;
  });

  // --- Sign in: a wrong password first -------------------------------------------------
  await page.goto(`${node.url}/account`);
  check(new URL(page.url()).pathname === '/sign-in',
    `/account without a session goes to the sign-in page (${page.url()})`);
  check(await page.getByRole('heading', { level: 1 }).count() === 1, 'the page has one h1');
  await shot(page, 'sign-in');
  await axeCheck(page, 'sign-in');
  const font = await page.evaluate(() =>
    getComputedStyle(document.querySelector('h1')).fontFamily);
  check(stylesheets > 0 && /arial/i.test(font), `GOV.UK Frontend styles applied (font ${font})`);

  await typeInto(page, 'Username', 'bea');
  await page.keyboard.press('Tab');
  await page.keyboard.type('wrong-password-for-bea');
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' &&
      new URL(r.url()).pathname === '/sign-in'),
    page.keyboard.press('Enter')]);
  await page.waitForLoadState('load');
  const summary = page.locator('.govuk-error-summary');
  await summary.first().waitFor({ timeout: 10000 }).catch(() => {});
  check(await summary.count() === 1, 'a wrong password shows the GOV.UK error summary');
  check(await summary.locator('a[href^="#"]').count() > 0, 'the error summary links to a field');
  await shot(page, 'sign-in-error');
  await axeCheck(page, 'sign-in error');
  check(!(await context.cookies()).some((c) => c.name === 'kith_session'),
    'no session cookie after a wrong password');

  // --- Sign in with the right password ---------------------------------------------------
  await typeInto(page, 'Username', 'bea');
  await typeInto(page, 'Password', password);
  await Promise.all([page.waitForURL(/\/account$/), page.keyboard.press('Enter')]);
  check(true, 'signed in with the keyboard: now on /account');
  check(await page.getByText('Bea Browser').count() > 0, 'the account page shows the member');
  const session = (await context.cookies()).find((c) => c.name === 'kith_session');
  check(session && session.httpOnly && session.sameSite === 'Lax' && session.path === '/',
    'kith_session is HttpOnly, SameSite=Lax, Path=/');
  await shot(page, 'account');
  await axeCheck(page, 'account');

  // --- Sign out ----------------------------------------------------------------------------
  await page.goto(`${node.url}/account`);
  await Promise.all([page.waitForURL(/\/signed-out$/),
    page.getByRole('button', { name: /sign out/i }).first().click()]);
  check(true, 'sign out leads to /signed-out');
  check(await page.getByRole('heading', { level: 1 }).count() === 1, 'the signed-out page has an h1');
  await shot(page, 'signed-out');
  await axeCheck(page, 'signed-out');
  check(!(await context.cookies()).some((c) => c.name === 'kith_session'),
    'the session cookie is gone');
  await page.goto(`${node.url}/account`);
  check(new URL(page.url()).pathname === '/sign-in', '/account after sign-out asks to sign in');

  // --- Sign out everywhere (here and at peers; this node has none) ---------------------------
  await typeInto(page, 'Username', 'bea');
  await typeInto(page, 'Password', password);
  await Promise.all([page.waitForURL(/\/account$/), page.keyboard.press('Enter')]);
  const here = page.getByRole('button', { name: /^Sign out here$/ });
  await here.first().waitFor({ timeout: 10000 }).catch(() => {});
  check(await here.count() === 1, 'the account page has "Sign out here"');
  check(await page.getByText(/other organisations' nodes/).count() > 0,
    'the account page says "Sign out everywhere" reaches the other nodes too');
  await Promise.all([page.waitForURL(/\/signed-out$/),
    page.getByRole('button', { name: 'Sign out everywhere', exact: true }).click()]);
  check(true, '"Sign out everywhere" leads to /signed-out');
  check(!(await context.cookies()).some((c) => c.name === 'kith_session'),
    'the session cookie is gone after "Sign out everywhere"');

  // --- OIDC clients: a first-party one and a third-party one (consent page) ---------------
  const third = node.addClient({ name: 'Browser Third Party', redirectUris: [`${cbBase}/third`] });
  const first = node.addClient({ name: 'Browser Intranet', redirectUris: [`${cbBase}/callback`],
    firstParty: true });
  const discover = (c) => oidc.discovery(new URL(node.url), c.client_id, c.client_secret,
    oidc.ClientSecretBasic(c.client_secret),
    { execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks] });
  const thirdConfig = await discover(third);
  const firstConfig = await discover(first);

  async function authorizationUrl(config, redirectUri) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri,
      scope: 'openid profile email', state, nonce, code_challenge_method: 'S256',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier) });
    return { url: url.href, verifier, state, nonce };
  }

  // --- One OIDC authorization through the browser, signing in on the way ------------------
  const flow = await authorizationUrl(firstConfig, `${cbBase}/callback`);
  await page.goto(flow.url);
  check(new URL(page.url()).pathname === '/oidc/authorize' &&
    await page.getByLabel('Password').count() === 1,
  'the authorization request shows the sign-in form');
  await shot(page, 'authorize-sign-in');
  await typeInto(page, 'Username', 'bea');
  await typeInto(page, 'Password', password);
  callbackUrl = undefined;
  await Promise.all([page.waitForURL(`${cbBase}/callback**`), page.keyboard.press('Enter')]);
  check(callbackUrl?.searchParams.get('code') && callbackUrl.searchParams.get('iss') === node.url,
    'the browser arrives at the client with code and iss');
  const tokens = await oidc.authorizationCodeGrant(firstConfig, callbackUrl, {
    pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce,
    idTokenExpected: true });
  const info = await oidc.fetchUserInfo(firstConfig, tokens.access_token, tokens.claims().sub);
  check(info.preferred_username?.startsWith('bea@') && info.name === 'Bea Browser',
    'openid-client exchanges the code and UserInfo names the member');

  // --- The consent page of a third-party client (signed in from the flow above) -----------
  const consentFlow = await authorizationUrl(thirdConfig, `${cbBase}/third`);
  await page.goto(consentFlow.url);
  const allow = page.locator('button[name="decision"][value="allow"]');
  check(await allow.count() === 1, 'a third-party client shows the consent page');
  await shot(page, 'consent');
  await axeCheck(page, 'consent');
  callbackUrl = undefined;
  await Promise.all([page.waitForURL(`${cbBase}/third**`), allow.click()]);
  check(callbackUrl?.searchParams.get('code') && callbackUrl.pathname === '/third',
    'allow brings the browser back to the client with a code');
  const thirdTokens = await oidc.authorizationCodeGrant(thirdConfig, callbackUrl, {
    pkceCodeVerifier: consentFlow.verifier, expectedState: consentFlow.state,
    expectedNonce: consentFlow.nonce, idTokenExpected: true });
  check(thirdTokens.claims().sub, 'openid-client exchanges the code from the consent flow');

  check(assetFailures.length === 0, 'every /assets/ request answered 200',
    assetFailures.join(', '));
  // DESIGN.md: GOV.UK Frontend's styles, but not the GDS Transport font files (reserved for
  // GOV.UK); the styles fall back to Arial.
  check(fontRequests.length === 0, 'no font files requested (no GDS Transport)',
    fontRequests.join(', '));
  // The wrong-password page is answered 401 on purpose, which Chromium logs as a failed load.
  const unexpected = consoleErrors.filter((m) => !/status of 401/.test(m));
  check(unexpected.length === 0, 'no console errors (CSP violations, failed loads)',
    unexpected.join('\n     '));
}
