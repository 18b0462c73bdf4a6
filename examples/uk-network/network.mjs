// The uk-network example as a module: three kith nodes on loopback — the Improvement Service, a
// council (Glasgow City Council) and the Local Government Association — peered pairwise and
// seeded with sample data (data.mjs). `examples/uk-network/run` uses it to start the demo; the
// browser acceptance test (tests/browser/network.mjs) uses the same steps with its own ports and
// a temporary state directory, so the test proves the example.
//
//   const net = new UkNetwork({ binDir, stateDir, ports: [8401, 8402, 8403] });
//   await net.start();       // kithctl init (first run) and kithd for each node, /healthz
//   await net.peer();        // peer add + approve for each pair (idempotent)
//   await net.seed();        // first run only: members, profiles, groups, posts, documents
//   ...
//   await net.stop();        // SIGTERM to every kithd, SIGKILL after a deadline
//
// Seeding uses the public interfaces only: `kithctl member import` (CSV), the sign-in pages
// (password at the home node; sign-in across nodes through the home node for remote members),
// the profile page and the JSON API (/api/v1). Never SQL.
//
// Run as a program (what `run` does after building):
//   node examples/uk-network/network.mjs --bin BUILD/bin --state DIR [--fresh] [--scale 1]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { CookieJar, findForm } from '../../tests/oidc/http_session.mjs';
import { membersCsv, sampleData } from './data.mjs';

export { PRIVATE_WORD } from './data.mjs';

// The password of every seeded member who signs in. For this demo network only.
export const DEMO_PASSWORD = 'uk-network demo only';

// key, data folder, node name, organisation, default port.
export const NODES = [
  { key: 'is', slug: 'improvement-service', name: 'Improvement Service',
    organisation: 'Improvement Service', port: 8401 },
  { key: 'glasgow', slug: 'glasgow', name: 'Glasgow City Council',
    organisation: 'Glasgow City Council', port: 8402 },
  { key: 'lga', slug: 'lga', name: 'Local Government Association',
    organisation: 'Local Government Association', port: 8403 },
];

const SEED_MARKER = 'seeded.json';
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `probe` (async; truthy ends the wait) until `timeoutMs` has passed; throws naming
// `what` and the last error or answer.
export async function waitFor(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let pause = 20;
  let last;
  while (true) {
    try {
      const value = await probe();
      if (value) return value;
      last = 'not yet';
    } catch (e) {
      last = e?.message ?? String(e);
    }
    if (Date.now() >= deadline) {
      throw new Error(`${what}: not within ${timeoutMs / 1000} s (${last})`);
    }
    await delay(pause);  // polling with a deadline
    pause = Math.min(pause * 2, 250);
  }
}

// Runs `tasks` (functions answering promises) with at most `limit` at a time.
async function pool(limit, tasks) {
  const results = new Array(tasks.length);
  let next = 0;
  async function worker() {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

// One node of the example: its data directory, kithd process and kithctl.
export class ExampleNode {
  constructor(spec, { binDir, stateDir, host, port, env }) {
    Object.assign(this, spec);
    this.binDir = binDir;
    this.dataDir = path.join(stateDir, spec.slug);
    this.logFile = path.join(stateDir, `${spec.slug}.log`);
    this.host = host;
    this.port = port;
    this.url = `http://${host}:${port}`;
    this.domain = `${host}:${port}`;
    this.env = env;
    this.child = null;
    this.running = false;
  }

  // `kithctl ARGS --data-dir DIR`; answers {status, stdout, stderr}.
  ctl(args, input = '') {
    return new Promise((resolve) => {
      const child = spawn(path.join(this.binDir, 'kithctl'), [...args, '--data-dir', this.dataDir],
        { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.stdout.on('data', (c) => { stdout += c; });
      child.stderr.on('data', (c) => { stderr += c; });
      child.on('error', (e) => { stderr += String(e); });
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
      if (input) {
        child.stdin.on('error', () => {});  // kithctl may exit without reading it
        child.stdin.end(input);
      }
    });
  }

  async ctlJson(args, input) {
    const r = await this.ctl([...args, '--json'], input);
    let parsed;
    try {
      parsed = JSON.parse(r.stdout);
    } catch {
      parsed = undefined;
    }
    if (r.status !== 0 || parsed === undefined) {
      throw new Error(`${this.name}: kithctl ${args.join(' ')} failed (${r.status}): ` +
        `${r.stdout}${r.stderr}`.trim());
    }
    return parsed;
  }

  // kithctl init, once per data directory.
  async init() {
    if (fs.existsSync(path.join(this.dataDir, 'kith.toml'))) return false;
    const r = await this.ctl(['init', '--base-url', this.url, '--name', this.name,
      '--organisation', this.organisation, '--listen', this.host, '--port', String(this.port)]);
    if (r.status !== 0) {
      throw new Error(`kithctl init for ${this.name} failed:\n${r.stdout}${r.stderr}`);
    }
    return true;
  }

  // Starts kithd (output appended to the log file) and waits for /healthz.
  async launch(timeoutMs = 30_000) {
    const taken = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) })
      .then(() => true, () => false);
    if (taken) {
      throw new Error(`${this.url} already answers: is another kithd using port ${this.port}?`);
    }
    const log = fs.openSync(this.logFile, 'a');
    this.child = spawn(path.join(this.binDir, 'kithd'),
      ['--config', path.join(this.dataDir, 'kith.toml')],
      { env: this.env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.running = true;
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.running = false;
      this.exit = signal ?? `exit ${code}`;
      resolve({ code, signal });
    }));
    await waitFor(`${this.name} answering ${this.url}/healthz`, async () => {
      if (!this.running) {
        throw new Error(`kithd exited during start-up (${this.exit}):\n${this.logTail()}`);
      }
      const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return res.status === 200;
    }, timeoutMs);
  }

  logTail(lines = 20) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async peers() {
    return (await this.ctlJson(['peer', 'list'])).peers ?? [];
  }

  async peerState(url) {
    return (await this.peers()).find((p) => p.node_id === url || p.node_id === `${url}/`)?.state;
  }

  // SIGTERM, SIGKILL after `timeoutMs`. Safe to call more than once.
  async stop(timeoutMs = 15_000) {
    if (!this.child || !this.running) return;
    this.child.kill('SIGTERM');
    const timer = delay(timeoutMs).then(() => 'timeout');
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

// What a member's browser does, in plain HTTP: one cookie jar per origin (in a real deployment
// every node has its own host name), redirects followed by hand across nodes, forms parsed from
// the pages, and the JSON API with the session's CSRF token.
export class WebClient {
  constructor(timeoutMs = 20_000) {
    this.jars = new Map();
    this.csrf = new Map();  // origin -> csrf token of the session there
    this.timeoutMs = timeoutMs;
  }

  jar(origin) {
    if (!this.jars.has(origin)) this.jars.set(origin, new CookieJar());
    return this.jars.get(origin);
  }

  // One request, redirects not followed: {status, location (absolute), body, url}.
  async request(method, url, { form, json, headers = {} } = {}) {
    const target = new URL(url);
    const h = { ...headers };
    const cookie = this.jar(target.origin).header();
    if (cookie) h.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    } else if (json !== undefined) {
      body = JSON.stringify(json);
      h['content-type'] = 'application/json';
    }
    const res = await fetch(target, { method, headers: h, body, redirect: 'manual',
      signal: AbortSignal.timeout(this.timeoutMs) });
    this.jar(target.origin).update(res.headers);
    const text = await res.text();
    const location = res.headers.get('location');
    return { status: res.status, location: location ? new URL(location, target).href : null,
      body: text, url: target.href };
  }

  // GET `url` and follow redirects (any origin); answers the last response.
  async follow(url, limit = 10) {
    let res = await this.request('GET', url);
    for (let i = 0; i < limit && res.status >= 300 && res.status < 400 && res.location; i++) {
      res = await this.request('GET', res.location);
    }
    return res;
  }

  // Signs in with the password form at `base`. Throws unless the node redirects away from it.
  async signIn(base, handle, password) {
    const page = await this.request('GET', `${base}/sign-in`);
    const form = findForm(page.body, '/sign-in');
    if (!form) throw new Error(`no sign-in form at ${base}/sign-in (${page.status})`);
    const done = await this.request('POST', new URL(form.action || '/sign-in', base).href,
      { form: { ...form.fields, username: handle, password } });
    if (done.status !== 303 && done.status !== 302) {
      throw new Error(`signing in ${handle} at ${base}: ${done.status} ${done.body.slice(0, 300)}`);
    }
    this.csrf.delete(new URL(base).origin);
  }

  // Signs in at `base` through the member's home node (sign-in across nodes): the home node
  // must already have a session in this client. Throws when a password page or an error shows.
  async signInThrough(base, homeUrl, next = '/') {
    const start = `${base}/sign-in/organisation?node=${encodeURIComponent(homeUrl)}` +
      `&next=${encodeURIComponent(next)}`;
    const res = await this.follow(start);
    const at = new URL(res.url);
    if (res.status !== 200 || at.origin !== new URL(base).origin ||
        at.pathname.startsWith('/sign-in')) {
      throw new Error(`sign-in at ${base} through ${homeUrl} ended at ${res.url} ` +
        `(${res.status}): ` +
        res.body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 300));
    }
    this.csrf.delete(at.origin);
  }

  // The JSON API: answers {status, body (parsed JSON or text)}.
  async api(base, method, apiPath, data) {
    const origin = new URL(base).origin;
    const headers = { accept: 'application/json' };
    if (method !== 'GET') {
      if (!this.csrf.has(origin)) {
        const me = await this.request('GET', `${origin}/api/v1/me`);
        if (me.status !== 200) throw new Error(`GET ${origin}/api/v1/me: ${me.status} ${me.body}`);
        this.csrf.set(origin, JSON.parse(me.body).csrf_token);
      }
      headers['x-csrf-token'] = this.csrf.get(origin);
    }
    const res = await this.request(method, `${origin}${apiPath}`,
      { json: method === 'GET' ? undefined : (data ?? {}), headers });
    let body = res.body;
    try {
      body = JSON.parse(res.body);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body };
  }

  // Like api(), but throws unless the status is 2xx.
  async apiOk(base, method, apiPath, data) {
    const res = await this.api(base, method, apiPath, data);
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} ${base}${apiPath}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    return res.body;
  }

  // Saves the profile page's form with `values` (display_name, organisation, job_title, bio,
  // visibility).
  async saveProfile(base, values) {
    const page = await this.request('GET', `${base}/profile`);
    const form = findForm(page.body, '/profile');
    if (!form) throw new Error(`no profile form at ${base}/profile (${page.status})`);
    const done = await this.request('POST', `${base}/profile`,
      { form: { ...form.fields, ...values } });
    if (done.status !== 303) {
      throw new Error(`saving the profile at ${base}: ${done.status} ${done.body.slice(0, 300)}`);
    }
  }
}

// The example's three nodes. Options: binDir (kithd, kithctl), stateDir, ports (three; default
// 8401-8403), env (extra environment for kithd), log (a function for progress lines).
export class UkNetwork {
  // `hosts`: the loopback address of each node (default 127.0.0.1 for all). Browsers keep
  // cookies per host, not per port: nodes on one address share their cookies (a browser
  // window then holds one kith session at a time), on 127.0.0.1/.2/.3 they do not.
  constructor({ binDir, stateDir, ports, hosts, env = {}, log = () => {} }) {
    this.binDir = path.resolve(binDir);
    this.stateDir = path.resolve(stateDir);
    this.log = log;
    fs.mkdirSync(this.stateDir, { recursive: true });
    const kithdEnv = { ...process.env };
    for (const name of Object.keys(kithdEnv)) {
      if (name.startsWith('KITH_')) delete kithdEnv[name];  // each node has its own kith.toml
    }
    Object.assign(kithdEnv, {
      // Peers on loopback, and quick retries, for a network on one machine.
      KITH_FEDERATION_ALLOW_PRIVATE_ADDRESSES: 'true',
      KITH_FEDERATION_MIN_BACKOFF_MS: '100',
      KITH_FEDERATION_MAX_BACKOFF_SECONDS: '5',
      KITH_IDENTITY_PASSWORD_THREADS: '2',
      // Some 250 seeded members sign in with the one published demo password: Argon2id at the
      // `interactive` cost (64 MiB, about 0.1-1 s per run) would make seeding take minutes. A
      // real node keeps the default. KITH_IDENTITY_PASSWORD_COST in the environment wins.
      KITH_IDENTITY_PASSWORD_COST: process.env.KITH_IDENTITY_PASSWORD_COST ?? 'minimum',
      ...env,
    });
    this.nodes = NODES.map((spec, i) => new ExampleNode(spec, { binDir: this.binDir,
      stateDir: this.stateDir, host: hosts?.[i] ?? '127.0.0.1', port: ports?.[i] ?? spec.port,
      env: kithdEnv }));
    this.byKey = Object.fromEntries(this.nodes.map((n) => [n.key, n]));
  }

  // Initialises (first run) and starts every node; waits for /healthz.
  async start() {
    for (const node of this.nodes) {
      if (await node.init()) this.log(`initialised ${node.name} in ${node.dataDir}`);
    }
    try {
      await Promise.all(this.nodes.map((n) => n.launch()));
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  async stop() {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  // The first node process that exits (resolves with {node, code, signal}).
  anyExit() {
    return Promise.race(this.nodes.map((n) => n.exited.then((r) => ({ node: n, ...r }))));
  }

  // Peers every pair: `peer add` at the first, `peer approve` at the second, unless already
  // done. Waits until every pair is active both ways and sign-in across nodes is set up.
  async peer() {
    for (let i = 0; i < this.nodes.length; i++) {
      for (let j = i + 1; j < this.nodes.length; j++) {
        const a = this.nodes[i];
        const b = this.nodes[j];
        const state = await a.peerState(b.url);
        if (!state) {
          await a.ctlJson(['peer', 'add', b.url, '--yes']);
          this.log(`${a.name} asked ${b.name} for peering`);
        }
        await waitFor(`${b.name} seeing the peering request of ${a.name}`,
          async () => (await b.peerState(a.url)) !== undefined, 20_000);
        if ((await b.peerState(a.url)) === 'pending') {
          await b.ctlJson(['peer', 'approve', a.url]);
          this.log(`${b.name} approved ${a.name}`);
        }
      }
    }
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a === b) continue;
        await waitFor(`${a.name} seeing ${b.name} as an active peer`,
          async () => (await a.peerState(b.url)) === 'active', 30_000);
      }
    }
    // Peering registers each node as an OpenID Connect client of the other, just after it
    // became active: wait until a sign-in from `b` at `a` reaches b's sign-in page.
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a === b) continue;
        await waitFor(`sign-in at ${a.name} through ${b.name}`, async () => {
          const res = await new WebClient().follow(
            `${a.url}/sign-in/organisation?node=${encodeURIComponent(b.url)}`);
          return res.status === 200 && new URL(res.url).origin === b.url &&
            findForm(res.body, '/sign-in') !== undefined;
        }, 30_000);
      }
    }
  }

  get markerFile() {
    return path.join(this.stateDir, SEED_MARKER);
  }

  // The summary of an earlier seed, or null.
  seeded() {
    try {
      return JSON.parse(fs.readFileSync(this.markerFile, 'utf8'));
    } catch {
      return null;
    }
  }

  // Seeds the sample data unless done before (answers the summary either way). `scale` < 1
  // seeds fewer people (the tests). On failure nothing marks the network seeded: start again
  // with --fresh.
  async seed({ scale = 1, concurrency = 6 } = {}) {
    const earlier = this.seeded();
    if (earlier) return earlier;
    const t0 = Date.now();
    const data = sampleData({ scale });
    const nodeOf = (id) => this.byKey[id.split(':')[0]];
    const address = (id) => `${id.split(':')[1]}@${nodeOf(id).domain}`;
    const person = (id) => data.members[id.split(':')[0]]
      .find((m) => m.handle === id.split(':')[1]);

    // 1. Members: one CSV per node through `kithctl member import`.
    await Promise.all(this.nodes.map(async (node) => {
      const file = path.join(this.stateDir, `${node.slug}-members.csv`);
      fs.writeFileSync(file, membersCsv(data.members[node.key], DEMO_PASSWORD), { mode: 0o600 });
      const report = await node.ctlJson(['member', 'import', file]);
      fs.rmSync(file);  // it holds passwords
      this.log(`${node.name}: imported ${report.imported} members`);
    }));

    // 2. Active members sign in at home and choose their directory visibility.
    const clients = new Map();  // "key:handle" -> WebClient signed in at home
    const active = Object.entries(data.members)
      .flatMap(([key, list]) => list.filter((m) => m.active).map((m) => ({ key, m })));
    await pool(concurrency, active.map(({ key, m }) => async () => {
      const client = new WebClient();
      const node = this.byKey[key];
      await client.signIn(node.url, m.handle, DEMO_PASSWORD);
      await client.saveProfile(node.url, { display_name: m.name, organisation: m.organisation,
        job_title: m.job, bio: m.bio, visibility: m.visibility });
      clients.set(`${key}:${m.handle}`, client);
    }));
    this.log(`${active.length} members signed in and chose their directory visibility`);

    // A client of member `id` signed in at node `node` (across nodes when not at home).
    const signedInAt = new Map();
    const clientAt = async (id, node) => {
      const client = clients.get(id);
      if (!client) throw new Error(`${id} has no session`);
      const key = `${id}>${node.key}`;
      if (nodeOf(id) !== node && !signedInAt.has(key)) {
        signedInAt.set(key, client.signInThrough(node.url, nodeOf(id).url));
      }
      await signedInAt.get(key);
      return client;
    };

    // 3. Groups, created by their owners through the API.
    const groupId = (g) => `${g.slug}@${this.byKey[g.node].domain}`;
    await Promise.all(data.groups.map(async (g) => {
      const owner = await clientAt(`${g.node}:${g.owner}`, this.byKey[g.node]);
      await owner.apiOk(this.byKey[g.node].url, 'POST', '/api/v1/groups', { slug: g.slug,
        name: g.name, description: g.description, tags: g.tags, visibility: g.visibility,
        join_policy: g.join_policy });
    }));
    this.log(`${data.groups.length} groups created`);

    // 4. Memberships: members join (remote members at the owner, signed in through their home
    // node); the owner approves requests and sends the invitations of invite-only groups.
    const joins = data.groups.flatMap((g) => g.members
      .filter((id) => id !== `${g.node}:${g.owner}`).map((id) => ({ g, id })));
    await pool(concurrency, joins.map(({ g, id }) => async () => {
      const owningNode = this.byKey[g.node];
      const base = owningNode.url;
      const group = groupId(g);  // slug@host:port: '@' and ':' may stand in a path
      const owner = await clientAt(`${g.node}:${g.owner}`, owningNode);
      if (g.join_policy === 'invite') {
        await owner.apiOk(base, 'POST', `/api/v1/groups/${group}/invites`, { member: address(id) });
      }
      const member = await clientAt(id, owningNode);
      const p = person(id);
      const joined = await member.apiOk(base, 'POST', `/api/v1/groups/${group}/join`,
        g.join_policy === 'request' ? { message: `${p.job}, ${p.organisation}.` } : {});
      if (joined.event?.type === 'member.requested') {
        await owner.apiOk(base, 'POST',
          `/api/v1/groups/${group}/requests/${address(id)}/approve`);
      }
    }));
    const remote = joins.filter(({ g, id }) => !id.startsWith(`${g.node}:`)).length;
    // Some requests to join are left for the facilitators to answer.
    const requests = data.groups.flatMap((g) => g.requests.map((id) => ({ g, id })));
    await pool(concurrency, requests.map(({ g, id }) => async () => {
      const member = await clientAt(id, this.byKey[g.node]);
      const p = person(id);
      await member.apiOk(this.byKey[g.node].url, 'POST', `/api/v1/groups/${groupId(g)}/join`,
        { message: `${p.job} at ${p.organisation}: I would like to join.` });
    }));
    this.log(`${joins.length} memberships (${remote} across nodes), ${requests.length} requests ` +
      'waiting for a facilitator');

    // 5. Threads with replies, and documents, written at the owning node by their authors.
    await Promise.all(data.groups.map(async (g) => {
      const owningNode = this.byKey[g.node];
      const base = owningNode.url;
      const group = groupId(g);  // slug@host:port: '@' and ':' may stand in a path
      for (const t of data.threads.filter((x) => x.group === g.slug)) {
        const author = await clientAt(t.author, owningNode);
        const created = await author.apiOk(base, 'POST', `/api/v1/groups/${group}/threads`,
          { title: t.title, body: t.body });
        for (const r of t.replies) {
          const replier = await clientAt(r.author, owningNode);
          await replier.apiOk(base, 'POST', `/api/v1/groups/${group}/threads/${created.seq}/posts`,
            { body: r.body });
        }
      }
      for (const d of data.documents.filter((x) => x.group === g.slug)) {
        const author = await clientAt(d.author, owningNode);
        await author.apiOk(base, 'POST', `/api/v1/groups/${group}/documents`, { title: d.title,
          description: d.description, filename: d.filename, media_type: d.media_type,
          content_base64: d.bytes.toString('base64') });
      }
    }));
    this.log(`${data.threads.length} threads, ${data.threads.reduce((n, t) => n +
      t.replies.length, 0)} replies and ${data.documents.length} documents posted`);

    const summary = {
      seeded_at: new Date().toISOString(),
      seconds: Math.round((Date.now() - t0) / 100) / 10,
      scale,
      nodes: Object.fromEntries(this.nodes.map((n) => [n.key, { name: n.name, url: n.url,
        domain: n.domain }])),
      members: Object.fromEntries(Object.entries(data.members).map(([k, list]) => [k,
        list.map((m) => ({ handle: m.handle, name: m.name, organisation: m.organisation,
          job_title: m.job, visibility: m.visibility, active: m.active, fixed: m.fixed }))])),
      groups: data.groups.map((g) => ({ id: groupId(g), node: g.node, slug: g.slug, name: g.name,
        visibility: g.visibility, join_policy: g.join_policy,
        owner: address(`${g.node}:${g.owner}`), members: g.members.map(address),
        requests: g.requests.map(address) })),
      demo: Object.fromEntries(Object.entries(data.demo).map(([role, id]) => [role,
        { node: id.split(':')[0], handle: id.split(':')[1], address: address(id) }])),
      password: DEMO_PASSWORD,
    };
    fs.writeFileSync(this.markerFile, `${JSON.stringify(summary, null, 1)}\n`);
    return summary;
  }
}

// --- the program ---------------------------------------------------------------------------

function parseArgs(argv) {
  const args = { fresh: false, scale: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--fresh') args.fresh = true;
    else if (a === '--bin') args.bin = argv[++i];
    else if (a === '--state') args.state = argv[++i];
    else if (a === '--scale') args.scale = Number(argv[++i]);
    else if (a === '--no-seed') args.noSeed = true;
    else throw new Error(`unknown argument ${a} (use --bin DIR --state DIR [--fresh] [--scale N] ` +
      '[--no-seed])');
  }
  if (!args.bin || !args.state) throw new Error('--bin DIR and --state DIR are required');
  if (!(args.scale > 0 && args.scale <= 5)) throw new Error('--scale must be in (0, 5]');
  return args;
}

// --fresh: removes what the example made in the state directory (and nothing else there).
function wipe(stateDir) {
  for (const spec of NODES) {
    fs.rmSync(path.join(stateDir, spec.slug), { recursive: true, force: true });
    fs.rmSync(path.join(stateDir, `${spec.slug}.log`), { force: true });
    fs.rmSync(path.join(stateDir, `${spec.slug}-members.csv`), { force: true });
  }
  fs.rmSync(path.join(stateDir, SEED_MARKER), { force: true });
}

function printWelcome(net, summary) {
  const [is, glasgow, lga] = net.nodes;
  const demo = summary?.demo;
  const lines = ['', 'The UK network is running:'];
  for (const n of net.nodes) {
    lines.push(`  ${n.name.padEnd(30)} ${n.url}   (data: ${n.dataDir}, log: ${n.logFile})`);
  }
  if (demo) {
    const at = (d) => net.byKey[d.node];
    lines.push('', `Demo sign-ins (password "${summary.password}"):`,
      ...[['a council member', demo.council], ['an IS facilitator', demo.facilitator],
        ['an LGA member', demo.lga]].map(([who, d]) =>
        `  ${who.padEnd(20)} ${d.handle.padEnd(18)} at ${at(d).url}/sign-in`),
      '', 'What to try:',
      `  1. Sign in at the council (${glasgow.url}/sign-in) as ${demo.council.handle}.`,
      '  2. Open the directory and search for "sustainable": find the Sustainable Scotland',
      `     Network, hosted by the Improvement Service (${is.url}).`,
      `  3. Choose "Join at ${is.domain}": you arrive signed in at the Improvement Service,`,
      `     without a password, as ${demo.council.address}. Join the group, read the`,
      '     forum and post a reply: it shows on LGA too, which has members in the group.',
      `  4. Sign in at LGA (${lga.url}/sign-in) as ${demo.lga.handle}: the Society of Local`,
      '     Authority Lawyers and its workstream groups; search for people across the network.',
      `  5. As ${demo.facilitator.handle} at ${is.url}, open the Change Managers Network's`,
      '     "Manage" tab to approve join requests.',
      '', 'Each node has its own loopback address, so one browser window stays signed in at all',
      'three (browsers keep cookies per host, not per port).');
  }
  lines.push('', `Try: curl ${is.url}/.well-known/kith-node`,
    `     ${path.join(net.binDir, 'kithctl')} peer list --data-dir ${glasgow.dataDir}`,
    'Press Ctrl-C to stop all three.');
  console.log(lines.join('\n'));
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const stateDir = path.resolve(args.state);
  if (args.fresh) {
    wipe(stateDir);
    console.log(`--fresh: removed the nodes and data in ${stateDir}`);
  }
  // One loopback address per node, so that a browser keeps a session at each of them.
  const net = new UkNetwork({ binDir: args.bin, stateDir,
    hosts: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], log: (l) => console.log(l) });
  let stopping = false;
  const stopAll = async (code, message) => {
    if (stopping) return;
    stopping = true;
    if (message) console.log(message);
    await net.stop();
    if (code === 0) console.log('stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => stopAll(0, '\nstopping the nodes ...'));
  process.on('SIGTERM', () => stopAll(0, 'stopping the nodes ...'));

  try {
    await net.start();
    net.anyExit().then(({ node, code, signal }) => {
      if (stopping) return;
      console.error(`${node.name} stopped unexpectedly (${signal ?? `exit ${code}`}); the end of ` +
        `${node.logFile}:\n${node.logTail()}`);
      stopAll(1, 'stopping the others');
    });
    await net.peer();
    let summary = net.seeded();
    if (!summary && !args.noSeed) {
      console.log('seeding the sample data (first run only) ...');
      summary = await net.seed({ scale: args.scale });
      console.log(`seeded in ${summary.seconds} s`);
    }
    printWelcome(net, summary);
  } catch (e) {
    console.error(`uk-network: ${e?.stack ?? e}`);
    if (!net.seeded()) console.error('If seeding failed half-way, start again with --fresh.');
    await stopAll(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
