// Figure: the token endpoint's authorization_code exchange rate, RS256 ID-token signing
// included, for kith and for npm oidc-provider in the same run, beside the RSA-2048 signing
// rate of OpenSSL on one core (issue 4, "Figures").
//
//   node bench/oidc/token_bench.mjs BUILD/bin        (bench/oidc/run.sh runs it)
//
// Environment: BENCH_SECONDS (timed phase per provider, default 8), BENCH_CONNECTIONS (wrk
// connections, default 64), BENCH_KITH_CODES (codes to pre-create for kith, default 40000).
//
// Both providers get the same client: confidential, client_secret_basic, RS256 ID tokens,
// PKCE S256, scope "openid profile email". Codes are created before the timed phase — kith:
// one signed-in session, then GET /oidc/authorize?prompt=none for a first-party client answers
// a code each time; oidc-provider: through its model API (oidc_provider_server.mjs). The timed
// phase is wrk (C, keep-alive) with token.lua, which sends each code once; only 2xx answers
// count. kith's codes live 60 s, so their creation stops early enough for the timed phase to
// end inside that window. The load client's own CPU time is measured (bash `times`) to show it
// is not the bottleneck, and so are the servers' (/proc/PID/stat).
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { findForm, HttpSession } from '../../tests/oidc/http_session.mjs';
import { KithNode, binDirFrom, freePort } from '../../tests/oidc/kith_node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const KITH_CODES = Number(process.env.BENCH_KITH_CODES ?? 40000);
const CODE_TTL_S = 60;  // kith's authorization code lifetime
const REDIRECT = 'http://127.0.0.1:8765/callback';
const VERIFIER = crypto.randomBytes(32).toString('base64url');
const CHALLENGE = crypto.createHash('sha256').update(VERIFIER).digest('base64url');
const CLK_TCK = 100;  // Linux USER_HZ

const binDir = binDirFrom(process.argv[2]);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-token-bench-'));
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function log(line) {
  console.log(line);
}

// CPU seconds (user + system) a process has used so far.
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

// OpenSSL's RSA-2048 sign rate on one core.
function opensslRsaSignRate() {
  const out = execFileSync('openssl', ['speed', '-seconds', '5', 'rsa2048'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000,
  });
  const m = out.match(/rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/);
  if (!m) throw new Error(`cannot read openssl speed output:\n${out}`);
  return { sign_per_s: Number(m[1]), verify_per_s: Number(m[2]) };
}

// Runs wrk against `url` with the codes; answers its figures and its own CPU use.
function runWrk(url, codesFile, bodyPrefix, authorization, serverPid) {
  const env = { ...process.env, CODES_FILE: codesFile, BODY_PREFIX: bodyPrefix,
    AUTHORIZATION: authorization, WRK_THREADS: '1' };
  const cpuBefore = cpuSeconds(serverPid);
  // bash's `times` prints the CPU time of its children (wrk) after it exits.
  const script = `wrk -t1 -c${CONNECTIONS} -d${SECONDS}s --timeout 10s -s "$1" "$2"; times`;
  const out = execFileSync('bash', ['-c', script, 'wrk', path.join(here, 'token.lua'), url], {
    env, encoding: 'utf8', timeout: (SECONDS + 60) * 1000,
  });
  const serverCpu = cpuSeconds(serverPid) - cpuBefore;
  const json = out.match(/WRK_JSON (\{.*\})/);
  if (!json) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(json[1]);
  const times = out.trim().split('\n').slice(-1)[0].match(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/);
  const wrkCpu = times ? Number(times[1]) * 60 + Number(times[2]) + Number(times[3]) * 60 +
    Number(times[4]) : NaN;
  const seconds = r.duration_us / 1e6;
  const ok = r.requests - r.non2xx - r.socket_errors;
  return {
    exchanges: ok, non2xx: r.non2xx, socket_errors: r.socket_errors, seconds,
    per_s: ok / seconds, p50_ms: r.p50_us / 1000, p99_ms: r.p99_us / 1000,
    load_client_cpu_percent: (100 * wrkCpu) / seconds,
    server_cpu_percent: (100 * serverCpu) / seconds,
  };
}

// One exchange outside the timed phase, to be sure the setup really issues RS256 ID tokens.
async function sanityExchange(tokenUrl, code, authorization) {
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT,
      code_verifier: VERIFIER }),
  });
  const body = await res.json();
  if (res.status !== 200 || !body.id_token) {
    throw new Error(`sanity exchange at ${tokenUrl} failed: ${res.status} ${JSON.stringify(body)}`);
  }
  const header = JSON.parse(Buffer.from(body.id_token.split('.')[0], 'base64url').toString());
  if (header.alg !== 'RS256') throw new Error(`expected an RS256 ID token, got ${header.alg}`);
}

async function benchKith() {
  // No access log: wrk runs synchronously (execFileSync), so nothing drains kithd's output pipe
  // during the timed phase, and a full pipe would stall kithd's logging and with it the run.
  const node = await KithNode.start({ binDir, passwordCost: 'minimum',
    env: { KITH_LOG_ACCESS_LOG: 'false' } });
  try {
    const password = 'token-figure-password-9x';
    node.addMember('bench', password);
    const client = node.addClient({ name: 'Bench RP', redirectUris: [REDIRECT], firstParty: true,
      idTokenAlg: 'RS256' });
    const authorization = `Basic ${Buffer.from(
      `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`)
      .toString('base64')}`;

    const http = new HttpSession(node.url);
    const page = await http.get('/sign-in');
    const form = findForm(page.body, '/sign-in');
    if (!form) throw new Error(`no sign-in form at /sign-in (${page.status})`);
    const signedIn = await http.submit(form, { username: 'bench', password });
    if (!http.jar.get('kith_session')) {
      throw new Error(`sign-in failed: ${signedIn.status} ${signedIn.body.slice(0, 300)}`);
    }
    const cookie = http.jar.header();
    const authorize = `${node.url}/oidc/authorize?${new URLSearchParams({
      response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT,
      scope: 'openid profile email', prompt: 'none', state: 'bench', nonce: 'bench',
      code_challenge: CHALLENGE, code_challenge_method: 'S256' })}`;

    // Pre-create codes with 32 requests in flight until KITH_CODES or the time budget.
    const started = Date.now();
    const budgetMs = (CODE_TTL_S - SECONDS - 20) * 1000;
    const codes = [];
    let failed = 0;
    const worker = async () => {
      while (codes.length < KITH_CODES && Date.now() - started < budgetMs && failed < 10) {
        const res = await fetch(authorize, { headers: { cookie }, redirect: 'manual' });
        await res.arrayBuffer();
        const location = res.headers.get('location');
        const code = location && new URL(location).searchParams.get('code');
        if (code) codes.push(code);
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    if (failed >= 10) throw new Error('GET /oidc/authorize?prompt=none did not answer codes');
    const createSeconds = (Date.now() - started) / 1000;
    log(`kith: ${codes.length} codes created in ${createSeconds.toFixed(1)} s ` +
      `(${Math.round(codes.length / createSeconds)}/s)`);

    await sanityExchange(`${node.url}/oidc/token`, codes.shift(), authorization);
    const codesFile = path.join(work, 'kith-codes.txt');
    fs.writeFileSync(codesFile, `${codes.join('\n')}\n`);
    const bodyPrefix = `grant_type=authorization_code&redirect_uri=${encodeURIComponent(REDIRECT)}` +
      `&code_verifier=${VERIFIER}&code=`;
    const result = runWrk(`${node.url}/oidc/token`, codesFile, bodyPrefix, authorization,
      node.child.pid);
    result.codes = codes.length;
    return result;
  } finally {
    await node.stop();
  }
}

async function benchOidcProvider() {
  const port = await freePort();
  const secret = crypto.randomBytes(32).toString('base64url');
  const codesFile = path.join(work, 'op-codes.txt');
  const count = Math.max(2000, Math.ceil(SECONDS * 4000));
  const child = spawn(process.execPath, [path.join(here, 'oidc_provider_server.mjs'),
    String(port), codesFile, String(count + 1), CHALLENGE, REDIRECT, secret],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const deadline = Date.now() + 120_000;
    while (!output.includes('READY')) {
      if (child.exitCode !== null) throw new Error(`oidc-provider exited:\n${output}`);
      if (Date.now() > deadline) throw new Error(`oidc-provider did not start:\n${output}`);
      await delay(50);  // polling a starting server, with a deadline
    }
    const codes = fs.readFileSync(codesFile, 'utf8').trim().split('\n');
    const authorization = `Basic ${Buffer.from(`bench:${secret}`).toString('base64')}`;
    const tokenUrl = `http://127.0.0.1:${port}/token`;
    await sanityExchange(tokenUrl, codes.shift(), authorization);
    fs.writeFileSync(codesFile, `${codes.join('\n')}\n`);
    const bodyPrefix = `grant_type=authorization_code&redirect_uri=${encodeURIComponent(REDIRECT)}` +
      `&code_verifier=${VERIFIER}&code=`;
    const result = runWrk(tokenUrl, codesFile, bodyPrefix, authorization, child.pid);
    result.codes = codes.length;
    return result;
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

const fmt = (r) => `${Math.round(r.per_s)} exchanges/s (${r.exchanges} in ${r.seconds.toFixed(1)} s, ` +
  `p50 ${r.p50_ms.toFixed(1)} ms, p99 ${r.p99_ms.toFixed(1)} ms, non-2xx ${r.non2xx}, ` +
  `server CPU ${Math.round(r.server_cpu_percent)}%, wrk CPU ${Math.round(r.load_client_cpu_percent)}%)`;

try {
  log(`# machine: ${os.cpus().length} cores (${os.cpus()[0]?.model}), load average ` +
    `${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; node ${process.version}`);
  const rsa = opensslRsaSignRate();
  log(`OpenSSL RSA-2048 sign (one core): ${Math.round(rsa.sign_per_s)}/s`);
  let kith;
  try {
    kith = await benchKith();
    log(`kith token endpoint: ${fmt(kith)}`);
  } catch (e) {
    // Still measure the reference, so that a run shows what there is to compare against.
    log(`kith token endpoint: FAILED: ${e?.message ?? e}`);
    process.exitCode = 1;
  }
  const op = await benchOidcProvider();
  log(`oidc-provider token endpoint: ${fmt(op)}`);
  const rsaAfter = opensslRsaSignRate();
  log(`OpenSSL RSA-2048 sign again after the runs: ${Math.round(rsaAfter.sign_per_s)}/s`);
  if (!kith) {
    log(`RESULT_JSON ${JSON.stringify({ rsa2048_sign_per_s: rsa.sign_per_s, oidc_provider: op })}`);
    throw new Error('no kith figure: see the failure above');
  }
  const ratio = kith.per_s / op.per_s;
  log(`kith / oidc-provider: ${ratio.toFixed(2)}x`);
  const summary = { rsa2048_sign_per_s: rsa.sign_per_s, rsa2048_sign_per_s_after: rsaAfter.sign_per_s,
    kith, oidc_provider: op, ratio, load_average_end: os.loadavg() };
  log(`RESULT_JSON ${JSON.stringify(summary)}`);
  if (kith.non2xx > 0) log('note: kith ran out of pre-created codes: its rate is a lower bound');
  log(`target kith >= 2000/s: ${kith.per_s >= 2000 ? 'met' : 'NOT met'}; ` +
    `kith >= 5x oidc-provider: ${ratio >= 5 ? 'met' : 'NOT met'}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
