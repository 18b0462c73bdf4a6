// Interoperability of kith's RFC 9421 signatures with an independent implementation, the npm
// package http-message-signatures.
//
//   cd tests/interop && npm ci && node interop.mjs PATH/TO/kith_sign_tool
//
// 1. kith signs a request and a response (kith_sign_tool sign); the npm package verifies both,
//    and refuses each after tampering with any covered component.
// 2. The npm package signs a request under the kith profile; kith verifies it
//    (kith_sign_tool verify-request) and refuses each tampered variant.
// Exits non-zero on the first unexpected result.
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { httpbis, createSigner, createVerifier } from 'http-message-signatures';

const tool = process.argv[2] ?? process.env.KITH_SIGN_TOOL;
if (!tool) {
  console.error('usage: node interop.mjs PATH/TO/kith_sign_tool');
  process.exit(2);
}

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const seed = crypto.randomBytes(32);

// --- 1. kith signs, npm verifies --------------------------------------------------------------
const signed = JSON.parse(execFileSync(tool, ['sign', seed.toString('hex')], { encoding: 'utf8' }));
const publicKey = crypto.createPublicKey({
  key: { kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.from(signed.public_key_hex, 'hex')) },
  format: 'jwk',
});

function toHeaders(pairs) {
  const headers = {};
  for (const [name, value] of pairs) {
    const key = name.toLowerCase();
    headers[key] = key in headers ? [].concat(headers[key], value) : value;
  }
  return headers;
}

const keyLookup = async (params) =>
  params.keyid === signed.keyid
    ? { id: signed.keyid, algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') }
    : null;

async function npmVerify(message, request) {
  try {
    const ok = request
      ? await httpbis.verifyMessage({ keyLookup }, message, request)
      : await httpbis.verifyMessage({ keyLookup }, message);
    return ok === true;
  } catch (e) {
    return false;
  }
}

// The npm package checks signatures only; Content-Digest against the body is checked here.
function digestMatches(headers, body) {
  const want = `sha-256=:${crypto.createHash('sha256').update(body).digest('base64')}:`;
  return headers['content-digest'] === want;
}

const request = {
  method: signed.request.method,
  url: signed.request.url,
  headers: toHeaders(signed.request.headers),
};
const response = { status: signed.response.status, headers: toHeaders(signed.response.headers) };

check(await npmVerify(request), 'npm verifies a kith-signed request');
check(digestMatches(request.headers, signed.request.body), 'kith request Content-Digest matches');
check(await npmVerify(response, request), 'npm verifies a kith-signed response');
check(digestMatches(response.headers, signed.response.body), 'kith response Content-Digest matches');

const requestTampers = {
  '@method': (r) => ({ ...r, method: 'PUT' }),
  '@target-uri': (r) => ({ ...r, url: r.url.replace('commands', 'command') }),
  'content-type': (r) => ({ ...r, headers: { ...r.headers, 'content-type': 'text/plain' } }),
  'content-digest': (r) => ({
    ...r,
    headers: { ...r.headers, 'content-digest': 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:' },
  }),
};
for (const [what, tamper] of Object.entries(requestTampers)) {
  check(!(await npmVerify(tamper(request))), `npm refuses a kith request with tampered ${what}`);
}
const responseTampers = {
  '@status': [(r) => ({ ...r, status: 200 }), (q) => q],
  'content-digest': [
    (r) => ({ ...r, headers: { ...r.headers, 'content-digest': 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:' } }),
    (q) => q,
  ],
  '@method;req': [(r) => r, requestTampers['@method']],
  '@target-uri;req': [(r) => r, requestTampers['@target-uri']],
};
for (const [what, [tamperResponse, tamperRequest]] of Object.entries(responseTampers)) {
  check(
    !(await npmVerify(tamperResponse(response), tamperRequest(request))),
    `npm refuses a kith response with tampered ${what}`,
  );
}

// --- 2. npm signs under the kith profile, kith verifies ---------------------------------------
const npmKeys = crypto.generateKeyPairSync('ed25519');
const npmPublicHex = Buffer.from(npmKeys.publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
const npmKid = 'npm-interop-key';

async function npmSign(method, url, body) {
  const headers = { host: new URL(url).host };
  const fields = ['@method', '@target-uri'];
  if (body.length > 0) {
    headers['content-type'] = 'application/json';
    headers['content-digest'] = `sha-256=:${crypto.createHash('sha256').update(body).digest('base64')}:`;
    fields.push('content-digest', 'content-type');
  }
  const created = new Date(Math.floor(Date.now() / 1000) * 1000);
  return httpbis.signMessage(
    {
      key: createSigner(npmKeys.privateKey, 'ed25519', npmKid),
      name: 'kith',
      fields,
      params: ['created', 'expires', 'keyid', 'alg', 'nonce', 'tag'],
      paramValues: {
        created,
        expires: new Date(created.getTime() + 300_000),
        nonce: crypto.randomBytes(16).toString('base64url'),
        tag: 'kith',
      },
    },
    { method, url, headers },
  );
}

function kithVerify(message, body) {
  const pairs = [];
  for (const [name, value] of Object.entries(message.headers)) {
    for (const v of [].concat(value)) pairs.push([name, v]);
  }
  const run = spawnSync(tool, ['verify-request', npmPublicHex, npmKid], {
    input: JSON.stringify({ method: message.method, url: message.url, headers: pairs, body }),
    encoding: 'utf8',
  });
  const out = run.stdout ? JSON.parse(run.stdout) : { ok: false, error: run.stderr };
  return { ok: run.status === 0 && out.ok === true, reason: out.error };
}

const body = '{"command_id":"c-2","type":"post.create"}';
const url = 'https://a.example/federation/v1/streams/group%3Aplanning%40a.example/commands';
const npmPost = await npmSign('POST', url, body);
console.log(`     npm Signature-Input: ${npmPost.headers['Signature-Input'] ?? npmPost.headers['signature-input']}`);
let r = kithVerify(npmPost, body);
check(r.ok, `kith verifies an npm-signed POST (${r.reason ?? 'ok'})`);
const npmGet = await npmSign('GET', url.replace('commands', 'events?after=3'), '');
r = kithVerify(npmGet, '');
check(r.ok, `kith verifies an npm-signed GET (${r.reason ?? 'ok'})`);

const kithTampers = {
  '@method': [(m) => ({ ...m, method: 'PUT' }), body],
  '@target-uri': [(m) => ({ ...m, url: m.url + '?x=1' }), body],
  'content-type': [(m) => ({ ...m, headers: { ...m.headers, 'content-type': 'text/plain' } }), body],
  'content-digest': [
    (m) => ({ ...m, headers: { ...m.headers, 'content-digest': 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:' } }),
    '',
  ],
  'body': [(m) => m, body + ' '],
};
for (const [what, [tamper, tamperedBody]] of Object.entries(kithTampers)) {
  const res = kithVerify(tamper(await npmSign('POST', url, body)), tamperedBody);
  check(!res.ok, `kith refuses an npm request with tampered ${what} (${res.reason})`);
}

console.log(failures === 0 ? 'interop: all checks passed' : `interop: ${failures} check(s) failed`);
process.exit(failures === 0 ? 0 : 1);
