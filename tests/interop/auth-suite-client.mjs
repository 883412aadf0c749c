#!/usr/bin/env node
// The client command run-auth-suite.mjs gives the conformance suite's client
// auth scenarios (`conformance client --command "<node> auth-suite-client.mjs"
// --scenario auth/<name>`). The suite appends the scenario's MCP server URL
// (a mock MCP server protected by the scenario's mock authorization server)
// as the last argument and sets MCP_CONFORMANCE_SCENARIO (and, for some
// scenarios, MCP_CONFORMANCE_CONTEXT, JSON: e.g. a pre-registered client).
//
// This program is an agent AND its user's browser, and mcpgate is the OAuth
// client under test:
//   1. agent: POST .../install_custom/ {url, auth_type: "oauth"} (with the
//      context's client_id/client_secret when it has one: the user's
//      pre-registered client) -> {redirect_url};
//   2. browser: the start URL (a 302 to the AS, or the 200 confirm page whose
//      form is posted back -> 303 to the AS), the AS's authorization
//      endpoint (the mock redirects straight back with a code), the gateway's
//      callback (-> 302 to the result page, status=success); a cookie jar,
//      redirects followed by hand;
//   3. agent: the TypeScript SDK client (StreamableHTTPClientTransport with
//      the agent key) against the installation's proxy_url: initialize,
//      tools/list, approve the listed tools (the gateway's tool approval,
//      as its user), tools/call each tool. A call answered with JSON-RPC
//      error -32003 and data.reason "insufficient_scope" is retried after
//      following data.authorize_url (GET with the agent key: 302 to a new
//      start URL, then the browser part again), at most twice in all.
//
// Environment (set by run-auth-suite.mjs):
//   MCPGATE_AUTH_SUITE_GATEWAY  the gateway's real listener, http://127.0.0.1:PORT
//   MCPGATE_AUTH_SUITE_PUBLIC   its server.public_url when that differs (the
//                               browser and the agent then play the TLS-terminating
//                               proxy: a URL on this origin is sent to the listener,
//                               and the confirm POST carries Origin: this origin)
//   MCPGATE_AUTH_SUITE_KEY      the agent's API key (mcpg_...)
//   MCPGATE_AUTH_SUITE_REPORT   a file to write this run's report to (JSON)
//
// Exits 0 when every step succeeded, 1 otherwise (the report says which
// step failed and what the gateway answered). Every request has a deadline,
// and so has the whole run (CLIENT_DEADLINE_MS).

import { writeFileSync } from 'node:fs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { answerOf, CookieJar } from './lib.mjs';

const CLIENT_DEADLINE_MS = 40_000;
const REQUEST_MS = 10_000;
const MAX_REAUTHORIZATIONS = 2; // insufficient_scope: follow authorize_url at most this often
const ENV_ID = 1;
const INST = `/api/environments/${ENV_ID}/mcp_server_installations`;

const serverUrl = process.argv.at(-1);
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '(unknown scenario)';
const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
const gateway = new URL(process.env.MCPGATE_AUTH_SUITE_GATEWAY ?? '').origin;
const publicOrigin = process.env.MCPGATE_AUTH_SUITE_PUBLIC ? new URL(process.env.MCPGATE_AUTH_SUITE_PUBLIC).origin : gateway;
const agentKey = process.env.MCPGATE_AUTH_SUITE_KEY;
const reportFile = process.env.MCPGATE_AUTH_SUITE_REPORT;

const report = {
  scenario,
  serverUrl,
  steps: [], // what happened, in order
  authorizations: [], // one per browser flow: the authorization request the gateway sent the browser to
  tools: [],
  calls: [],
  ok: false,
  error: undefined,
};
const t0 = Date.now();
function step(text, details) {
  const line = `[${((Date.now() - t0) / 1000).toFixed(2)}s] ${text}`;
  report.steps.push(details === undefined ? line : { step: line, details });
  process.stdout.write(`${line}${details === undefined ? '' : ` ${JSON.stringify(details)}`}\n`);
}
function writeReport() {
  if (reportFile) writeFileSync(reportFile, `${JSON.stringify(report, null, 2)}\n`);
}

class StepFailure extends Error {}
function fail(message, details) {
  const err = new StepFailure(message);
  err.details = details;
  throw err;
}

// ------------------------------------------------------------------ HTTP, a browser

// The URL a request for `url` really goes to: the public origin is served by
// the gateway's listener (this program plays the TLS-terminating proxy).
function toListener(url) {
  const u = new URL(url);
  if (u.origin !== publicOrigin || publicOrigin === gateway) return u.href;
  return `${gateway}${u.pathname}${u.search}`;
}

// One exchange, redirects not followed.
async function request(url, { method = 'GET', headers = {}, body } = {}) {
  const target = toListener(url);
  const res = await fetch(target, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_MS) });
  // The location is relative to the URL as the browser saw it.
  return answerOf(res, await res.text(), url);
}
const brief = (res) => ({ status: res.status, location: res.location, body: res.text.slice(0, 400) });

class Browser extends CookieJar {
  async send(url, { method = 'GET', headers = {}, body } = {}) {
    const cookie = this.cookieHeader(url);
    const res = await request(url, { method, headers: { ...(cookie ? { Cookie: cookie } : {}), ...headers }, body });
    this.store(url, res.setCookies);
    return res;
  }
}

const onGateway = (url) => new URL(url).origin === publicOrigin;
const START_PATH = '/api/mcp_store/oauth_start/';
const CALLBACK_PATH = '/api/mcp_store/oauth_redirect/';
const RESULT_PATH = '/api/mcp_store/oauth_result/';

// The confirm page's one form: its action, state and csrf.
function confirmForm(html) {
  const form = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/i)?.[0];
  if (!form) return undefined;
  const attr = (tag, name) => tag.match(new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i'))?.[1];
  const named = { quot: '"', apos: "'", lt: '<', gt: '>', amp: '&' };
  const unescape = (s) =>
    s?.replace(/&(?:#(\d+)|#x([0-9a-f]+)|(quot|apos|lt|gt|amp));/gi, (m, dec, hex, name) =>
      dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) : named[name.toLowerCase()],
    );
  const inputs = {};
  for (const tag of form.match(/<input\b[^>]*>/gi) ?? []) {
    const name = attr(tag, 'name');
    if (name) inputs[unescape(name)] = unescape(attr(tag, 'value') ?? '');
  }
  return { action: unescape(attr(form.match(/<form\b[^>]*>/i)[0], 'action')), method: attr(form.match(/<form\b[^>]*>/i)[0], 'method'), inputs };
}

// The browser leg of one flow, from a gateway start URL to the result page.
async function authorizeInBrowser(startUrl) {
  const browser = new Browser();
  const u = new URL(startUrl);
  if (!onGateway(startUrl) || u.pathname !== START_PATH) fail(`the redirect_url is not a gateway start URL (${publicOrigin}${START_PATH}?state=...)`, { startUrl });
  const start = await browser.send(startUrl);
  let toAs;
  if (start.status === 302) {
    step('start URL: 302 to the authorization server (no confirm page)');
    toAs = start.location;
  } else if (start.status === 200 && /text\/html/.test(start.headers.get('content-type') ?? '')) {
    const form = confirmForm(start.text);
    if (!form?.action || form.inputs.state === undefined || form.inputs.csrf === undefined) fail('the confirm page holds no form with state and csrf', brief(start));
    step('start URL: 200 confirm page; posting its form', { action: form.action, method: form.method });
    const action = new URL(form.action, startUrl).href;
    const posted = await browser.send(action, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: publicOrigin },
      body: new URLSearchParams({ state: form.inputs.state, csrf: form.inputs.csrf }).toString(),
    });
    if (posted.status !== 303 || !posted.location) fail('the confirm POST did not answer 303 to the authorization server', brief(posted));
    toAs = posted.location;
  } else {
    fail('the start URL answered neither a 302 nor the 200 confirm page', brief(start));
  }
  if (onGateway(toAs)) fail('the start URL led back to the gateway, not to an authorization server', { location: toAs });
  const authz = new URL(toAs);
  report.authorizations.push({ endpoint: `${authz.origin}${authz.pathname}`, params: Object.fromEntries(authz.searchParams) });
  step('authorization request', { endpoint: `${authz.origin}${authz.pathname}`, scope: authz.searchParams.get('scope'), client_id: authz.searchParams.get('client_id') });

  // The authorization server (the suite's mock redirects straight back with a code).
  let url = toAs;
  for (let hop = 0; !onGateway(url); hop++) {
    if (hop >= 10) fail('more than 10 redirects at the authorization server', { url });
    const res = await browser.send(url);
    if (![302, 303].includes(res.status) || !res.location) fail(`the authorization server answered ${new URL(url).pathname} without a redirect`, brief(res));
    url = res.location;
  }
  const cb = new URL(url);
  if (cb.pathname !== CALLBACK_PATH) fail('the authorization server sent the browser to a gateway URL that is not the callback', { url });
  step('callback', { code: cb.searchParams.has('code'), error: cb.searchParams.get('error') ?? undefined, iss: cb.searchParams.get('iss') ?? undefined });
  const answer = await browser.send(url);
  const result = answer.location ? new URL(answer.location) : undefined;
  if (answer.status !== 302 || result?.pathname !== RESULT_PATH || result.searchParams.get('status') !== 'success') {
    fail('the gateway did not complete the flow (callback: expected 302 to the result page with status=success)', brief(answer));
  }
  step('callback: 302 to the result page, status=success');
}

// ------------------------------------------------------------------ the gateway's API (the agent)

async function api(method, pathname, body) {
  const headers = { Authorization: `Bearer ${agentKey}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return request(`${gateway}${pathname}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function findInstallation() {
  const res = await api('GET', `${INST}/?limit=1000`);
  if (res.status !== 200 || !Array.isArray(res.json?.results)) fail('listing installations failed', brief(res));
  return res.json.results.find((i) => i.url === serverUrl);
}

async function waitConnected(id) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await api('GET', `${INST}/${id}/`);
    if (res.status !== 200) fail(`GET ${INST}/${id}/ failed`, brief(res));
    if (res.json.pending_oauth === false) return res.json;
    if (Date.now() > deadline) fail('the installation is still pending_oauth 10 s after the flow completed', res.json);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Approves every tool the gateway's registry lists for the installation
// (refreshing it first when the sync has not filled it yet).
async function approveTools(id) {
  let res = await api('GET', `${INST}/${id}/tools/`);
  if (res.status !== 200 || !Array.isArray(res.json?.results)) fail('GET .../tools failed', brief(res));
  if (res.json.results.length === 0) {
    res = await api('POST', `${INST}/${id}/tools/refresh/`);
    if (res.status !== 200 || !Array.isArray(res.json?.results)) fail('POST .../tools/refresh failed', brief(res));
  }
  const names = res.json.results.filter((t) => t.removed_at === null || t.removed_at === undefined).map((t) => t.tool_name);
  for (const name of names) {
    const patched = await api('PATCH', `${INST}/${id}/tools/${encodeURIComponent(name)}/`, { approval_state: 'approved' });
    if (patched.status !== 200) fail(`approving tool ${name} failed`, brief(patched));
  }
  step('approved the tools the gateway lists', names);
  return names;
}

// ------------------------------------------------------------------ the MCP side

// The transport's fetch: records each answer to a POST that is not a 2xx
// (status, the headers that matter, the start of the body), for the report.
async function recordingFetch(url, init) {
  const res = await fetch(url, { ...init, signal: init?.signal ?? AbortSignal.timeout(REQUEST_MS) });
  if (init?.method === 'POST' && (res.status < 200 || res.status > 299)) {
    const body = await res.clone().text().catch(() => '');
    const rpc = typeof init.body === 'string' ? JSON.parse(init.body)?.method : undefined;
    const seen = {
      rpc,
      status: res.status,
      contentType: res.headers.get('content-type'),
      wwwAuthenticate: res.headers.get('www-authenticate') ?? undefined,
      body: body.slice(0, 400),
    };
    report.httpErrors = [...(report.httpErrors ?? []), seen];
    step(`the proxy answered ${rpc ?? 'a POST'} with HTTP ${res.status}`, seen);
  }
  return res;
}

let reauthorizations = 0;
// Runs op(); when the gateway answers -32003 insufficient_scope, follows
// authorize_url (API key; 302 to a start URL; the browser leg) and retries.
async function withStepUp(what, op) {
  for (;;) {
    try {
      return await op();
    } catch (err) {
      const insufficient = err?.code === -32003 && err?.data?.reason === 'insufficient_scope';
      if (!insufficient) throw err;
      report.insufficientScope = (report.insufficientScope ?? 0) + 1;
      step(`${what}: -32003 insufficient_scope`, { required_scope: err.data.required_scope, authorize_url: err.data.authorize_url });
      if (reauthorizations >= MAX_REAUTHORIZATIONS) fail(`${what}: still insufficient_scope after ${reauthorizations} re-authorizations; giving up`, err.data);
      if (typeof err.data.authorize_url !== 'string') fail(`${what}: the -32003 error carries no data.authorize_url`, err.data);
      reauthorizations++;
      const res = await api('GET', new URL(err.data.authorize_url).pathname + new URL(err.data.authorize_url).search);
      if (res.status !== 302 || !res.location) fail('GET authorize_url did not answer 302 to a start URL', brief(res));
      step(`authorize_url: 302 to a start URL (re-authorization ${reauthorizations})`);
      await authorizeInBrowser(res.location);
    }
  }
}

async function main() {
  if (!serverUrl || !/^https?:\/\//.test(serverUrl)) fail('expected the MCP server URL as the last argument', { argv: process.argv });
  if (!agentKey || !process.env.MCPGATE_AUTH_SUITE_GATEWAY) fail('MCPGATE_AUTH_SUITE_GATEWAY and MCPGATE_AUTH_SUITE_KEY must be set');
  step(`scenario ${scenario}: MCP server ${serverUrl}`);

  // 1. install
  const body = { name: scenario.replace(/^auth\//, 'conformance '), url: serverUrl, auth_type: 'oauth', description: `conformance suite ${scenario}` };
  if (context.client_id) {
    body.client_id = context.client_id; // the user's pre-registered client
    if (context.client_secret) body.client_secret = context.client_secret;
  }
  const installed = await api('POST', `${INST}/install_custom/`, body);
  report.install = brief(installed);
  if (installed.status !== 200 || typeof installed.json?.redirect_url !== 'string') fail('install_custom did not answer 200 {"redirect_url"}', brief(installed));
  step('install_custom: 200 redirect_url', { client: context.client_id ? 'pre-registered (context)' : 'the gateway decides' });
  const row = await findInstallation();
  if (!row) fail('install_custom answered 200 but lists no installation for the server URL');
  report.installationId = row.id;

  // 2. the browser
  await authorizeInBrowser(installed.json.redirect_url);
  const inst = await waitConnected(row.id);
  step('installation connected', { id: inst.id, proxy_url: inst.proxy_url, tool_count: inst.tool_count });

  // 3. the agent: the SDK client through the proxy
  const transport = new StreamableHTTPClientTransport(new URL(toListener(inst.proxy_url)), {
    requestInit: { headers: { Authorization: `Bearer ${agentKey}` } },
    fetch: recordingFetch,
  });
  const client = new Client({ name: 'mcpgate-auth-suite', version: '1.0.0' }, { capabilities: {} });
  client.onerror = () => {}; // e.g. the optional GET stream a stateless upstream does not offer
  await client.connect(transport);
  step('initialize through the proxy', client.getServerVersion());
  const listed = await withStepUp('tools/list', () => client.listTools());
  report.tools = listed.tools.map((t) => t.name);
  step('tools/list', report.tools);
  await approveTools(inst.id);
  for (const tool of listed.tools) {
    const result = await withStepUp(`tools/call ${tool.name}`, () => client.callTool({ name: tool.name, arguments: {} }));
    report.calls.push({ tool: tool.name, isError: result.isError ?? false, content: result.content });
    if (result.isError) fail(`tools/call ${tool.name} answered isError`, result);
    step(`tools/call ${tool.name}`, result.content);
  }
  await client.close();
  report.ok = true;
}

const deadline = setTimeout(() => {
  report.error = `the client did not finish within ${CLIENT_DEADLINE_MS} ms`;
  step(report.error);
  writeReport();
  process.exit(1);
}, CLIENT_DEADLINE_MS);

try {
  await main();
  step('done');
  writeReport();
  clearTimeout(deadline);
  process.exit(0);
} catch (err) {
  report.error = err instanceof StepFailure ? err.message : `${err?.name ?? 'Error'}: ${err?.message ?? err}`;
  if (err instanceof StepFailure && err.details !== undefined) report.errorDetails = err.details;
  else if (err?.code !== undefined) report.errorDetails = { code: err.code, data: err.data };
  step(`FAILED: ${report.error}`, report.errorDetails);
  writeReport();
  clearTimeout(deadline);
  process.exit(1);
}
