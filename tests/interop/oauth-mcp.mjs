#!/usr/bin/env node
// A real MCP server protected by OAuth, for the OAuth interop test
// (run-oauth.mjs): the TypeScript SDK's Server + StreamableHTTPServerTransport
// (stateless, JSON answers) behind a Bearer token check, on 127.0.0.1.
//
//   node oauth-mcp.mjs --as ISSUER [--port N] [--paths /mcp,/other] [--write-paths /other]
//
// Each path is its own protected resource: resource = http://127.0.0.1:<port><path>.
// For each one it serves
// - RFC 9728 protected resource metadata at
//   /.well-known/oauth-protected-resource<path>
//   {resource, authorization_servers: [ISSUER], scopes_supported: ["mcp:tools"]};
// - the MCP endpoint at <path> (POST; GET/DELETE answer 405 as a stateless
//   server does), which first validates `Authorization: Bearer <token>` at the
//   AS's introspection endpoint (found in ISSUER's
//   /.well-known/openid-configuration), authenticating as the resource-server
//   client (MCPGATE_OAUTH_RS_CLIENT_ID / MCPGATE_OAUTH_RS_CLIENT_SECRET): the
//   token must be active, an access token (token_type Bearer) and have this
//   path's resource URL as its audience. Otherwise: 401 with
//   `WWW-Authenticate: Bearer resource_metadata="<metadata URL>"` (plus
//   error="invalid_token" when a token was presented).
//
// Tools: `echo {message}` and `whoami` (the token's subject, client_id,
// audience, scope and the sha256 of the token this request carried). On the
// --write-paths (which must also be in --paths) a third tool, `write {note}`,
// needs the scope `mcp:write` besides `mcp:tools`: a tools/call of it with a
// token whose (introspected) scope lacks mcp:write gets, before the MCP layer,
// HTTP 403 with `WWW-Authenticate: Bearer error="insufficient_scope",
// scope="mcp:tools mcp:write", resource_metadata="<metadata URL>"` (RFC 6750
// 3.1, the MCP authorization spec's scope step-up). Listing tools needs only
// a valid token, and the metadata's scopes_supported stays ["mcp:tools"], so a
// client asks for mcp:write only when told to.
//
// GET /test/seen answers what arrived: one entry per request to an MCP path,
// {path, method, rpc, tool, authorization (raw header), token, active, sub,
// client_id, scope, status, rejected}. The test reads it to assert which token reached the
// upstream (tokens are test secrets; this listens on loopback only).
//
// Prints `listening <port>` once it serves. Needs Node 20 or later.

import { createHash } from 'node:crypto';
import http from 'node:http';

import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const issuer = opt('--as');
if (!issuer) {
  process.stderr.write('usage: node oauth-mcp.mjs --as ISSUER [--port N] [--paths /mcp,...] [--write-paths /mcp,...]\n');
  process.exit(2);
}
const port = Number(opt('--port', '0'));
const paths = opt('--paths', '/mcp').split(',').filter(Boolean);
const rsClientId = process.env.MCPGATE_OAUTH_RS_CLIENT_ID ?? 'mcp-resource-server';
const rsClientSecret = process.env.MCPGATE_OAUTH_RS_CLIENT_SECRET ?? '';
const writePaths = opt('--write-paths', '').split(',').filter(Boolean);
const SCOPE = 'mcp:tools';
const WRITE_SCOPE = 'mcp:write';

const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const seen = [];

// ------------------------------------------------------------------ the AS

let introspectionEndpoint;
async function introspectionUrl() {
  if (introspectionEndpoint) return introspectionEndpoint;
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`AS metadata: HTTP ${res.status}`);
  const meta = await res.json();
  if (meta.issuer !== issuer) throw new Error(`AS metadata issuer ${meta.issuer} is not ${issuer}`);
  introspectionEndpoint = meta.introspection_endpoint;
  if (!introspectionEndpoint) throw new Error('the AS has no introspection_endpoint');
  return introspectionEndpoint;
}

async function introspect(token) {
  const res = await fetch(await introspectionUrl(), {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${encodeURIComponent(rsClientId)}:${encodeURIComponent(rsClientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  });
  if (!res.ok) throw new Error(`introspection: HTTP ${res.status} ${await res.text()}`);
  return res.json();
}

// ------------------------------------------------------------------ MCP

const tools = [
  {
    name: 'echo',
    description: 'Echoes the message back',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  },
  {
    name: 'whoami',
    description: "Tells who the request's access token belongs to",
    inputSchema: { type: 'object', properties: {} },
  },
];
const writeTool = {
  name: 'write',
  description: `Writes a note (needs the ${WRITE_SCOPE} scope)`,
  inputSchema: { type: 'object', properties: { note: { type: 'string' } }, required: ['note'] },
};

function createServer(p) {
  const server = new Server({ name: 'mcpgate-oauth-upstream', version: '1.0.0' }, { capabilities: { tools: {} } });
  const writable = writePaths.includes(p);
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: writable ? [...tools, writeTool] : tools }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const auth = extra.authInfo;
    if (request.params.name === 'echo') {
      return { content: [{ type: 'text', text: `echo: ${request.params.arguments?.message ?? ''}` }] };
    }
    if (request.params.name === 'whoami') {
      const who = {
        sub: auth?.extra?.sub,
        client_id: auth?.clientId,
        aud: auth?.extra?.aud,
        scope: auth?.scopes?.join(' '),
        token_sha256: auth ? sha256(auth.token) : undefined,
      };
      return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who };
    }
    if (writable && request.params.name === 'write') {
      // mcpEndpoint refused it already when the token lacks the scope.
      return { content: [{ type: 'text', text: `wrote: ${request.params.arguments?.note ?? ''}` }] };
    }
    throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${request.params.name}`);
  });
  return server;
}

// ------------------------------------------------------------------ HTTP

let base;
const metadataPath = (p) => `/.well-known/oauth-protected-resource${p}`;

function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function challenge(res, p, invalidToken) {
  const parts = [`resource_metadata="${base}${metadataPath(p)}"`];
  if (invalidToken) parts.push('error="invalid_token"', 'error_description="The access token is not valid"');
  json(res, 401, { error: invalidToken ? 'invalid_token' : 'unauthorized' }, { 'WWW-Authenticate': `Bearer ${parts.join(', ')}` });
}

function insufficientScope(res, p) {
  const header = `Bearer error="insufficient_scope", scope="${SCOPE} ${WRITE_SCOPE}", resource_metadata="${base}${metadataPath(p)}", error_description="The write tool needs the ${WRITE_SCOPE} scope"`;
  json(res, 403, { error: 'insufficient_scope' }, { 'WWW-Authenticate': header });
}

async function readBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

async function mcpEndpoint(req, res, p) {
  const body = await readBody(req);
  let parsed;
  try {
    parsed = body ? JSON.parse(body) : undefined;
  } catch {
    parsed = undefined;
  }
  const messages = Array.isArray(parsed) ? parsed : parsed ? [parsed] : [];
  const entry = {
    path: p,
    method: req.method,
    rpc: messages.map((m) => m?.method ?? 'response').join(',') || undefined,
    tool: messages.find((m) => m?.method === 'tools/call')?.params?.name,
    authorization: req.headers.authorization,
    at: Date.now(),
  };
  seen.push(entry);
  if (seen.length > 5000) seen.shift();

  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) {
    entry.status = 401;
    return challenge(res, p, false);
  }
  entry.token = m[1];
  const info = await introspect(m[1]);
  const resource = `${base}${p}`;
  const aud = Array.isArray(info.aud) ? info.aud : info.aud === undefined ? [] : [info.aud];
  entry.active = Boolean(info.active);
  entry.sub = info.sub;
  entry.client_id = info.client_id;
  entry.scope = info.scope;
  if (!info.active || info.token_type !== 'Bearer' || !aud.includes(resource)) {
    entry.status = 401;
    entry.rejected = !info.active ? 'inactive' : info.token_type !== 'Bearer' ? `token_type ${info.token_type}` : `audience ${JSON.stringify(info.aud)}`;
    return challenge(res, p, true);
  }
  const scopes = String(info.scope ?? '').split(' ').filter(Boolean);
  if (writePaths.includes(p) && messages.some((msg) => msg?.method === 'tools/call' && msg.params?.name === 'write') && !scopes.includes(WRITE_SCOPE)) {
    entry.status = 403;
    entry.rejected = 'insufficient_scope';
    return insufficientScope(res, p);
  }
  req.auth = {
    token: m[1],
    clientId: info.client_id,
    scopes,
    expiresAt: info.exp,
    extra: { sub: info.sub, aud: info.aud },
  };

  const server = createServer(p);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    transport.close().catch(() => {});
    server.close().catch(() => {});
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, parsed);
  entry.status = res.statusCode;
}

const httpServer = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  try {
    if (req.method === 'GET' && url.pathname === '/test/seen') return json(res, 200, seen);
    const metaFor = paths.find((p) => url.pathname === metadataPath(p));
    if (metaFor !== undefined) {
      if (req.method !== 'GET') return json(res, 405, { error: 'method not allowed' }, { Allow: 'GET' });
      return json(res, 200, {
        resource: `${base}${metaFor}`,
        authorization_servers: [issuer],
        scopes_supported: [SCOPE],
        bearer_methods_supported: ['header'],
        resource_name: `mcpgate OAuth test server (${metaFor})`,
      });
    }
    const p = paths.find((x) => url.pathname === x);
    if (p !== undefined) return await mcpEndpoint(req, res, p);
    return json(res, 404, { error: 'not found' });
  } catch (err) {
    process.stderr.write(`oauth-mcp: ${req.method} ${url.pathname}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) json(res, 500, { error: String(err?.message ?? err) });
    else res.destroy();
  }
});

await new Promise((resolve, reject) => {
  httpServer.once('error', reject);
  httpServer.listen(port, '127.0.0.1', resolve);
});
base = `http://127.0.0.1:${httpServer.address().port}`;
process.stdout.write(`listening ${httpServer.address().port}\n`);

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    httpServer.closeAllConnections?.();
    httpServer.close(() => process.exit(0));
  });
}
