// Acceptance test of kith's OpenID Connect provider against an independent, certified relying
// party: npm openid-client v6 (issue 4, "Acceptance").
//
//   node tests/oidc/acceptance.mjs BUILD/bin        (or KITH_BIN_DIR=BUILD/bin)
//
// Starts one kithd (kithctl init in a temp dir, identity.password_cost = minimum), registers a
// member and clients with kithctl, then drives authorization code + PKCE through the REAL
// sign-in form (plain HTTP with a cookie jar: GET /oidc/authorize, parse the form, POST
// /sign-in) and lets openid-client exchange the codes, validate the ID tokens (signature
// against the JWKS with enableNonRepudiationChecks; RS256 and EdDSA clients), call UserInfo and
// refresh. Also: prompt=none with and without a session, max_age=0, the consent page of a
// third-party client, RP-initiated logout, and the refusals (wrong PKCE verifier, reused code,
// bad redirect_uri, unknown client, public client without PKCE, tampered ID token).
//
// Prints one line per check; exits 0 only when every check passed. Bounded: an overall
// deadline kills kithd and fails.
import crypto from 'node:crypto';
import * as oidc from 'openid-client';

import { authorizeThroughPages, findForm, HttpSession, parseForms } from './http_session.mjs';
import { KithNode } from './kith_node.mjs';

const OVERALL_TIMEOUT_MS = 150_000;

let failures = 0;
let passes = 0;
function check(ok, what, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${!ok && detail ? `\n     ${detail}` : ''}`);
  if (ok) passes++;
  else failures++;
  return ok;
}

// Runs one group of checks; an exception fails the group (with its message) and the run goes
// on with the next group.
async function group(name, fn) {
  console.log(`# ${name}`);
  try {
    await fn();
  } catch (e) {
    const cause = e?.cause ? `\n     cause: ${e.cause?.message ?? JSON.stringify(e.cause)}` : '';
    check(false, `${name}: unexpected error`, (e?.stack ?? String(e)) + cause);
  }
}

// Awaits `promise` expecting it to reject with an OAuth error; answers the error code or
// 'resolved' / the exception's message.
async function oauthError(promise) {
  try {
    await promise;
    return 'resolved';
  } catch (e) {
    if (e?.error) return e.error;
    if (Array.isArray(e?.cause)) {
      // WWWAuthenticateChallengeError: the error is a challenge parameter or in the body.
      const fromChallenge = e.cause.map((c) => c.parameters?.error).find(Boolean);
      if (fromChallenge) return fromChallenge;
      try {
        const body = await e.response.clone().json();
        if (body?.error) return body.error;
      } catch {
        // no JSON body
      }
    }
    return e?.cause?.error ?? e?.message ?? String(e);
  }
}

const b64urlJson = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

// Verifies a compact JWS with node:crypto against a JWKS, independently of openid-client.
function verifyJws(jws, jwks) {
  const [h, p, s] = jws.split('.');
  const header = b64urlJson(h);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return false;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  if (header.alg === 'RS256') return crypto.verify('sha256', data, key, signature);
  if (header.alg === 'EdDSA' || header.alg === 'Ed25519') {
    return crypto.verify(null, data, key, signature);
  }
  return false;
}

// The same JWS with one bit of its signature flipped.
function tamperSignature(jws) {
  const [h, p, s] = jws.split('.');
  const signature = Buffer.from(s, 'base64url');
  signature[signature.length >> 1] ^= 0x01;
  return `${h}.${p}.${signature.toString('base64url')}`;
}

const binDir = process.argv[2];
let node;
const timer = setTimeout(async () => {
  console.log(`FAIL overall deadline of ${OVERALL_TIMEOUT_MS / 1000} s passed`);
  if (node) await node.stop(2000);
  process.exit(1);
}, OVERALL_TIMEOUT_MS);

try {
  node = await KithNode.start({ binDir, passwordCost: 'minimum' });
  console.log(`# kithd at ${node.url} (data in ${node.dataDir})`);
  await run();
} catch (e) {
  check(false, 'setting up kithd, the member and the clients', e?.stack ?? String(e));
} finally {
  if (node) {
    if (failures > 0) console.log(`# kithd output (last lines):\n${node.output.slice(-6000)}`);
    if (node.running === false && node.child) console.log('FAIL kithd had exited before the end');
    await node.stop();
  }
  clearTimeout(timer);
}
console.log(`# ${passes} passed, ${failures} failed`);
process.exit(failures === 0 && passes > 0 ? 0 : 1);

async function run() {
  const password = 'orange-kettle-4-harbour-lamp';
  const member = node.addMember('alice', password, { email: 'alice@council.example',
    name: 'Alice Example' });
  check(member?.handle === 'alice', 'kithctl member add alice --json answers the member');
  const creds = { username: 'alice', password };

  const base = 'http://127.0.0.1:8765';
  const rsRedirect = `${base}/rs/callback`;
  const edRedirect = `${base}/ed/callback`;
  const thirdRedirect = `${base}/third/callback`;
  const publicRedirect = `${base}/public/callback`;
  const logoutRedirect = `${base}/rs/signed-out`;

  const rs = node.addClient({ name: 'Intranet (RS256)', redirectUris: [rsRedirect],
    postLogoutRedirectUris: [logoutRedirect], firstParty: true, idTokenAlg: 'RS256' });
  const ed = node.addClient({ name: 'Portal (EdDSA)', redirectUris: [edRedirect],
    firstParty: true, idTokenAlg: 'EdDSA', authMethod: 'client_secret_post' });
  const third = node.addClient({ name: 'Third-party app', redirectUris: [thirdRedirect] });
  const pub = node.addClient({ name: 'Single-page app', redirectUris: [publicRedirect],
    isPublic: true, firstParty: true });
  check(rs.client_id && rs.client_secret && ed.client_secret && third.client_secret,
    'kithctl client add --json answers client ids and secrets');
  check(pub.client_id && !pub.client_secret, 'a public client has no secret');

  const discover = (client, metadata, auth) =>
    oidc.discovery(new URL(node.url), client.client_id, metadata, auth, {
      execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
    });
  const rsConfig = await discover(rs, { client_secret: rs.client_secret,
    id_token_signed_response_alg: 'RS256' }, oidc.ClientSecretBasic(rs.client_secret));
  const edConfig = await discover(ed, { client_secret: ed.client_secret,
    id_token_signed_response_alg: 'EdDSA' }, oidc.ClientSecretPost(ed.client_secret));
  const thirdConfig = await discover(third, { client_secret: third.client_secret },
    oidc.ClientSecretBasic(third.client_secret));
  const pubConfig = await discover(pub, {}, oidc.None());
  const jwks = await (await fetch(rsConfig.serverMetadata().jwks_uri)).json();

  // Starts an authorization for `config` (PKCE S256, state, nonce) and follows it through the
  // pages of `http`, signing in when asked.
  async function authorize(config, http, redirectUri, { scope = 'openid profile email',
    extra = {}, signIn = creds, pkce = true } = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const params = { redirect_uri: redirectUri, scope, state: oidc.randomState(),
      nonce: oidc.randomNonce(), ...extra };
    if (pkce) {
      params.code_challenge = await oidc.calculatePKCECodeChallenge(verifier);
      params.code_challenge_method = 'S256';
    }
    const url = oidc.buildAuthorizationUrl(config, params);
    const result = await authorizeThroughPages(http, url.href, signIn ?? {});
    return { ...result, verifier, state: params.state, nonce: params.nonce, url };
  }

  const exchange = (config, flow, extraChecks = {}) =>
    oidc.authorizationCodeGrant(config, new URL(flow.location), {
      pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce,
      idTokenExpected: true, ...extraChecks,
    });

  await group('discovery and JWKS', async () => {
    const m = rsConfig.serverMetadata();
    check(m.issuer === node.url, `issuer is the base URL (${m.issuer})`);
    check(m.code_challenge_methods_supported?.includes('S256'),
      'code_challenge_methods_supported lists S256');
    check(m.authorization_response_iss_parameter_supported === true,
      'authorization_response_iss_parameter_supported is true (RFC 9207)');
    check(['RS256', 'EdDSA'].every((a) => m.id_token_signing_alg_values_supported?.includes(a)),
      'id_token_signing_alg_values_supported lists RS256 and EdDSA');
    check(['client_secret_basic', 'client_secret_post', 'private_key_jwt']
      .every((a) => m.token_endpoint_auth_methods_supported?.includes(a)),
    'token_endpoint_auth_methods_supported lists basic, post and private_key_jwt');
    check(m.end_session_endpoint === `${node.url}/oidc/end-session`, 'end_session_endpoint');
    const rsa = jwks.keys.find((k) => k.kty === 'RSA');
    const okp = jwks.keys.find((k) => k.kty === 'OKP' && k.crv === 'Ed25519');
    check(rsa && rsa.kid && Buffer.from(rsa.n, 'base64url').length === 256,
      'JWKS has an RSA-2048 key with a kid');
    check(okp && okp.kid, 'JWKS has an Ed25519 key with a kid');
    check(jwks.keys.every((k) => !('d' in k) && !('p' in k)), 'JWKS holds no private parts');
  });

  const browser = new HttpSession(node.url);  // alice's cookie jar from here on
  let rsTokens;

  await group('RS256 client: code + PKCE through the sign-in form', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(rsConfig, {
      redirect_uri: rsRedirect, scope: 'openid profile email offline_access', state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await browser.get(url.href);
    check(page.status === 200, `GET /oidc/authorize without a session shows a page (${page.status})`);
    const form = findForm(page.body, '/sign-in');
    check(form && form.method === 'post', 'the page has the sign-in form (POST /sign-in)');
    check(form && 'username' in form.fields && 'password' in form.fields,
      'the form has username and password inputs');
    check(form && form.fields.csrf_token && form.fields.csrf_token === browser.jar.get('kith_csrf'),
      'csrf_token equals the kith_csrf cookie (double submit)');
    check(form && form.fields.authz && form.fields.authz.includes(`client_id=${rs.client_id}`),
      'hidden authz carries the authorization request');

    // A wrong password: the page again with a GOV.UK error summary, no redirect.
    const wrong = await browser.submit(form, { username: 'alice', password: 'not-the-password-1' });
    check((wrong.status === 200 || (wrong.status >= 400 && wrong.status < 500)) &&
      !wrong.location, `wrong password: answered with a page, not a redirect (${wrong.status})`);
    check(/govuk-error-summary/.test(wrong.body), 'wrong password: GOV.UK error summary shown');
    check(!browser.jar.get('kith_session'), 'wrong password: no session cookie');

    const again = findForm(wrong.body, '/sign-in') ?? form;
    const res = await browser.submit(again, { ...creds, csrf_token: again.fields.csrf_token });
    check(res.status === 302 && res.location?.startsWith(`${rsRedirect}?`),
      `POST /sign-in answers 302 to the redirect_uri (${res.status} ${res.location})`);
    const sessionCookie = browser.jar.attributes.get('kith_session') ?? '';
    check(/;\s*HttpOnly/i.test(sessionCookie) && /SameSite=Lax/i.test(sessionCookie) &&
      /Path=\//.test(sessionCookie), 'kith_session cookie is HttpOnly, SameSite=Lax, Path=/');
    const back = new URL(res.location);
    check(back.searchParams.get('state') === state && back.searchParams.get('iss') === node.url,
      'the redirect carries state and iss');

    const tokens = await oidc.authorizationCodeGrant(rsConfig, back, {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
      idTokenExpected: true,
    });
    rsTokens = tokens;
    const claims = tokens.claims();
    check(true, 'openid-client exchanged the code and validated the ID token (non-repudiation on)');
    check(b64urlJson(tokens.id_token.split('.')[0]).alg === 'RS256', 'the ID token is RS256');
    check(claims.aud === rs.client_id || claims.aud?.includes?.(rs.client_id), 'aud is the client');
    check(claims.nonce === nonce && typeof claims.auth_time === 'number' && claims.sub,
      'the ID token has nonce, auth_time and sub');
    check(verifyJws(tokens.id_token, jwks), 'node:crypto verifies the ID token against the JWKS');
    check(!verifyJws(tamperSignature(tokens.id_token), jwks),
      'node:crypto refuses the ID token with one signature bit flipped');
    check(tokens.token_type?.toLowerCase() === 'bearer' && tokens.access_token &&
      tokens.expires_in > 0, 'a bearer access token with expires_in');
    check(Boolean(tokens.refresh_token), 'offline_access gave a refresh token');
  });

  await group('UserInfo and refresh (RS256 client)', async () => {
    const sub = rsTokens.claims().sub;
    const info = await oidc.fetchUserInfo(rsConfig, rsTokens.access_token, sub);
    check(info.sub === sub, 'UserInfo sub matches the ID token');
    check(info.preferred_username?.startsWith('alice@') && info.name === 'Alice Example' &&
      info.email === 'alice@council.example' && 'email_verified' in info && info.kith_node,
    'UserInfo has preferred_username handle@node, name, email, email_verified, kith_node');
    const refreshed = await oidc.refreshTokenGrant(rsConfig, rsTokens.refresh_token);
    check(refreshed.access_token && refreshed.access_token !== rsTokens.access_token,
      'refresh_token grant gives a new access token');
    check(refreshed.refresh_token && refreshed.refresh_token !== rsTokens.refresh_token,
      'the refresh token is rotated');
    const info2 = await oidc.fetchUserInfo(rsConfig, refreshed.access_token, sub);
    check(info2.sub === sub, 'UserInfo works with the refreshed access token');
    check(await oauthError(oidc.refreshTokenGrant(rsConfig, rsTokens.refresh_token)) ===
      'invalid_grant', 'reusing the rotated refresh token -> invalid_grant');
    check(await oauthError(oidc.fetchUserInfo(rsConfig, refreshed.access_token, sub)) !==
      'resolved', 'refresh-token reuse revoked the family (UserInfo refused)');
    const bad = await fetch(`${node.url}/oidc/userinfo`, {
      headers: { authorization: 'Bearer not-a-token' } });
    check(bad.status === 401 && /invalid_token/.test(bad.headers.get('www-authenticate') ?? ''),
      'UserInfo with an unknown token -> 401 invalid_token');
  });

  await group('prompt=none', async () => {
    const stranger = new HttpSession(node.url);
    const none = await authorize(rsConfig, stranger, rsRedirect, { extra: { prompt: 'none' },
      signIn: null });
    check(Boolean(none.location) && !none.signedIn,
      'without a session: redirect to the client, no page');
    check(await oauthError(exchange(rsConfig, none)) === 'login_required',
      'openid-client sees error=login_required');
    const silent = await authorize(rsConfig, browser, rsRedirect, { extra: { prompt: 'none' },
      signIn: null });
    check(Boolean(silent.location) && !silent.signedIn, 'with a session: redirect at once');
    const tokens = await exchange(rsConfig, silent);
    check(tokens.claims().sub === rsTokens.claims().sub, 'with a session: a silent code for alice');
  });

  await group('max_age', async () => {
    const before = Math.floor(Date.now() / 1000);
    const flow = await authorize(rsConfig, browser, rsRedirect, { extra: { max_age: '0' } });
    check(flow.signedIn, 'max_age=0 with a session shows the sign-in page again');
    if (flow.location) {
      const tokens = await exchange(rsConfig, flow, { maxAge: 0 });
      check(tokens.claims().auth_time >= before, 'auth_time is the new sign-in');
    } else {
      check(false, 'max_age=0: sign-in ended with a redirect', flow.page?.status);
    }
    const recent = await authorize(rsConfig, browser, rsRedirect,
      { extra: { max_age: '3600', prompt: 'none' }, signIn: null });
    check(Boolean(recent.location) && !recent.signedIn, 'max_age=3600: silent code');
    const tokens = await exchange(rsConfig, recent, { maxAge: 3600 });
    check(typeof tokens.claims().auth_time === 'number', 'max_age: auth_time in the ID token');
  });

  await group('EdDSA client (client_secret_post)', async () => {
    const http = new HttpSession(node.url);
    const flow = await authorize(edConfig, http, edRedirect, {
      scope: 'openid profile email offline_access' });
    check(flow.signedIn && Boolean(flow.location), 'signed in through the form, redirected');
    const tokens = await exchange(edConfig, flow);
    check(b64urlJson(tokens.id_token.split('.')[0]).alg === 'EdDSA',
      'openid-client validated an EdDSA ID token');
    check(verifyJws(tokens.id_token, jwks), 'node:crypto verifies the EdDSA ID token');
    check(!verifyJws(tamperSignature(tokens.id_token), jwks),
      'node:crypto refuses it with one signature bit flipped');
    const info = await oidc.fetchUserInfo(edConfig, tokens.access_token, tokens.claims().sub);
    check(info.email === 'alice@council.example', 'UserInfo for the EdDSA client');
    const refreshed = await oidc.refreshTokenGrant(edConfig, tokens.refresh_token);
    check(Boolean(refreshed.access_token), 'refresh for the EdDSA client');
  });

  await group('openid-client refuses a tampered ID token', async () => {
    for (const [name, config, redirect] of [['RS256', rsConfig, rsRedirect],
      ['EdDSA', edConfig, edRedirect]]) {
      const http = new HttpSession(node.url);
      const flow = await authorize(config, http, redirect);
      const tampering = async (url, options) => {
        const res = await fetch(url, options);
        if (!String(url).endsWith('/oidc/token')) return res;
        const body = await res.json();
        if (body.id_token) body.id_token = tamperSignature(body.id_token);
        return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
      };
      config[oidc.customFetch] = tampering;
      try {
        const outcome = await oauthError(exchange(config, flow));
        check(outcome !== 'resolved', `${name}: a flipped signature bit is refused (${outcome})`);
      } finally {
        // customFetch is an accessor of openid-client's Configuration: `delete` would leave
        // the tampering fetch in place, so put a plain one back.
        config[oidc.customFetch] = (url, options) => fetch(url, options);
      }
    }
  });

  await group('refusals at the token endpoint', async () => {
    const flow = await authorize(rsConfig, browser, rsRedirect, { signIn: null });
    check(Boolean(flow.location), 'a silent code to spend');
    const wrongVerifier = { ...flow, verifier: oidc.randomPKCECodeVerifier() };
    check(await oauthError(exchange(rsConfig, wrongVerifier)) === 'invalid_grant',
      'wrong PKCE verifier -> invalid_grant');

    const flow2 = await authorize(rsConfig, browser, rsRedirect, { signIn: null });
    const first = await exchange(rsConfig, flow2);
    check(Boolean(first.access_token), 'the code is exchanged once');
    check(await oauthError(exchange(rsConfig, flow2)) === 'invalid_grant',
      'the same code again -> invalid_grant');
    check(await oauthError(oidc.fetchUserInfo(rsConfig, first.access_token,
      first.claims().sub)) !== 'resolved', 'the reused code revoked the tokens issued from it');

    const flow3 = await authorize(rsConfig, browser, rsRedirect, { signIn: null });
    check(await oauthError(exchange(edConfig, { ...flow3,
      location: flow3.location.replace(rsRedirect, edRedirect) })) === 'invalid_grant',
    'a code issued to another client -> invalid_grant');

    const flow4 = await authorize(rsConfig, browser, rsRedirect, { signIn: null });
    const wrongSecret = await discover(rs, { client_secret: 'wrong' },
      oidc.ClientSecretBasic('wrong'));
    check(await oauthError(exchange(wrongSecret, flow4)) === 'invalid_client',
      'a wrong client secret -> invalid_client');
  });

  await group('bad authorization requests', async () => {
    const authorizeUrl = `${node.url}/oidc/authorize`;
    const q = (params) => `${authorizeUrl}?${new URLSearchParams(params)}`;
    const common = { response_type: 'code', scope: 'openid', state: 's1',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256' };
    const badRedirect = await browser.get(q({ ...common, client_id: rs.client_id,
      redirect_uri: 'https://attacker.example/cb' }));
    check(badRedirect.status >= 400 && badRedirect.status < 500 && !badRedirect.location,
      `bad redirect_uri: an error page (${badRedirect.status}), no Location`);
    check(/text\/html/.test(badRedirect.headers.get('content-type') ?? '') &&
      /<h1[^>]*>[^<]+/i.test(badRedirect.body), 'bad redirect_uri: an HTML page with a heading');
    check(!badRedirect.body.includes('attacker.example/cb?'),
      'bad redirect_uri: no link or redirect to it');
    const unknown = await browser.get(q({ ...common, client_id: 'no-such-client',
      redirect_uri: rsRedirect }));
    check(unknown.status >= 400 && unknown.status < 500 && !unknown.location,
      `unknown client: an error page (${unknown.status}), no Location`);
    const badType = await browser.get(q({ ...common, response_type: 'token',
      client_id: rs.client_id, redirect_uri: rsRedirect }));
    check(badType.status === 302 &&
      new URL(badType.location).searchParams.get('error') === 'unsupported_response_type',
    'response_type=token -> unsupported_response_type to the client');
    const noPkce = await authorize(pubConfig, browser, publicRedirect, { signIn: null,
      pkce: false });
    check(Boolean(noPkce.location) &&
      new URL(noPkce.location).searchParams.get('error') === 'invalid_request',
    'public client without PKCE -> invalid_request to the client');
    const pubFlow = await authorize(pubConfig, browser, publicRedirect, { signIn: null });
    const pubTokens = await exchange(pubConfig, pubFlow);
    check(Boolean(pubTokens.id_token), 'public client with PKCE (auth none) gets tokens');
  });

  await group('consent page of a third-party client', async () => {
    const flow = await authorize(thirdConfig, browser, thirdRedirect, { signIn: null });
    const form = flow.page && findForm(flow.page.body, '/oidc/consent');
    check(flow.page?.status === 200 && Boolean(form), 'a third-party client gets the consent page');
    if (!form) return;
    check(form.fields.authz && form.fields.csrf_token, 'consent form has authz and csrf_token');
    check(/Third-party app/.test(flow.page.body), 'consent page names the client');
    const allow = form.buttons.find((b) => b.name === 'decision' && b.value === 'allow');
    const deny = form.buttons.find((b) => b.name === 'decision' && b.value === 'deny');
    check(allow && deny, 'allow and deny buttons (name=decision)');
    const forged = await browser.submit(form, { csrf_token: 'forged' }, allow);
    check(forged.status === 403 && !forged.location, 'consent with a wrong csrf_token -> 403');
    const denied = await browser.submit(form, {}, deny);
    check(denied.status === 302 &&
      new URL(denied.location).searchParams.get('error') === 'access_denied',
    'deny -> access_denied to the client');

    const flow2 = await authorize(thirdConfig, browser, thirdRedirect, { signIn: null });
    const form2 = flow2.page && findForm(flow2.page.body, '/oidc/consent');
    check(Boolean(form2), 'after deny, the consent page again');
    if (!form2) return;
    const allowed = await browser.submit(form2, {}, allow);
    check(allowed.status === 302 && allowed.location?.startsWith(`${thirdRedirect}?`),
      'allow -> a code to the client');
    const tokens = await exchange(thirdConfig, { ...flow2, location: allowed.location });
    check(Boolean(tokens.id_token), 'the third-party client exchanges the code');
    const flow3 = await authorize(thirdConfig, browser, thirdRedirect, { signIn: null });
    check(Boolean(flow3.location) && !flow3.page, 'consent is remembered: silent code next time');
  });

  await group('RP-initiated logout', async () => {
    const flow = await authorize(rsConfig, browser, rsRedirect, { signIn: null });
    const tokens = await exchange(rsConfig, flow);
    const url = oidc.buildEndSessionUrl(rsConfig, { id_token_hint: tokens.id_token,
      post_logout_redirect_uri: logoutRedirect, state: 'bye' });
    let res = await browser.get(url.href);
    if (res.status === 200) {
      // A confirmation page: submit its form (it carries the CSRF token).
      const form = parseForms(res.body).find((f) => f.method === 'post');
      if (form) res = await browser.submit(form, {}, form.buttons[0]);
    }
    check(res.status >= 300 && res.status < 400 && res.location?.startsWith(logoutRedirect) &&
      new URL(res.location).searchParams.get('state') === 'bye',
    `end session redirects to the registered post_logout_redirect_uri with state (${res.status})`);
    const none = await authorize(rsConfig, browser, rsRedirect, { extra: { prompt: 'none' },
      signIn: null });
    check(Boolean(none.location) &&
      new URL(none.location).searchParams.get('error') === 'login_required',
    'after logout, prompt=none -> login_required');
    const bad = await browser.get(oidc.buildEndSessionUrl(rsConfig, {
      client_id: rs.client_id, post_logout_redirect_uri: 'https://attacker.example/' }).href);
    check(bad.status >= 400 && !bad.location,
      `unregistered post_logout_redirect_uri: an error page, no redirect (${bad.status})`);
  });
}
