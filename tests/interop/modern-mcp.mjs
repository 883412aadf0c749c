// The MCP 2026-07-28 ("stateless") side of dual-upstream.mjs, written by hand
// on node:http: the pinned TypeScript SDK (1.32.2) knows no revision after
// 2025-11-25, and the point of this server is to show the gateway exactly
// what the revision puts on the wire (headers, _meta, resultType, streams),
// so nothing here hides behind a library.
//
// createModernHandler({ tools, ... }) returns handle(req, res, message): one
// POST whose body was already read and parsed (`message`, or a ParseError),
// answered by the revision's rules:
//   - every request carries MCP-Protocol-Version, Mcp-Method, Mcp-Name (for
//     tools/call, prompts/get, resources/read, tasks/*) and, for a tool whose
//     inputSchema names `x-mcp-header`, Mcp-Param-<name>; _meta carries the
//     protocol version and the client capabilities. A missing or mismatched
//     header is HTTP 400 -32020, missing _meta keys 400 -32602, an unknown
//     version 400 -32022 with data.supported/requested, an undeclared client
//     capability 400 -32021, an unknown method (initialize, ping, ... are
//     gone) 404 -32601. Every error carries the request's id.
//   - results carry resultType; list results and resources/read carry ttlMs
//     and cacheScope.
//   - a request whose handling sends notifications (progress with a
//     progressToken, log messages when _meta asks for a logLevel) is answered
//     as SSE, anything else as one JSON body.
//   - server-to-client requests are Multi Round-Trip Requests: a tool asks
//     through extra.sendRequest() / ask(); a missing answer makes the whole
//     call return `resultType: "input_required"` with `inputRequests` and an
//     HMAC-signed `requestState` (the answers so far), and the client's retry
//     with `inputResponses` replays the tool with those answers.
//   - subscriptions/listen answers a stream that stays open (SSE, or chunked
//     application/json with one message per line with listenFormat 'json'):
//     first notifications/subscriptions/acknowledged, then the list-changed
//     and resource-updated notifications its filter asked for, each with
//     _meta["io.modelcontextprotocol/subscriptionId"] (the listen request's
//     id), and keep-alives (SSE `:` comments, blank JSON lines) meanwhile.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const MODERN_VERSION = '2026-07-28';
export const SUPPORTED_VERSIONS = [MODERN_VERSION];

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
};

export const CODES = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  headerMismatch: -32020,
  missingCapability: -32021,
  unsupportedVersion: -32022,
};

// A JSON-RPC error to answer with, and the HTTP status that goes with it.
export class RpcError extends Error {
  constructor(code, message, { data, status = 200 } = {}) {
    super(message);
    this.code = code;
    this.data = data;
    this.status = status;
  }
}

// Thrown through a tool (or prompt) when it asked for input the request did
// not bring: the call is answered input_required.
class InputRequired extends Error {
  constructor() {
    super('input required');
  }
}

// ---------------------------------------------------------------- request headers

// Values that are not plain ASCII travel as =?base64?...?=. Anything not in
// that exact wrapper is literal. Returns { value } or { invalid: reason }.
function decodeHeaderValue(raw) {
  const value = raw.trim();
  const wrapped = /^=\?base64\?(.*)\?=$/.exec(value);
  if (!wrapped) return { value };
  const b64 = wrapped[1];
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return { invalid: `invalid Base64 in ${value}` };
  return { value: Buffer.from(b64, 'base64').toString('utf8') };
}

// The request header `name` (case-insensitive, trimmed, decoded), undefined
// when absent. Throws -32020 on a value that cannot be decoded.
function header(req, name) {
  const raw = req.headers[name.toLowerCase()];
  if (raw === undefined) return undefined;
  const decoded = decodeHeaderValue(Array.isArray(raw) ? raw.join(',') : raw);
  if (decoded.invalid) throw headerMismatch(`${name}: ${decoded.invalid}`);
  return decoded.value;
}

function headerMismatch(message) {
  return new RpcError(CODES.headerMismatch, `Header mismatch: ${message}`, { status: 400 });
}

// What Mcp-Name must equal for each method that has one.
function nameFromBody(method, params) {
  if (method === 'tools/call' || method === 'prompts/get') return params?.name;
  if (method === 'resources/read') return params?.uri;
  if (method === 'tasks/get' || method === 'tasks/update' || method === 'tasks/cancel') return params?.taskId;
  return undefined;
}
const NAMED_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read', 'tasks/get', 'tasks/update', 'tasks/cancel']);

// The revision's checks, in the order the conformance suite's own reference
// server applies them: protocol version header, required _meta keys, header
// = _meta version, a version we speak, then Mcp-Method, Mcp-Name and the
// Mcp-Param-* headers of the tool being called. Throws RpcError.
function validateRequest(req, message, toolsByName) {
  const { method } = message;
  const params = message.params ?? {};
  const meta = params._meta;
  const version = header(req, 'MCP-Protocol-Version');
  if (version === undefined) throw headerMismatch('missing MCP-Protocol-Version header');
  const missing = [META.protocolVersion, META.clientCapabilities].filter((k) => meta?.[k] === undefined);
  if (missing.length > 0) {
    throw new RpcError(CODES.invalidParams, `Invalid params: missing _meta keys: ${missing.join(', ')}`, { status: 400 });
  }
  if (meta[META.protocolVersion] !== version) {
    throw headerMismatch('MCP-Protocol-Version header does not match _meta protocolVersion');
  }
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new RpcError(CODES.unsupportedVersion, 'Unsupported protocol version', {
      status: 400,
      data: { supported: SUPPORTED_VERSIONS, requested: String(version) },
    });
  }
  const mcpMethod = header(req, 'Mcp-Method');
  if (mcpMethod !== method) throw headerMismatch(`Mcp-Method ${JSON.stringify(mcpMethod)} does not match method ${JSON.stringify(method)}`);
  if (NAMED_METHODS.has(method)) {
    const expected = nameFromBody(method, params);
    const mcpName = header(req, 'Mcp-Name');
    if (expected !== undefined && mcpName !== String(expected)) {
      throw headerMismatch(`Mcp-Name ${JSON.stringify(mcpName)} does not match ${JSON.stringify(expected)}`);
    }
  }
  if (method === 'tools/call') validateParamHeaders(req, toolsByName.get(params.name), params.arguments ?? {});
}

// A tool parameter whose schema says `"x-mcp-header": "Region"` travels in
// the Mcp-Param-Region header too; both must agree, and a value in the body
// without its header is refused.
function validateParamHeaders(req, tool, args) {
  for (const [param, schema] of Object.entries(tool?.inputSchema?.properties ?? {})) {
    const suffix = schema?.['x-mcp-header'];
    if (suffix === undefined) continue;
    const headerName = `Mcp-Param-${suffix}`;
    const sent = header(req, headerName);
    const value = args[param];
    if (value === undefined && sent === undefined) continue;
    if (value === undefined || sent !== String(value)) {
      throw headerMismatch(`${headerName} ${JSON.stringify(sent)} does not match argument ${param} ${JSON.stringify(value)}`);
    }
  }
}

// ---------------------------------------------------------------- requestState

// requestState is opaque to the client: the answers gathered so far and the
// tool they belong to, signed with a key that lives as long as the process,
// so a tampered state is refused rather than trusted.
const stateKey = randomBytes(32);
const sign = (payload) => createHmac('sha256', stateKey).update(payload).digest('base64url');

function sealState(state) {
  const payload = Buffer.from(JSON.stringify(state)).toString('base64url');
  return `${payload}.${sign(payload)}`;
}

function openState(token, owner) {
  const invalid = () => new RpcError(CODES.invalidParams, 'Invalid params: requestState failed integrity verification');
  if (typeof token !== 'string') throw invalid();
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) throw invalid();
  const expected = Buffer.from(sign(payload));
  const got = Buffer.from(signature);
  if (expected.length !== got.length || !timingSafeEqual(expected, got)) throw invalid();
  const state = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  if (state.owner !== owner) throw invalid();
  return state;
}

// ---------------------------------------------------------------- Multi Round-Trip Requests

// Which client capability each kind of input request needs.
const CAPABILITY_FOR = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation', 'roots/list': 'roots' };

// An input response must at least be an object of the result type asked for.
function checkInputResponse(key, method, response) {
  const bad = (what) => new RpcError(CODES.invalidParams, `Invalid params: inputResponses.${key} ${what}`);
  if (typeof response !== 'object' || response === null || Array.isArray(response)) throw bad('must be an object');
  if (method === 'elicitation/create' && typeof response.action !== 'string') throw bad('must be an ElicitResult');
  if (method === 'sampling/createMessage' && (typeof response.role !== 'string' || response.content === undefined)) {
    throw bad('must be a CreateMessageResult');
  }
  if (method === 'roots/list' && !Array.isArray(response.roots)) throw bad('must be a ListRootsResult');
}

// The round-trip state of one tools/call or prompts/get: answers from the
// verified requestState plus this request's inputResponses. A tool asks with
// ask(key, request); an answer it has is returned, one it lacks is recorded
// (all of a round's asks are collected, so parallel asks become one
// input_required with several inputRequests) and the tool is abandoned.
class RoundTrip {
  constructor(owner, params, capabilities) {
    this.owner = owner;
    this.capabilities = capabilities;
    this.needed = {};
    this.answers = {};
    this.fresh = {};
    this.sequence = 0;
    if (params.requestState !== undefined) this.answers = openState(params.requestState, owner).answers ?? {};
    if ('inputResponses' in params) {
      const responses = params.inputResponses;
      if (typeof responses !== 'object' || responses === null || Array.isArray(responses)) {
        throw new RpcError(CODES.invalidParams, 'Invalid params: inputResponses must be an object');
      }
      this.fresh = responses;
    }
  }
  async ask(key, request) {
    const capability = CAPABILITY_FOR[request.method];
    if (capability && this.capabilities?.[capability] === undefined) {
      // A server must not rely on a capability the client did not declare.
      throw new RpcError(CODES.missingCapability, `Missing required client capability: ${capability}`, {
        status: 400,
        data: { requiredCapabilities: { [capability]: {} } },
      });
    }
    if (key in this.answers) return this.answers[key];
    if (key in this.fresh) {
      checkInputResponse(key, request.method, this.fresh[key]);
      this.answers[key] = this.fresh[key];
      return this.answers[key];
    }
    this.needed[key] = request;
    throw new InputRequired();
  }
  // The legacy tools' extra.sendRequest(request, schema): keyed by order.
  sendRequest(request) {
    return this.ask(`${request.method.replace(/\W+/g, '_')}_${this.sequence++}`, request);
  }
  inputRequiredResult() {
    return {
      resultType: 'input_required',
      inputRequests: this.needed,
      requestState: sealState({ owner: this.owner, answers: this.answers }),
    };
  }
}

// ---------------------------------------------------------------- responses

// Answers one request: JSON by default; SSE once something has to be sent
// before the response (a notification), so it arrives as it happens.
class Reply {
  constructor(res, id) {
    this.res = res;
    this.id = id;
    this.streaming = false;
  }
  openStream() {
    if (this.streaming) return;
    this.streaming = true;
    this.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    this.res.flushHeaders();
  }
  notify(method, params) {
    this.openStream();
    this.res.write(sseEvent({ jsonrpc: '2.0', method, params }));
  }
  result(result) {
    this.send(200, { jsonrpc: '2.0', id: this.id, result });
  }
  error(err) {
    const error = { code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }) };
    this.send(err.status, { jsonrpc: '2.0', id: this.id ?? null, error });
  }
  send(status, message) {
    if (this.res.writableEnded) return;
    if (this.streaming) {
      this.res.end(sseEvent(message));
      return;
    }
    const body = JSON.stringify(message);
    this.res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    this.res.end(body);
  }
}

const sseEvent = (message) => `event: message\ndata: ${JSON.stringify(message)}\n\n`;

// List results and resources/read are cacheable; the same for every client
// here, so public, for five minutes (long enough that a gateway which filters
// a list has to shorten it and make it private).
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);
const CACHE_HINTS = { ttlMs: 300_000, cacheScope: 'public' };

function finishResult(method, result) {
  if (CACHEABLE.has(method)) return { resultType: 'complete', ...CACHE_HINTS, ...result };
  return { resultType: 'complete', ...result };
}

// ---------------------------------------------------------------- log levels

const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

// Log notifications go out only when the request asked for them with
// _meta logLevel, and only at that level or above.
function logAllowed(meta, level) {
  const wanted = meta?.[META.logLevel];
  if (wanted === undefined) return false;
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(wanted);
}

// ---------------------------------------------------------------- subscriptions/listen

// The open listen streams; publish() sends a notification to each whose
// filter asked for it.
export class ListenHub {
  constructor({ format = 'sse', keepAliveMs = 10_000 } = {}) {
    this.format = format;
    this.keepAliveMs = keepAliveMs;
    this.streams = new Set();
  }
  open(res, id, filter) {
    const granted = grantedFilter(filter);
    const stream = { id, filter: granted, res };
    const contentType = this.format === 'json' ? 'application/json' : 'text/event-stream';
    res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache' });
    this.write(stream, {
      jsonrpc: '2.0',
      method: 'notifications/subscriptions/acknowledged',
      params: { notifications: granted, _meta: { [META.subscriptionId]: id } },
    });
    const keepAlive = setInterval(() => res.write(this.format === 'json' ? '\n' : ': keep-alive\n\n'), this.keepAliveMs);
    this.streams.add(stream);
    res.on('close', () => {
      clearInterval(keepAlive);
      this.streams.delete(stream);
    });
  }
  write(stream, message) {
    const text = JSON.stringify(message);
    stream.res.write(this.format === 'json' ? `${text}\n` : `event: message\ndata: ${text}\n\n`);
  }
  // kind: toolsListChanged | promptsListChanged | resourcesListChanged | resourceUpdated (with uri)
  publish(kind, uri) {
    const method = {
      toolsListChanged: 'notifications/tools/list_changed',
      promptsListChanged: 'notifications/prompts/list_changed',
      resourcesListChanged: 'notifications/resources/list_changed',
      resourceUpdated: 'notifications/resources/updated',
    }[kind];
    let sent = 0;
    for (const stream of this.streams) {
      const wanted = kind === 'resourceUpdated' ? stream.filter.resourceSubscriptions?.includes(uri) : stream.filter[kind] === true;
      if (!wanted) continue;
      const params = { ...(uri === undefined ? {} : { uri }), _meta: { [META.subscriptionId]: stream.id } };
      this.write(stream, { jsonrpc: '2.0', method, params });
      sent++;
    }
    return sent;
  }
  closeAll() {
    for (const stream of this.streams) stream.res.end();
  }
}

// What this server can deliver of what the client asked for.
function grantedFilter(filter = {}) {
  const granted = {};
  for (const k of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged']) if (filter[k] === true) granted[k] = true;
  if (Array.isArray(filter.resourceSubscriptions)) granted.resourceSubscriptions = filter.resourceSubscriptions.filter((u) => typeof u === 'string');
  return granted;
}

// ---------------------------------------------------------------- the handler

// tools: [{ name, description, inputSchema, run(args, extra) }], the same
// objects the 2025 side serves. extra here: { _meta, clientCapabilities,
// sendNotification, sendRequest, ask, hub }. prompts: [{ name, title,
// description, arguments, get(args, extra) }]. resources: { list, templates,
// read(uri) }. complete(params) answers completion/complete.
export function createModernHandler({ serverInfo, capabilities, tools, prompts, resources, complete, hub, trace = () => {} }) {
  const toolsByName = new Map(tools.map((t) => [t.name, t]));
  const promptsByName = new Map(prompts.map((p) => [p.name, p]));

  // Runs a tool or prompt body with the round-trip extra; an unanswered ask
  // becomes the input_required result.
  async function withRoundTrips(owner, params, reply, body) {
    const meta = params._meta ?? {};
    const roundTrip = new RoundTrip(owner, params, meta[META.clientCapabilities]);
    const extra = {
      _meta: meta,
      clientCapabilities: meta[META.clientCapabilities],
      hub,
      ask: (key, request) => roundTrip.ask(key, request),
      sendRequest: (request) => roundTrip.sendRequest(request),
      sendNotification: async ({ method, params: notificationParams }) => {
        if (method === 'notifications/message' && !logAllowed(meta, notificationParams?.level)) return;
        reply.notify(method, notificationParams);
      },
    };
    try {
      return await body(extra);
    } catch (err) {
      if (err instanceof InputRequired) return roundTrip.inputRequiredResult();
      throw err;
    }
  }

  const methods = {
    'server/discover': async () => ({
      supportedVersions: SUPPORTED_VERSIONS,
      capabilities,
      _meta: { [META.serverInfo]: serverInfo },
      ttlMs: 0,
      cacheScope: 'public',
    }),
    'tools/list': async () => ({
      tools: tools.map(({ name, description, inputSchema }) => ({ name, description, inputSchema })),
    }),
    'tools/call': async (params, reply) => {
      const tool = toolsByName.get(params.name);
      if (!tool) throw new RpcError(CODES.invalidParams, `Unknown tool: ${params.name}`);
      return withRoundTrips(`tool:${tool.name}`, params, reply, (extra) => tool.run(params.arguments ?? {}, extra));
    },
    'prompts/list': async () => ({
      prompts: prompts.map(({ name, title, description, arguments: args }) => ({ name, title, description, arguments: args })),
    }),
    'prompts/get': async (params, reply) => {
      const prompt = promptsByName.get(params.name);
      if (!prompt) throw new RpcError(CODES.invalidParams, `Unknown prompt: ${params.name}`);
      for (const arg of prompt.arguments ?? []) {
        if (arg.required && params.arguments?.[arg.name] === undefined) {
          throw new RpcError(CODES.invalidParams, `Missing required argument: ${arg.name}`);
        }
      }
      return withRoundTrips(`prompt:${prompt.name}`, params, reply, (extra) => prompt.get(params.arguments ?? {}, extra));
    },
    'resources/list': async () => ({ resources: resources.list }),
    'resources/templates/list': async () => ({ resourceTemplates: resources.templates }),
    'resources/read': async (params) => {
      const contents = resources.read(String(params.uri));
      if (!contents) throw new RpcError(CODES.invalidParams, 'Resource not found', { data: { uri: params.uri } });
      return { contents };
    },
    'completion/complete': async (params) => ({ completion: complete(params) }),
  };

  return function handle(req, res, message) {
    const reply = new Reply(res, message?.id);
    const done = (outcome) => trace(`${message?.method ?? '(no method)'} -> ${outcome}`);
    if (message instanceof Error) {
      reply.error(new RpcError(CODES.parseError, `Parse error: ${message.message}`, { status: 400 }));
      return done('parse error');
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message) || typeof message.method !== 'string') {
      reply.error(new RpcError(CODES.invalidRequest, 'Invalid request: one JSON-RPC request object per POST', { status: 400 }));
      return done('invalid request');
    }
    if (message.id === undefined) {
      // A notification (e.g. notifications/cancelled): accepted, no body.
      res.writeHead(202).end();
      return done('202');
    }
    (async () => {
      try {
        // initialize is gone in 2026: whatever it carries (a 2025 client's
        // has no 2026 header or _meta), 404 -32601, the answer a client
        // probing for a 2025 server expects from a 2026-only one.
        if (message.method === 'initialize') {
          throw new RpcError(CODES.methodNotFound, 'Method not found: initialize', { status: 404 });
        }
        validateRequest(req, message, toolsByName);
        const params = message.params ?? {};
        if (message.method === 'subscriptions/listen') {
          hub.open(res, message.id, params.notifications);
          return done('listen stream open');
        }
        const handler = methods[message.method];
        if (!handler) throw new RpcError(CODES.methodNotFound, `Method not found: ${message.method}`, { status: 404 });
        const result = await handler(params, reply);
        reply.result(finishResult(message.method, result));
        done(result?.resultType ?? 'complete');
      } catch (err) {
        const rpc = err instanceof RpcError ? err : new RpcError(CODES.internalError, `Internal error: ${err?.message ?? err}`, { status: 500 });
        if (!(err instanceof RpcError)) process.stderr.write(`modern-mcp: ${message.method} failed: ${err?.stack ?? err}\n`);
        reply.error(rpc);
        done(`error ${rpc.code} (HTTP ${rpc.status})`);
      }
    })();
  };
}
