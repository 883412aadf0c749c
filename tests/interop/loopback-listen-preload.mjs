// Preloaded (node --import) into @modelcontextprotocol/server-everything by
// run-interop.mjs. That server calls app.listen(PORT) with no host, i.e. on
// every interface; the tests keep all networking on loopback, so a listen()
// given a port but no host is bound to 127.0.0.1 instead. Once listening, the
// real port is printed as one line "listening <port>" on stdout (PORT=0 picks
// a free one). Nothing else about the server changes.

import net from 'node:net';

const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const first = args[0];
  const isPort = typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first));
  if (isPort && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  if (isPort) {
    this.once('listening', () => {
      process.stdout.write(`listening ${this.address().port}\n`);
    });
  }
  return originalListen.apply(this, args);
};
