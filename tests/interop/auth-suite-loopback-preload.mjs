// Preloaded (node --import) into the conformance CLI by run-auth-suite.mjs.
//
// The client auth scenarios of @modelcontextprotocol/conformance 0.1.16 start
// their mock MCP and authorization servers with express's app.listen(0), no
// host, i.e. on every interface, and read server.address().port right after
// the call (synchronously). The tests keep all networking on loopback, so a
// listen() given a port but no host is bound to 127.0.0.1 instead, and still
// synchronously: net's listen() resolves a host with dns.lookup() (always
// asynchronous), so for the duration of this one call dns.lookup answers
// 127.0.0.1 at once. The scenarios still name their servers
// http://localhost:<port>. Nothing else changes.

import dns from 'node:dns';
import net from 'node:net';

const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  const isPort = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (!isPort || typeof args[1] === 'string') return originalListen.apply(this, args);
  args.splice(1, 0, '127.0.0.1');
  const lookup = dns.lookup;
  dns.lookup = (host, options, callback) => {
    const cb = typeof options === 'function' ? options : callback;
    if (host !== '127.0.0.1') return lookup(host, options, callback);
    cb(null, '127.0.0.1', 4);
    return undefined;
  };
  try {
    return originalListen.apply(this, args);
  } finally {
    dns.lookup = lookup;
  }
};
