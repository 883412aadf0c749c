#!/usr/bin/env node
// A real OAuth 2.1 authorization server for the OAuth interop test
// (run-oauth.mjs), built with the npm package `oidc-provider`, on 127.0.0.1.
//
//   node oauth-as.mjs [--port N] [--access-ttl SECONDS] [--no-registration]
//                     [--refresh-only-offline] [--no-offline-scope]
//
// Prints `listening <port>` once it serves; its issuer is
// http://127.0.0.1:<port> (no path: the metadata is at
// /.well-known/openid-configuration; oidc-provider does not serve the RFC 8414
// /.well-known/oauth-authorization-server, so a client has to fall back).
//
// What it is configured to do:
// - Dynamic Client Registration (RFC 7591), open (no initial access token),
//   unless --no-registration (then the metadata has no registration_endpoint).
// - PKCE required for every client (oidc-provider only knows S256).
// - Resource indicators (RFC 8707): any http://127.0.0.1:* URL is a resource
//   server with scopes `mcp:tools` and `mcp:write` (the latter is a resource
//   scope only: not in scopes_supported, not subject to a registered client's
//   `scope`; oauth-mcp.mjs's --write-paths tools need it). Access tokens for it are OPAQUE (the value
//   is the token id) and live --access-ttl seconds (default 6); the resource
//   server validates them at the introspection endpoint, authenticating as
//   the resource-server client below. Opaque + introspection (rather than JWT)
//   so that revoking a grant makes its access tokens invalid at once.
// - Refresh tokens for every client allowed the refresh_token grant (no
//   offline_access scope needed), rotated on every use (rotateRefreshToken);
//   presenting a rotated one again is refused and revokes the grant (that is
//   oidc-provider's reuse detection). With --refresh-only-offline a refresh
//   token comes with a code only when the grant includes `offline_access`
//   (oidc-provider's own default: it keeps offline_access in an authorization
//   request only with prompt=consent and a client allowed the refresh_token
//   grant, and drops it silently otherwise; no `openid` needed). scopes_supported
//   is `openid offline_access mcp:tools`, or without offline_access when
//   --no-offline-scope (with --refresh-only-offline: an AS that never issues
//   refresh tokens to a client that reads its metadata).
// - RFC 9207: oidc-provider 9 always advertises
//   authorization_response_iss_parameter_supported and sends `iss` with every
//   authorization response (code or error).
// - Revocation (RFC 7009) and introspection (RFC 7662) endpoints.
// - Static clients: the resource server's (client_secret_basic, no grants;
//   id/secret from MCPGATE_OAUTH_RS_CLIENT_ID / MCPGATE_OAUTH_RS_CLIENT_SECRET)
//   and any client the test adds at run time with POST /test/clients (the
//   test adds the template's confidential client once it knows the gateway's
//   redirect URI).
// - Login and consent without a human: /interaction/<uid> logs in the fixed
//   account `alice` and grants what was asked (OIDC scopes and every
//   requested resource with its scopes); /interaction/<uid>/abort ends the
//   interaction with error=access_denied (the user said no). The provider
//   itself issues the codes.
//
// Side routes for the test, under /test/ (never part of the OAuth surface):
//   GET  /test/state          everything recorded: registrations, token
//                             endpoint grants (successes and errors), the
//                             authorization requests' parameters, issued
//                             access and refresh tokens (with their scope),
//                             revoked grants, and a log of the requests the
//                             provider served
//   GET  /test/registrations  {count, clients}
//   GET  /test/refresh-token?value=...  {found, consumed, expired} read from
//                             the provider's own store (no side effect)
//   POST /test/clients        JSON client metadata: adds (or replaces) a client
//   POST /test/access-token/destroy?value=...  drops one access token (its
//                             grant and refresh token stay valid)
//   POST /test/token-outage?on=1|0  while on, every request to the token
//                             endpoint has its connection closed before any
//                             answer (a network failure as the client sees
//                             it); each one is logged in `outage` with its time
//   POST /test/token-delay?ms=N  holds every token endpoint request N ms
//                             before the provider sees it (0: off)
//
// Runs on Node 20 or 22. All state is in memory.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

// ------------------------------------------------------------------ arguments

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = Number(opt('--port', '0'));
const accessTtl = Number(opt('--access-ttl', '6'));
const registration = !args.includes('--no-registration');
const refreshOnlyOffline = args.includes('--refresh-only-offline');
const offlineScope = !args.includes('--no-offline-scope');
const rsClientId = process.env.MCPGATE_OAUTH_RS_CLIENT_ID ?? 'mcp-resource-server';
const rsClientSecret = process.env.MCPGATE_OAUTH_RS_CLIENT_SECRET ?? randomUUID();
const ACCOUNT = 'alice';
const RESOURCE_SCOPE = 'mcp:tools'; // also a static scope (in scopes_supported)
const RESOURCE_SCOPES = `${RESOURCE_SCOPE} mcp:write`; // what a resource server accepts

// ------------------------------------------------------------------ what the test can read back

const recorded = {
  registrations: [], // {client_id, client_name, token_endpoint_auth_method, grant_types, redirect_uris, scope}
  grants: [], // token endpoint: {ok, grant_type, client_id, auth_method, basic_client_id, resource, error}
  authorizationRequests: [], // authorization endpoint: {at, client_id, scope, prompt, resource, state, redirect_uri}
  accessTokens: [], // {value, client_id, grant_id, aud, exp, gty, scope}
  refreshTokens: [], // {value, client_id, grant_id, rotations, scope}
  revokedGrants: [], // grant ids
  outage: [], // token endpoint requests dropped by /test/token-outage: {at (epoch ms)}
  requests: [], // {method, path, status, route, client_id, agent_key_seen}
};

// ------------------------------------------------------------------ the provider

const server = http.createServer((req, res) => dispatch(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'oauth-as-test-key', use: 'sig', alg: 'RS256' };

const isLoopbackResource = (value) => {
  const u = URL.parse(value);
  return u !== null && u.protocol === 'http:' && u.hostname === '127.0.0.1' && !u.hash;
};

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomUUID(), randomUUID()] },
  clients: [
    {
      client_id: rsClientId,
      client_secret: rsClientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  responseTypes: ['code'],
  scopes: offlineScope ? ['openid', 'offline_access', RESOURCE_SCOPE] : ['openid', RESOURCE_SCOPE],
  claims: { openid: ['sub'] },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  pkce: { required: () => true },
  ttl: {
    AccessToken: accessTtl,
    AuthorizationCode: 60,
    Grant: 3600,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 3600,
    Session: 3600,
  },
  // A function of our own either way (oidc-provider then lists the
  // refresh_token grant even without offline_access among the scopes).
  issueRefreshToken: async (_ctx, client, code) =>
    client.grantTypeAllowed('refresh_token') && (!refreshOnlyOffline || Boolean(code?.scopes?.has('offline_access'))),
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: registration },
    revocation: {
      enabled: true,
      // The client the token was issued to may revoke it.
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    introspection: {
      enabled: true,
      // The resource server may introspect anything; others only their own tokens.
      allowedPolicy: async (_ctx, client, token) => client.clientId === rsClientId || token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? undefined,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (!isLoopbackResource(resourceIndicator)) throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
        return {
          scope: RESOURCE_SCOPES,
          audience: resourceIndicator,
          accessTokenTTL: accessTtl,
          accessTokenFormat: 'opaque',
        };
      },
    },
  },
  interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

// Every request the provider serves, with what it concluded about the client.
provider.use(async (ctx, next) => {
  const agentKeySeen = JSON.stringify(ctx.headers).includes('mcpg_') || ctx.url.includes('mcpg_');
  await next();
  const entry = {
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    route: ctx.oidc?.route,
    client_id: ctx.oidc?.client?.clientId,
    agent_key_seen: agentKeySeen,
  };
  recorded.requests.push(entry);
  if (recorded.requests.length > 2000) recorded.requests.shift();
});

const basicClientId = (ctx) => {
  const h = ctx.headers.authorization ?? '';
  if (!/^basic /i.test(h)) return undefined;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return decodeURIComponent((colon < 0 ? decoded : decoded.slice(0, colon)).replace(/\+/g, '%20'));
};

provider.on('registration_create.success', (_ctx, client) => {
  recorded.registrations.push({
    client_id: client.clientId,
    client_name: client.clientName,
    token_endpoint_auth_method: client.clientAuthMethod,
    grant_types: client.grantTypes,
    redirect_uris: client.redirectUris,
    scope: client.scope,
  });
});
provider.on('grant.success', (ctx) => {
  recorded.grants.push({
    ok: true,
    grant_type: ctx.oidc.params.grant_type,
    client_id: ctx.oidc.client?.clientId,
    auth_method: ctx.oidc.client?.clientAuthMethod,
    basic_client_id: basicClientId(ctx),
    resource: ctx.oidc.params.resource,
  });
});
provider.on('grant.error', (ctx, err) => {
  recorded.grants.push({
    ok: false,
    grant_type: ctx.oidc?.params?.grant_type,
    client_id: ctx.oidc?.client?.clientId,
    basic_client_id: basicClientId(ctx),
    error: err.error ?? err.message,
    error_description: err.error_description,
  });
});
provider.on('access_token.saved', (token) => {
  // exp in epoch milliseconds (the token object only knows its lifetime when saved)
  const exp = token.exp ? token.exp * 1000 : Date.now() + token.expiration * 1000;
  recorded.accessTokens.push({ value: token.jti, client_id: token.clientId, grant_id: token.grantId, aud: token.aud, exp, gty: token.gty, scope: token.scope });
});
provider.on('refresh_token.saved', (token) => {
  recorded.refreshTokens.push({ value: token.jti, client_id: token.clientId, grant_id: token.grantId, rotations: token.rotations ?? 0, scope: token.scope });
});
provider.on('grant.revoked', (_ctx, grantId) => recorded.revokedGrants.push(grantId));
provider.on('server_error', (_ctx, err) => process.stderr.write(`oauth-as server_error: ${err?.stack ?? err}\n`));

const providerCallback = provider.callback();

// ------------------------------------------------------------------ interactions (login + consent, no human)

async function interaction(req, res, url) {
  const abort = url.pathname.endsWith('/abort');
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session, grantId } = details;
  if (abort) {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: ACCOUNT } }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    }
    const saved = await grant.save();
    await provider.interactionFinished(req, res, { consent: grantId ? {} : { grantId: saved } }, { mergeWithLastSubmission: true });
    return;
  }
  json(res, 400, { error: `unexpected prompt ${prompt.name}` });
}

// ------------------------------------------------------------------ the test's side routes

function json(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

async function testRoute(req, res, url) {
  if (req.method === 'GET' && url.pathname === '/test/state') return json(res, 200, recorded);
  if (req.method === 'GET' && url.pathname === '/test/registrations') {
    return json(res, 200, { count: recorded.registrations.length, clients: recorded.registrations });
  }
  if (req.method === 'GET' && url.pathname === '/test/refresh-token') {
    const token = await provider.RefreshToken.find(url.searchParams.get('value') ?? '', { ignoreExpiration: true });
    return json(res, 200, token ? { found: true, consumed: Boolean(token.consumed), expired: Boolean(token.isExpired) } : { found: false });
  }
  if (req.method === 'POST' && url.pathname === '/test/access-token/destroy') {
    // Makes one access token invalid (as if the AS had dropped it) while its grant lives on.
    const token = await provider.AccessToken.find(url.searchParams.get('value') ?? '');
    if (token) await token.destroy();
    return json(res, 200, { destroyed: Boolean(token) });
  }
  if (req.method === 'POST' && url.pathname === '/test/token-outage') {
    tokenOutage = url.searchParams.get('on') === '1';
    return json(res, 200, { on: tokenOutage });
  }
  if (req.method === 'POST' && url.pathname === '/test/token-delay') {
    tokenDelayMs = Math.max(0, Number(url.searchParams.get('ms')) || 0);
    return json(res, 200, { ms: tokenDelayMs });
  }
  if (req.method === 'POST' && url.pathname === '/test/clients') {
    const metadata = JSON.parse(await readBody(req));
    await provider.Client.adapter.upsert(metadata.client_id, metadata);
    const client = await provider.Client.find(metadata.client_id); // validates the metadata
    return json(res, 201, { client_id: client.clientId, token_endpoint_auth_method: client.clientAuthMethod });
  }
  return json(res, 404, { error: 'no such test route' });
}

let tokenOutage = false; // POST /test/token-outage
let tokenDelayMs = 0; // POST /test/token-delay

async function dispatch(req, res) {
  const url = new URL(req.url, issuer);
  if (tokenOutage && url.pathname === '/token') { // oidc-provider's default token route
    recorded.outage.push({ at: Date.now() });
    req.socket.destroy();
    return;
  }
  if (tokenDelayMs > 0 && url.pathname === '/token') await new Promise((resolve) => setTimeout(resolve, tokenDelayMs));
  if (url.pathname === '/auth' && req.method === 'GET') { // oidc-provider's default authorization route
    const q = url.searchParams;
    recorded.authorizationRequests.push({
      at: Date.now(),
      client_id: q.get('client_id'),
      scope: q.get('scope'),
      prompt: q.get('prompt'),
      resource: q.getAll('resource'),
      state: q.get('state'),
      redirect_uri: q.get('redirect_uri'),
    });
  }
  try {
    if (url.pathname.startsWith('/test/')) return await testRoute(req, res, url);
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    return providerCallback(req, res);
  } catch (err) {
    process.stderr.write(`oauth-as: ${req.method} ${url.pathname}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) json(res, err?.statusCode ?? 500, { error: err?.error ?? 'server_error', error_description: err?.error_description ?? String(err?.message ?? err) });
    else res.destroy();
  }
}

process.stdout.write(`listening ${server.address().port}\n`);
process.stdout.write(
  `issuer ${issuer} registration=${registration ? 'enabled' : 'disabled'} access_ttl=${accessTtl}s` +
    ` refresh_tokens=${refreshOnlyOffline ? 'offline_access only' : 'always'} offline_access_scope=${offlineScope ? 'listed' : 'not listed'}\n`,
);

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
  });
}
