// The reference for the token-endpoint figure: npm oidc-provider (a certified OpenID provider)
// set up like the kith client of the benchmark — one confidential client, client_secret_basic,
// RS256 ID tokens with an RSA-2048 key, PKCE S256 required — on 127.0.0.1.
//
//   node oidc_provider_server.mjs PORT CODES_FILE COUNT CODE_CHALLENGE REDIRECT_URI SECRET
//
// Pre-creates COUNT authorization codes through the provider's own model API (Grant +
// AuthorizationCode, the objects its authorization endpoint would create after an interaction)
// and writes them to CODES_FILE, one a line; then prints "READY <issuer>" and serves until
// SIGTERM. Storage: an unbounded in-memory adapter (the library's default memory adapter is an
// LRU of 1,000 entries, which would evict the codes); nothing is written to disk, unlike kith,
// which commits every exchange to SQLite with fsync.
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const [port, codesFile, countText, codeChallenge, redirectUri, clientSecret] = process.argv.slice(2);
const count = Number(countText);
if (!port || !codesFile || !Number.isInteger(count) || count < 1 || !codeChallenge ||
    !redirectUri || !clientSecret) {
  console.error('usage: node oidc_provider_server.mjs PORT CODES_FILE COUNT CODE_CHALLENGE ' +
    'REDIRECT_URI SECRET');
  process.exit(2);
}

// An unbounded Map adapter with the interface oidc-provider expects.
const stores = new Map();
const grantMembers = new Map();  // grantId -> [[model name, id]]
class MapAdapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : undefined;
    this.store.set(id, { payload, expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, []);
      grantMembers.get(payload.grantId).push([this.name, id]);
    }
  }

  async find(id) {
    const entry = this.store.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt < Date.now()) {
      this.store.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [, entry] of this.store) if (entry.payload.uid === uid) return entry.payload;
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [, entry] of this.store) {
      if (entry.payload.userCode === userCode) return entry.payload;
    }
    return undefined;
  }

  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    this.store.delete(id);
  }

  async revokeByGrantId(grantId) {
    for (const [name, id] of grantMembers.get(grantId) ?? []) stores.get(name)?.delete(id);
    grantMembers.delete(grantId);
  }
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-rsa', alg: 'RS256', use: 'sig' };
const issuer = `http://127.0.0.1:${port}`;
const accountId = 'bench-member';

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [{
    client_id: 'bench',
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: { keys: [jwk] },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: 'Bench Member', email: 'bench@example.org',
      email_verified: true }),
  }),
  pkce: { required: () => true },
  ttl: { AuthorizationCode: 600, AccessToken: 3600, IdToken: 3600, Grant: 3600 },
  features: { devInteractions: { enabled: false } },
});
// Quiet: errors would otherwise be logged per request.
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const client = await provider.Client.find('bench');
const grant = new provider.Grant({ accountId, clientId: client.clientId });
grant.addOIDCScope('openid profile email');
const grantId = await grant.save();
const authTime = Math.floor(Date.now() / 1000);
const codes = [];
for (let i = 0; i < count; i++) {
  const code = new provider.AuthorizationCode({
    accountId, client, grantId, scope: 'openid profile email', redirectUri, codeChallenge,
    codeChallengeMethod: 'S256', nonce: `n${i}`, authTime, expiresWithSession: false,
  });
  codes.push(await code.save());
}
fs.writeFileSync(codesFile, `${codes.join('\n')}\n`);

const server = provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
