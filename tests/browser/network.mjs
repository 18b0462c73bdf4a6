// Browser acceptance of the network (issue 6, "Acceptance"): the uk-network example's three
// nodes — Improvement Service, Glasgow City Council, LGA — started, peered and seeded by the
// example's own module (examples/uk-network/network.mjs) with free ports and a temporary state
// directory, then Debian's Chromium driven by npm playwright-core:
//
//   node tests/browser/network.mjs BUILD/bin [SCREENSHOT_DIR]     (default BUILD/screenshots)
//
// 1. A council member signs in at the council (password), finds an Improvement Service group in
//    the council's directory, opens it and arrives signed in at the Improvement Service without
//    a password prompt, and posts a reply; the reply shows at the Improvement Service and, within
//    a deadline, on LGA (which mirrors the group: an LGA member belongs to it).
// 2. A council member asks to join a request-policy group of the Improvement Service (signed in
//    there through the council); the facilitator approves on the manage page; the member then
//    reads the forum.
// 3. A search at the council finds a person of the Improvement Service.
// 4. A unique word of a private LGA group's thread is found by a member on LGA and never by
//    non-members, on LGA or on the other nodes.
// Screenshots of the main pages (network-*.png); axe-core on each (serious or critical
// violations fail). Prints one line per check; exits 0 only when all passed. Bounded by an
// overall deadline; the nodes are stopped on every exit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { binDirFrom, freePort } from '../oidc/kith_node.mjs';
import { axeCheck, check, launchChromium, runBrowserTest } from './harness.mjs';
import { DEMO_PASSWORD, PRIVATE_WORD, UkNetwork, WebClient, waitFor } from
  '../../examples/uk-network/network.mjs';

const OVERALL_TIMEOUT_MS = 270_000;
const REPLICATION_TIMEOUT_MS = 30_000;

const binDir = binDirFrom(process.argv[2]);
const shotDir = path.resolve(process.argv[3] ?? path.join(binDir, '..', 'screenshots'));
fs.mkdirSync(shotDir, { recursive: true });
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-network-'));

let net;
let browser;
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (net) await net.stop();
  fs.rmSync(stateDir, { recursive: true, force: true });
}
await runBrowserTest({
  timeoutMs: OVERALL_TIMEOUT_MS, run, cleanup, shotDir, cleanupMs: 10_000,
  onError: () => {
    for (const node of net?.nodes ?? []) {
      console.log(`# ${node.name} log (last lines):\n${node.logTail(12)}`);
    }
  },
});

// A main page: axe-core and a full-page screenshot.
async function mainPage(page, name) {
  await axeCheck(page, name);
  await page.screenshot({ path: path.join(shotDir, `network-${name}.png`), fullPage: true });
}

async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), button.click()]);
}

function noticeText(page) {
  return page.locator('.govuk-notification-banner__heading').allInnerTexts()
    .then((t) => t.join(' '));
}

// Polls `page` at `url` (reloading) until `locator(page)` matches; answers whether it did.
async function reloadUntil(page, url, locator, timeoutMs = REPLICATION_TIMEOUT_MS) {
  try {
    await waitFor(`${url}`, async () => {
      await page.goto(url);
      return (await locator(page).count()) > 0;
    }, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

async function run() {
  const started = Date.now();
  const ports = [await freePort(), await freePort(), await freePort()];
  net = new UkNetwork({ binDir, stateDir, ports,
    env: { KITH_IDENTITY_PASSWORD_COST: 'minimum' },
    log: (line) => console.log(`# ${line}`) });
  await net.start();
  await net.peer();
  const peered = ((Date.now() - started) / 1000).toFixed(1);
  check(true, `three nodes started and peered pairwise (${peered} s)`);
  const peerAgain = Date.now();
  await net.peer();  // a second run of the example: nothing to do, no error
  check(true, `peering again is a no-op (${Date.now() - peerAgain} ms)`);
  const seedStart = Date.now();
  const summary = await net.seed({ scale: 0.3 });
  check(summary.groups.length > 10,
    `the sample data is seeded through kithctl, the pages and the API (${summary.seconds} s)`);
  check(net.seeded() !== null && (await net.seed({ scale: 0.3 })).seeded_at === summary.seeded_at,
    'seeding again reuses the data');
  console.log(`# seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);

  const { is, glasgow, lga } = net.byKey;
  const group = (slug) => summary.groups.find((g) => g.slug === slug);
  const inDomain = (list, node) => list.filter((a) => a.endsWith(`@${node.domain}`));
  const handleOf = (address) => address.split('@')[0];

  browser = await launchChromium();
  const consoleErrors = [];
  async function newPage() {
    const context = await browser.newContext();
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    return { context, page };
  }
  async function signIn(page, node, handle) {
    await page.goto(`${node.url}/sign-in`);
    await page.getByLabel('Username').fill(handle);
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await Promise.all([page.waitForURL((u) => new URL(u).pathname !== '/sign-in'),
      page.getByRole('button', { name: 'Sign in' }).click()]);
  }

  // Each part runs even when an earlier one failed (its failure is reported).
  const part = async (name, body) => {
    try {
      await body();
    } catch (e) {
      check(false, `${name}: unexpected error`, e?.stack ?? String(e));
    }
  };

  const council = summary.demo.council;  // ailsa.robertson at Glasgow
  const facilitator = summary.demo.facilitator;  // euan.macleod at the Improvement Service
  const cm = group('change-managers');
  const asker = summary.members.glasgow.find((m) => m.active && !m.fixed &&
    ![...cm.members, ...cm.requests].includes(`${m.handle}@${glasgow.domain}`));
  const askerAddress = `${asker.handle}@${glasgow.domain}`;
  const { page: bob } = await newPage();

  // --- 1. The council member finds an IS group and posts there ------------------------------
  await part('1. directory, sign-in across nodes, reply', async () => {
    const ssn = group('sustainable-scotland');  // Ailsa is not a member yet
    const { page: ailsa } = await newPage();
    const navigations = [];
    ailsa.on('request', (r) => {  // every hop of a navigation, redirects included
      if (r.isNavigationRequest() && r.frame() === ailsa.mainFrame()) navigations.push(r.url());
    });
    await signIn(ailsa, glasgow, council.handle);
    check(new URL(ailsa.url()).origin === glasgow.url,
      `${council.address} signed in at the council`);

    // The group's entry in the council's directory: its name, and (Ailsa is not a member yet)
    // a link to join at the owner, which signs her in there through the council.
    const directoryUrl = `${glasgow.url}/directory?q=${encodeURIComponent('Sustainable Scotland')}`;
    const entry = (p) => p.locator('main li')
      .filter({ has: p.getByRole('link', { name: ssn.name, exact: true }) });
    const viaOwner = (p) => entry(p).locator(`a[href^="${is.url}/sign-in/organisation"]`);
    const found = await reloadUntil(ailsa, directoryUrl, entry);
    check(found, 'the council\'s directory finds the Improvement Service\'s group',
      `no entry "${ssn.name}" on ${directoryUrl}`);
    await mainPage(ailsa, 'directory');
    const groupPath = `/groups/${ssn.id}`;
    const links = found ? await entry(ailsa).locator('a').evaluateAll((as) =>
      as.map((a) => a.href)) : [];
    const href = links.find((h) => h.startsWith(`${is.url}/sign-in/organisation`)) ?? '';
    const target = new URL(href || '/', glasgow.url);
    check(target.origin === is.url && target.pathname === '/sign-in/organisation' &&
      target.searchParams.get('node') !== null &&
      (target.searchParams.get('next') ?? '').startsWith(groupPath),
    'the directory links the group through the owner\'s sign-in with the council',
    `links ${links.join(' ') || '(none)'}; expected ` +
      `${is.url}/sign-in/organisation?node=...&next=${groupPath}`);

    const before = navigations.length;
    if (href) {
      // One navigation: the redirects (IS -> council's authorize -> IS callback) are HTTP ones.
      await Promise.all([ailsa.waitForNavigation(), viaOwner(ailsa).first().click()]);
    }
    if (new URL(ailsa.url()).origin !== is.url) {
      // Carry on from where the link should have gone, so that the later steps still run.
      await ailsa.goto(`${is.url}/sign-in/organisation?node=${encodeURIComponent(glasgow.url)}` +
        `&next=${encodeURIComponent(groupPath)}`);
    }
    const hops = navigations.slice(before);
    const passwordPages = hops.filter((u) => new URL(u).pathname === '/sign-in');
    const meAtIs = await ailsa.context().request.get(`${is.url}/api/v1/me`);
    const me = meAtIs.ok() ? await meAtIs.json() : {};
    check(new URL(ailsa.url()).origin === is.url && new URL(ailsa.url()).pathname === groupPath &&
      me.member === council.address && passwordPages.length === 0,
    `arrived at the Improvement Service's group page signed in as ${council.address}, no password`,
    `at ${ailsa.url()} as ${me.member}; pages on the way: ${hops.join(' -> ')}`);
    check((await ailsa.locator('h1').innerText()).includes(ssn.name),
      'the group page shows the group');
    await mainPage(ailsa, 'group-at-peer');
    await submit(ailsa, ailsa.getByRole('button', { name: 'Join group' }));
    check(await ailsa.getByRole('button', { name: 'Join group' }).count() === 0,
      'the remote member joins the open group at the Improvement Service');

    await ailsa.getByRole('link', { name: 'Forum' }).first().click();
    await ailsa.waitForURL(/\/forum$/);
    await mainPage(ailsa, 'forum');
    await ailsa.getByRole('link', { name: 'Heat networks: procurement experience' }).click();
    await ailsa.waitForURL(/\/forum\/\d+$/);
    const threadId = Number(new URL(ailsa.url()).pathname.split('/').pop());
    // No quotes or apostrophes: Markdown renders them as typographic ones.
    const reply = `The Glasgow heat network went to tender in ${Date.now() % 100000}: ` +
      '**happy to share** the specification.';
    await ailsa.getByLabel('Your reply').fill(reply);
    await submit(ailsa, ailsa.getByRole('button', { name: 'Post reply' }));
    check((await noticeText(ailsa)).includes('reply has been posted'),
      'the remote member\'s reply is posted at the Improvement Service');
    const replyText = reply.replace(/\*\*/g, '');
    check(await ailsa.locator('.kith-markdown', { hasText: replyText }).count() === 1,
      'the reply shows on the Improvement Service\'s thread page');
    await mainPage(ailsa, 'thread');

    const lgaMember = inDomain(ssn.members, lga)[0];
    if (check(Boolean(lgaMember), `LGA has a member in ${ssn.name} (${lgaMember})`)) {
      const lgaClient = new WebClient();
      await lgaClient.signIn(lga.url, handleOf(lgaMember), DEMO_PASSWORD);
      let last;
      const mirrored = await waitFor('the reply on LGA', async () => {
        const res = await lgaClient.api(lga.url, 'GET',
          `/api/v1/groups/${ssn.id}/threads/${threadId}?limit=100`);
        last = `${res.status} ${JSON.stringify(res.body).slice(0, 200)}`;
        return res.status === 200 && res.body.posts?.some((p) => p.body === reply &&
          p.author === council.address);
      }, REPLICATION_TIMEOUT_MS).then(() => true, () => false);
      check(mirrored, 'the reply is visible on LGA (its mirror of the group) within the deadline',
        last);
    }

  });

  // --- 2. A facilitator approves a remote member's join request -----------------------------
  await part('2. a remote join request approved', async () => {
    await signIn(bob, glasgow, asker.handle);
    await bob.goto(`${is.url}/sign-in/organisation?node=${encodeURIComponent(glasgow.url)}` +
      `&next=${encodeURIComponent(`/groups/${cm.id}`)}`);
    check(new URL(bob.url()).pathname === `/groups/${cm.id}`,
      `${askerAddress} arrives at ${cm.name} through the council`, bob.url());
    await bob.getByLabel(/Why you would like to join/).fill('I lead change work in Glasgow.');
    await submit(bob, bob.getByRole('button', { name: 'Request to join' }));
    check((await noticeText(bob)).includes('request to join has been sent'),
      'the remote member\'s request to join is sent');

    const { page: euan } = await newPage();
    await signIn(euan, is, facilitator.handle);
    await euan.goto(`${is.url}/groups/${cm.id}/manage`);
    check(await euan.getByText('I lead change work in Glasgow.').count() === 1,
      'the facilitator sees the request with its message on the manage page');
    await mainPage(euan, 'manage');
    await submit(euan, euan.getByRole('button', { name: `Approve ${askerAddress}` }));
    check((await noticeText(euan)).includes('request has been approved'),
      'the facilitator approves the remote member');
    await bob.goto(`${is.url}/groups/${cm.id}/forum`);
    const firstThread = bob.getByRole('link', { name: 'Lessons from merging two service teams' });
    check(await firstThread.count() === 1, 'the approved remote member reads the forum');
  });

  // --- 3. A search at the council finds a person of the Improvement Service ---------------------
  await part('3. cross-node person search', async () => {
    const person = summary.members.is.find((m) => m.handle === 'isla.fraser');
    const personAddress = `${person.handle}@${is.domain}`;
    await signIn(bob, glasgow, asker.handle);  // the IS session replaced the council's cookie
    const searchUrl = `${glasgow.url}/directory?q=${encodeURIComponent(person.name)}`;
    const personFound = await reloadUntil(bob, searchUrl,
      (p) => p.locator(`main a[href*="${person.handle}"]`));
    const apiPeople = await bob.context().request.get(
      `${glasgow.url}/api/v1/search?q=${encodeURIComponent(person.name)}&kind=person`);
    const people = apiPeople.ok() ? (await apiPeople.json()).results ?? [] : [];
    check(personFound && people.some((r) => r.address === personAddress),
      `a search at the council finds ${person.name} of the Improvement Service`,
      `page: ${personFound ? 'found' : 'not found'}; API: ${JSON.stringify(people).slice(0, 300)}`);
    await mainPage(bob, 'search-person');
  });

  // --- 4. A private group's content stays with its members -------------------------------------
  await part('4. a private group stays private', async () => {
    const secret = group('solal-litigation');
    const searchFor = async (client, node) => {
      const res = await client.api(node.url, 'GET',
        `/api/v1/search?q=${encodeURIComponent(PRIVATE_WORD)}&limit=100`);
      if (res.status !== 200) throw new Error(`search at ${node.name}: ${res.status}`);
      return res.body.results ?? [];
    };
    const insider = new WebClient();
    await insider.signIn(lga.url, summary.demo.lga.handle, DEMO_PASSWORD);
    const insiderHits = await searchFor(insider, lga);
    check(secret.members.includes(summary.demo.lga.address) &&
      insiderHits.some((r) => r.group === secret.id),
    `a member of the private group finds "${PRIVATE_WORD}" on LGA (so the check below can fail)`,
    JSON.stringify(insiderHits).slice(0, 300));
    const outsiders = [
      [lga, summary.members.lga.find((m) => m.active &&
        !secret.members.includes(`${m.handle}@${lga.domain}`))],
      [glasgow, summary.members.glasgow.find((m) => m.handle === council.handle)],
      [is, summary.members.is.find((m) => m.handle === facilitator.handle)],
    ];
    for (const [node, m] of outsiders) {
      const client = new WebClient();
      await client.signIn(node.url, m.handle, DEMO_PASSWORD);
      const hits = await searchFor(client, node);
      check(hits.length === 0,
        `a non-member's search at ${node.name} never finds "${PRIVATE_WORD}"`,
        JSON.stringify(hits).slice(0, 300));
    }
    // The same search through the council's directory page (what the member sees).
    await bob.goto(`${glasgow.url}/directory?q=${PRIVATE_WORD}`);
    check(!(await bob.locator('main').innerText()).includes('Litigation strategy'),
      'the council\'s directory page shows nothing of the private group');
    await mainPage(bob, 'search-results');
  });

  for (const node of net.nodes) {
    check(node.running, `${node.name} is still running at the end`,
      `it stopped (${node.exit}); the end of its log:\n${node.logTail(25)}`);
  }
  check(consoleErrors.filter((m) => !/status of 40\d/.test(m)).length === 0,
    'no console errors (CSP violations, failed loads)', consoleErrors.join('\n     '));
}
