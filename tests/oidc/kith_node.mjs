// A real kith node for the Node.js acceptance tests and benchmarks: `kithctl init` in a fresh
// temporary directory, then `kithd --config DIR/kith.toml` listening on the loopback port its
// base URL advertises (so that the OIDC issuer is the URL the tests talk to), and kithctl
// commands against it.
//
//   const node = await KithNode.start({ binDir, passwordCost: 'minimum' });
//   const { member } = node.ctlJson(['member', 'add', 'alice', ...], { input: 'pw\n' });
//   ...
//   await node.stop();   // SIGTERM, SIGKILL after a deadline; removes the directory
//
// Binaries: `binDir` (or $KITH_BIN_DIR) must hold kithd and kithctl. Every wait has a
// deadline; a kithd that exits early or never answers /healthz is an error naming its output.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// A port that was free a moment ago (the kernel's choice for a socket bound to port 0).
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// The folder of kithd and kithctl: the argument, $KITH_BIN_DIR, or an error.
export function binDirFrom(arg) {
  const dir = arg ?? process.env.KITH_BIN_DIR;
  if (!dir) throw new Error('the folder of kithd and kithctl is needed (argument or KITH_BIN_DIR)');
  for (const program of ['kithd', 'kithctl']) {
    const file = path.join(dir, program);
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      throw new Error(`not an executable: ${file}`);
    }
  }
  return path.resolve(dir);
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class KithNode {
  // Options: binDir, name, organisation, passwordCost ('minimum' | 'interactive' | ...),
  // env (extra environment for kithd), startTimeoutMs.
  static async start(options = {}) {
    const binDir = binDirFrom(options.binDir);
    let lastError;
    // A port chosen by freePort() can be taken by someone else before kithd binds it: retry
    // with a new one (each attempt in a new directory).
    for (let attempt = 0; attempt < 3; attempt++) {
      const node = new KithNode(binDir, options);
      try {
        await node.#init(await freePort());
        await node.#launch();
        return node;
      } catch (e) {
        lastError = e;
        await node.stop();
        if (!node.bindFailed) break;
      }
    }
    throw lastError;
  }

  constructor(binDir, options) {
    this.binDir = binDir;
    this.options = options;
    this.tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-oidc-'));
    this.dataDir = path.join(this.tempDir, 'data');
    this.child = null;
    this.running = false;
    this.output = '';
    this.bindFailed = false;
  }

  get kithctl() {
    return path.join(this.binDir, 'kithctl');
  }

  async #init(port) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    const args = ['init', '--data-dir', this.dataDir, '--base-url', this.url, '--name',
      this.options.name ?? 'Acceptance Node', '--organisation',
      this.options.organisation ?? 'Acceptance Council', '--port', String(port)];
    const r = spawnSync(this.kithctl, args, { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) {
      throw new Error(`kithctl init failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
    }
  }

  async #launch() {
    const env = { ...process.env };
    delete env.KITH_DATA_DIR;
    delete env.KITH_HTTP_PORT;
    env.KITH_IDENTITY_PASSWORD_COST = this.options.passwordCost ?? 'minimum';
    Object.assign(env, this.options.env ?? {});
    const configFile = path.join(this.dataDir, 'kith.toml');
    this.child = spawn(path.join(this.binDir, 'kithd'), ['--config', configFile], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk) => {
      // Keep the last 64 KiB: enough to explain a failure, bounded for long benchmark runs.
      this.output = (this.output + chunk.toString()).slice(-65536);
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.running = true;
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => {
      this.running = false;
      resolve({ code, signal });
    }));

    const deadline = Date.now() + (this.options.startTimeoutMs ?? 20_000);
    let pause = 5;
    while (Date.now() < deadline) {
      if (!this.running) {
        this.bindFailed = /address already in use|EADDRINUSE/i.test(this.output);
        throw new Error(`kithd exited during start-up:\n${this.output}`);
      }
      try {
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await delay(pause);  // polling a starting server, with a deadline
      pause = Math.min(pause * 2, 100);
    }
    throw new Error(`kithd did not answer /healthz within the deadline:\n${this.output}`);
  }

  // Runs kithctl ARGS --data-dir DIR. Options: input (stdin text). Returns {status, stdout,
  // stderr}.
  ctl(args, { input } = {}) {
    const r = spawnSync(this.kithctl, [...args, '--data-dir', this.dataDir], {
      encoding: 'utf8',
      input: input ?? '',
      timeout: 120_000,
    });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
  }

  // Runs kithctl ARGS --json and parses its output; throws (with the output) unless it
  // exits 0 with JSON.
  ctlJson(args, options = {}) {
    const r = this.ctl([...args, '--json'], options);
    if (r.status !== 0) {
      throw new Error(`kithctl ${args.join(' ')} failed (${r.status}): ${r.stdout}${r.stderr}`);
    }
    try {
      return JSON.parse(r.stdout);
    } catch {
      throw new Error(`kithctl ${args.join(' ')} printed no JSON: ${r.stdout}`);
    }
  }

  // Adds a member with a known password; answers the API's member object.
  addMember(handle, password, { email, name } = {}) {
    const out = this.ctlJson(['member', 'add', handle, '--email', email ?? `${handle}@example.org`,
      '--name', name ?? `Member ${handle}`, '--password-stdin'], { input: `${password}\n` });
    return out.member;
  }

  // Registers an OIDC client; answers {client_id, client_secret, client}.
  addClient({ name, redirectUris, postLogoutRedirectUris = [], isPublic = false,
    firstParty = false, idTokenAlg, authMethod }) {
    const args = ['client', 'add', '--name', name];
    for (const uri of redirectUris) args.push('--redirect-uri', uri);
    for (const uri of postLogoutRedirectUris) args.push('--post-logout-redirect-uri', uri);
    if (isPublic) args.push('--public');
    if (firstParty) args.push('--first-party');
    if (idTokenAlg) args.push('--id-token-alg', idTokenAlg);
    if (authMethod) args.push('--auth-method', authMethod);
    const out = this.ctlJson(args);
    return { client_id: out.client.client_id, client_secret: out.client_secret ?? '',
      client: out.client };
  }

  // SIGTERM, then SIGKILL if kithd has not exited within `timeoutMs`; removes the directory.
  // Safe to call more than once.
  async stop(timeoutMs = 10_000) {
    if (this.child && this.running) {
      this.child.kill('SIGTERM');
      const timer = delay(timeoutMs).then(() => 'timeout');
      if ((await Promise.race([this.exited, timer])) === 'timeout') {
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    fs.rmSync(this.tempDir, { recursive: true, force: true });
  }
}
