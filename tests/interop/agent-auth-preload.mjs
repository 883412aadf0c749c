// Preloaded (node --import) into the conformance CLI by run-interop.mjs.
//
// The conformance CLI (0.1.16, and the 0.2.0 alpha) has no option to send an
// Authorization header: its scenarios use the SDK's
// StreamableHTTPClientTransport without requestInit, global fetch(),
// undici's request() with fixed headers and (the alpha's SEP-2243 header
// scenarios) node:http's request(). An agent reaching mcpgate must present
// its API key, the way any configured MCP client does, so this module
// installs an undici global dispatcher that adds
// "Authorization: <MCPGATE_INTEROP_AUTHORIZATION>" to every request sent to
// MCPGATE_INTEROP_AUTH_ORIGIN (and to nothing else), and wraps http.request
// the same way. Node's fetch and the undici package share that global
// dispatcher. Nothing else about the requests changes; the CLI itself is
// unmodified.

import http from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const authorization = process.env.MCPGATE_INTEROP_AUTHORIZATION;
const origin = process.env.MCPGATE_INTEROP_AUTH_ORIGIN;
if (!authorization || !origin) {
  throw new Error('agent-auth-preload: MCPGATE_INTEROP_AUTHORIZATION and MCPGATE_INTEROP_AUTH_ORIGIN must be set');
}
const target = new URL(origin).origin;

// The undici the conformance package itself depends on.
const conformanceEntry = new URL('./node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url);
const undiciPath = createRequire(conformanceEntry).resolve('undici');
const { Agent, setGlobalDispatcher } = await import(pathToFileURL(undiciPath).href);

// Headers reach a dispatcher as a flat [name, value, ...] array, an object or
// an iterable of pairs; returns a flat array with Authorization set.
function withAuthorization(headers) {
  const flat = [];
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) for (const [k, v] of headers) flat.push(k, v);
    else flat.push(...headers);
  } else if (headers && typeof headers[Symbol.iterator] === 'function') {
    for (const [k, v] of headers) flat.push(k, v);
  } else if (headers && typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers)) {
      if (Array.isArray(v)) for (const one of v) flat.push(k, one);
      else if (v !== undefined) flat.push(k, v);
    }
  }
  const out = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    if (String(flat[i]).toLowerCase() !== 'authorization') out.push(flat[i], flat[i + 1]);
  }
  out.push('authorization', authorization);
  return out;
}

const addAuthorization = (dispatch) => (opts, handler) => {
  const to = opts.origin ? new URL(String(opts.origin)).origin : '';
  if (to === target) return dispatch({ ...opts, headers: withAuthorization(opts.headers) }, handler);
  return dispatch(opts, handler);
};

setGlobalDispatcher(new Agent().compose(addAuthorization));

// node:http: http.request(options[, callback]) and http.request(url[,
// options][, callback]) aimed at the target get the header too. The CLI
// imports the http module object and calls its request() at call time, so
// replacing the property is enough.
function targetsOrigin(url, options) {
  try {
    if (url) return new URL(String(url)).origin === target;
    const host = options.hostname ?? options.host ?? 'localhost';
    return new URL(`${options.protocol ?? 'http:'}//${host}:${options.port ?? 80}`).origin === target;
  } catch {
    return false;
  }
}
const originalRequest = http.request;
http.request = function requestWithAuthorization(...args) {
  const url = typeof args[0] === 'string' || args[0] instanceof URL ? args.shift() : undefined;
  const options = typeof args[0] === 'object' && args[0] !== null ? args.shift() : {};
  if (!targetsOrigin(url, options)) return originalRequest.call(this, ...(url ? [url] : []), options, ...args);
  const headers = Object.fromEntries(Object.entries(options.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'authorization'));
  headers.authorization = authorization;
  return originalRequest.call(this, ...(url ? [url] : []), { ...options, headers }, ...args);
};
