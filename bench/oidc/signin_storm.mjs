// Figure: /healthz latency while 50 members sign in at once with the default Argon2id cost
// (INTERACTIVE), issue 4 "Figures": the p99 must stay under 20 ms, because hashing runs on
// its own thread pool and never on the I/O threads.
//
//   node bench/oidc/signin_storm.mjs BUILD/bin        (bench/oidc/run.sh runs it)
//
// Environment: STORM_SIGNINS (default 50).
//
// kithd runs with identity.password_cost = interactive (the default). 50 members are added
// with kithctl (their hashes made at that cost), each gets the sign-in page (CSRF cookie and
// token) beforehand; then all 50 POST /sign-in at once, each on its own connection, while a
// worker thread GETs /healthz back to back (a 2 ms pause between requests) on one keep-alive
// connection, from 1 s before the storm until the last sign-in answered. The same probe runs
// for 2 s on the idle node first, as the baseline.
import os from 'node:os';
import { Worker } from 'node:worker_threads';

import { findForm, HttpSession } from '../../tests/oidc/http_session.mjs';
import { KithNode, binDirFrom } from '../../tests/oidc/kith_node.mjs';

const SIGNINS = Number(process.env.STORM_SIGNINS ?? 50);
const binDir = binDirFrom(process.argv[2]);

// The probe, in a worker so that the main thread's work does not delay its timing.
const probeSource = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let running = true;
const samples = [];
parentPort.on('message', (m) => { if (m === 'stop') running = false; });
function once() {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port: workerData.port, path: '/healthz', agent,
      timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6,
        status: res.statusCode }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
(async () => {
  const errors = [];
  while (running) {
    try {
      const s = await once();
      samples.push(s.status === 200 ? s.ms : -1);
    } catch (e) {
      errors.push(String(e));
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  parentPort.postMessage({ samples, errors });
})();
`;

function startProbe(port) {
  const worker = new Worker(probeSource, { eval: true, workerData: { port } });
  const result = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { stop: async () => { worker.postMessage('stop'); const r = await result;
    await worker.terminate(); return r; } };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function describe({ samples, errors }) {
  const ok = samples.filter((x) => x >= 0).sort((a, b) => a - b);
  return { n: samples.length, non200: samples.length - ok.length, errors: errors.length,
    p50_ms: percentile(ok, 50), p99_ms: percentile(ok, 99), max_ms: ok[ok.length - 1] };
}

const fmt = (d) => `${d.n} requests, p50 ${d.p50_ms.toFixed(2)} ms, p99 ${d.p99_ms.toFixed(2)} ms, ` +
  `max ${d.max_ms.toFixed(2)} ms, non-200 ${d.non200}, errors ${d.errors}`;

const node = await KithNode.start({ binDir, passwordCost: 'interactive', startTimeoutMs: 60_000 });
try {
  console.log(`# machine: ${os.cpus().length} cores, load average ` +
    `${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; kithd at ${node.url}`);
  const password = (i) => `storm-password-number-${i}-abcdef`;
  const addStart = Date.now();
  for (let i = 0; i < SIGNINS; i++) node.addMember(`storm${i}`, password(i));
  console.log(`added ${SIGNINS} members (interactive cost) in ${((Date.now() - addStart) / 1000)
    .toFixed(1)} s`);

  // Each member's browser: the sign-in page first (CSRF cookie and token).
  const sessions = [];
  for (let i = 0; i < SIGNINS; i++) {
    const s = new HttpSession(node.url, { timeoutMs: 120_000 });
    const page = await s.get('/sign-in');
    const form = findForm(page.body, '/sign-in');
    if (!form) throw new Error(`no sign-in form (${page.status})`);
    sessions.push({ s, form });
  }

  const baselineProbe = startProbe(node.port);
  await new Promise((r) => setTimeout(r, 2000));
  const baseline = describe(await baselineProbe.stop());
  console.log(`/healthz idle: ${fmt(baseline)}`);

  const probe = startProbe(node.port);
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  const latencies = [];
  const outcomes = await Promise.all(sessions.map(async ({ s, form }, i) => {
    // A fresh connection per member, as 50 different browsers would have.
    const start = Date.now();
    const res = await s.request('POST', form.action, {
      form: { ...form.fields, username: `storm${i}`, password: password(i) },
      headers: { connection: 'close' } });
    latencies.push(Date.now() - start);
    return res.status === 303 && Boolean(s.jar.get('kith_session'));
  }));
  const stormSeconds = (Date.now() - t0) / 1000;
  const storm = describe(await probe.stop());
  latencies.sort((a, b) => a - b);
  const signedIn = outcomes.filter(Boolean).length;
  console.log(`storm: ${signedIn}/${SIGNINS} signed in within ${stormSeconds.toFixed(1)} s ` +
    `(sign-in latency p50 ${percentile(latencies, 50)} ms, max ${latencies[latencies.length - 1]} ms)`);
  console.log(`/healthz during the storm: ${fmt(storm)}`);
  console.log(`RESULT_JSON ${JSON.stringify({ signins: SIGNINS, signed_in: signedIn,
    storm_seconds: stormSeconds, baseline, storm, signin_p50_ms: percentile(latencies, 50),
    signin_max_ms: latencies[latencies.length - 1], load_average_end: os.loadavg() })}`);
  console.log(`target /healthz p99 < 20 ms during the storm: ${storm.p99_ms < 20 ? 'met' : 'NOT met'}`);
  if (signedIn !== SIGNINS) process.exitCode = 1;
} finally {
  await node.stop();
}
