// Browser test of the members' group pages (issue 6, "Web pages"): Debian's Chromium driven by
// npm playwright-core against one kithd.
//
//   node tests/browser/groups.mjs BUILD/bin [SCREENSHOT_DIR]     (default BUILD/screenshots)
//
// Two members (a facilitator and a second member), each in their own browser context. The
// facilitator signs in, creates a group through the JSON API, then through the pages only:
// starts a thread and replies (Markdown rendered, raw HTML dropped), uploads a document and
// downloads it again, edits their profile (with a GOV.UK error summary first). The second member
// asks to join; the facilitator approves on the facilitator tools page; the member then reads
// the forum. Every main page is checked with axe-core (serious or critical violations fail)
// and saved as a screenshot; the strict CSP must produce no console errors.
//
// Prints one line per check; exits 0 only when all passed. Bounded by an overall deadline.
import fs from 'node:fs';
import path from 'node:path';

import { KithNode, binDirFrom } from '../oidc/kith_node.mjs';
import { axeCheck, check, launchChromium, runBrowserTest } from './harness.mjs';

const OVERALL_TIMEOUT_MS = 180_000;

const binDir = binDirFrom(process.argv[2]);
const shotDir = path.resolve(process.argv[3] ?? path.join(binDir, '..', 'screenshots'));
fs.mkdirSync(shotDir, { recursive: true });

let node;
let browser;
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (node) await node.stop();
}
await runBrowserTest({
  timeoutMs: OVERALL_TIMEOUT_MS, run, cleanup, shotDir,
  onError: () => {
    if (node) console.log(`# kithd output (last lines):\n${node.output.split('\n').slice(-15).join('\n')}`);
  },
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true });
}

// The main page checks: one h1, headings in order (no level skipped), axe, a screenshot.
async function mainPage(page, name) {
  check(await page.locator('h1').count() === 1, `the ${name} page has one h1`);
  // The GOV.UK error summary comes before the h1 by design: it is left out.
  const levels = await page.evaluate(() =>
    [...document.querySelectorAll('main h1, main h2, main h3, main h4')]
      .filter((h) => !h.closest('.govuk-error-summary')).map((h) => +h.tagName[1]));
  const skipped = levels.some((l, i) => i > 0 && l > levels[i - 1] + 1) || levels[0] !== 1;
  check(!skipped, `the ${name} page's headings are in order (${levels.join(' ')})`);
  await axeCheck(page, name);
  await shot(page, name);
}

async function signIn(page, handle, password) {
  await page.goto(`${node.url}/sign-in`);
  await page.getByLabel('Username').fill(handle);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForURL(/\/account$/),
    page.getByRole('button', { name: 'Sign in' }).click()]);
}

// Submits the form holding `button` and waits for the redirect that follows (PRG).
async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), button.click()]);
}

function noticeText(page) {
  return page.locator('.govuk-notification-banner__heading').allInnerTexts()
    .then((t) => t.join(' '));
}

async function run() {
  node = await KithNode.start({ binDir, passwordCost: 'minimum' });
  console.log(`# kithd at ${node.url}`);
  const domain = new URL(node.url).host;
  const password = 'violet-anchor-27-meadow-glass';
  node.addMember('fay', password, { email: 'fay@council.example', name: 'Fay Facilitator' });
  node.addMember('sam', password, { email: 'sam@council.example', name: 'Sam Member' });

  browser = await launchChromium();
  const consoleErrors = [];
  async function newPage() {
    const context = await browser.newContext({ acceptDownloads: true });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    return { context, page };
  }

  // --- Signed out: the welcome page --------------------------------------------------------
  const { context: fayContext, page: fay } = await newPage();
  await fay.goto(`${node.url}/`);
  check(await fay.locator('main a[href="/sign-in"]').count() > 0,
    'signed out, the home page welcomes and links to the sign-in page');
  await mainPage(fay, 'home-signed-out');

  // --- Sign in, create a group through the API ----------------------------------------------
  await signIn(fay, 'fay', password);
  const me = await (await fayContext.request.get(`${node.url}/api/v1/me`)).json();
  const created = await fayContext.request.post(`${node.url}/api/v1/groups`, {
    headers: { 'X-CSRF-Token': me.csrf_token },
    data: { slug: 'change-managers', name: 'Change Managers Network',
      description: 'Sharing practice in organisational change across councils.',
      tags: ['change', 'practice'], visibility: 'public', join_policy: 'request' },
  });
  check(created.status() === 201, `the group is created through the API (${created.status()})`);
  const group = `/groups/change-managers@${domain}`;

  await fay.goto(`${node.url}/`);
  check(await fay.getByRole('link', { name: 'Change Managers Network' }).count() > 0,
    'the home page lists my group');
  await mainPage(fay, 'home');

  await fay.goto(`${node.url}${group}`);
  check((await fay.locator('h1').innerText()).includes('Change Managers Network'),
    'the group page shows the group');
  await mainPage(fay, 'group-about');

  // --- Forum: a thread and a reply through the pages ------------------------------------------
  await fay.getByRole('link', { name: 'Forum' }).click();
  await fay.waitForURL(/\/forum$/);
  await submit(fay, fay.getByRole('button', { name: 'Post thread' }));  // empty: errors
  check(await fay.locator('.govuk-error-summary a[href="#title"]').count() === 1,
    'an empty thread shows the GOV.UK error summary linking to the title');
  await mainPage(fay, 'group-forum-error');
  await fay.getByLabel('Title').fill('Lessons from our restructure');
  await fay.getByLabel('Message').fill('We merged two teams this year.\n\n- what worked\n- what did not');
  await submit(fay, fay.getByRole('button', { name: 'Post thread' }));
  check((await noticeText(fay)).includes('thread has been posted'),
    'posting a thread redirects to the forum with a success banner');
  await mainPage(fay, 'group-forum');
  await fay.getByRole('link', { name: 'Lessons from our restructure' }).click();
  await fay.waitForURL(/\/forum\/\d+$/);
  await fay.getByLabel('Your reply').fill('**Bold** advice: <script>alert(1)</script> talk early.');
  await submit(fay, fay.getByRole('button', { name: 'Post reply' }));
  check((await noticeText(fay)).includes('reply has been posted'), 'the reply is posted');
  check(await fay.locator('.kith-markdown strong', { hasText: 'Bold' }).count() === 1,
    'the reply is rendered from Markdown');
  check(await fay.locator('.kith-markdown script').count() === 0,
    'raw HTML in a post is not rendered');
  check(await fay.locator('.kith-markdown li').count() === 2, 'the thread body has its list');
  await mainPage(fay, 'group-thread');

  // --- Library: upload and download -----------------------------------------------------------
  await fay.goto(`${node.url}${group}/library`);
  const content = `Change plan\n${'x'.repeat(5000)}\n`;
  await fay.getByLabel('Title (optional)').fill('Change plan 2026');
  await fay.getByLabel('File').setInputFiles({ name: 'change-plan.txt', mimeType: 'text/plain',
    buffer: Buffer.from(content) });
  await submit(fay, fay.getByRole('button', { name: 'Upload' }));
  check((await noticeText(fay)).includes('document has been uploaded'), 'the upload is accepted');
  check(await fay.getByRole('link', { name: 'Change plan 2026', exact: true }).count() === 1,
    'the library lists the document');
  await mainPage(fay, 'group-library');
  await fay.getByRole('link', { name: 'Change plan 2026', exact: true }).click();
  await fay.waitForURL(/\/library\/\d+$/);
  await mainPage(fay, 'group-document');
  const href = await fay.getByRole('link', { name: /^Download change-plan\.txt/ }).getAttribute('href');
  const [download] = await Promise.all([fay.waitForEvent('download'),
    fay.getByRole('link', { name: /^Download change-plan\.txt/ }).click()]);
  const saved = fs.readFileSync(await download.path(), 'utf8');
  check(saved === content && download.suggestedFilename() === 'change-plan.txt',
    `the document downloads with its bytes and name (${href})`);

  // --- A second member asks to join; the facilitator approves ---------------------------------
  const { page: sam } = await newPage();
  await signIn(sam, 'sam', password);
  await sam.goto(`${node.url}${group}/forum`);
  check(new URL(sam.url()).pathname === group || (await sam.locator('h1').count()) === 1,
    'a non-member can open the public group');
  await sam.goto(`${node.url}${group}`);
  await sam.getByLabel(/Why you would like to join/).fill('I lead our change team.');
  await submit(sam, sam.getByRole('button', { name: 'Request to join' }));
  check((await noticeText(sam)).includes('request to join has been sent'),
    'the request to join is sent');
  await fay.goto(`${node.url}${group}/manage`);
  check(await fay.getByText('I lead our change team.').count() === 1,
    'the facilitator tools list the request with its message');
  await mainPage(fay, 'group-manage');
  await submit(fay, fay.getByRole('button', { name: `Approve sam@${domain}` }));
  check((await noticeText(fay)).includes('request has been approved'), 'the request is approved');
  await fay.goto(`${node.url}${group}/members?q=sam`);
  check(await fay.getByRole('cell', { name: `sam@${domain}` }).count() === 1,
    'the people finder finds the new member');
  await mainPage(fay, 'group-members');
  await sam.goto(`${node.url}/`);
  check(await sam.getByRole('link', { name: 'Change Managers Network' }).count() > 0,
    'the new member sees the group on their home page');
  await sam.goto(`${node.url}${group}/forum`);
  check(await sam.getByRole('link', { name: 'Lessons from our restructure' }).count() === 1,
    'the new member reads the forum');

  // --- Profile and directory ------------------------------------------------------------------
  await fay.goto(`${node.url}/profile`);
  await fay.getByLabel('Full name').fill('');
  await submit(fay, fay.getByRole('button', { name: 'Save profile' }));
  check(await fay.locator('.govuk-error-summary a[href="#display_name"]').count() === 1,
    'an empty name shows the error summary');
  await mainPage(fay, 'profile-error');
  await fay.getByLabel('Full name').fill('Fay Facilitator');
  await fay.getByLabel('Organisation').fill('Council of Examples');
  await fay.getByLabel('Job title').fill('Change manager');
  await fay.getByLabel('The whole network').check();
  await submit(fay, fay.getByRole('button', { name: 'Save profile' }));
  check((await noticeText(fay)).includes('profile has been saved'), 'the profile is saved');
  await mainPage(fay, 'profile');
  await fay.goto(`${node.url}/directory?q=change`);
  const results = fay.locator('main');  // the header names the signed-in member too
  check(await results.getByRole('link', { name: 'Fay Facilitator' }).count() === 1 &&
    await results.getByRole('link', { name: 'Change Managers Network' }).count() === 1,
  'the directory finds the person and the group');
  await mainPage(fay, 'directory');
  await results.getByRole('link', { name: 'Fay Facilitator' }).click();
  await fay.waitForURL(/\/people\//);
  check(await fay.getByText('Council of Examples').count() > 0, 'the profile page shows the profile');
  await mainPage(fay, 'person');

  // --- Create a group through the form ------------------------------------------------------
  await fay.goto(`${node.url}/groups`);
  await fay.getByRole('button', { name: 'Create a group' }).click();
  await fay.waitForURL(/\/groups\/new$/);
  await mainPage(fay, 'group-new');
  await fay.getByLabel('Name', { exact: true }).fill('Sustainable Scotland Network');
  await fay.getByLabel('Short name for the web address').fill('Not OK!');
  await submit(fay, fay.getByRole('button', { name: 'Create group' }));
  check(await fay.locator('.govuk-error-summary a[href="#slug"]').count() === 1,
    'a bad short name shows the GOV.UK error summary linking to the field');
  check(await fay.getByLabel('Name', { exact: true }).inputValue() === 'Sustainable Scotland Network',
    'the form keeps what was typed');
  await mainPage(fay, 'group-new-error');
  await fay.getByLabel('Short name for the web address').fill('');  // derived from the name
  await fay.getByLabel('Description').fill('Climate action across the public sector.');
  await fay.getByLabel('Tags').fill('climate, net zero');
  await submit(fay, fay.getByRole('button', { name: 'Create group' }));
  const sustainable = `/groups/sustainable-scotland-network@${domain}`;
  check(new URL(fay.url()).pathname === sustainable &&
    (await noticeText(fay)).includes('group has been created'),
  `the form creates the group with a slug from its name (${fay.url()})`);

  // --- Directory: filters, tags as text, a join button, the archived marker -------------------
  await sam.goto(`${node.url}/directory?q=climate&kind=groups&node=${encodeURIComponent(domain)}`);
  const found = sam.locator('main');
  check(await found.getByRole('link', { name: 'Sustainable Scotland Network' }).count() === 1,
    'the directory finds the group with the kind and node filters');
  check(await found.getByText('Tags: climate, net zero').count() === 1 &&
    !(await found.innerText()).includes('["'), 'tags are shown as text, not JSON');
  check(await sam.locator('select#node option').count() >= 2, 'the node filter is a select');
  await mainPage(sam, 'directory-groups');
  await submit(sam, found.getByRole('button', { name: /^Join/ }));
  check((await noticeText(sam)).includes('joined the group'), 'the join button joins the group');
  await sam.goto(`${node.url}/directory?q=climate&kind=people`);
  check(await sam.locator('main').getByRole('link', { name: 'Sustainable Scotland Network' })
    .count() === 0, 'the kind filter leaves groups out');
  await fay.goto(`${node.url}${sustainable}/manage`);
  await submit(fay, fay.getByRole('button', { name: 'Archive group' }));
  await sam.goto(`${node.url}/directory?q=climate&kind=groups`);
  check(await sam.locator('main .govuk-tag', { hasText: 'Archived' }).count() === 1,
    'an archived group is marked archived in the results');
  await mainPage(sam, 'directory-archived');

  check(consoleErrors.filter((m) => !/status of 40\d/.test(m)).length === 0,
    'no console errors (CSP violations, failed loads)', consoleErrors.join('\n     '));
}
