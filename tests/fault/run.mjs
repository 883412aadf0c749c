#!/usr/bin/env node
// Fault-injection run: starts the real mcpgate daemon several times (port 0 on
// 127.0.0.1, data folders under os.tmpdir(), configs written here), injects
// one fault per scenario and prints a markdown table, one row per scenario:
//
//   | # | scenario | what was done | expected | observed | survived |
//
//   node tests/fault/run.mjs MCPGATE_BINARY [--verbose]
//
// Exit 0 only when every row survived (a row that cannot run here, e.g. the
// disk-full and read-only rows without CAP_SYS_ADMIN, says "skipped" and does
// not fail the run). A sanitizer report on a daemon's stderr
// ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:") fails
// its row. Every wait is bounded and waits for a condition (a port answering,
// a log line, a status); the sizes of each scenario are the constants below.
// See README.md next to this file.

import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { Child, children, Condition, debug, log, runToEnd, setVerbose, sseEventData, TestFailure, withDeadline } from '../interop/lib.mjs';

// Listens on 127.0.0.1, a free port; resolves to the port.
function listenOnLoopback(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

// ------------------------------------------------------------------ sizes and bounds

const RUN_DEADLINE_MS = 180_000; // scenarios start only while this lasts; each is bounded on its own too
const START_MS = 30_000; // `mcpgate serve` until it listens (ASan on a busy 2-core machine)
const STOP_MS = 20_000; // SIGTERM until exit (ASan's leak check runs at exit)
const KEY_MS = 20_000; // `mcpgate keys create`
const REQUEST_MS = 10_000; // one HTTP request

// 1. SIGKILL during write bursts
const KILL_ROUNDS = 3;
const KILL_CLIENTS = 4; // concurrent creators
const KILL_AFTER_ACKS = 30; // SIGKILL once this many creates of the round got their 201
const KILL_DEADLINE_MS = 70_000;

// 2. disk full
const FULL_TMPFS_SIZE = '4m';
const FULL_PROBE_CREATES = 40; // creates tried after the fill until one is refused
const FULL_RECOVER_MS = 15_000; // /readyz back to 200 after the filler is gone
const FULL_DEADLINE_MS = 60_000;

// 3. read-only database
const RO_TMPFS_SIZE = '16m';
const RO_RECOVER_MS = 15_000;
const RO_DEADLINE_MS = 60_000;

// 4. upstream faults
const UPSTREAM_STREAM_END_MS = 10_000; // a truncated SSE stream ends for the agent
const UPSTREAM_DEADLINE_MS = 45_000;

// 5. slowloris and idle floods
const SLOW_TIMEOUT_MS = 2_000; // server.timeouts.request_read and idle
const SLOWLORIS_CONNS = 200;
const IDLE_CONNS = 300;
const SLOW_BYTE_EVERY_MS = 500; // one header byte per slow connection
const SLOW_CLOSE_MARGIN_MS = 2_500; // closed within SLOW_TIMEOUT_MS + this (from connect)
const SLOW_PROBE_EVERY_MS = 100; // the normal client's pace
const SLOW_P99_MS = 1_500; // its latency bound
const SLOW_DEADLINE_MS = 45_000;

// 6. connection flood at the cap
const FLOOD_CAP = 50; // server.limits.max_connections
const FLOOD_CONNS = 500;
const FLOOD_CLOSE_MS = 2_000; // "at once": closed within this of connecting
const FLOOD_WAIT_MS = 10_000;
const FLOOD_RECOVER_MS = 10_000;
const FLOOD_DEADLINE_MS = 45_000;

// 7. SIGHUP storms
const HUP_COUNT = 30; // in all: two storms and one SIGHUP with a broken config in between
const HUP_CLIENTS_REST = 2;
const HUP_CLIENTS_PROXY = 2;
const HUP_CLIENT_EVERY_MS = 20;
const HUP_SETTLE_MS = 15_000;
const HUP_DEADLINE_MS = 50_000;

// 8. SIGTERM with streams open
const TERM_STREAMS = 3;
const TERM_GRACE_S = 3; // server.timeouts.shutdown_grace
const TERM_MARGIN_MS = 3_000; // streams closed / process gone within grace + this
const TERM_EXIT_EXTRA_MS = 10_000; // plus ASan's exit work for the exit itself
const TERM_SLOW_ANSWER_BYTES = 256 * 1024;
const TERM_DEADLINE_MS = 45_000;

const SANITIZER_RE = /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|AddressSanitizer:DEADLYSIGNAL/;
const INST = '/api/projects/1/mcp_server_installations';
const GARBAGE_MARK = 'GARBAGE-7c1e'; // bytes an upstream sends that must never reach the agent
const HALF_MARK = 'HALF-ANSWER-4b2d';
const PARTIAL_MARK = 'PARTIAL-EVENT-9e3f';

// ------------------------------------------------------------------ arguments

function usage(message) {
  if (message) process.stderr.write(`fault: ${message}\n`);
  process.stderr.write('usage: node tests/fault/run.mjs MCPGATE_BINARY [--verbose] [--only=N,M]\n');
  process.exit(2);
}
let BINARY;
let ONLY; // --only 2,8: run just these rows (the others say "not run")
{
  const positional = [];
  for (const a of process.argv.slice(2)) {
    if (a === '--verbose') setVerbose(true);
    else if (a.startsWith('--only=')) ONLY = new Set(a.slice(7).split(',').map(Number));
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1) usage('expected MCPGATE_BINARY');
  BINARY = path.resolve(positional[0]);
  if (!existsSync(BINARY)) usage(`no such binary: ${BINARY}`);
}

const ROOT = mkdtempSync(path.join(os.tmpdir(), 'mcpgate-fault-'));
const RUN_STARTED = performance.now();
const elapsedMs = () => performance.now() - RUN_STARTED;

// ------------------------------------------------------------------ small helpers

const pace = (ms) => new Promise((resolve) => setTimeout(resolve, ms)); // a rate, never a synchronisation
const nextTick = () => new Promise((resolve) => setImmediate(resolve));
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
const short = (text, n = 160) => {
  const s = String(text).replace(/\s+/g, ' ').trim();
  return s.length > n ? `${s.slice(0, n)}...` : s;
};
function percentile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
// Polls `probe` (async, returns a truthy value when done) every `everyMs` until
// it holds or `ms` passed; returns its value or undefined.
async function pollUntil(probe, ms, everyMs = 200) {
  const until = performance.now() + ms;
  for (;;) {
    let value;
    try {
      value = await probe();
    } catch {
      value = undefined;
    }
    if (value) return value;
    if (performance.now() >= until) return undefined;
    await pace(everyMs);
  }
}
function writeAtomically(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

// ------------------------------------------------------------------ config

function configYaml({ dataDir, limits = {}, timeouts = {} }) {
  const inline = (o) =>
    Object.entries(o)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
  const lines = [`data_dir: "${dataDir}"`, 'server:', '  listen: ["127.0.0.1:0"]', '  workers: 2'];
  if (Object.keys(limits).length) lines.push(`  limits: { ${inline(limits)} }`);
  if (Object.keys(timeouts).length) lines.push(`  timeouts: { ${inline(timeouts)} }`);
  lines.push(
    'upstreams: { allow_private_networks: true }',
    'projects:',
    '  - { id: 1, name: Fault, environments: [{ id: 1, name: production }] }',
    'logging: { level: info, format: json }',
  );
  return `${lines.join('\n')}\n`;
}

// ------------------------------------------------------------------ the daemon

// One `mcpgate serve` on one config, started (and restarted) as needed,
// optionally through a wrapper (nsenter into a mount namespace). Keeps every
// stderr line of every run (the log checks and the sanitizer check read them).
class Gateway {
  constructor(name, configPath, { wrap = [] } = {}) {
    this.name = name;
    this.configPath = configPath;
    this.wrap = wrap;
    this.runs = [];
    this.cliSanitizer = [];
    this.changed = new Condition();
  }
  command(args) {
    return this.wrap.length ? [this.wrap[0], [...this.wrap.slice(1), BINARY, ...args]] : [BINARY, args];
  }
  get run() {
    return this.runs[this.runs.length - 1];
  }
  get child() {
    return this.run?.child;
  }
  get running() {
    return Boolean(this.child && !this.child.exited);
  }
  get pid() {
    return this.child.proc.pid;
  }
  async start(ms = START_MS) {
    const [cmd, args] = this.command(['serve', '--config', this.configPath]);
    const child = new Child(this.name, cmd, args, { cwd: path.dirname(this.configPath) });
    const run = { child, stderr: [], sanitizer: [] };
    this.runs.push(run);
    let partial = '';
    const note = (line) => {
      run.stderr.push(line);
      if (SANITIZER_RE.test(line)) run.sanitizer.push(line);
      this.changed.notify();
    };
    child.proc.stderr.on('data', (chunk) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop();
      for (const line of parts) note(line);
    });
    child.proc.stderr.on('end', () => {
      if (partial) note(partial);
      partial = '';
    });
    child.proc.on('exit', () => this.changed.notify());
    const banner = await child.waitForLine(/mcpgate listening on (http:\/\/\S+)/, ms);
    this.base = banner[1].replace(/\/$/, '');
    this.port = Number(new URL(this.base).port);
    debug(`${this.name} listening on ${this.base}`);
    return this;
  }
  async createKey(user = 'fault') {
    const [cmd, args] = this.command(['keys', 'create', '--config', this.configPath, '--user', user, '--scopes', '*']);
    const r = await runToEnd(`${this.name} keys create`, cmd, args, KEY_MS, { cwd: path.dirname(this.configPath) });
    this.cliSanitizer.push(...r.stderr.filter((l) => SANITIZER_RE.test(l)));
    const keyLine = r.stdout.find((l) => l.trim().startsWith('mcpg_'));
    if (r.code !== 0 || !keyLine) throw new TestFailure(`mcpgate keys create failed (exit ${r.code}): ${short(r.stderr.slice(-3).join(' '), 300)}`);
    this.key = keyLine.trim();
    return this.key;
  }
  signal(sig) {
    if (this.running) this.child.proc.kill(sig);
  }
  waitExit(ms, what = `${this.name} to exit`) {
    return withDeadline(this.child.exitPromise, ms, what);
  }
  // SIGTERM, bounded; SIGKILL when it does not go. Returns the exit code (or signal name).
  async stop(ms = STOP_MS) {
    if (!this.child) return undefined;
    if (!this.running) return this.child.exitCode;
    this.signal('SIGTERM');
    try {
      return await this.waitExit(ms);
    } catch {
      log(`${this.name} did not exit within ${ms} ms of SIGTERM; SIGKILL`);
      this.child.proc.kill('SIGKILL');
      await withDeadline(this.child.exitPromise, 5_000, `${this.name} to die`).catch(() => {});
      return `no exit within ${ms} ms of SIGTERM`;
    }
  }
  // stderr lines of the current run (or all runs) matching re.
  lines(re, all = false) {
    const source = all ? this.runs.flatMap((r) => r.stderr) : this.run?.stderr ?? [];
    return source.filter((l) => re.test(l));
  }
  waitFor(predicate, ms, what) {
    return this.changed.wait(() => predicate() || (this.running ? undefined : { exited: true }), ms, what).then((v) => {
      if (v?.exited && !predicate()) throw new TestFailure(`${this.name} exited (${this.child.exitCode}) while waiting for ${what}`);
      return v;
    });
  }
  sanitizerLines() {
    return [...this.cliSanitizer, ...this.runs.flatMap((r) => r.sanitizer)];
  }
  // The messages of the last JSON log lines (for a report).
  lastMessages(n = 6) {
    return (this.run?.stderr ?? [])
      .slice(-n)
      .map((l) => {
        try {
          return JSON.parse(l).msg ?? l;
        } catch {
          return l;
        }
      })
      .join(' | ');
  }
}

// ------------------------------------------------------------------ HTTP client side

// One request; resolves { status, headers, text, json, ms } or rejects (connection
// error, an answer cut short, no answer within timeoutMs).
function request(base, method, target, { key, body, headers = {}, agent = false, timeoutMs = REQUEST_MS } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (key) h.Authorization = `Bearer ${key}`;
    let payload;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['Content-Type'] ??= 'application/json';
      h['Content-Length'] = Buffer.byteLength(payload);
    }
    const started = performance.now();
    let settled = false;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(err);
    };
    const req = http.request(new URL(target, base), { method, headers: h, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json, ms: performance.now() - started });
      });
      res.on('error', fail);
      res.on('close', () => {
        if (!res.complete) fail(new Error(`answer cut short (status ${res.statusCode})`));
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', fail);
    req.end(payload);
  });
}

const get = (gw, target, opts = {}) => request(gw.base, 'GET', target, { key: gw.key, ...opts });
// Installations are made with auth_type none (the upstreams here check no credential).
const INSTALL_AUTH = { auth_type: 'none' };
const install = (gw, name, url, opts = {}) =>
  request(gw.base, 'POST', `${INST}/install_custom/`, { key: gw.key, body: { name, url, ...INSTALL_AUTH }, ...opts });
const rpc = (id, method, params) => ({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
const toolsCall = (id, name, args = {}) => rpc(id, 'tools/call', { name, arguments: args });
const proxyPost = (gw, instId, message, opts = {}) =>
  request(gw.base, 'POST', `${INST}/${instId}/proxy/`, {
    key: gw.key,
    body: message,
    headers: { Accept: 'application/json, text/event-stream' },
    ...opts,
  });

async function approve(gw, instId, tool) {
  const r = await request(gw.base, 'PATCH', `${INST}/${instId}/tools/${tool}/`, { key: gw.key, body: { approval_state: 'approved' } });
  if (r.status !== 200) throw new TestFailure(`approving tool ${tool}: HTTP ${r.status} ${short(r.text)}`);
}

// Installs `url` (auth none) and approves the given tools; the installation's id.
async function installApproved(gw, name, url, tools = ['echo']) {
  const r = await install(gw, name, url);
  if (r.status !== 201 || !r.json?.id) throw new TestFailure(`install_custom ${name}: HTTP ${r.status} ${short(r.text)}`);
  for (const t of tools) await approve(gw, r.json.id, t);
  return r.json.id;
}

// A proxied GET stream (SSE), read as it comes.
function openStream(gw, instId) {
  const s = { status: undefined, events: [], raw: '', ended: false, endedAt: undefined, how: undefined, changed: new Condition() };
  const end = (how) => {
    if (s.ended) return;
    s.ended = true;
    s.endedAt = performance.now();
    s.how = how;
    s.changed.notify();
  };
  const req = http.request(
    new URL(`${INST}/${instId}/proxy/`, gw.base),
    { method: 'GET', headers: { Authorization: `Bearer ${gw.key}`, Accept: 'text/event-stream' }, agent: false },
    (res) => {
      s.status = res.statusCode;
      s.contentType = res.headers['content-type'];
      s.changed.notify();
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (chunk) => {
        s.raw += chunk;
        pending += chunk.replace(/\r\n/g, '\n');
        for (let i = pending.indexOf('\n\n'); i >= 0; i = pending.indexOf('\n\n')) {
          s.events.push(sseEventData(pending.slice(0, i)));
          pending = pending.slice(i + 2);
        }
        s.changed.notify();
      });
      res.on('end', () => end('ended cleanly'));
      res.on('error', (e) => end(`cut (${e.code ?? e.message})`));
      res.on('close', () => end(res.complete ? 'ended cleanly' : 'cut'));
    },
  );
  req.on('error', (e) => end(`error (${e.code ?? e.message})`));
  req.end();
  s.close = () => req.destroy();
  return s;
}

// A raw client connection that misbehaves (slowloris, idle, flood); records
// when and how the daemon closed it.
function openRawConnection(port, kind, changed) {
  const c = { kind, openedAt: undefined, closedAt: undefined, how: undefined, byUs: false, gotData: false };
  const sock = net.connect({ host: '127.0.0.1', port });
  c.sock = sock;
  let ticker;
  const closed = (how) => {
    clearInterval(ticker);
    if (c.closedAt !== undefined) return;
    c.closedAt = performance.now();
    c.how = c.byUs ? 'by us' : how;
    changed.notify();
  };
  sock.on('connect', () => {
    c.openedAt = performance.now();
    if (kind === 'slow') {
      sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      // The fault's shape: one more header byte every SLOW_BYTE_EVERY_MS.
      ticker = setInterval(() => {
        if (!sock.destroyed) sock.write('a');
      }, SLOW_BYTE_EVERY_MS);
    }
    changed.notify();
  });
  sock.on('data', () => {
    c.gotData = true;
  });
  sock.on('end', () => closed('closed'));
  sock.on('error', (e) => closed(c.openedAt === undefined ? `connect failed (${e.code})` : e.code ?? e.message));
  sock.on('close', () => closed('closed'));
  c.destroy = () => {
    if (c.closedAt === undefined) c.byUs = true;
    sock.destroy();
  };
  return c;
}
const closedByDaemon = (c) => c.closedAt !== undefined && c.how !== 'by us';

// ------------------------------------------------------------------ upstreams

// A small Streamable HTTP MCP server: initialize, tools/list (echo, slow),
// tools/call, ping; GET opens an SSE stream kept open until the client goes.
// tools/call `slow` is held until release() and answered with
// TERM_SLOW_ANSWER_BYTES of text.
class McpUpstream {
  constructor() {
    this.streams = new Set();
    this.held = [];
    this.changed = new Condition();
    this.server = http.createServer((req, res) => this.handle(req, res));
  }
  async listen() {
    this.port = await listenOnLoopback(this.server);
    return this;
  }
  url(p) {
    return `http://127.0.0.1:${this.port}${p}`;
  }
  release() {
    for (const r of this.held.splice(0)) r();
  }
  close() {
    this.release();
    for (const s of this.streams) s.destroy();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
  handle(req, res) {
    if (req.method === 'GET') {
      if (!/text\/event-stream/.test(req.headers.accept ?? '')) return res.writeHead(405).end();
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const hello = rpc(undefined, 'notifications/message', { level: 'info', data: 'stream open' });
      delete hello.id;
      res.write(`event: message\ndata: ${JSON.stringify(hello)}\n\n`);
      this.streams.add(res.socket);
      res.on('close', () => {
        this.streams.delete(res.socket);
        this.changed.notify();
      });
      this.changed.notify();
      return undefined;
    }
    if (req.method === 'DELETE') return res.writeHead(200).end();
    if (req.method !== 'POST') return res.writeHead(405).end();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      let msg;
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return res.writeHead(400).end();
      }
      const batch = Array.isArray(msg) ? msg : [msg];
      const answers = [];
      const headers = { 'Content-Type': 'application/json' };
      for (const m of batch) {
        if (m.id === undefined || m.method === undefined) continue; // notifications, responses
        answers.push(await this.answer(m, headers));
      }
      if (!answers.length) return res.writeHead(202).end();
      res.writeHead(200, headers);
      res.end(JSON.stringify(Array.isArray(msg) ? answers : answers[0]));
      return undefined;
    });
    return undefined;
  }
  async answer(m, headers) {
    const ok = (result) => ({ jsonrpc: '2.0', id: m.id, result });
    switch (m.method) {
      case 'initialize':
        headers['Mcp-Session-Id'] = 'fault-session-1';
        return ok({ protocolVersion: m.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'fault-upstream', version: '1.0.0' } });
      case 'ping':
        return ok({});
      case 'tools/list':
        return ok({
          tools: [
            { name: 'echo', description: 'Echoes its arguments', inputSchema: { type: 'object' } },
            { name: 'slow', description: 'Answers when the test says so', inputSchema: { type: 'object' } },
          ],
        });
      case 'tools/call': {
        const name = m.params?.name;
        if (name === 'slow') {
          await new Promise((resolve) => {
            this.held.push(resolve);
            this.changed.notify();
          });
          return ok({ content: [{ type: 'text', text: 'z'.repeat(TERM_SLOW_ANSWER_BYTES) }] });
        }
        return ok({ content: [{ type: 'text', text: JSON.stringify(m.params?.arguments ?? {}) }] });
      }
      default:
        return { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `Method not found: ${m.method}` } };
    }
  }
}

// A raw TCP "upstream" whose first path segment picks a fault:
//   a-reset-half     200 with Content-Length, half the JSON body, then a reset
//   b-garbage        bytes that are not HTTP, then close
//   c-bad-chunked    a chunked answer whose second chunk-size line is garbage
//   d-sse-truncated  GET: an SSE answer with one whole event and half of the next,
//                    reset when the test calls resetHeld(); POST answers normally
//   e-bad-json       POST tools/list: 200 application/json that is not JSON;
//                    other methods normally
class FaultUpstream {
  constructor() {
    this.sockets = new Set();
    this.heldForReset = [];
    this.changed = new Condition();
    this.server = net.createServer((sock) => this.onConnection(sock));
  }
  async listen() {
    this.port = await listenOnLoopback(this.server);
    return this;
  }
  url(mode) {
    return `http://127.0.0.1:${this.port}/${mode}`;
  }
  close() {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
  resetHeld() {
    for (const s of this.heldForReset.splice(0)) if (!s.destroyed) s.resetAndDestroy();
  }
  onConnection(sock) {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (!sock.destroyed) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buf.subarray(0, headEnd).toString('latin1');
        const length = Number(/^content-length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        if (buf.length < headEnd + 4 + length) return;
        const body = buf.subarray(headEnd + 4, headEnd + 4 + length).toString('utf8');
        buf = buf.subarray(headEnd + 4 + length);
        const [method, target] = head.split('\r\n')[0].split(' ');
        this.answer(sock, method, target ?? '/', body);
      }
    });
  }
  answer(sock, method, target, body) {
    const mode = target.split('/')[1];
    let msg;
    try {
      msg = JSON.parse(body);
    } catch {
      msg = undefined;
    }
    const id = JSON.stringify(msg?.id ?? null);
    const send = (status, type, text, extra = '') =>
      sock.write(`HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Status'}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extra}\r\n${text}`);
    const normal = () => {
      if (method === 'DELETE') return send(200, 'application/json', '');
      if (method !== 'POST') return send(405, 'application/json', '');
      if (!msg || msg.id === undefined) return send(202, 'application/json', '');
      if (msg.method === 'initialize') {
        return send(200, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'fault', version: '1' } } }));
      }
      if (msg.method === 'tools/list') return send(200, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { tools: [] } }));
      return send(200, 'application/json', JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} }));
    };
    switch (mode) {
      case 'a-reset-half': {
        const full = `{"jsonrpc":"2.0","id":${id},"result":{"marker":"${HALF_MARK}","pad":"${'x'.repeat(400)}"}}`;
        const half = full.slice(0, Math.floor(full.length / 2));
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${full.length}\r\n\r\n${half}`, () => setImmediate(() => sock.resetAndDestroy()));
        return;
      }
      case 'b-garbage':
        sock.end(Buffer.from(`\x00\xff\xfe${GARBAGE_MARK} \x07\x1b[31m this is not HTTP \x01\x02\r\n\r\n{"jsonrpc":"2.0"}`, 'latin1'));
        return;
      case 'c-bad-chunked':
        // 0x10 = 16 bytes: {"jsonrpc":"2.0"
        sock.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"jsonrpc":"2.0"\r\nZZ-${GARBAGE_MARK}\r\n,"id":1}\r\n0\r\n\r\n`);
        return;
      case 'd-sse-truncated': {
        if (method !== 'GET') return void normal();
        const whole = `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"first"}}\n\n`;
        const partial = `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"${PARTIAL_MARK}`;
        const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(whole)}${chunk(partial)}`);
        this.heldForReset.push(sock);
        this.changed.notify();
        return;
      }
      case 'e-bad-json':
        if (method === 'POST' && msg?.method === 'tools/list') {
          return void send(200, 'application/json', `{"jsonrpc":"2.0","id":${id},"result":{"tools":[{"name":"${GARBAGE_MARK}","inputSchema":{`);
        }
        return void normal();
      default:
        return void normal();
    }
  }
}

// ------------------------------------------------------------------ rows and scopes

class Skip extends Error {}
class Abort extends Error {}

class Row {
  constructor(n, spec) {
    this.n = n;
    this.title = spec.title;
    this.done = spec.done;
    this.expected = spec.expected;
    this.facts = [];
    this.failures = [];
    this.skipped = undefined;
  }
  fact(text) {
    this.facts.push(text);
    log(`  #${this.n}: ${text}`);
  }
  expect(condition, what, detail) {
    if (condition) {
      debug(`ok   #${this.n}: ${what}`);
      return true;
    }
    const text = detail === undefined ? what : `${what} (${short(detail, 300)})`;
    this.failures.push(text);
    log(`FAIL #${this.n}: ${text}`);
    return false;
  }
  require(condition, what, detail) {
    if (!this.expect(condition, what, detail)) throw new Abort(what);
  }
  skip(why) {
    this.skipped = why;
    throw new Skip(why);
  }
  get survived() {
    if (this.skipped !== undefined) return 'skipped';
    return this.failures.length ? 'no' : 'yes';
  }
  get observed() {
    const parts = [];
    if (this.skipped !== undefined) parts.push(this.skipped);
    parts.push(...this.facts);
    if (this.failures.length) parts.push(`FAILED: ${this.failures.join('; ')}`);
    return parts.join('; ');
  }
}

// What one scenario started; all of it is stopped when the scenario ends
// (daemons first, with SIGTERM, so that their sanitizer reports are read).
class Scope {
  constructor(name) {
    this.name = name;
    this.dir = mkdtempSync(path.join(ROOT, `${name}-`));
    this.gateways = [];
    this.closers = [];
  }
  gateway(name, config, opts) {
    const configPath = path.join(this.dir, `${name}.yaml`);
    writeFileSync(configPath, config);
    const gw = new Gateway(name, configPath, opts);
    this.gateways.push(gw);
    return gw;
  }
  onCleanup(fn) {
    this.closers.push(fn);
  }
  async mcpUpstream() {
    const u = await new McpUpstream().listen();
    this.onCleanup(() => u.close());
    return u;
  }
  async faultUpstream() {
    const u = await new FaultUpstream().listen();
    this.onCleanup(() => u.close());
    return u;
  }
  // A private mount namespace kept by a holder process; daemons and commands
  // enter it with nsenter. Skips the row when that is not permitted here.
  async namespace(row) {
    const holder = new Child(`${this.name}-ns-holder`, 'unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'echo ready && exec sleep infinity']);
    this.onCleanup(async () => {
      if (!holder.exited) holder.proc.kill('SIGKILL');
      await withDeadline(holder.exitPromise, 5_000, 'namespace holder to exit').catch(() => {});
    });
    try {
      await holder.waitForLine(/^ready$/, 10_000);
    } catch {
      row.skip(`skipped: needs CAP_SYS_ADMIN (unshare -m: ${short(holder.lines.stderr.join(' ') || `exit ${holder.exitCode}`, 120)})`);
    }
    const pid = holder.proc.pid;
    let inside;
    try {
      inside = readlinkSync(`/proc/${pid}/ns/mnt`) !== readlinkSync('/proc/self/ns/mnt');
    } catch {
      inside = false;
    }
    if (!inside) row.skip('skipped: needs CAP_SYS_ADMIN (no private mount namespace)');
    const ns = {
      pid,
      wrap: ['nsenter', '-t', String(pid), '-m', '--'],
      run: (args, ms = 10_000) => runToEnd(`nsenter ${args.join(' ')}`, 'nsenter', ['-t', String(pid), '-m', '--', ...args], ms),
      // The same path inside the namespace, reached from here.
      outside: (p) => `/proc/${pid}/root${p}`,
    };
    return ns;
  }
  async mountTmpfs(row, ns, dir, size) {
    mkdirSync(dir, { recursive: true });
    const r = await ns.run(['mount', '-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]);
    if (r.code !== 0) row.skip(`skipped: needs CAP_SYS_ADMIN (mount: ${short(r.stderr.join(' '), 120)})`);
  }
  async cleanup() {
    for (const gw of this.gateways) await gw.stop().catch(() => {});
    for (const fn of this.closers.reverse()) {
      try {
        await withDeadline(Promise.resolve().then(fn), 10_000, `${this.name} cleanup`);
      } catch (e) {
        log(`cleanup of ${this.name}: ${e.message}`);
      }
    }
  }
}

// Stops gw with SIGTERM and expects exit 0.
async function stopClean(row, gw) {
  const code = await gw.stop();
  row.expect(code === 0, `${gw.name} exits 0 on SIGTERM`, `exit ${code}; ${gw.lastMessages()}`);
}

function expectStorage503(row, r, code, phrase, what) {
  row.expect(r.status === 503, `${what}: 503`, `HTTP ${r.status} ${short(r.text)}`);
  row.expect(r.json?.type === 'server_error' && r.json?.code === code && String(r.json?.detail ?? '').includes(phrase), `${what}: {"type":"server_error","code":"${code}","detail":"...${phrase}..."}`, r.text);
  row.expect(r.headers['retry-after'] !== undefined, `${what}: Retry-After header`, JSON.stringify(r.headers));
}

// ------------------------------------------------------------------ 1. SIGKILL during write bursts

async function killScenario(row, scope) {
  const gw = scope.gateway('kill', configYaml({ dataDir: path.join(scope.dir, 'data') }));
  const acked = new Map(); // id -> url
  const other = {};
  let earlyErrors = 0;
  const verify = async (when) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let missing = 0;
    try {
      for (const [id, url] of acked) {
        const r = await get(gw, `${INST}/${id}/`, { agent });
        if (r.status !== 200 || r.json?.url !== url) {
          missing += 1;
          if (missing <= 3) log(`#1: ${when}: ${id} (${url}) -> HTTP ${r.status}`);
        }
      }
    } finally {
      agent.destroy();
    }
    return missing;
  };
  for (let round = 1; round <= KILL_ROUNDS; round++) {
    await gw.start();
    if (!gw.key) await gw.createKey();
    if (round > 1) {
      const missing = await verify(`after kill ${round - 1}`);
      row.expect(missing === 0, `every acknowledged create survives kill ${round - 1}`, `${missing} of ${acked.size} missing`);
    }
    let killed = false;
    let roundAcked = 0;
    const progress = new Condition();
    const client = async (c) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let n = 0; !killed; n++) {
          const url = `http://127.0.0.1:9/kill/r${round}/c${c}/n${n}`;
          let r;
          try {
            r = await install(gw, `kill r${round} c${c} n${n}`, url, { agent });
          } catch (e) {
            if (!killed) {
              earlyErrors += 1;
              log(`#1: client ${c} failed before the kill: ${e.message}`);
            }
            return;
          }
          if (r.status === 201 && r.json?.id) {
            acked.set(r.json.id, url);
            roundAcked += 1;
            progress.notify();
          } else {
            other[r.status] = (other[r.status] ?? 0) + 1;
          }
        }
      } finally {
        agent.destroy();
      }
    };
    const clients = Array.from({ length: KILL_CLIENTS }, (_, c) => client(c));
    try {
      await progress.wait(() => roundAcked >= KILL_AFTER_ACKS || earlyErrors > 0, 30_000, `${KILL_AFTER_ACKS} creates acknowledged`);
    } finally {
      killed = true;
      gw.signal('SIGKILL');
    }
    await gw.waitExit(10_000);
    await withDeadline(Promise.all(clients), 15_000, 'the creating clients to see the kill');
    debug(`#1: round ${round}: ${roundAcked} acknowledged`);
  }
  await gw.start();
  const missing = await verify('after the last kill');
  row.fact(`acknowledged ${acked.size} over ${KILL_ROUNDS} kills, missing ${missing}`);
  if (Object.keys(other).length) row.fact(`other answers ${JSON.stringify(other)}`);
  row.expect(missing === 0, 'every acknowledged create is there after the last restart', `${missing} of ${acked.size} missing`);
  row.expect(earlyErrors === 0, 'no client error before the kill', `${earlyErrors}`);
  row.expect(!other['500'], 'no 500 answer to a create', JSON.stringify(other));
  await stopClean(row, gw);
}

// ------------------------------------------------------------------ 2. disk full

// A gateway whose data folder is a tmpfs of `size` in a private mount
// namespace, started with a key, and an MCP upstream for it.
async function gatewayOnTmpfs(row, scope, name, size) {
  const ns = await scope.namespace(row);
  const dir = path.join(scope.dir, 'db');
  await scope.mountTmpfs(row, ns, dir, size);
  const mcp = await scope.mcpUpstream();
  const gw = scope.gateway(name, configYaml({ dataDir: dir }), { wrap: ns.wrap });
  await gw.start();
  await gw.createKey();
  return { ns, dir, mcp, gw };
}

async function diskFullScenario(row, scope) {
  const { ns, dir, mcp, gw } = await gatewayOnTmpfs(row, scope, 'full', FULL_TMPFS_SIZE);
  const instId = await installApproved(gw, 'before the fill', mcp.url('/full/before'));
  const call = (id) => proxyPost(gw, instId, toolsCall(id, 'echo', { n: id }));
  let r = await call(1);
  row.require(r.status === 200 && r.json?.result, 'a proxied tools/call works before the fill', `HTTP ${r.status} ${short(r.text)}`);

  // Fill the tmpfs to the last byte (from outside, through /proc/PID/root).
  const filler = ns.outside(path.join(dir, 'filler'));
  const fd = openSync(filler, 'w');
  let filled = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const buf = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          filled += writeSync(fd, buf);
        } catch (e) {
          if (e.code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  let accepted = 0;
  let refused;
  for (let i = 0; i < FULL_PROBE_CREATES && !refused; i++) {
    r = await install(gw, `full ${i}`, `http://127.0.0.1:9/full/${i}`);
    if (r.status === 201) accepted += 1;
    else refused = r;
  }
  row.fact(`filled ${(filled / 1048576).toFixed(2)} MiB; ${accepted} create(s) still fit, then HTTP ${refused?.status ?? 'none'}`);
  row.require(refused, `a create is refused within ${FULL_PROBE_CREATES} after the fill`);
  expectStorage503(row, refused, 'storage_full', 'storage full', 'create on a full disk');
  r = await install(gw, 'full again', 'http://127.0.0.1:9/full/again');
  expectStorage503(row, r, 'storage_full', 'storage full', 'a second create on a full disk');
  r = await request(gw.base, 'GET', '/readyz');
  row.fact(`readyz ${r.status} ${short(r.text, 80)}`);
  row.expect(r.status === 503 && r.json?.status === 'unavailable' && r.json?.reason === 'storage full', '/readyz 503 {"status":"unavailable","reason":"storage full"}', `HTTP ${r.status} ${r.text}`);
  // Once more each: a create after the readiness probe, and the probe again.
  r = await install(gw, 'full after readyz', 'http://127.0.0.1:9/full/after-readyz');
  const again = await request(gw.base, 'GET', '/readyz');
  row.fact(`then create ${r.status}, readyz ${again.status}`);
  expectStorage503(row, r, 'storage_full', 'storage full', 'a create after /readyz on a full disk');
  row.expect(again.status === 503, '/readyz stays 503 while the disk is full', `HTTP ${again.status} ${again.text}`);
  r = await call(2);
  row.expect(r.status === 200 && r.json?.result, 'a proxied tools/call works on a full disk', `HTTP ${r.status} ${short(r.text)}`);
  r = await get(gw, `${INST}/`);
  row.expect(r.status === 200 && r.json?.results?.some((i) => i.id === instId), 'GET list 200 on a full disk', `HTTP ${r.status} ${short(r.text)}`);
  r = await request(gw.base, 'GET', '/healthz');
  row.require(r.status === 200 && gw.running, 'the daemon stays up on a full disk', `HTTP ${r.status}`);

  unlinkSync(filler);
  const freedAt = performance.now();
  const ready = await pollUntil(async () => (await request(gw.base, 'GET', '/readyz')).status === 200, FULL_RECOVER_MS, 250);
  row.expect(ready, `/readyz 200 by itself within ${secs(FULL_RECOVER_MS)} of freeing space`);
  if (ready) row.fact(`readyz 200 ${secs(performance.now() - freedAt)} after freeing`);
  r = await install(gw, 'after the fill', 'http://127.0.0.1:9/full/after');
  row.expect(r.status === 201, 'a create gives 201 again after freeing space', `HTTP ${r.status} ${short(r.text)}`);
  row.fact(`after freeing: create ${r.status}`);
  await stopClean(row, gw);
}

// ------------------------------------------------------------------ 3. read-only database

async function readOnlyScenario(row, scope) {
  const { ns, dir, mcp, gw } = await gatewayOnTmpfs(row, scope, 'readonly', RO_TMPFS_SIZE);
  const created = await install(gw, 'before read-only', mcp.url('/ro/before'));
  row.require(created.status === 201, 'create before the remount', `HTTP ${created.status} ${short(created.text)}`);
  const instId = created.json.id;
  await stopClean(row, gw);
  const files = readdirSync(ns.outside(dir)).sort().join(', ');
  let m = await ns.run(['mount', '-o', 'remount,ro', dir]);
  row.require(m.code === 0, 'mount -o remount,ro', m.stderr.join(' '));
  row.fact(`remounted read-only with ${files}`);

  try {
    await gw.start();
  } catch (e) {
    row.require(false, 'the daemon starts on a read-only database', `${e.message.split('\n')[0]}; it said: ${gw.lastMessages(8)}`);
  }
  let r = await get(gw, `${INST}/`);
  row.expect(r.status === 200 && r.json?.results?.some((i) => i.id === instId), 'GET list 200 with the installation', `HTTP ${r.status} ${short(r.text)}`);
  r = await install(gw, 'while read-only', 'http://127.0.0.1:9/ro/during');
  row.fact(`list 200, create ${r.status} ${r.json?.code ?? ''}`.trim());
  expectStorage503(row, r, 'storage_read_only', 'storage read-only', 'create on a read-only database');
  r = await request(gw.base, 'GET', '/readyz');
  row.fact(`readyz ${r.status} ${short(r.text, 80)}`);
  row.expect(r.status === 503 && r.json?.status === 'unavailable' && r.json?.reason === 'storage read-only', '/readyz 503 {"status":"unavailable","reason":"storage read-only"}', `HTTP ${r.status} ${r.text}`);

  m = await ns.run(['mount', '-o', 'remount,rw', dir]);
  row.require(m.code === 0, 'mount -o remount,rw', m.stderr.join(' '));
  const rwAt = performance.now();
  const ready = await pollUntil(async () => (await request(gw.base, 'GET', '/readyz')).status === 200, RO_RECOVER_MS, 250);
  row.expect(ready, `/readyz 200 by itself within ${secs(RO_RECOVER_MS)} of remounting rw`);
  if (ready) row.fact(`readyz 200 ${secs(performance.now() - rwAt)} after remount rw`);
  r = await install(gw, 'after read-only', 'http://127.0.0.1:9/ro/after');
  row.expect(r.status === 201, 'a create gives 201 after remounting rw', `HTTP ${r.status} ${short(r.text)}`);
  row.fact(`then create ${r.status}`);
  await stopClean(row, gw);
}

// ------------------------------------------------------------------ 4. upstream resets and garbage

async function upstreamFaultScenario(row, scope) {
  const fault = await scope.faultUpstream();
  const mcp = await scope.mcpUpstream();
  const gw = scope.gateway('upstream', configYaml({ dataDir: path.join(scope.dir, 'data') }));
  await gw.start();
  await gw.createKey();
  const ids = {};
  for (const mode of ['a-reset-half', 'b-garbage', 'c-bad-chunked', 'd-sse-truncated', 'e-bad-json']) {
    const r = await install(gw, `fault ${mode}`, fault.url(mode));
    row.require(r.status === 201, `install_custom ${mode}`, `HTTP ${r.status} ${short(r.text)}`);
    ids[mode] = r.json.id;
  }
  const normalId = await installApproved(gw, 'normal', mcp.url('/normal'));
  const clean = (text) => !text.includes(GARBAGE_MARK) && !text.includes(HALF_MARK);
  const seen = [];
  for (const [mode, letter] of [
    ['a-reset-half', 'a'],
    ['b-garbage', 'b'],
    ['c-bad-chunked', 'c'],
  ]) {
    const r = await proxyPost(gw, ids[mode], rpc(7, 'ping'));
    seen.push(`${letter}: ${r.status}`);
    row.expect(r.status === 502, `(${letter}) ${mode}: 502`, `HTTP ${r.status} ${short(r.text)}`);
    row.expect(clean(r.text), `(${letter}) ${mode}: none of the upstream's bytes reach the agent`, short(r.text));
  }
  {
    const s = openStream(gw, ids['d-sse-truncated']);
    await s.changed.wait(() => s.events.length >= 1 || s.ended, 10_000, 'the first event of the truncated stream');
    fault.resetHeld();
    await s.changed.wait(() => s.ended, UPSTREAM_STREAM_END_MS, 'the truncated stream to end').catch(() => {});
    seen.push(`d: ${s.status}, ${s.events.length} event(s), ${s.ended ? s.how : 'still open'}`);
    row.expect(s.status === 200 && s.events.length >= 1, '(d) the whole event before the cut reaches the agent', `HTTP ${s.status}, ${s.events.length} events`);
    row.expect(s.ended, `(d) the stream ends within ${secs(UPSTREAM_STREAM_END_MS)} of the upstream's reset`);
    row.expect(!s.raw.includes(PARTIAL_MARK), '(d) the half event is not relayed', short(s.raw.slice(-200)));
    s.close();
  }
  {
    const r = await proxyPost(gw, ids['e-bad-json'], rpc(9, 'tools/list'));
    seen.push(`e: ${r.status} error ${r.json?.error?.code ?? 'none'}`);
    row.expect(r.status === 200 && r.json?.error && r.json?.id === 9, '(e) tools/list answered with a JSON-RPC error for id 9', `HTTP ${r.status} ${short(r.text)}`);
    row.expect(clean(r.text), '(e) none of the upstream\'s bytes reach the agent', short(r.text));
  }
  let r = await proxyPost(gw, normalId, toolsCall(11, 'echo', { after: 'faults' }));
  seen.push(`then normal call ${r.status}`);
  row.expect(r.status === 200 && r.json?.result, 'the next normal request through another installation succeeds', `HTTP ${r.status} ${short(r.text)}`);
  r = await request(gw.base, 'GET', '/healthz');
  row.expect(r.status === 200 && gw.running, 'the daemon stays up');
  row.fact(seen.join(', '));
  await stopClean(row, gw);
}

// ------------------------------------------------------------------ 5. slowloris and idle floods

async function slowScenario(row, scope) {
  const mcp = await scope.mcpUpstream();
  const t = `${SLOW_TIMEOUT_MS}ms`;
  const gw = scope.gateway('slow', configYaml({ dataDir: path.join(scope.dir, 'data'), timeouts: { request_read: t, idle: t } }));
  await gw.start();
  await gw.createKey();
  const instId = await installApproved(gw, 'slow normal', mcp.url('/slow/normal'));

  const normal = [];
  let stop = false;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const normalClient = (async () => {
    for (let i = 0; !stop; i++) {
      const started = performance.now();
      try {
        const r = i % 2 === 0 ? await request(gw.base, 'GET', '/healthz', { agent }) : await proxyPost(gw, instId, toolsCall(i, 'echo', { i }), { agent });
        const ok = r.status === 200 && (i % 2 === 0 || r.json?.result !== undefined);
        normal.push({ ok, status: r.status, ms: r.ms, ...(ok ? {} : { text: short(r.text, 120) }) });
      } catch (e) {
        normal.push({ ok: false, error: e.message, ms: performance.now() - started });
      }
      await pace(SLOW_PROBE_EVERY_MS);
    }
  })();

  const changed = new Condition();
  const conns = [];
  for (let i = 0; i < SLOWLORIS_CONNS; i++) conns.push(openRawConnection(gw.port, 'slow', changed));
  for (let i = 0; i < IDLE_CONNS; i++) conns.push(openRawConnection(gw.port, 'idle', changed));
  scope.onCleanup(() => conns.forEach((c) => c.destroy()));
  const waitMs = SLOW_TIMEOUT_MS + SLOW_CLOSE_MARGIN_MS + 5_000;
  await changed.wait(() => conns.every((c) => c.closedAt !== undefined), waitMs, 'every slow and idle connection to be closed').catch(() => {});
  stop = true;
  await withDeadline(normalClient, REQUEST_MS + 1_000, 'the normal client to finish');
  agent.destroy();

  const bound = SLOW_TIMEOUT_MS + SLOW_CLOSE_MARGIN_MS;
  for (const kind of ['slow', 'idle']) {
    const group = conns.filter((c) => c.kind === kind);
    const closed = group.filter(closedByDaemon);
    const times = closed.filter((c) => c.openedAt !== undefined).map((c) => c.closedAt - c.openedAt);
    const late = times.filter((ms) => ms > bound).length;
    const maxMs = times.length ? Math.max(...times) : NaN;
    row.fact(`${kind} ${closed.length}/${group.length} closed by the daemon, max ${secs(maxMs)} after connect`);
    row.expect(closed.length === group.length, `every ${kind} connection is closed by the daemon`, `${group.length - closed.length} still open after ${secs(waitMs)}`);
    row.expect(late === 0, `${kind} connections closed within ${secs(bound)} of connecting`, `${late} later, max ${secs(maxMs)}`);
  }
  const failed = normal.filter((n) => !n.ok);
  const ms = normal.map((n) => n.ms);
  const p50 = percentile(ms, 0.5);
  const p99 = percentile(ms, 0.99);
  row.fact(`normal client ${normal.length - failed.length}/${normal.length} ok, p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms`);
  row.expect(normal.length >= 5, 'the normal client ran during the flood', `${normal.length} requests`);
  row.expect(failed.length === 0, 'every normal request succeeds', JSON.stringify(failed.slice(0, 3)));
  row.expect(p99 <= SLOW_P99_MS, `normal p99 <= ${SLOW_P99_MS} ms`, `${p99.toFixed(0)} ms`);
  await stopClean(row, gw);
}

// ------------------------------------------------------------------ 6. flood at the connection cap

async function floodScenario(row, scope) {
  const gw = scope.gateway(
    'flood',
    configYaml({ dataDir: path.join(scope.dir, 'data'), limits: { max_connections: FLOOD_CAP }, timeouts: { request_read: '30s', idle: '30s' } }),
  );
  await gw.start();
  await gw.createKey();
  const changed = new Condition();
  const conns = [];
  const floodStart = performance.now();
  for (let i = 0; i < FLOOD_CONNS; i++) conns.push(openRawConnection(gw.port, 'flood', changed));
  scope.onCleanup(() => conns.forEach((c) => c.destroy()));
  const beyond = FLOOD_CONNS - FLOOD_CAP;
  await changed.wait(() => conns.filter(closedByDaemon).length >= beyond, FLOOD_WAIT_MS, `${beyond} connections to be closed`).catch(() => {});
  const closed = conns.filter(closedByDaemon);
  const atOnce = closed.filter((c) => c.openedAt === undefined || c.closedAt - c.openedAt <= FLOOD_CLOSE_MS);
  const lastClose = closed.length ? Math.max(...closed.map((c) => c.closedAt)) : floodStart;
  const floodSeconds = (lastClose - floodStart) / 1000;
  const stillOpen = conns.filter((c) => c.closedAt === undefined).length;
  row.fact(`${atOnce.length} of ${FLOOD_CONNS} closed within ${secs(FLOOD_CLOSE_MS)} (${closed.length} in all, ${stillOpen} left open) over ${floodSeconds.toFixed(2)} s`);
  row.expect(atOnce.length >= beyond, `the ${beyond} connections beyond the cap are closed at once`, `${atOnce.length} closed within ${FLOOD_CLOSE_MS} ms`);
  row.expect(stillOpen <= FLOOD_CAP, `at most ${FLOOD_CAP} stay open`, `${stillOpen}`);

  for (const c of conns) c.destroy();
  const goneAt = performance.now();
  const served = await pollUntil(async () => (await request(gw.base, 'GET', '/healthz', { timeoutMs: 2_000 })).status === 200, FLOOD_RECOVER_MS, 100);
  row.expect(served, `normal requests are served within ${secs(FLOOD_RECOVER_MS)} once the flood is gone`);
  const r = await get(gw, `${INST}/`);
  row.expect(r.status === 200, 'an authenticated GET list is served after the flood', `HTTP ${r.status}`);
  if (served) row.fact(`served again ${secs(performance.now() - goneAt)} after the flood`);
  await stopClean(row, gw);
  const warned = gw.lines(/connection limit/);
  const summarised = warned.reduce((sum, l) => sum + Number(/(\d+) more like this/.exec(l)?.[1] ?? 0), 0);
  const allowed = Math.ceil(floodSeconds) + 2;
  row.fact(`${warned.length} "connection limit" log line(s) (summarising ${summarised} more)`);
  row.expect(warned.length <= allowed, `at most ${allowed} "connection limit" lines (flood seconds + 2)`, `${warned.length} lines`);
}

// ------------------------------------------------------------------ 7. SIGHUP storms

async function hupScenario(row, scope) {
  const mcp = await scope.mcpUpstream();
  const good = configYaml({ dataDir: path.join(scope.dir, 'data') });
  const gw = scope.gateway('hup', good);
  await gw.start();
  await gw.createKey();
  const instId = await installApproved(gw, 'hup normal', mcp.url('/hup/normal'));

  const answers = { total: 0, byStatus: {}, rpcErrors: [], errors: [] };
  const traffic = new Condition();
  let stop = false;
  const client = async (kind, c) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; !stop; i++) {
        try {
          const r = kind === 'rest' ? await get(gw, `${INST}/?limit=5`, { agent }) : await proxyPost(gw, instId, toolsCall(i, 'echo', { c, i }), { agent });
          answers.total += 1;
          answers.byStatus[r.status] = (answers.byStatus[r.status] ?? 0) + 1;
          if (kind === 'proxy' && r.status === 200 && r.json?.result === undefined) answers.rpcErrors.push(short(r.text, 120));
        } catch (e) {
          answers.errors.push(`${kind}: ${e.message}`);
        }
        traffic.notify();
        await pace(HUP_CLIENT_EVERY_MS);
      }
    } finally {
      agent.destroy();
    }
  };
  const clients = [
    ...Array.from({ length: HUP_CLIENTS_REST }, (_, c) => client('rest', c)),
    ...Array.from({ length: HUP_CLIENTS_PROXY }, (_, c) => client('proxy', c)),
  ];
  const received = () => gw.lines(/SIGHUP received: reload #\d+/).length;
  const outcome = (word) => gw.lines(new RegExp(`config reload #\\d+ ${word}`)).map((l) => Number(/reload #(\d+)/.exec(l)[1]));
  const settled = () => received() === outcome('applied').length + outcome('rejected').length;
  // One SIGHUP, sent as soon as the daemon took up the previous one (the
  // signal handler logged it; that reload may still be running): signals
  // do not merge, so every one of them is a reload, all while traffic flows.
  let sent = 0;
  const hup = async () => {
    const before = received();
    gw.signal('SIGHUP');
    sent += 1;
    await gw.waitFor(() => received() > before, 5_000, `SIGHUP ${sent} to be taken up`);
  };
  try {
    await traffic.wait(() => answers.total >= 10, 10_000, 'traffic to flow');
    const stormA = Math.floor((HUP_COUNT - 1) / 2);
    const stormB = HUP_COUNT - 1 - stormA;
    for (let i = 0; i < stormA; i++) await hup();
    await gw.waitFor(settled, HUP_SETTLE_MS, 'the first storm\'s reloads to finish');
    writeAtomically(gw.configPath, `${good}server:\n  limits: { max_connections: [\n`);
    await hup();
    await gw.waitFor(() => settled() && outcome('rejected').length >= 1, HUP_SETTLE_MS, 'the broken config to be rejected');
    writeAtomically(gw.configPath, good);
    for (let i = 0; i < stormB; i++) await hup();
    await gw.waitFor(settled, HUP_SETTLE_MS, 'the second storm\'s reloads to finish');
  } finally {
    stop = true;
    await withDeadline(Promise.all(clients), REQUEST_MS + 2_000, 'the clients to finish');
  }
  const applied = outcome('applied').length;
  const rejected = outcome('rejected').length;
  row.fact(`${sent} SIGHUPs: ${received()} reloads logged, ${applied} applied, ${rejected} rejected`);
  row.fact(`${answers.total} answers ${JSON.stringify(answers.byStatus)}, ${answers.rpcErrors.length} JSON-RPC errors, ${answers.errors.length} connection errors`);
  const non200 = answers.total - (answers.byStatus['200'] ?? 0);
  row.expect(answers.errors.length === 0, 'no connection errors', answers.errors.slice(0, 3).join('; '));
  row.expect(non200 === 0, 'every request answered 200 (no 5xx)', JSON.stringify(answers.byStatus));
  row.expect(answers.rpcErrors.length === 0, 'every proxied call answered with a result', answers.rpcErrors.slice(0, 2).join('; '));
  row.expect(received() === HUP_COUNT && applied === HUP_COUNT - 1 && rejected === 1, `the log shows ${HUP_COUNT} reloads: ${HUP_COUNT - 1} applied, the broken one rejected`, `${received()} logged, ${applied} applied, ${rejected} rejected`);
  const r = await request(gw.base, 'GET', '/healthz');
  row.expect(r.status === 200 && gw.running, 'the daemon stays up');
  await stopClean(row, gw);
}

// ------------------------------------------------------------------ 8. SIGTERM with streams open

async function termScenario(row, scope) {
  const mcp = await scope.mcpUpstream();
  const gw = scope.gateway('term', configYaml({ dataDir: path.join(scope.dir, 'data'), timeouts: { shutdown_grace: `${TERM_GRACE_S}s` } }));
  await gw.start();
  await gw.createKey();
  const instId = await installApproved(gw, 'term', mcp.url('/term'), ['echo', 'slow']);
  const streams = Array.from({ length: TERM_STREAMS }, () => openStream(gw, instId));
  scope.onCleanup(() => streams.forEach((s) => s.close()));
  for (const s of streams) await s.changed.wait(() => s.events.length >= 1 || s.ended, 10_000, 'a proxied GET stream to open');
  row.require(streams.every((s) => s.status === 200 && !s.ended), `${TERM_STREAMS} proxied GET streams open`, streams.map((s) => `${s.status} ${s.how ?? ''}`).join(', '));
  const slow = proxyPost(gw, instId, toolsCall(42, 'slow'), { timeoutMs: 30_000 });
  slow.catch(() => {});
  await mcp.changed.wait(() => mcp.held.length >= 1, 10_000, 'the slow call to reach the upstream');

  const t0 = performance.now();
  gw.signal('SIGTERM');
  await gw.waitFor(() => gw.lines(/draining/).length >= 1, 10_000, 'the daemon to start draining').catch(() => {});
  mcp.release(); // the slow answer goes out while the daemon drains
  let slowAnswer;
  try {
    slowAnswer = await slow;
  } catch (e) {
    slowAnswer = { error: e.message };
  }
  const slowAt = performance.now() - t0;
  const text = slowAnswer.json?.result?.content?.[0]?.text ?? '';
  row.expect(slowAnswer.status === 200 && text.length === TERM_SLOW_ANSWER_BYTES, 'the slow POST\'s answer arrives whole', slowAnswer.error ?? `HTTP ${slowAnswer.status}, ${slowAnswer.text?.length} bytes`);
  const bound = TERM_GRACE_S * 1000 + TERM_MARGIN_MS;
  await Promise.all(streams.map((s) => s.changed.wait(() => s.ended, bound, 'a stream to close').catch(() => {})));
  const closeTimes = streams.map((s) => (s.ended ? s.endedAt - t0 : Infinity));
  row.expect(closeTimes.every((ms) => ms <= bound), `streams closed within shutdown_grace ${TERM_GRACE_S} s + ${secs(TERM_MARGIN_MS)}`, closeTimes.map((ms) => secs(ms)).join(', '));
  let code;
  try {
    code = await gw.waitExit(bound + TERM_EXIT_EXTRA_MS);
  } catch {
    code = 'still running';
  }
  const exitAt = performance.now() - t0;
  row.fact(`slow answer ${slowAnswer.status ?? slowAnswer.error} (${text.length} bytes) at +${secs(slowAt)}; streams closed at +${secs(Math.max(...closeTimes))}; exit ${code} at +${secs(exitAt)}`);
  row.expect(code === 0, 'the daemon exits 0', `exit ${code}`);
}

// ------------------------------------------------------------------ the scenarios

const SCENARIOS = [
  {
    title: 'SIGKILL during write bursts',
    done: `${KILL_CLIENTS} clients install_custom (unique urls) flat out; SIGKILL after ${KILL_AFTER_ACKS} 201s; restart on the same data; x${KILL_ROUNDS}`,
    expected: 'every create that got a 201 is there after the restart (GET by id 200)',
    deadlineMs: KILL_DEADLINE_MS,
    run: killScenario,
  },
  {
    title: 'disk full and recovery',
    done: `database on a ${FULL_TMPFS_SIZE} tmpfs (private mount ns), filled to ENOSPC from outside; then the filler deleted`,
    expected: 'creates 503 storage_full + Retry-After; /readyz 503 "storage full"; proxy and reads work; daemon up; after freeing /readyz 200 by itself, creates 201',
    deadlineMs: FULL_DEADLINE_MS,
    run: diskFullScenario,
  },
  {
    title: 'database read-only',
    done: 'database made, daemon stopped, tmpfs remounted ro, daemon started on it; then remounted rw',
    expected: 'starts; list 200; creates 503 storage_read_only; /readyz 503 "storage read-only"; after rw /readyz 200 by itself, create 201',
    deadlineMs: RO_DEADLINE_MS,
    run: readOnlyScenario,
  },
  {
    title: 'upstream resets and garbage',
    done: 'upstreams that (a) reset after half a JSON answer (b) send non-HTTP bytes (c) break chunked encoding (d) cut an SSE stream mid-event (e) answer tools/list with invalid JSON',
    expected: 'a, b, c: 502; d: the stream ends, no half event; e: JSON-RPC error; never the garbage; next normal request works',
    deadlineMs: UPSTREAM_DEADLINE_MS,
    run: upstreamFaultScenario,
  },
  {
    title: 'slowloris and idle floods',
    done: `request_read and idle ${SLOW_TIMEOUT_MS / 1000}s; ${SLOWLORIS_CONNS} connections sending a header byte every ${SLOW_BYTE_EVERY_MS} ms, ${IDLE_CONNS} idle ones; a normal client (healthz, proxied call) meanwhile`,
    expected: `all closed by the daemon within ${secs(SLOW_TIMEOUT_MS + SLOW_CLOSE_MARGIN_MS)} of connecting; normal requests all succeed, p99 <= ${SLOW_P99_MS} ms`,
    deadlineMs: SLOW_DEADLINE_MS,
    run: slowScenario,
  },
  {
    title: 'flood at the connection cap',
    done: `max_connections ${FLOOD_CAP}; ${FLOOD_CONNS} connections opened at once, then dropped`,
    expected: `the ${FLOOD_CONNS - FLOOD_CAP} beyond the cap closed at once; served again after; "connection limit" lines <= flood seconds + 2`,
    deadlineMs: FLOOD_DEADLINE_MS,
    run: floodScenario,
  },
  {
    title: 'SIGHUP storms during traffic',
    done: `${HUP_CLIENTS_REST} REST + ${HUP_CLIENTS_PROXY} proxy clients; ${HUP_COUNT} SIGHUPs in quick succession, one with a broken config file`,
    expected: 'every request answered 200 (no connection errors, no 5xx); daemon up; log shows reloads applied and the broken one rejected',
    deadlineMs: HUP_DEADLINE_MS,
    run: hupScenario,
  },
  {
    title: 'SIGTERM with streams open',
    done: `shutdown_grace ${TERM_GRACE_S}s; ${TERM_STREAMS} proxied GET SSE streams held open by the upstream and one slow proxied POST in flight; SIGTERM`,
    expected: `the slow answer arrives whole; streams closed within ${TERM_GRACE_S} s + ${secs(TERM_MARGIN_MS)}; exit 0`,
    deadlineMs: TERM_DEADLINE_MS,
    run: termScenario,
  },
];

// ------------------------------------------------------------------ main

function tableCell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}
function printTable(rows) {
  const out = ['', '| # | scenario | what was done | expected | observed | survived |', '|---|---|---|---|---|---|'];
  for (const r of rows) out.push(`| ${r.n} | ${[r.title, r.done, r.expected, r.observed, r.survived].map(tableCell).join(' | ')} |`);
  process.stdout.write(`${out.join('\n')}\n\n`);
}

async function killEverything() {
  for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
  await Promise.race([Promise.all(children.map((c) => c.exitPromise)), pace(5_000)]);
}

// Nothing may hang the run: past the run deadline plus cleanup, give up loudly.
const hardStop = setTimeout(async () => {
  log(`fault run exceeded ${secs(RUN_DEADLINE_MS + 60_000)}: killing everything`);
  await killEverything();
  process.exit(1);
}, RUN_DEADLINE_MS + 60_000);
hardStop.unref();

async function main() {
  log(`fault run: ${BINARY} (temp ${ROOT})`);
  const rows = [];
  for (const [i, spec] of SCENARIOS.entries()) {
    const row = new Row(i + 1, spec);
    rows.push(row);
    if (ONLY && !ONLY.has(row.n)) {
      row.skipped = 'not run (--only)';
      continue;
    }
    const left = RUN_DEADLINE_MS - elapsedMs();
    if (left < 10_000) {
      row.failures.push(`not run: the run deadline (${secs(RUN_DEADLINE_MS)}) was reached`);
      continue;
    }
    log(`#${row.n} ${spec.title}`);
    const scope = new Scope(`s${row.n}`);
    const started = performance.now();
    const running = spec.run(row, scope);
    running.catch(() => {});
    try {
      await withDeadline(running, Math.min(spec.deadlineMs, left), `scenario ${row.n}`);
    } catch (e) {
      if (!(e instanceof Skip) && !(e instanceof Abort)) row.failures.push(short(e.message.split('\n')[0], 300));
    }
    await scope.cleanup();
    for (const gw of scope.gateways) {
      const reports = gw.sanitizerLines();
      if (reports.length) row.failures.push(`sanitizer report on ${gw.name}'s stderr: ${short(reports[0], 200)}`);
    }
    if (row.survived === 'no') {
      for (const gw of scope.gateways) {
        for (const [i, run] of gw.runs.entries()) {
          // A sanitizer report whole (up to 200 lines), else the last lines.
          const at = run.stderr.findIndex((l) => SANITIZER_RE.test(l));
          const lines = at >= 0 ? run.stderr.slice(Math.max(0, at - 5), at + 200) : run.stderr.slice(-25);
          if (lines.length) process.stdout.write(`--- ${gw.name} run ${i + 1} stderr (${at >= 0 ? 'sanitizer report' : `last ${lines.length} lines`})\n${lines.join('\n')}\n`);
        }
      }
    }
    log(`#${row.n} ${spec.title}: survived ${row.survived} (${secs(performance.now() - started)})`);
  }
  printTable(rows);
  const failed = rows.filter((r) => r.survived === 'no');
  log(`fault run ${failed.length ? `FAILED (${failed.map((r) => `#${r.n}`).join(', ')})` : 'passed'} in ${secs(elapsedMs())}`);
  return failed.length ? 1 : 0;
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (e) {
  log(`fault run aborted: ${e.stack ?? e}`);
} finally {
  await killEverything();
  try {
    rmSync(ROOT, { recursive: true, force: true });
  } catch (e) {
    log(`could not remove ${ROOT}: ${e.message}`);
  }
}
process.exit(exitCode);
