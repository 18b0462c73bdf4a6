// What a browser does for kith's pages, in plain HTTP: a cookie jar, requests that never
// follow redirects (the tests look at each Location), and HTML forms parsed into their
// fields. Enough to sign in through the real sign-in form without a browser.
//
//   const http = new HttpSession(node.url);
//   const page = await http.get(authorizeUrl);             // 200 sign-in page, or a 302
//   const form = findForm(page.body, '/sign-in');
//   const done = await http.submit(form, { username, password });
//   done.location                                           // the client's redirect_uri?code=...

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

// Decodes HTML character references (named ones above, decimal and hex).
export function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16)
        : parseInt(ref.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

// The attributes of one start tag: {name: decoded value}; valueless attributes map to ''.
export function parseAttributes(tag) {
  const attributes = {};
  const re = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const body = tag.replace(/^<\s*[a-z0-9-]+/i, '').replace(/\/?>$/, '');
  for (const m of body.matchAll(re)) {
    attributes[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attributes;
}

// Every <form> of a page: {action, method, fields: {name: value} (inputs other than
// submit buttons, textareas), buttons: [{name, value, text}]}.
export function parseForms(html) {
  const forms = [];
  for (const m of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/gi)) {
    const open = m[0].match(/^<form\b[^>]*>/i)[0];
    const attributes = parseAttributes(open);
    const form = {
      action: attributes.action ?? '',
      method: (attributes.method ?? 'get').toLowerCase(),
      fields: {},
      buttons: [],
    };
    for (const input of m[1].matchAll(/<input\b[^>]*>/gi)) {
      const a = parseAttributes(input[0]);
      if (!a.name) continue;
      const type = (a.type ?? 'text').toLowerCase();
      if (type === 'submit') {
        form.buttons.push({ name: a.name, value: a.value ?? '', text: a.value ?? '' });
      } else if ((type !== 'checkbox' && type !== 'radio') || 'checked' in a) {
        form.fields[a.name] = a.value ?? '';
      }
    }
    for (const t of m[1].matchAll(/<textarea\b[^>]*>([\s\S]*?)<\/textarea>/gi)) {
      const a = parseAttributes(t[0].match(/^<textarea\b[^>]*>/i)[0]);
      if (a.name) form.fields[a.name] = decodeEntities(t[1]);
    }
    for (const b of m[1].matchAll(/<button\b[^>]*>([\s\S]*?)<\/button>/gi)) {
      const a = parseAttributes(b[0].match(/^<button\b[^>]*>/i)[0]);
      if ((a.type ?? 'submit').toLowerCase() !== 'submit') continue;
      form.buttons.push({ name: a.name ?? '', value: a.value ?? '',
        text: decodeEntities(b[1].replace(/<[^>]*>/g, '')).trim() });
    }
    forms.push(form);
  }
  return forms;
}

// The first form whose action's path is `path` (query ignored), or undefined.
export function findForm(html, path) {
  return parseForms(html).find((f) => f.action.split('?')[0].replace(/^https?:\/\/[^/]+/, '') === path);
}

// A cookie jar for one origin: name -> value, updated from Set-Cookie (Max-Age<=0 or an
// Expires in the past deletes).
export class CookieJar {
  constructor() {
    this.cookies = new Map();
    this.attributes = new Map();  // name -> the raw Set-Cookie line last seen
  }

  update(headers) {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let remove = false;
      for (const attr of attrs) {
        const [k, v = ''] = attr.split('=').map((s) => s.trim());
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) remove = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) remove = true;
      }
      this.attributes.set(name, line);
      if (remove) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name) {
    return this.cookies.get(name);
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

// Requests against one origin with a cookie jar; redirects are returned, not followed.
export class HttpSession {
  constructor(baseUrl, { timeoutMs = 15_000 } = {}) {
    this.baseUrl = baseUrl;
    this.jar = new CookieJar();
    this.timeoutMs = timeoutMs;
  }

  async request(method, url, { form, headers = {} } = {}) {
    const target = new URL(url, this.baseUrl);
    const h = { ...headers };
    const cookie = this.jar.header();
    if (cookie) h.cookie = cookie;
    let body;
    if (form) {
      body = new URLSearchParams(form).toString();
      h['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(target, {
      method,
      headers: h,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    this.jar.update(res.headers);
    const text = await res.text();
    return { status: res.status, headers: res.headers, location: res.headers.get('location'),
      body: text, url: target.href };
  }

  get(url, options) {
    return this.request('GET', url, options);
  }

  post(url, form, options = {}) {
    return this.request('POST', url, { ...options, form });
  }

  // Submits a parsed form with its own fields overridden by `values`, plus `button`
  // ({name, value}) when given.
  submit(form, values = {}, button) {
    const fields = { ...form.fields, ...values };
    if (button && button.name) fields[button.name] = button.value;
    const action = form.action || this.baseUrl;
    if (form.method === 'post') return this.post(action, fields);
    const target = new URL(action, this.baseUrl);
    for (const [k, v] of Object.entries(fields)) target.searchParams.set(k, v);
    return this.get(target.href);
  }
}

// Follows an authorization request through the node's pages the way a member would:
// GET the authorization URL; if it shows the sign-in page, fill in username and password and
// submit it. Answers {location} when the node redirected to the client, or {page} (the last
// response) when it answered with a page (the consent page, an error page, the sign-in page
// again after a failure). `signedIn` says whether the sign-in form was shown and submitted.
export async function authorizeThroughPages(http, authorizationUrl, { username, password }) {
  let res = await http.get(authorizationUrl);
  let signedIn = false;
  if (res.status === 200) {
    const form = findForm(res.body, '/sign-in');
    if (form) {
      if (username === undefined) return { page: res, signedIn };
      res = await http.submit(form, { username, password });
      signedIn = true;
    }
  }
  if (res.status >= 300 && res.status < 400 && res.location) {
    return { location: new URL(res.location, http.baseUrl).href, signedIn, response: res };
  }
  return { page: res, signedIn };
}
