// Cross-node sign-in figure (issue 6, "Figures"): the time from a click at node B ("sign in
// with your organisation") to being signed in at B, for a member who already has a session at
// their home node A. Two real kithd on loopback, peered; measured from the client side.
//
//   node bench/sso_sign_in.mjs BUILD/bin [--iterations 300] [--warmup 20]
//
// Each iteration is the whole chain a browser follows (keep-alive connections, like a browser):
//   1. GET  B/sign-in/organisation?node=A   (B knows the home node: kith_home cookie)
//                                          -> 302 to A's authorize endpoint with prompt=none
//   2. GET  A/oidc/authorize?...            (with A's kith_session cookie) -> 302 to B's callback
//   3. GET  B/sign-in/callback?code&state   B redeems the code at A (private_key_jwt), checks the
//                                          ID token, reads UserInfo, starts the remote session
//                                          -> 303 with B's kith_session cookie
// Reported beside two references measured in the same run: the same three round trips as plain
// GETs of /healthz (B, A, B), and A's own password sign-in (GET /sign-in + POST /sign-in; the
// password hash is at the "minimum" cost the tests use, so this is HTTP + one write, not
// Argon2id's real cost).
//
// Prints one JSON object on stdout (p50/p90/p99/max in ms, and the per-step medians) and a
// summary on stderr. Bounded by an overall deadline; exit status 0 when it ran, 1 otherwise.
import { KithNode, binDirFrom } from '../tests/oidc/kith_node.mjs';
import { HttpSession, findForm } from '../tests/oidc/http_session.mjs';

const OVERALL_TIMEOUT_MS = 240_000;

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? Number(process.argv[i + 1]) : fallback;
}

const binDir = binDirFrom(process.argv[2]);
const iterations = option('--iterations', 300);
const warmup = option('--warmup', 20);

const watchdog = setTimeout(() => {
  console.error(`bench: overall deadline of ${OVERALL_TIMEOUT_MS / 1000} s passed`);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 100) / 100;
  return { n: s.length, p50: r(percentile(s, 50)), p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)), max: r(s[s.length - 1]) };
}

const now = () => performance.now();

async function get(url, cookie) {
  const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {},
    signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res;
}

// The value of `name` among a response's Set-Cookie lines.
function setCookie(res, name) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    if (pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

// One cross-node sign-in; answers the time of each step in ms, or throws saying what broke.
async function crossNodeSignIn(a, b, homeCookie, aSession) {
  const t0 = now();
  const start = await get(`${b.url}/sign-in/organisation?node=${encodeURIComponent(a.url)}&next=%2F`,
    homeCookie);
  const t1 = now();
  const authorize = start.headers.get('location') ?? '';
  if (start.status !== 302 || !authorize.startsWith(`${a.url}/oidc/authorize?`)) {
    throw new Error(`B did not send us to A: ${start.status} ${authorize}`);
  }
  if (new URL(authorize).searchParams.get('prompt') !== 'none') throw new Error('no prompt=none');
  const atA = await get(authorize, `kith_session=${aSession}`);
  const t2 = now();
  const callback = atA.headers.get('location') ?? '';
  if (atA.status !== 302 || !callback.startsWith(`${b.url}/sign-in/callback?`) ||
      new URL(callback).searchParams.has('error')) {
    throw new Error(`A did not send us back with a code: ${atA.status} ${callback}`);
  }
  const done = await get(callback, homeCookie);
  const t3 = now();
  if (done.status !== 303 || !setCookie(done, 'kith_session')) {
    throw new Error(`B's callback did not sign us in: ${done.status}`);
  }
  return { total: t3 - t0, start: t1 - t0, authorize: t2 - t1, callback: t3 - t2 };
}

async function healthzChain(a, b) {
  const t0 = now();
  for (const url of [`${b.url}/healthz`, `${a.url}/healthz`, `${b.url}/healthz`]) {
    const res = await get(url);
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  }
  return now() - t0;
}

async function passwordSignIn(a, password) {
  const http = new HttpSession(a.url);
  const t0 = now();
  const page = await http.get('/sign-in');
  const form = findForm(page.body, '/sign-in');
  if (!form) throw new Error(`no sign-in form at A: ${page.status}`);
  const res = await http.submit(form, { username: 'alice', password });
  const t1 = now();
  if (res.status !== 303 || !http.jar.get('kith_session')) {
    throw new Error(`password sign-in at A failed: ${res.status} ${res.body.slice(0, 200)}`);
  }
  return { ms: t1 - t0, session: http.jar.get('kith_session') };
}

const env = {
  KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES: 'true',
  KITH_LOG_ACCESS_LOG: 'false',
  KITH_LOG_LEVEL: 'warn',
};
let a;
let b;
let exitCode = 1;
try {
  a = await KithNode.start({ binDir, name: 'Council A', organisation: 'Council A', env });
  b = await KithNode.start({ binDir, name: 'Improvement Service',
    organisation: 'Improvement Service', env });
  const password = 'correct horse battery staple 42';
  a.addMember('alice', password);
  for (const [node, args] of [[a, ['peer', 'add', b.url, '--yes']], [b, ['peer', 'approve', a.url]]]) {
    const r = node.ctl(args);
    if (r.status !== 0) throw new Error(`kithctl ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  }
  const { session: aSession } = await passwordSignIn(a, password);
  const homeCookie = `kith_home=${encodeURIComponent(a.url)}`;

  // Peering registers B at A just after it became active: wait (bounded) for the first chain.
  const readyBy = Date.now() + 20_000;
  for (;;) {
    try {
      await crossNodeSignIn(a, b, homeCookie, aSession);
      break;
    } catch (e) {
      if (Date.now() > readyBy) throw e;
      await new Promise((r) => setTimeout(r, 100));  // polling with a deadline
    }
  }
  for (let i = 0; i < warmup; i++) {
    await crossNodeSignIn(a, b, homeCookie, aSession);
    await healthzChain(a, b);
  }

  // Interleaved, so that both see the same machine load.
  const chain = { total: [], start: [], authorize: [], callback: [] };
  const healthz = [];
  const password_sign_in = [];
  for (let i = 0; i < iterations; i++) {
    const t = await crossNodeSignIn(a, b, homeCookie, aSession);
    for (const k of Object.keys(chain)) chain[k].push(t[k]);
    healthz.push(await healthzChain(a, b));
    if (i % 5 === 0) password_sign_in.push((await passwordSignIn(a, password)).ms);
  }
  const result = {
    bench: 'sso_sign_in',
    iterations,
    cross_node_sign_in_ms: stats(chain.total),
    steps_p50_ms: { start_at_b: stats(chain.start).p50, authorize_at_a: stats(chain.authorize).p50,
      callback_at_b: stats(chain.callback).p50 },
    reference_healthz_3_round_trips_ms: stats(healthz),
    reference_password_sign_in_at_a_ms: stats(password_sign_in),
  };
  console.log(JSON.stringify(result, null, 2));
  const c = result.cross_node_sign_in_ms;
  console.error(`cross-node sign-in over ${c.n}: p50 ${c.p50} ms, p90 ${c.p90} ms, p99 ${c.p99} ms` +
    ` (3 plain round trips: p50 ${result.reference_healthz_3_round_trips_ms.p50} ms)`);
  exitCode = 0;
} catch (e) {
  console.error(`bench failed: ${e.stack ?? e}`);
  if (a) console.error(`--- A ---\n${a.output}`);
  if (b) console.error(`--- B ---\n${b.output}`);
} finally {
  await Promise.allSettled([a?.stop(), b?.stop()]);
  clearTimeout(watchdog);
}
process.exit(exitCode);
