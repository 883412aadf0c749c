#include "daemon/http_server.hpp"

#include "common/error.hpp"
#include "common/log.hpp"
#include "net/deadline.hpp"
#include "net/request_reader.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>

namespace mcpgate::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t idle_buffer_bytes = 1024;
constexpr std::size_t idle_body_bytes = 64 * 1024;
constexpr std::string_view continue_answer = "HTTP/1.1 100 Continue\r\n\r\n";

// The status the server answers a request it could not read with; nullopt
// when the connection should just be closed (timeout, reset, peer gone).
std::optional<unsigned> status_for_read_error(const error_code& ec) {
  if (ec == http::error::body_limit) return 413;
  if (ec == errc::overloaded) return 503;  // the memory budget is spent: shed
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset || ec == asio::error::eof || ec == http::error::partial_message) {
    return std::nullopt;
  }
  if (ec.category() == make_error_code(http::error::bad_target).category()) return 400;  // malformed HTTP
  return std::nullopt;
}

// How the body after a rendered head is delimited.
enum class body_framing { length, chunked, close };

// The status line and header block of a response. Rendered by hand into one
// string: Beast's serializer walks a chain of small buffers per field, which
// showed in the profile of every proxied request.
// Into `head` (cleared first; a connection reuses one string for this).
void render_head(std::string& head, const net::http_response& resp, unsigned version, bool keep_alive,
                 body_framing framing) {
  head.clear();
  head.append(version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ").append(std::to_string(resp.status)).append(" ");
  head.append(http::obsolete_reason(static_cast<http::status>(resp.status))).append("\r\n");
  for (const auto& [name, value] : resp.headers) head.append(name).append(": ").append(value).append("\r\n");
  const bool bodiless = resp.status < 200 || resp.status == 204 || resp.status == 304;
  if (!bodiless && framing == body_framing::length) {
    head.append("Content-Length: ").append(std::to_string(resp.body.size())).append("\r\n");
  }
  if (!bodiless && framing == body_framing::chunked) head.append("Transfer-Encoding: chunked\r\n");
  if (version >= 11 && !keep_alive) head.append("Connection: close\r\n");
  if (version < 11 && keep_alive) head.append("Connection: keep-alive\r\n");
  head.append("\r\n");
}

// While a streamed answer is being written, keeps a read pending on the
// client's socket: the client closing it (or resetting) cancels the body's
// source at once, so the upstream request ends promptly even when the stream
// is silent. Bytes the client sends meanwhile (a pipelined request) are kept
// for after the stream. Everything runs on the connection's shard.
class client_watch : public std::enable_shared_from_this<client_watch> {
 public:
  client_watch(tcp::socket& socket, std::shared_ptr<net::body_source> source)
      : socket_(socket), source_(std::move(source)), stopped_(socket.get_executor()) {
    stopped_.expires_at(asio::steady_timer::time_point::max());
  }

  void start() {
    running_ = true;
    socket_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](error_code ec, std::size_t n) {
      self->on_read(ec, n);
    });
  }

  bool client_gone() const { return client_gone_; }

  // Ends the watch; the pending read's completion is awaited, and what it
  // read is appended to `buffer`.
  asio::awaitable<void> stop(beast::flat_buffer& buffer) {
    if (running_) {
      stopping_ = true;
      error_code ignored;
      socket_.cancel(ignored);
      co_await stopped_.async_wait(use_tuple);
    }
    if (!pending_.empty()) {
      buffer.commit(asio::buffer_copy(buffer.prepare(pending_.size()), asio::buffer(pending_)));
    }
  }

 private:
  void on_read(error_code ec, std::size_t n) {
    pending_.append(scratch_.data(), n);
    if (stopping_) {
      running_ = false;
      stopped_.cancel();
      return;
    }
    if (ec) {
      running_ = false;
      client_gone_ = true;
      source_->cancel();
      return;
    }
    // A client that sends this much while its answer streams is not
    // pipelining politely: stop reading; TCP pushes back on it.
    if (pending_.size() >= 64 * 1024) {
      running_ = false;
      return;
    }
    start();
  }

  tcp::socket& socket_;
  const std::shared_ptr<net::body_source> source_;
  asio::steady_timer stopped_;
  std::array<char, 4096> scratch_{};
  std::string pending_;
  bool running_ = false;
  bool stopping_ = false;
  bool client_gone_ = false;
};

}  // namespace

class connection;

struct http_server::impl : std::enable_shared_from_this<http_server::impl> {
  impl(std::vector<asio::io_context*> shards, server_options options, request_handler handler)
      : shards_(std::move(shards)),
        options_(std::make_shared<const server_options>(std::move(options))),
        handler_(std::move(handler)) {}

  const std::vector<asio::io_context*> shards_;
  // Replaced whole by update(); a request reads it once, when it starts.
  std::atomic<std::shared_ptr<const server_options>> options_;
  const request_handler handler_;

  // On the first shard's thread only (listen() runs before the shards do).
  struct listener {
    tcp::endpoint requested;  // as configured: port 0 stays 0
    std::unique_ptr<tcp::acceptor> acceptor;
  };
  std::vector<listener> listeners_;
  // Closed by relisten(): kept until the server goes, since an accept loop
  // may still be returning from its last wait on one.
  std::vector<std::unique_ptr<tcp::acceptor>> retired_;
  std::size_t next_shard_ = 0;  // touched by the accept loops, on the first shard

  std::shared_ptr<const server_options> options() const { return options_.load(std::memory_order_acquire); }

  mutable std::mutex mu_;
  std::map<std::uint64_t, std::weak_ptr<connection>> connections_;  // guarded by mu_
  std::uint64_t next_id_ = 0;                                       // guarded by mu_
  std::atomic<bool> stopping_{false};                               // set once, under mu_; read without it
  std::function<void()> on_drained_;                                // guarded by mu_

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  void on_connection_closed(std::uint64_t id) {
    std::function<void()> drained;
    {
      std::lock_guard lock(mu_);
      connections_.erase(id);
      if (stopping_ && connections_.empty()) drained = std::exchange(on_drained_, nullptr);
    }
    if (drained) drained();
  }

  net::http_response error_response(unsigned status, std::string_view target) const {
    const auto opts = options();
    if (opts->error_response) return opts->error_response(status, target);
    return net::http_response::empty(status);
  }

  // Opens, binds and listens on `endpoint`; throws naming the address.
  std::unique_ptr<tcp::acceptor> open_acceptor(const tcp::endpoint& endpoint) const;

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor);
};

// One accepted socket. Lives as long as its coroutine (run()) holds it.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<http_server::impl> server, tcp::socket socket, std::uint64_t id)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        deadline_(socket_.get_executor(),
                  [this] {
                    error_code ignored;
                    socket_.cancel(ignored);
                  }),
        id_(id) {}

  ~connection() { server_->on_connection_closed(id_); }

  // Closes the connection if it is waiting for a request; one with a request
  // in flight finishes it and then sees that the server is stopping.
  void close_if_idle() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) {
        error_code ignored;
        self->socket_.close(ignored);
      }
    });
  }

  asio::awaitable<void> run();

  asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  // Feeds the parser from `buffer`, reading more from the socket while it
  // needs more, until it has the header (or, with whole_message, the whole
  // request). Errors as Beast's http::async_read.
  // The body's bytes are taken from `share` as they come (errc::overloaded
  // when the budget cannot give them).
  asio::awaitable<error_code> read_request(net::request_reader& parser, beast::flat_buffer& buffer, bool whole_message,
                                           budget::share& share, const net::http_request& req);

  // Waits, within the idle timeout, for the first bytes of the next request
  // (into `buffer`). False: the client left, or the wait timed out.
  asio::awaitable<bool> await_request(beast::flat_buffer& buffer, net::http_request& req, const server_options& opts);

  // A request's header and, unless opts.admit refuses it first (`refused`),
  // its body. `ec`: the request could not be read (see read_request).
  struct received {
    error_code ec;
    std::optional<net::http_response> refused;
  };
  asio::awaitable<received> receive(net::request_reader& parser, beast::flat_buffer& buffer, budget::share& body_share,
                                    net::http_request& req, const server_options& opts);

  // Writes `answer` to a request that is not handled (refused before its
  // body, or unreadable), then lingers: the connection closes after it.
  asio::awaitable<void> refuse(net::http_response answer, unsigned version, std::string& head,
                               const server_options& opts);

  // Runs the handler for `req` and writes its answer (`head` holds the
  // rendered header block). True when the connection can carry another
  // request.
  asio::awaitable<bool> respond(net::http_request& req, unsigned version, bool keep_alive, beast::flat_buffer& buffer,
                                std::string& head, const server_options& opts);

  // After refusing a request whose body may still be arriving: stop sending,
  // then read and discard for a short, bounded while, so that closing does
  // not reset the connection before the client has read the answer.
  asio::awaitable<void> linger();

  // Writes a response whose body comes from resp.stream, piece by piece, each
  // piece only after the previous one left. True when the connection can
  // carry another request.
  asio::awaitable<bool> write_streamed(net::http_response resp, unsigned version, bool keep_alive,
                                       beast::flat_buffer& buffer);

  // Constant after construction.
  const std::shared_ptr<http_server::impl> server_;
  // Touched only on the connection's shard.
  tcp::socket socket_;
  net::deadline deadline_;  // cancels socket_'s operations when it passes
  const std::uint64_t id_;
  bool idle_ = true;
};

asio::awaitable<error_code> connection::read_request(net::request_reader& parser, beast::flat_buffer& buffer,
                                                     bool whole_message, budget::share& share,
                                                     const net::http_request& req) {
  constexpr std::size_t step = 16 * 1024;  // the share grows in steps, not per byte
  error_code ec;
  for (;;) {
    const auto data = buffer.data();
    const std::size_t used =
        parser.parse(std::string_view(static_cast<const char*>(data.data()), data.size()), whole_message, ec);
    buffer.consume(used);
    // What the body holds is its capacity (a growing string doubles it).
    const std::size_t owed = budgeted(req.body.capacity());
    if (owed > share.held() && !share.grow_to((owed / step + 1) * step)) {
      co_return error_code(errc::overloaded);
    }
    if (ec != http::error::need_more) co_return ec;
    // The parser wants more: a whole header, or the rest of the body.
    std::size_t want = 4096;
    if (parser.is_header_done()) {
      const auto left = parser.content_length_remaining();
      want = left ? static_cast<std::size_t>(std::min<std::uint64_t>(*left, 64 * 1024)) : 16 * 1024;
    }
    const std::size_t n = co_await socket_.async_read_some(buffer.prepare(std::max<std::size_t>(want, 512)),
                                                           asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) {
      // The client closed: a message that needs no more bytes is complete.
      co_return parser.finish_at_eof();
    }
    if (ec) co_return deadline_.expired() ? error_code(beast::error::timeout) : ec;
    buffer.commit(n);
  }
}

asio::awaitable<void> connection::linger() {
  constexpr std::size_t max_discard = 8 * 1024 * 1024;
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  deadline_.expires_after(std::chrono::seconds(2));
  std::array<char, 16 * 1024> scratch;
  for (std::size_t discarded = 0; !ec && discarded < max_discard;) {
    discarded += co_await socket_.async_read_some(asio::buffer(scratch), asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<bool> connection::write_streamed(net::http_response resp, unsigned version, bool keep_alive,
                                                 beast::flat_buffer& buffer) {
  const std::shared_ptr<const server_options> current = server_->options();
  const server_options& opts = *current;
  const std::shared_ptr<net::body_source> source = std::move(resp.stream);
  const bool chunked = version >= 11;  // an HTTP/1.0 client reads to the close instead
  keep_alive = keep_alive && chunked;
  std::string head;
  render_head(head, resp, version, keep_alive, chunked ? body_framing::chunked : body_framing::close);
  error_code ec;
  deadline_.expires_after(opts.request_timeout);
  co_await asio::async_write(socket_, asio::buffer(head), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    source->cancel();
    co_return false;
  }

  const auto watch = std::make_shared<client_watch>(socket_, source);
  watch->start();
  bool complete = false;
  for (;;) {
    auto next = source->next();
    const auto [piece_ec, bytes] = co_await std::move(next);
    if (piece_ec) break;  // the upstream failed or the client left
    if (bytes.empty()) {
      complete = true;
      break;
    }
    // A client that reads nothing for this long is dropped (the write is
    // what waits: TCP's window is how a slow client slows the upstream).
    deadline_.expires_after(opts.idle_timeout);
    if (chunked) {
      const auto chunk = http::make_chunk(asio::buffer(bytes.data(), bytes.size()));
      co_await asio::async_write(socket_, chunk, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      const auto raw = asio::buffer(bytes.data(), bytes.size());
      co_await asio::async_write(socket_, raw, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      source->cancel();
      break;
    }
  }
  if (complete && chunked) {
    const auto last = http::make_chunk_last();
    deadline_.expires_after(opts.request_timeout);
    co_await asio::async_write(socket_, last, asio::redirect_error(asio::use_awaitable, ec));
    complete = !ec;
  }
  co_await watch->stop(buffer);
  co_return complete&& keep_alive && !watch->client_gone();
}

asio::awaitable<bool> connection::await_request(beast::flat_buffer& buffer, net::http_request& req,
                                                const server_options& opts) {
  // An idle connection keeps only a small buffer (thousands of agents may
  // sit on keep-alive connections); the parser grows it when a request needs it.
  if (buffer.capacity() > idle_buffer_bytes) buffer.shrink_to_fit();
  // Nor the room of a large body it once read.
  if (req.body.capacity() > idle_body_bytes) std::string().swap(req.body);
  deadline_.expires_after(opts.idle_timeout);
  error_code ec;
  const std::size_t n = co_await socket_.async_read_some(buffer.prepare(idle_buffer_bytes),
                                                         asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  buffer.commit(n);
  co_return true;
}

asio::awaitable<connection::received> connection::receive(net::request_reader& parser, beast::flat_buffer& buffer,
                                                          budget::share& body_share, net::http_request& req,
                                                          const server_options& opts) {
  received out;
  auto header = read_request(parser, buffer, false, body_share, req);
  out.ec = co_await std::move(header);
  if (!out.ec) out.ec = parser.start_body();  // over the limit by its Content-Length: not read
  if (!out.ec) {
    // A declared length is taken at once: a body that cannot fit is shed
    // before a byte of it is read.
    if (const auto length = parser.content_length(); length && !body_share.grow_to(budgeted(*length))) {
      out.ec = errc::overloaded;
    }
  }
  if (out.ec || parser.is_done()) co_return out;
  // A body still to come is read (and held) only for a request the handler
  // would take: its key accepted. A client without one cannot make the
  // gateway hold bodies, and one that waits for `100 Continue` gets it only
  // then. (A body that came with its header, the usual small JSON-RPC
  // message, needs no such look.)
  if (opts.admit) {
    auto admitting = opts.admit(req);
    out.refused = co_await std::move(admitting);
    if (out.refused) co_return out;
  }
  if (net::iequals(req.header("Expect"), "100-continue")) {
    co_await asio::async_write(socket_, asio::buffer(continue_answer),
                               asio::redirect_error(asio::use_awaitable, out.ec));
    if (out.ec) co_return out;
  }
  auto body = read_request(parser, buffer, true, body_share, req);
  out.ec = co_await std::move(body);
  co_return out;
}

asio::awaitable<void> connection::refuse(net::http_response answer, unsigned version, std::string& head,
                                         const server_options& opts) {
  render_head(head, answer, version, false, body_framing::length);
  const std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(answer.body)};
  deadline_.expires_after(opts.request_timeout);
  error_code ec;
  co_await asio::async_write(socket_, wire, asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_await linger();
}

asio::awaitable<bool> connection::respond(net::http_request& req, unsigned version, bool keep_alive,
                                          beast::flat_buffer& buffer, std::string& head, const server_options& opts) {
  net::http_response resp;
  try {
    auto pending = server_->handler_(req);
    resp = co_await std::move(pending);
  } catch (const std::exception& e) {
    static summarised_log handler_failed(spdlog::level::err);
    handler_failed("request handler failed for {}: {}", req.target, e.what());
    resp = server_->error_response(500, req.target);
  }
  keep_alive = keep_alive && !server_->stopping();
  if (resp.stream) {
    auto streamed = write_streamed(std::move(resp), version, keep_alive, buffer);
    co_return co_await std::move(streamed);
  }
  render_head(head, resp, version, keep_alive, body_framing::length);
  const std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(resp.body)};
  deadline_.expires_after(opts.request_timeout);
  error_code ec;
  co_await asio::async_write(socket_, wire, asio::redirect_error(asio::use_awaitable, ec));
  co_return !ec && keep_alive;
}

asio::awaitable<void> connection::run() {
  beast::flat_buffer buffer;
  // Reused by every request on this connection (see request_reader).
  net::http_request req;
  net::request_storage storage;
  std::string head;  // each answer's status line and header block
  for (;;) {
    idle_ = true;
    if (server_->stopping()) break;
    // The limits in force when this request starts (a reload changes them).
    const std::shared_ptr<const server_options> current = server_->options();
    const server_options& opts = *current;
    if (buffer.size() == 0) {
      // Waiting for the next request: bounded by the idle timeout.
      auto waiting = await_request(buffer, req, opts);
      if (!co_await std::move(waiting)) break;
    }
    idle_ = false;

    // From the first byte on, the whole request must arrive within
    // request_timeout: a slow client cannot hold the connection.
    deadline_.expires_after(opts.request_timeout);
    net::request_reader parser(req, storage, net::request_limits{opts.max_header_bytes, opts.max_body_bytes});
    // The body's bytes, from the shared budget, until the answer is written.
    budget::share body_share = opts.memory != nullptr ? budget::share(*opts.memory) : budget::share();
    auto receiving = receive(parser, buffer, body_share, req, opts);
    received got = co_await std::move(receiving);
    if (got.refused) {
      // The body was never asked for: answer, then close (its bytes may
      // still come, and are not a next request).
      auto refusing = refuse(std::move(*got.refused), parser.version(), head, opts);
      co_await std::move(refusing);
      break;
    }
    if (got.ec) {
      if (const auto status = status_for_read_error(got.ec)) {
        const std::string target = parser.is_header_done() ? std::string(req.target) : "";
        auto refusing = refuse(server_->error_response(*status, target), 11, head, opts);
        co_await std::move(refusing);
      }
      break;
    }
    auto responding = respond(req, parser.version(), parser.keep_alive(), buffer, head, opts);
    if (!co_await std::move(responding)) break;
  }
  error_code ec;
  deadline_.stop();
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

asio::awaitable<void> http_server::impl::accept_loop(tcp::acceptor& acceptor) {
  auto self = shared_from_this();
  for (;;) {
    // Round robin over the shards: the connection lives on that shard's
    // thread for good, so nothing it does needs a strand.
    const asio::any_io_executor where = shards_[next_shard_++ % shards_.size()]->get_executor();
    auto [ec, socket] = co_await acceptor.async_accept(where, use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // Out of descriptors and similar: log, breathe, go on accepting.
      static summarised_log accept_failed;
      accept_failed("accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    std::shared_ptr<connection> conn;
    {
      std::lock_guard lock(mu_);
      if (stopping_) co_return;
      const std::size_t cap = options()->max_connections;
      if (connections_.size() >= cap) {
        static summarised_log refused;
        refused("connection limit ({}) reached; refusing a connection", cap);
        socket.close(ec);
        continue;
      }
      const std::uint64_t id = next_id_++;
      conn = std::make_shared<connection>(self, std::move(socket), id);
      connections_.emplace(id, conn);
    }
    asio::co_spawn(conn->executor(), conn->run(), [conn](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        static summarised_log connection_failed(spdlog::level::err);
        connection_failed("connection failed: {}", ex.what());
      }
    });
  }
}

http_server::http_server(std::vector<asio::io_context*> shards, server_options options, request_handler handler)
    : impl_(std::make_shared<impl>(std::move(shards), std::move(options), std::move(handler))) {}

http_server::~http_server() = default;

std::unique_ptr<tcp::acceptor> http_server::impl::open_acceptor(const tcp::endpoint& endpoint) const {
  auto acceptor = std::make_unique<tcp::acceptor>(shards_.front()->get_executor());
  try {
    acceptor->open(endpoint.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    if (endpoint.address().is_v6()) acceptor->set_option(asio::ip::v6_only(true));
    acceptor->bind(endpoint);
    acceptor->listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw boost::system::system_error(e.code(), "cannot listen on " + endpoint.address().to_string() + ":" +
                                                    std::to_string(endpoint.port()));
  }
  return acceptor;
}

std::vector<tcp::endpoint> http_server::listen() {
  std::vector<tcp::endpoint> bound;
  for (const auto& endpoint : impl_->options()->listen) {
    auto acceptor = impl_->open_acceptor(endpoint);
    bound.push_back(acceptor->local_endpoint());
    impl_->listeners_.push_back({endpoint, std::move(acceptor)});
  }
  return bound;
}

void http_server::start() {
  for (auto& l : impl_->listeners_) {
    asio::co_spawn(l.acceptor->get_executor(), impl_->accept_loop(*l.acceptor), asio::detached);
  }
}

std::vector<tcp::endpoint> http_server::relisten(const std::vector<tcp::endpoint>& wanted) {
  // First open what is new; a failure leaves listeners_ untouched (the
  // acceptors opened so far close as `fresh` goes).
  std::vector<impl::listener>& current = impl_->listeners_;
  std::vector<std::size_t> keep(wanted.size(), current.size());  // index into current, or "new"
  std::vector<bool> taken(current.size(), false);
  std::vector<std::unique_ptr<tcp::acceptor>> fresh(wanted.size());
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    for (std::size_t j = 0; j < current.size(); ++j) {
      if (!taken[j] && current[j].requested == wanted[i]) {
        keep[i] = j;
        taken[j] = true;
        break;
      }
    }
    if (keep[i] == current.size()) fresh[i] = impl_->open_acceptor(wanted[i]);
  }
  std::vector<impl::listener> next;
  std::vector<tcp::endpoint> bound;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (fresh[i]) {
      asio::co_spawn(fresh[i]->get_executor(), impl_->accept_loop(*fresh[i]), asio::detached);
      spdlog::info("listening on {}:{}", wanted[i].address().to_string(), fresh[i]->local_endpoint().port());
      next.push_back({wanted[i], std::move(fresh[i])});
    } else {
      next.push_back(std::move(current[keep[i]]));
    }
    bound.push_back(next.back().acceptor->local_endpoint());
  }
  for (std::size_t j = 0; j < current.size(); ++j) {
    if (taken[j]) continue;
    error_code ignored;
    current[j].acceptor->close(ignored);
    spdlog::info("stopped listening on {}:{}", current[j].requested.address().to_string(), current[j].requested.port());
    impl_->retired_.push_back(std::move(current[j].acceptor));
  }
  current = std::move(next);
  return bound;
}

void http_server::update(const server_options& options) {
  auto next = std::make_shared<server_options>(options);
  const auto current = impl_->options();
  next->listen = current->listen;
  next->error_response = current->error_response;
  next->admit = current->admit;
  next->memory = current->memory;
  impl_->options_.store(std::move(next), std::memory_order_release);
}

void http_server::stop(std::function<void()> on_drained) {
  std::vector<std::shared_ptr<connection>> open;
  bool drained_now = false;
  {
    std::lock_guard lock(impl_->mu_);
    impl_->stopping_ = true;
    for (auto& [id, weak] : impl_->connections_) {
      if (auto conn = weak.lock()) open.push_back(std::move(conn));
    }
    drained_now = impl_->connections_.empty();
    if (!drained_now) impl_->on_drained_ = std::move(on_drained);
  }
  // The acceptors live on the first shard: closed there, whoever calls stop().
  asio::dispatch(*impl_->shards_.front(), [server = impl_] {
    for (auto& l : server->listeners_) {
      error_code ignored;
      if (l.acceptor) l.acceptor->close(ignored);
    }
  });
  for (auto& conn : open) conn->close_if_idle();
  if (drained_now && on_drained) asio::post(*impl_->shards_.front(), std::move(on_drained));
}

std::size_t http_server::open_connections() const {
  std::lock_guard lock(impl_->mu_);
  return impl_->connections_.size();
}

}  // namespace mcpgate::daemon
