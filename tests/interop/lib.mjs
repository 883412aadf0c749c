// Helpers shared by the interop runners (run-interop.mjs, run-oauth.mjs):
// timestamped logging (log, and debug, which prints only after
// setVerbose(true)), checks that throw TestFailure, sha256, deadlines
// (withDeadline, Condition), child processes (Child, which keeps the process's
// recent output lines and joins the `children` registry the runners stop on
// the way out; printChildTails for a failure report; runToEnd), starting
// `mcpgate serve` with an API key (startMcpgate) and reading an SSE event's
// data (sseEventData).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

// ------------------------------------------------------------------ logging, checks

const t0 = Date.now();
let verbose = false;
// --verbose: debug() prints, and every child's output is echoed as it comes.
export function setVerbose(on) {
  verbose = on;
}

const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(2).padStart(6)}s]`;
export const log = (msg) => process.stdout.write(`${stamp()} ${msg}\n`);
export const debug = (msg) => {
  if (verbose) log(msg);
};

export class TestFailure extends Error {}
export function check(condition, message, details) {
  if (!condition) {
    const extra = details === undefined ? '' : `\n${typeof details === 'string' ? details : JSON.stringify(details, null, 2)}`;
    throw new TestFailure(`${message}${extra}`);
  }
  log(`ok   ${message}`);
}

export const sha256 = (s) => createHash('sha256').update(s).digest('hex');

// ------------------------------------------------------------------ deadlines

export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TestFailure(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Resolves when predicate() holds, re-checked whenever notify() is called.
export class Condition {
  constructor() {
    this.waiters = new Set();
  }
  notify() {
    for (const w of [...this.waiters]) w();
  }
  wait(predicate, ms, what) {
    let test;
    const satisfied = new Promise((resolve) => {
      test = () => {
        const value = predicate();
        if (value) {
          this.waiters.delete(test);
          resolve(value);
        }
      };
      this.waiters.add(test);
      test();
    });
    return withDeadline(satisfied, ms, what).finally(() => this.waiters.delete(test));
  }
}

// ------------------------------------------------------------------ child processes

const KEPT_LINES = 5000; // per stream; older lines are dropped

// Every Child started, in order (the runners stop them all and print the tails
// of the interesting ones on the way out).
export const children = [];

export class Child {
  // options: spawn's, plus onLine(stream, line), called for each output line
  // as it arrives (e.g. to note when a program reached a given step).
  constructor(name, command, args, { onLine, ...options } = {}) {
    this.name = name;
    this.onLine = onLine;
    this.lines = { stdout: [], stderr: [] };
    this.counts = { stdout: 0, stderr: 0 }; // every line ever seen, kept or not
    this.exited = false;
    this.exitCode = undefined;
    this.changed = new Condition();
    debug(`start ${name}: ${command} ${args.join(' ')}`);
    this.proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    children.push(this);
    for (const stream of ['stdout', 'stderr']) {
      let partial = '';
      this.proc[stream].setEncoding('utf8');
      this.proc[stream].on('data', (chunk) => {
        partial += chunk;
        const parts = partial.split('\n');
        partial = parts.pop();
        for (const line of parts) this.addLine(stream, line);
      });
      this.proc[stream].on('end', () => {
        if (partial) this.addLine(stream, partial);
        partial = '';
      });
    }
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code ?? signal;
        debug(`${name} exited (${this.exitCode})`);
        this.changed.notify();
        resolve(this.exitCode);
      });
      this.proc.on('error', (err) => {
        this.exited = true;
        this.exitCode = `spawn error: ${err.message}`;
        this.changed.notify();
        resolve(this.exitCode);
      });
    });
  }
  addLine(stream, line) {
    const kept = this.lines[stream];
    kept.push(line);
    this.counts[stream]++;
    if (kept.length > KEPT_LINES) kept.splice(0, kept.length - KEPT_LINES);
    if (verbose) process.stdout.write(`${stamp()} ${this.name}${stream === 'stderr' ? '!' : ':'} ${line}\n`);
    this.onLine?.(stream, line);
    this.changed.notify();
  }
  // Waits for a line matching re on `stream`; fails early (with the tail of
  // the output) if the process exits first.
  async waitForLine(re, ms, stream = 'stdout') {
    const found = await this.changed.wait(
      () => {
        const hit = this.lines[stream].map((l) => l.match(re)).find(Boolean);
        if (hit) return { hit };
        if (this.exited) return { exited: true };
        return undefined;
      },
      ms,
      `${this.name} to print ${re}`,
    );
    if (found.exited) throw new TestFailure(`${this.name} exited (${this.exitCode}) before printing ${re}\n${this.tail()}`);
    return found.hit;
  }
  async stop(graceMs = 5000) {
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    const done = await Promise.race([this.exitPromise, new Promise((r) => setTimeout(() => r('timeout'), graceMs))]);
    if (done === 'timeout' && !this.exited) {
      log(`${this.name} did not stop within ${graceMs} ms of SIGTERM; sending SIGKILL`);
      this.proc.kill('SIGKILL');
      await Promise.race([this.exitPromise, new Promise((r) => setTimeout(r, 2000))]);
    }
  }
  // The kept lines of `stream` from the from-th line ever seen (counts[stream]
  // at some earlier moment) up to the to-th (default: now).
  linesBetween(stream, from, to = this.counts[stream]) {
    const kept = this.lines[stream];
    const first = kept.length - (this.counts[stream] - from);
    const last = kept.length - (this.counts[stream] - to);
    return kept.slice(Math.max(0, first), Math.max(0, last));
  }
  tail(n = 40) {
    const out = [];
    for (const stream of ['stdout', 'stderr']) {
      const lines = this.lines[stream].slice(-n);
      if (lines.length) out.push(`--- ${this.name} ${stream} (last ${lines.length} lines)`, ...lines);
    }
    return out.join('\n');
  }
}

// After a failure: prints the output tails of the gateway (the child named
// `mcpgate`) and of every child still running or not ended with exit 0;
// tailLines(child) says how many lines of each stream.
export function printChildTails(tailLines = () => 40) {
  for (const c of children) {
    if (c.name === 'mcpgate' || !c.exited || c.exitCode !== 0) {
      const t = c.tail(tailLines(c));
      if (t) process.stdout.write(`${t}\n`);
    }
  }
}

// Runs a command to completion (bounded), returns { code, stdout, stderr, child }.
export async function runToEnd(name, command, args, ms, options = {}) {
  const child = new Child(name, command, args, options);
  const code = await withDeadline(child.exitPromise, ms, `${name} to finish`);
  return { code, stdout: child.lines.stdout, stderr: child.lines.stderr, child };
}

// ------------------------------------------------------------------ the gateway, its answers

// Writes `config` (YAML text) to TMP/mcpgate.yaml, starts `mcpgate serve` with
// it in TMP (the child named `mcpgate`), waits until it listens, then creates
// an API key with every scope for `user`. Returns { daemon, base, key }.
export async function startMcpgate(binary, tmp, config, user) {
  const configPath = path.join(tmp, 'mcpgate.yaml');
  writeFileSync(configPath, config);
  const daemon = new Child('mcpgate', binary, ['serve', '--config', configPath], { cwd: tmp });
  const banner = await daemon.waitForLine(/mcpgate listening on (http:\/\/\S+)/, 20_000);
  const base = banner[1].replace(/\/$/, '');
  log(`mcpgate listening on ${base}`);
  const keys = await runToEnd('mcpgate keys create', binary, ['keys', 'create', '--config', configPath, '--user', user, '--scopes', '*'], 20_000, {
    cwd: tmp,
  });
  const keyLine = keys.stdout.find((l) => l.trim().startsWith('mcpg_'));
  if (keys.code !== 0 || !keyLine) throw new TestFailure(`mcpgate keys create failed (exit ${keys.code})\n${keys.child.tail()}`);
  return { daemon, base, key: keyLine.trim() };
}

// The data of one SSE event (a block of lines up to a blank line): its
// `data:` lines without the field name, joined by newlines ('' when none).
export function sseEventData(block) {
  return block
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .map((l) => l.slice(5).trimStart())
    .join('\n');
}

// ------------------------------------------------------------------ a browser's cookies

// What the runners keep of one HTTP answer (fetch with redirect: 'manual')
// whose body `text` was read already: status, headers, text, json (when it
// parses), location (absolute, relative to `url`) and the Set-Cookie lines.
export function answerOf(res, text, url) {
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const loc = res.headers.get('location');
  return {
    status: res.status,
    headers: res.headers,
    text,
    json,
    location: loc ? new URL(loc, url).href : undefined,
    setCookies: res.headers.getSetCookie?.() ?? [],
  };
}

// Cookies as a browser keeps them for the test's own browsers: per origin,
// name and path; Max-Age <= 0 or a past Expires removes one. A class to
// extend (the runners' Browser classes add the requests).
export class CookieJar {
  constructor() {
    this.cookies = []; // {origin, name, value, path}
  }
  // The Cookie header a browser sends to `url` ("" when none applies).
  cookieHeader(url) {
    const u = new URL(url);
    return this.cookies
      .filter((c) => c.origin === u.origin && (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
  // Keeps the Set-Cookie values `setCookies` of an answer from `url`.
  store(url, setCookies) {
    const u = new URL(url);
    for (const raw of setCookies) {
      const [pair, ...attrs] = raw.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cpath = u.pathname.slice(0, u.pathname.lastIndexOf('/')) || '/';
      let remove = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        if (/^path$/i.test(k)) cpath = v || '/';
        if (/^max-age$/i.test(k) && Number(v) <= 0) remove = true;
        if (/^expires$/i.test(k) && Date.parse(v) < Date.now()) remove = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.origin === u.origin && c.name === name && c.path === cpath));
      if (!remove) this.cookies.push({ origin: u.origin, name, value, path: cpath });
    }
  }
}
