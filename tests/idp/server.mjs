// A strict test OpenID provider for authgate's tests, built on the certified `oidc-provider`.
//
//   node tests/idp/server.mjs [PORT]        (install once with `npm ci --prefix tests/idp`)
//
// Environment (everything optional except the clients):
//   IDP_PORT            port (argv[2] wins); default 0 is refused: pick a free one
//   IDP_HOST            listen address, default 127.0.0.1
//   ISSUER / IDP_ISSUER issuer, default http://127.0.0.1:<port>. Endpoint URLs in discovery follow the
//                       Host header of each request (as Authentik does); `iss` is always this value.
//   IDP_CLIENTS         JSON: one client object or a list of them (OIDC client metadata):
//                       {"client_id", "client_secret", "redirect_uris": [...],
//                        "post_logout_redirect_uris": [...], "backchannel_logout_uri": "..."}
//                       Defaults filled in: grant_types authorization_code+refresh_token, response_types
//                       code, token_endpoint_auth_method client_secret_basic,
//                       backchannel_logout_session_required true (so ID tokens and logout tokens carry sid).
//                       http:// and any host (e.g. app.test) are accepted for web clients using the code
//                       flow; nothing has to be relaxed for that.
//   IDP_ACCESS_TTL      access token lifetime in seconds (default 3600)
//   IDP_ID_TOKEN_TTL    ID token lifetime (default: the access token's, as Authentik does)
//   IDP_REFRESH_TTL     refresh token lifetime (default 14 days)
//   IDP_USERS           JSON list of users (claims objects with at least "sub"); default: USERS below
//   IDP_DEMO            1: the pages are for a person (`authgate demo`): one button per user on the sign-in
//                       page (each user's "demo_note" claim, if any, under it) and a sign-out that needs no
//                       confirmation click. The forms keep their ids and field names either way.
//   IDP_AUTHENTIK_APPS  Authentik's layout (below) instead of the single issuer: several applications, each its
//                       own client, issuer and signing key. Either "slug:client_id:client_secret,..." (each
//                       client's other metadata, e.g. redirect_uris, from the IDP_CLIENTS entry with the same
//                       client_id; IDP_CLIENTS is optional otherwise) or a JSON list of
//                       {"slug", "client_id", "client_secret", ...the client metadata as in IDP_CLIENTS}.
//                       Slugs are [a-z0-9][a-z0-9_-]*. ISSUER is then the base URL of the host.
//
// Authentik's layout (IDP_AUTHENTIK_APPS): one oidc-provider Provider per application, all in this server.
//   issuer          <base>/application/o/<slug>/   (trailing slash included: clients compare `iss` verbatim)
//   discovery       <base>/application/o/<slug>/.well-known/openid-configuration   (<issuer> redirects there)
//   jwks_uri        <base>/application/o/<slug>/jwks/
//   end_session     <base>/application/o/<slug>/end-session/   (confirm form: .../end-session/confirm)
//   shared by every application, the client found by its client_id:
//   authorization   <base>/application/o/authorize/    (query client_id; the resume step /application/o/authorize/<uid>)
//   token           <base>/application/o/token/        (client_secret_basic, or the form's client_id)
//   userinfo        <base>/application/o/userinfo/     (the access token names its client)
//   revocation      <base>/application/o/revoke/       introspection <base>/application/o/introspect/
//   Discovery lists those URLs with their trailing slash, as Authentik's does (requests without it work too);
//   unknown paths and slugs answer 404; a shared endpoint that finds no known client (unknown client_id, or an
//   access token sent other than as "Authorization: Bearer" or ?access_token=) hands the request to the first
//   application's Provider, which answers as it would for any unknown client or token (invalid_client, 401...).
//   Tokens, logout tokens and app-password JWTs carry iss = the application's issuer, aud = its client id,
//   and are signed with the application's key. A client with "id_token_signed_response_alg": "HS256" (as
//   Authentik's Proxy providers, which have no signing key) gets ID tokens signed with its client secret, and
//   its application's discovery lists HS256 only. One IdP session (cookie) serves every application: signing in
//   for one gives single sign-on to the next (a new grant is consented implicitly, as Authentik's implicit
//   consent does). Signing out at any application's end-session endpoint ends that session and sends logout
//   tokens to every application's client of it (each from its own issuer) before redirecting.
//   /__test/* is as below; each count of a known client also appears as "<key>@<client_id>" (e.g.
//   "authorization_code@client-grafana", "refresh_token_reused@client-wiki", "login@client-wiki").
//   The sign-in walk below is the same, with {issuer}/auth replaced by the shared authorization endpoint.
//
// Scopes as Authentik's default mappings name them; `entitlements` and `ak_proxy` (Authentik's proxy
// scope) give alice's `entitlements` and `ak_proxy` claims (hostile additionalHeaders among them).
// Behaviour: PKCE (S256) is required of every client; every code grant gives a refresh token (see
// issueRefreshToken below for why offline_access is not what decides it);
// refresh tokens rotate on every use and presenting an already rotated (consumed) one answers
// 400 {"error": "invalid_grant", "error_description": "grant request is invalid"} (the reason, "refresh token
// already used", is only in /__test/events) and revokes the whole grant (every access and refresh token of
// that sign-in). A code redeemed twice does the same. A failed PKCE check is invalid_grant too but leaves
// the code usable. Back-channel logout and RP-initiated logout are enabled.
//
// Machine-to-machine sign-in (Authentik's app passwords): POST {token_endpoint} with the client's
// credentials (client_secret_basic by default) and grant_type=client_credentials, username=<preferred_username>,
// password=<the user's "app_password">, scope=openid email profile
//   -> 200 {"access_token": <JWT>, "id_token": <JWT>, "token_type": "Bearer", "expires_in", "scope"}: both JWTs
//      signed with the provider's key (typ "JWT"), iss, sub, aud and azp = the client id, exp = IDP_ACCESS_TTL, and
//      the claims of the granted scopes (as Authentik's tokens carry them)
//   -> 400 {"error": "invalid_grant"} for an unknown user, a user without an app password, or a wrong one.
//   Counted as "client_credentials" (success) and "client_credentials.invalid_grant" in /__test/counts.
//
// Signing in without a human (what a scripted httpx browser does; all redirects are 303 or 302, with
// relative Location headers resolved against the request URL; keep the cookie jar):
//   1. GET  {issuer}/auth?client_id=..&redirect_uri=..&response_type=code&scope=openid email profile
//           offline_access&state=..&nonce=..&code_challenge=..&code_challenge_method=S256
//        -> 303 Location: /interaction/<uid>        (sets cookies _interaction, _interaction_resume)
//   2. GET  /interaction/<uid>
//        -> 200 text/html with one form: <form id="login" method="post" action="/interaction/<uid>">
//           and a text input named `login`.
//           (If the browser already has an IdP session and only consent is missing, this GET finishes
//           the interaction itself and answers 303 like step 3.)
//   3. POST /interaction/<uid>   body: login=alice   (application/x-www-form-urlencoded; `sub` is accepted
//           as an alias of `login`). Signs the user in and grants every requested scope and claim.
//        -> 303 Location: {issuer}/auth/<uid>
//   4. GET  /auth/<uid>
//        -> 303 Location: <redirect_uri>?code=..&state=..&iss=..   (sets the IdP session cookie _session)
//   A later sign-in of the same browser and client skips 2-3: step 1 answers 303 straight to redirect_uri.
//   An unknown user in step 3 gets 200 with the form again and an error message.
//   Signing in as a different user than the IdP session's: step 4 answers 200 with an auto-submitting form
//   (POST to /session/end/confirm with hidden inputs xsrf, logout=yes); POST its hidden inputs, then follow.
//
// RP-initiated logout:
//   GET {end_session_endpoint}?id_token_hint=..&post_logout_redirect_uri=..&state=..
//     -> 200 text/html: <form id="logout" method="post" action="{issuer}/session/end/confirm"> with hidden
//        inputs xsrf=<..> and logout=yes (no IdP session: the same form, auto-submitting)
//   POST /session/end/confirm with those hidden inputs
//     -> back-channel logout tokens are POSTed to every client of that session with a
//        backchannel_logout_uri and the IdP session ends, then
//        303 Location: <post_logout_redirect_uri>?state=..  (or /session/end/success without one).
//        Refresh tokens survive it (offline semantics, Back-Channel Logout 1.0 section 2.7); the
//        /__test/backchannel_logout below revokes them.
//
// Test endpoints (loopback callers only):
//   GET  /__test/counts    -> {"authorization_code": n, "refresh_token": n, "invalid_grant": n, ...} (see COUNT_KEYS)
//   POST /__test/reset     -> zero the counts and the event log
//   GET  /__test/events    -> the last events, oldest first: [{"event", "at", ...details}]
//   GET  /__test/sessions  -> [{"sub", "sid", "client_id", "grant_id", "session_uid"}] for live IdP sessions
//   POST /__test/delay?token=<ms>  -> every token endpoint request waits that long first (0: none), counted
//        as "token_delayed" when its wait begins: a slow IdP, to catch a refresh in flight
//   POST /__test/rename?sub=..&preferred_username=..  -> the user's new username, in every token and
//        userinfo answer from now on (an administrator renaming a user); 404 for an unknown sub
//   POST /__test/backchannel_logout?sub=..|sid=..[&keep=1][&client_id=..][&nosid=1]
//        -> sends a logout token to each matching client's backchannel_logout_uri (only client_id's, when
//           given; without a sid claim with nosid=1, as an IdP that logs out by subject), then (unless keep=1)
//           ends the IdP session and revokes its grants (so refresh tokens stop working too), as an admin
//           terminating the session in Authentik does. Answers
//           {"matched": n, "notified": [{"client_id", "sub", "sid", "ok", "error"}]}

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as dns from 'node:dns';


// ---------------------------------------------------------------- configuration

// oidc-provider 9 wants Node.js 22; below 20.18 it lacks crypto.hash (PKCE) and URL.parse (client
// metadata validation). Say so instead of failing later.
if (typeof crypto.hash !== 'function' || typeof URL.parse !== 'function') {
  console.error(`node ${process.version} is too old for oidc-provider 9: use Node.js >= 20.18 (22 LTS preferred)`);
  process.exit(2);
}
// On 20.18+ it works, yet warns "Unsupported runtime" as it loads (Debian 13 ships Node.js 20): the check
// above is the one that matters, so that one warning is dropped; any other passes.
const { Provider, errors } = await (async () => {
  const warn = console.warn;
  console.warn = (...args) => {
    if (!String(args[0]).includes('Unsupported runtime')) warn(...args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
})();

const USERS = [
  {
    sub: 'alice',
    preferred_username: 'alice',
    email: 'alice@example.test',
    email_verified: true,
    name: 'Alice Zoë Example',
    groups: ['admins', 'staff'],
    app_password: 'alice-app-password-0123456789',
    // Authentik's "entitlements" scope, and its proxy scope mapping's claim ("ak_proxy" scope): the
    // user's and groups' attributes, with headers for the app and (under attribute names the proxy
    // provider chooses) HTTP Basic credentials. Hostile entries too: authgate must leave them out.
    entitlements: ['wiki-read', 'wiki-write'],
    ak_proxy: {
      user_attributes: {
        additionalHeaders: {
          'X-Wiki-User': 'alice-on-the-wiki',
          'X-authentik-username': 'root',
          'X-Forwarded-For': '203.0.113.9',
          Host: 'evil.test',
          X_Wiki_Role: 'admin',
          'X-Wiki-Note': 'a\r\nX-Injected: 1',
        },
        app_username: 'alice-wiki',
        app_password: 'wiki-pass:word',
      },
      is_superuser: false,
    },
  },
  {
    sub: 'bob',
    preferred_username: 'bob',
    email: 'bob@other.test',
    email_verified: true,
    name: 'Bob',
    groups: ['guests'],
    app_password: 'bob-app-password-0123456789',
  },
  {
    sub: 'carol',
    preferred_username: 'carol',
    email: 'carol@example.test',
    email_verified: false,
    name: 'Carol',
    groups: [],
  },
];

function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer of seconds, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function envJson(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${err.message}`);
  }
}

const port = Number.parseInt(process.argv[2] || process.env.IDP_PORT || '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs PORT   (or IDP_PORT=...)');
  process.exit(2);
}
const host = process.env.IDP_HOST || '127.0.0.1';
const issuer = (process.env.ISSUER || process.env.IDP_ISSUER || `http://127.0.0.1:${port}`).replace(/\/$/, '');
const accessTtl = envInt('IDP_ACCESS_TTL', 3600);
const idTokenTtl = envInt('IDP_ID_TOKEN_TTL', accessTtl);
const refreshTtl = envInt('IDP_REFRESH_TTL', 14 * 24 * 3600);
const users = new Map(envJson('IDP_USERS', USERS).map((u) => [String(u.sub), u]));
const demo = ['1', 'true', 'yes'].includes(process.env.IDP_DEMO || '');

let clients = envJson('IDP_CLIENTS', null);
const apps = parseApps(process.env.IDP_AUTHENTIK_APPS, clients);
if (!clients && !apps) {
  console.error('IDP_CLIENTS (JSON client metadata) or IDP_AUTHENTIK_APPS is required');
  process.exit(2);
}
if (!Array.isArray(clients)) clients = clients ? [clients] : [];
const withDefaults = (c) => ({
  // client_credentials: the app-password grant below (Authentik allows it to every confidential client).
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...(c.backchannel_logout_uri ? { backchannel_logout_session_required: true } : {}),
  ...c,
});
clients = clients.map(withDefaults);

// IDP_AUTHENTIK_APPS: "slug:client_id:client_secret,..." (the rest of each client's metadata, e.g. its
// redirect_uris, comes from the IDP_CLIENTS entry with the same client_id) or a JSON list of
// {"slug", "client_id", "client_secret", "redirect_uris", ...client metadata}.
function parseApps(raw, listed) {
  if (raw === undefined || raw.trim() === '') return null;
  const known = new Map((Array.isArray(listed) ? listed : listed ? [listed] : []).map((c) => [c.client_id, c]));
  const entries = raw.trim().startsWith('[')
    ? envJson('IDP_AUTHENTIK_APPS', [])
    : raw.split(',').filter((e) => e.trim()).map((entry) => {
      const [slug, clientId, secret, ...rest] = entry.trim().split(':');
      if (!slug || !clientId || !secret || rest.length) {
        throw new Error(`IDP_AUTHENTIK_APPS: want slug:client_id:client_secret, got ${JSON.stringify(entry)}`);
      }
      return { ...known.get(clientId), slug, client_id: clientId, client_secret: secret };
    });
  const slugs = new Set();
  for (const app of entries) {
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(app.slug || '') || slugs.has(app.slug)) {
      throw new Error(`IDP_AUTHENTIK_APPS: bad or repeated slug ${JSON.stringify(app.slug)}`);
    }
    slugs.add(app.slug);
  }
  return entries;
}

// ---------------------------------------------------------------- storage we can look into

// A plain in-memory adapter (the built-in one is an LRU of 1000 entries that cannot be enumerated);
// /__test/sessions and /__test/backchannel_logout need to list sessions.
const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const now = () => Date.now();

class TestAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), { payload, expiresAt: expiresIn ? now() + expiresIn * 1000 : Infinity });
  }

  async find(id) {
    const entry = store.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt <= now()) {
      store.delete(this.key(id));
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.uid === uid && entry.expiresAt > now()) {
        return entry.payload;
      }
    }
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.userCode === userCode && entry.expiresAt > now()) {
        return entry.payload;
      }
    }
    return undefined;
  }

  async consume(id) {
    const entry = store.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, entry] of store) {
      if (key.startsWith(`${this.model}:`) && entry.payload.grantId === grantId) store.delete(key);
    }
  }
}

function liveSessions() {
  const out = [];
  for (const [key, entry] of store) {
    if (!key.startsWith('Session:') || entry.expiresAt <= now()) continue;
    const s = entry.payload;
    if (!s.accountId) continue;
    for (const [clientId, auth] of Object.entries(s.authorizations || {})) {
      out.push({
        sub: s.accountId,
        sid: auth.sid,
        client_id: clientId,
        grant_id: auth.grantId,
        session_uid: s.uid,
        session_id: s.jti,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------- counts and events

// Keys always present in /__test/counts (others appear as they happen: every token endpoint error code,
// e.g. "invalid_client", and "<grant_type>.<error>", e.g. "refresh_token.invalid_grant").
const COUNT_KEYS = [
  'authorization_code', // codes redeemed successfully at the token endpoint
  'refresh_token', // successful refresh_token grants
  'grant_error', // token endpoint errors of any kind
  'invalid_grant', // token endpoint errors with error=invalid_grant
  'refresh_token_reused', // an already rotated refresh token presented (grant revoked)
  'authorization_code_reused', // a code redeemed a second time (grant revoked)
  'grant_revoked', // grants revoked (reuse detection, logout, revocation)
  'authorization', // successful authorization responses (code sent to the client)
  'authorization_error', // authorization endpoint errors
  'login', // users signed in through the interaction form
  'userinfo', // userinfo requests (any outcome)
  'userinfo_error',
  'discovery', // /.well-known/openid-configuration requests
  'jwks', // JWKS requests
  'revocation', // token revocation requests (any outcome)
  'end_session', // RP-initiated logouts completed
  'backchannel_logout', // logout tokens accepted by a client (200/204)
  'backchannel_logout_error', // logout tokens refused or undeliverable
  'server_error',
];
const counts = {};
const events = [];

function resetCounts() {
  for (const k of Object.keys(counts)) delete counts[k];
  for (const k of COUNT_KEYS) counts[k] = 0;
  events.length = 0;
}
resetCounts();

// In IDP_AUTHENTIK_APPS mode an event of a known client counts twice: as `key` and as `key@<client_id>`
// (e.g. "authorization_code@client-grafana"), so a test can tell the applications apart.
function bump(key, clientId) {
  counts[key] = (counts[key] || 0) + 1;
  if (apps && clientId) counts[`${key}@${clientId}`] = (counts[`${key}@${clientId}`] || 0) + 1;
}

function record(event, details = {}) {
  events.push({ event, at: new Date().toISOString(), ...details });
  if (events.length > 500) events.shift();
}

// ---------------------------------------------------------------- outgoing requests

// oidc-provider (since 9.8) refuses to send back-channel requests to loopback and private addresses
// (SSRF protection through its own undici dispatcher). Our relying parties live on 127.0.0.1, and *.test
// names stand for 127.0.0.1 in these tests, so outgoing requests go through node:http here instead.
function loopbackLookup(hostname, options, callback) {
  if (hostname === 'localhost' || hostname.endsWith('.test') || hostname.endsWith('.localhost')) {
    if (options?.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
    return callback(null, '127.0.0.1', 4);
  }
  return dns.lookup(hostname, options, callback);
}

function testFetch(url, options = {}) {
  const target = new URL(url);
  const mod = target.protocol === 'https:' ? https : http;
  const body = options.body === undefined ? undefined : String(options.body);
  const headers = {};
  new Headers(options.headers).forEach((value, name) => {
    if (name !== 'user-agent' || value) headers[name] = value;
  });
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = mod.request(
      target,
      { method: options.method || 'GET', headers, lookup: loopbackLookup, signal: options.signal },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
            else if (v !== undefined) h.set(k, String(v));
          }
          const noBody = [204, 205, 304].includes(res.statusCode);
          resolve(new Response(noBody ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---------------------------------------------------------------- the provider

function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = crypto.randomBytes(8).toString('hex');
  return { privateKey, signingKey: { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' } };
}

// Every Provider signs its cookies with these keys, so in IDP_AUTHENTIK_APPS mode the IdP session cookie one
// application's Provider sets is read by the others (single sign-on across applications, as Authentik's
// global session gives).
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Inline, so the pages look finished on a machine without internet.
const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;background:#eef1f6;color:#1d2330;margin:0}'
  + 'main{max-width:28rem;margin:10vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;'
  + 'box-shadow:0 1px 3px rgba(0,0,0,.08)}h1{font-size:1.3rem;margin:0 0 1rem}'
  + 'p{margin:.5rem 0}small{color:#667}#error{color:#b00020}input[type=text]{font:inherit;padding:.4rem;width:60%}'
  + 'button{font:inherit;padding:.55rem 1rem;border:0;border-radius:8px;background:#2a5bd7;color:#fff;cursor:pointer}'
  + 'form.users button{display:block;width:100%;text-align:left;margin:.5rem 0;background:#f4f6fb;color:#1d2330;'
  + 'border:1px solid #d5dbe7}form.users button:hover{border-color:#2a5bd7}form.users small{display:block}';

function page(title, body) {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`
    + `<title>${esc(title)}</title><style>${STYLE}</style></head>\n<body><main>\n${body}\n`
    + `<p><small>Development identity provider</small></p></main></body></html>\n`;
}


const SCOPE_CLAIMS = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username', 'groups'],
  groups: ['groups'],
};

function signJwt(claims, { privateKey, signingKey }) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${b64({ alg: 'RS256', kid: signingKey.kid, typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

function sameSecret(given, expected) {
  const digest = (value) => crypto.createHash('sha256').update(String(value)).digest();
  return crypto.timingSafeEqual(digest(given), digest(expected));
}

// The client is authenticated by the token endpoint before this runs.

// One oidc-provider Provider: the only one (IDP_CLIENTS mode) or one application's (IDP_AUTHENTIK_APPS mode;
// `routes` then puts its endpoints where Authentik has them). Each has its own signing key.
function makeProvider(issuer, clients, routes) {
  const key = newKey();
  // Authentik signs a provider's ID tokens with HS256 and the client secret when the provider has no
  // signing key (every Proxy provider): a client with id_token_signed_response_alg HS256 is such a one.
  const hs256 = clients.some((c) => c.id_token_signed_response_alg === 'HS256');
  const provider = new Provider(issuer, {
    ...(hs256 ? { enabledJWA: { idTokenSigningAlgValues: ['HS256', 'RS256'] } } : {}),
    adapter: TestAdapter,
    clients,
    jwks: { keys: [key.signingKey] },
    cookies: { keys: cookieKeys },
    ...(routes ? { routes } : {}),
    findAccount(ctx, sub) {
      const user = users.get(String(sub));
      if (!user) return undefined;
      return {
        accountId: String(sub),
        // The provider keeps only the claims that the granted scopes (and `claims` parameter) allow.
        async claims() {
          const { app_password: _secret, ...claims } = user; // a credential, never a claim
          return { ...claims, sub: String(sub) };
        },
      };
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'entitlements', 'ak_proxy'],
    // As Authentik's default scope mappings: groups come with `profile` (and with a `groups` scope too).
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'groups'],
      groups: ['groups'],
      entitlements: ['entitlements'],
      ak_proxy: ['ak_proxy'],
    },
    // Put the scopes' claims in the ID token as well as in userinfo (Authentik does; oidc-provider by default
    // keeps them out of ID tokens issued next to an access token).
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
    allowOmittingSingleRegisteredRedirectUri: false,
    // oidc-provider drops `offline_access` from an authorization request unless it also says prompt=consent
    // (its checkScope), so the default issueRefreshToken (refresh tokens iff offline_access was granted) would
    // never give one to an RP that, like authgate against Authentik, asks for offline_access without
    // prompt=consent. So: every code (and refresh) grant of a client allowed the refresh_token grant type gets
    // a refresh token. The token response's `scope` then lists no offline_access.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // ... and those refresh tokens outlive the IdP's browser session, as offline ones do (default: they would
    // die with the session because offline_access is not in their scope). Logouts revoke the grant anyway.
    expiresWithSession: async () => false,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: accessTtl,
      AuthorizationCode: 60,
      IdToken: idTokenTtl,
      RefreshToken: refreshTtl,
      Interaction: 600,
      Session: 24 * 3600,
      Grant: refreshTtl,
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          // `form` is `<form id="op.logoutForm" method="post" action=".."><input type="hidden" name="xsrf" ..></form>`
          const action = /action="([^"]+)"/.exec(form)[1];
          const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)[1];
          ctx.body = page(
            'Sign out',
            `<h1>Sign out of ${esc(ctx.host)}?</h1>
  <form id="logout" method="post" action="${esc(action)}">
  <input type="hidden" name="xsrf" value="${esc(xsrf)}">
  <input type="hidden" name="logout" value="yes">
  <button type="submit">Sign out</button>
  </form>${demo ? '\n<script>document.getElementById("logout").submit()</script>' : ''}`,
          );
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<h1>Signed out</h1>');
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        'Error',
        `<h1>${esc(out.error)}</h1>\n<p id="error_description">${esc(out.error_description)}</p>`,
      );
    },
    fetch: (url, options) => {
      delete options.dispatcher; // the SSRF-protecting dispatcher; see testFetch
      return testFetch(url, options);
    },
  });

  // ---------------------------------------------------------------- app passwords (client_credentials)

  provider.registerGrantType(
    'client_credentials',
    async (ctx) => {
      const { client } = ctx.oidc;
      const { username = '', password = '', scope = 'openid' } = ctx.oidc.params;
      const user = [...users.values()].find((u) => (u.preferred_username ?? u.sub) === username);
      // Compare even for an unknown user, so the time taken says nothing about who exists.
      const ok = sameSecret(password, user?.app_password ?? crypto.randomBytes(16)) && Boolean(user?.app_password);
      if (!ok) throw new errors.InvalidGrant('invalid username or app password');
      const granted = String(scope).split(' ').filter((s) => s in SCOPE_CLAIMS);
      const claims = {};
      for (const name of granted.flatMap((s) => SCOPE_CLAIMS[s])) {
        if (user[name] !== undefined) claims[name] = user[name];
      }
      const now = Math.floor(Date.now() / 1000);
      const token = (exp) => signJwt({
        ...claims,
        iss: issuer,
        sub: String(user.sub),
        aud: client.clientId,
        azp: client.clientId,
        iat: now,
        auth_time: now,
        exp: now + exp,
        jti: crypto.randomUUID(),
      }, key);
      ctx.body = {
        access_token: token(accessTtl),
        id_token: token(idTokenTtl),
        token_type: 'Bearer',
        expires_in: accessTtl,
        scope: granted.join(' '),
      };
    },
    ['username', 'password', 'scope'],
  );

  // ---------------------------------------------------------------- counting provider events

  provider.on('grant.success', (ctx) => {
    const gty = ctx.oidc.params.grant_type;
    bump(gty, ctx.oidc.client?.clientId);
    record('grant.success', { grant_type: gty, client_id: ctx.oidc.client?.clientId });
  });

  provider.on('grant.error', (ctx, err) => {
    const gty = ctx.oidc?.params?.grant_type;
    const code = err.error || 'server_error';
    const clientId = ctx.oidc?.client?.clientId;
    bump('grant_error', clientId);
    bump(code, clientId);
    if (gty) bump(`${gty}.${code}`, clientId);
    // invalid_grant always says "grant request is invalid"; the reason is in error_detail (not sent to clients).
    if (code === 'invalid_grant' && err.error_detail === 'refresh token already used') {
      bump('refresh_token_reused', clientId);
    }
    if (code === 'invalid_grant' && err.error_detail === 'authorization code already consumed') {
      bump('authorization_code_reused', clientId);
    }
    record('grant.error', {
      grant_type: gty,
      error: code,
      error_description: err.error_description,
      error_detail: err.error_detail ?? err.cause?.message,
      ...(clientId ? { client_id: clientId } : {}),
    });
  });

  provider.on('grant.revoked', (ctx, grantId) => {
    bump('grant_revoked');
    record('grant.revoked', { grant_id: grantId });
  });

  provider.on('authorization.success', (ctx) => {
    bump('authorization', ctx.oidc.client?.clientId);
    record('authorization.success', { client_id: ctx.oidc.client?.clientId });
  });

  provider.on('authorization.error', (ctx, err) => {
    bump('authorization_error');
    record('authorization.error', { error: err.error, error_description: err.error_description });
  });

  provider.on('userinfo.error', (ctx, err) => {
    bump('userinfo_error');
    record('userinfo.error', { error: err.error, error_description: err.error_description });
  });

  provider.on('end_session.success', (ctx) => {
    bump('end_session', ctx.oidc.client?.clientId);
    record('end_session.success', { client_id: ctx.oidc.client?.clientId });
  });

  provider.on('backchannel.success', (ctx, client, accountId, sid) => {
    bump('backchannel_logout', client.clientId);
    record('backchannel.success', { client_id: client.clientId, sub: accountId, sid });
  });

  provider.on('backchannel.error', (ctx, err, client, accountId, sid) => {
    bump('backchannel_logout_error', client.clientId);
    record('backchannel.error', { client_id: client.clientId, sub: accountId, sid, error: err.message });
  });

  provider.on('server_error', (ctx, err) => {
    bump('server_error');
    record('server_error', { error: err.message });
    console.error('server_error', err);
  });

  if (routes) authentikLayout(provider, hs256);
  return provider;
}

// ---------------------------------------------------------------- Authentik's layout (IDP_AUTHENTIK_APPS)

// Where Authentik serves an application's provider: the authorize, token, userinfo, revoke and introspect
// endpoints are shared by every application (the client is found by its client_id); JWKS, end-session and the
// discovery document (/application/o/<slug>/.well-known/openid-configuration) are the application's own.
// oidc-provider wants route paths without the trailing slash; its router takes them with one too, and the
// discovery document lists them with it (authentikLayout below), as Authentik does.
function appRoutes(slug) {
  return {
    authorization: '/application/o/authorize',
    token: '/application/o/token',
    userinfo: '/application/o/userinfo',
    revocation: '/application/o/revoke',
    introspection: '/application/o/introspect',
    jwks: `/application/o/${slug}/jwks`,
    end_session: `/application/o/${slug}/end-session`,
  };
}

const SLASHED = [
  'authorization_endpoint',
  'token_endpoint',
  'userinfo_endpoint',
  'revocation_endpoint',
  'introspection_endpoint',
  'jwks_uri',
  'end_session_endpoint',
];

const providerByClient = new Map(); // client_id -> Provider (IDP_AUTHENTIK_APPS mode)

function authentikLayout(provider, hs256) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
      // As Authentik's discovery of a provider without a signing key: HS256 only.
      if (hs256) ctx.body.id_token_signing_alg_values_supported = ['HS256'];
      for (const name of SLASHED) {
        if (typeof ctx.body[name] === 'string' && !ctx.body[name].endsWith('/')) ctx.body[name] += '/';
      }
    }
    // Signing out ends the one IdP session every application shares: the other applications' clients get
    // their logout tokens too (this Provider only knows its own clients), before the browser is redirected.
    if (ctx.oidc?.route === 'end_session_confirm' && ctx.oidc.params?.logout && ctx.oidc.session) {
      await logoutOtherApps(provider, ctx.oidc.session.accountId, ctx.oidc.session.authorizations || {});
    }
  });
}

async function logoutOtherApps(provider, accountId, authorizations) {
  for (const [clientId, { sid }] of Object.entries(authorizations)) {
    const other = providerByClient.get(clientId);
    if (!other || other === provider) continue;
    const client = await other.Client.find(clientId);
    if (!client?.backchannelLogoutUri) continue;
    try {
      await client.backchannelLogout(accountId, sid);
      bump('backchannel_logout', clientId);
      record('backchannel.success', { client_id: clientId, sub: accountId, sid });
    } catch (err) {
      bump('backchannel_logout_error', clientId);
      record('backchannel.error', { client_id: clientId, sub: accountId, sid, error: err.message });
    }
  }
}

// The providers: `issuer` is the base URL in IDP_AUTHENTIK_APPS mode, each application's issuer is
// <base>/application/o/<slug>/ (with the trailing slash, exactly as Authentik's; `iss` is compared verbatim).
const appProviders = new Map(); // slug -> { provider, issuer, callback }
let provider; // IDP_CLIENTS mode
if (apps) {
  for (const { slug, ...metadata } of apps) {
    const appIssuer = `${issuer}/application/o/${slug}/`;
    const p = makeProvider(appIssuer, [withDefaults(metadata)], appRoutes(slug));
    appProviders.set(slug, { provider: p, issuer: appIssuer, callback: p.callback() });
    providerByClient.set(metadata.client_id, p);
  }
} else {
  provider = makeProvider(issuer, clients);
}

const firstApp = () => appProviders.values().next().value;

function providerForClient(clientId) {
  return apps ? providerByClient.get(clientId) : provider;
}

function providerForInteraction(uid) {
  if (!apps) return provider;
  const clientId = store.get(`Interaction:${uid}`)?.payload?.params?.client_id;
  return providerByClient.get(clientId) || firstApp().provider;
}
// ---------------------------------------------------------------- the interaction (sign-in) page

function loginForm(uid, details, message = '') {
  const { params, prompt } = details;
  if (demo) {
    const buttons = [...users.values()].map((u) => {
      const groups = (u.groups || []).join(', ') || 'no groups';
      const note = u.demo_note ? `<small>${esc(u.demo_note)}</small>` : '';
      return `<button type="submit" name="login" value="${esc(u.sub)}"><strong>${esc(u.name || u.sub)}</strong>`
        + ` <small>${esc(u.sub)} · ${esc(groups)}</small>${note}</button>`;
    });
    return page(
      'Sign in',
      `<h1>Sign in</h1>
${message ? `<p id="error">${esc(message)}</p>` : ''}
<p>Pick a demo user (no passwords here). You sign in once: the other demo app opens without asking again.</p>
<form id="login" class="users" method="post" action="/interaction/${esc(uid)}">
${buttons.join('\n')}
</form>`,
    );
  }
  return page(
    'Sign in',
    `<h1>Sign in to ${esc(params.client_id)}</h1>
${message ? `<p id="error">${esc(message)}</p>` : ''}
<p>prompt: ${esc(prompt.name)} (${esc(prompt.reasons.join(', '))}); users: ${esc([...users.keys()].join(', '))}</p>
<form id="login" method="post" action="/interaction/${esc(uid)}">
<input type="text" name="login" autofocus>
<button type="submit">Sign in</button>
</form>`,
  );
}

async function grantEverything(provider, details, accountId) {
  const { params } = details;
  let grant;
  if (details.grantId && details.session?.accountId === accountId) {
    grant = await provider.Grant.find(details.grantId);
  }
  grant ||= new provider.Grant({ accountId, clientId: params.client_id });
  if (params.scope) grant.addOIDCScope(params.scope);
  if (params.claims) {
    const requested = JSON.parse(params.claims);
    for (const part of ['id_token', 'userinfo']) {
      if (requested[part]) grant.addOIDCClaims(Object.keys(requested[part]));
    }
  }
  return grant.save();
}

function send(res, status, type, body, headers = {}) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(body);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid) {
  const provider = providerForInteraction(uid);
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    const msg = err instanceof errors.SessionNotFound ? `${err.error_description || err.message}` : err.message;
    return send(res, 400, 'text/html; charset=utf-8', page('Error', `<h1>invalid interaction</h1><p>${esc(msg)}</p>`));
  }
  if (details.uid !== uid) {
    return send(res, 400, 'text/html; charset=utf-8', page('Error', '<h1>interaction mismatch</h1>'));
  }

  if (req.method === 'GET') {
    // Already signed in at the IdP and only consent is missing: consent implicitly, as Authentik's
    // implicit-consent flow does.
    if (details.prompt.name === 'consent' && details.session?.accountId) {
      const grantId = await grantEverything(provider, details, details.session.accountId);
      record('consent', { sub: details.session.accountId, client_id: details.params.client_id });
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return send(res, 200, 'text/html; charset=utf-8', loginForm(uid, details));
  }

  if (req.method === 'POST') {
    const form = await readForm(req);
    const login = (form.get('login') ?? form.get('sub') ?? '').trim();
    if (!users.has(login)) {
      return send(res, 200, 'text/html; charset=utf-8', loginForm(uid, details, `unknown user ${JSON.stringify(login)}`));
    }
    const grantId = await grantEverything(provider, details, login);
    bump('login', details.params.client_id);
    record('login', { sub: login, client_id: details.params.client_id });
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: login, remember: true }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  return send(res, 405, 'text/plain', 'method not allowed\n', { allow: 'GET, POST' });
}

// ---------------------------------------------------------------- test endpoints

function isLoopback(address) {
  return address === '::1' || address?.startsWith('127.') || address?.startsWith('::ffff:127.');
}

async function backchannelLogout(query) {
  const sub = query.get('sub');
  const sid = query.get('sid');
  if (!sub && !sid) {
    return [400, { error: 'give sub=... or sid=...' }];
  }
  const keep = ['1', 'true', 'yes'].includes(query.get('keep') || '');
  const nosid = ['1', 'true', 'yes'].includes(query.get('nosid') || '');
  const only = query.get('client_id');
  const matched = liveSessions().filter(
    (s) => (!sub || s.sub === sub) && (!sid || s.sid === sid) && (!only || s.client_id === only),
  );
  const notified = [];
  for (const s of matched) {
    const client = await providerForClient(s.client_id)?.Client.find(s.client_id);
    if (!client?.backchannelLogoutUri) continue;
    try {
      await client.backchannelLogout(s.sub, nosid ? undefined : s.sid);
      bump('backchannel_logout', s.client_id);
      record('backchannel.success', { client_id: s.client_id, sub: s.sub, sid: s.sid, via: '__test' });
      notified.push({ client_id: s.client_id, sub: s.sub, sid: s.sid, ok: true, error: null });
    } catch (err) {
      bump('backchannel_logout_error', s.client_id);
      record('backchannel.error', { client_id: s.client_id, sub: s.sub, sid: s.sid, error: err.message, via: '__test' });
      notified.push({ client_id: s.client_id, sub: s.sub, sid: s.sid, ok: false, error: err.message });
    }
  }
  if (!keep) {
    for (const s of matched) {
      if (s.grant_id) {
        for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
          await new TestAdapter(model).revokeByGrantId(s.grant_id);
        }
        store.delete(`Grant:${s.grant_id}`);
        bump('grant_revoked');
        record('grant.revoked', { grant_id: s.grant_id, via: '__test' });
      }
      store.delete(`Session:${s.session_id}`);
    }
  }
  return [200, { matched: matched.length, notified }];
}

async function testEndpoint(req, res, url) {
  const json = (status, body) => send(res, status, 'application/json', `${JSON.stringify(body)}\n`);
  if (!isLoopback(req.socket.remoteAddress)) return json(403, { error: 'loopback only' });
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /__test/counts':
      return json(200, counts);
    case 'POST /__test/reset':
      resetCounts();
      return json(200, counts);
    case 'GET /__test/events':
      return json(200, events);
    case 'GET /__test/sessions':
      return json(200, liveSessions());
    case 'POST /__test/delay': {
      tokenDelayMs = Math.max(0, Number(url.searchParams.get('token') || 0));
      return json(200, { token: tokenDelayMs });
    }
    case 'POST /__test/rename': {
      const user = users.get(url.searchParams.get('sub') || '');
      const name = url.searchParams.get('preferred_username');
      if (!user || !name) return json(404, { error: 'give the sub of a known user and preferred_username' });
      user.preferred_username = name;
      return json(200, { sub: user.sub, preferred_username: name });
    }
    case 'POST /__test/backchannel_logout': {
      const [status, body] = await backchannelLogout(url.searchParams);
      return json(status, body);
    }
    default:
      return json(404, { error: `no such test endpoint: ${route}` });
  }
}

// ---------------------------------------------------------------- the server

const providerCallback = provider?.callback();

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// The client of a request to a shared client-authenticated endpoint (token, revoke, introspect):
// client_secret_basic, else the form's client_id. The form is read here, so it is handed to oidc-provider
// as req.body (which it accepts in place of the stream).
async function clientOfRequest(req) {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization || '');
  if (basic) {
    const user = Buffer.from(basic[1], 'base64').toString('utf8').split(':')[0];
    try {
      return decodeURIComponent(user.replace(/\+/g, ' '));
    } catch {
      return user;
    }
  }
  if (req.method !== 'POST') return undefined;
  req.body = await readBody(req);
  return new URLSearchParams(req.body).get('client_id') ?? undefined;
}

// The userinfo endpoint is shared: the (opaque) access token names its client.
function clientOfBearer(req, url) {
  const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization || '')?.[1] ?? url.searchParams.get('access_token');
  return bearer ? store.get(`AccessToken:${bearer}`)?.payload?.clientId : undefined;
}

// Which application's Provider answers a request in IDP_AUTHENTIK_APPS mode (undefined: 404).
async function appFor(req, url) {
  const path = url.pathname.replace(/\/$/, '');
  const byClient = (clientId) => {
    const p = providerByClient.get(clientId);
    return [...appProviders.values()].find((a) => a.provider === p) || firstApp();
  };
  if (path === '/application/o/authorize') return byClient(url.searchParams.get('client_id'));
  const resume = /^\/application\/o\/authorize\/([^/]+)$/.exec(path);
  if (resume) return byClient(store.get(`Interaction:${resume[1]}`)?.payload?.params?.client_id);
  if (['/application/o/token', '/application/o/revoke', '/application/o/introspect'].includes(path)) {
    if (path === '/application/o/revoke') bump('revocation');
    return byClient(await clientOfRequest(req));
  }
  if (path === '/application/o/userinfo') {
    bump('userinfo');
    return byClient(clientOfBearer(req, url));
  }
  const own = /^\/application\/o\/([^/]+)(\/.*)$/.exec(url.pathname);
  const app = own && appProviders.get(own[1]);
  if (!app) return undefined;
  if (own[2] === '/') return { redirect: './.well-known/openid-configuration' }; // as Authentik's provider root
  if (own[2] === '/.well-known/openid-configuration') {
    bump('discovery');
    req.url = `/.well-known/openid-configuration${url.search}`;
  }
  if (own[2].replace(/\/$/, '') === '/jwks') bump('jwks');
  return app;
}

let tokenDelayMs = 0; // POST /__test/delay
const TOKEN_PATHS = new Set(['/token', '/application/o/token', '/application/o/token/']);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (url.pathname.startsWith('/__test/')) return await testEndpoint(req, res, url);
    if (tokenDelayMs && TOKEN_PATHS.has(url.pathname)) {
      bump('token_delayed');
      await new Promise((resolve) => setTimeout(resolve, tokenDelayMs));
    }
    const m = /^\/interaction\/([^/]+)$/.exec(url.pathname);
    if (m) return await interaction(req, res, m[1]);
    if (apps) {
      const app = await appFor(req, url);
      if (!app) return send(res, 404, 'text/plain', 'not found\n');
      if (app.redirect) return send(res, 302, 'text/plain', '', { location: app.redirect });
      return app.callback(req, res);
    }
    if (url.pathname === '/.well-known/openid-configuration') bump('discovery');
    if (url.pathname === '/jwks') bump('jwks');
    if (url.pathname === '/me') bump('userinfo');
    if (url.pathname === '/token/revocation') bump('revocation');
    return providerCallback(req, res);
  } catch (err) {
    console.error(err);
    bump('server_error');
    if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
    else res.destroy();
  }
});

server.keepAliveTimeout = 5000;
server.listen(port, host, () => {
  const served = apps
    ? `applications=${apps.map((a) => `${a.slug}:${a.client_id}`).join(',')}`
    : `clients=${clients.map((c) => c.client_id).join(',')}`;
  console.log(`test idp listening on http://${host}:${port} issuer=${issuer} access_ttl=${accessTtl}s ${served}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
