// The agent- and admin-facing HTTP/1.1 server (Boost.Beast over Asio).
//
// The server runs on shards: one io_context per worker thread. The acceptors
// live on the first shard and hand each accepted socket to the next shard in
// turn; a connection then stays on its shard's thread, so nothing it does
// needs a strand or a lock. One connection object per accepted socket runs
// one coroutine: read a request (bounded header and body sizes, a deadline
// for the whole request and another for an idle keep-alive wait), hand it to
// the handler, write the answer, repeat. A connection cap refuses sockets
// beyond `max_connections` by closing them at once.
//
// Graceful stop: stop() closes the acceptors, closes connections that are
// waiting for a request, lets connections with a request in flight finish it
// (their answer carries `Connection: close`), and calls `on_drained` once the
// last connection is gone. The caller bounds that with its own deadline.
//
// Live reload: update() swaps the limits and timeouts (each request reads
// the ones current when it starts; connections stay open), and relisten()
// opens and closes listeners without touching accepted connections.
//
// Thread-safety: listen() and start() are called once, before the shards
// run; relisten() runs on the first shard's thread (the acceptors' home)
// after start(); update() and stop() may be called from any thread, stop() once. The handler is invoked on
// the connection's shard and may suspend (co_await) freely; what it shares
// with other shards must be thread-safe.
#pragma once

#include "common/budget.hpp"
#include "net/http_types.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgate::daemon {

struct server_options {
  std::vector<boost::asio::ip::tcp::endpoint> listen;
  std::size_t max_connections = 10000;
  std::size_t max_body_bytes = 1024 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds request_timeout{30'000};
  // Builds the answer the server itself gives (400, 413, 431, 500) for a
  // request target, so each route family keeps its own error body format.
  std::function<net::http_response(unsigned status, std::string_view target)> error_response;
  // Asked, once the header is read, about a request whose body has not all
  // arrived with it: an answer refuses the request (401 for a bad key, say)
  // without reading (or holding) the body, and the connection closes;
  // nullopt reads on (after `100 Continue` when the client waits for it).
  std::function<boost::asio::awaitable<std::optional<net::http_response>>(const net::http_request&)> admit;
  // Request bodies take their bytes from here as they are read; one that
  // does not fit is refused with 503 (error_response) and the connection
  // closed, before memory grows. Shared with the proxy; may be null.
  budget* memory = nullptr;
};

// The request is the server's (see http_request): it stays alive and
// unchanged until the returned awaitable completes.
using request_handler = std::function<boost::asio::awaitable<net::http_response>(net::http_request&)>;

class http_server {
 public:
  // `shards`: at least one; each is run by exactly one thread.
  http_server(std::vector<boost::asio::io_context*> shards, server_options options, request_handler handler);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  // Binds every listen address. Returns the bound endpoints (port 0 resolved)
  // or throws boost::system::system_error naming the address that failed.
  std::vector<boost::asio::ip::tcp::endpoint> listen();

  // Starts accepting on every listener.
  void start();

  // Listens on exactly `wanted`: keeps the listeners already open for an
  // address in it (a port-0 one included), opens the new ones, closes the
  // others. Returns the bound endpoints, in `wanted`'s order. If one cannot
  // be opened, nothing changes and boost::system::system_error says which.
  std::vector<boost::asio::ip::tcp::endpoint> relisten(const std::vector<boost::asio::ip::tcp::endpoint>& wanted);

  // New limits and timeouts (`listen` and `error_response` are ignored):
  // requests that start from now on use them.
  void update(const server_options& options);

  // See the file comment. `on_drained` runs on an io_context thread.
  void stop(std::function<void()> on_drained);

  std::size_t open_connections() const;

  struct impl;  // opaque: defined in http_server.cpp

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace mcpgate::daemon
