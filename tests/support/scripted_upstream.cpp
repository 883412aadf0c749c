// See scripted_upstream.hpp. Each connection owns an io_context that only
// its own thread runs: a "blocking" operation starts the asynchronous one and
// runs that io_context until the handler ran, the deadline passed, or the
// destructor stopped it (io_context::stop() is thread-safe and, with a work
// guard that keeps the context from running out of work, never undone).
#include "support/scripted_upstream.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <cstdio>
#include <limits>
#include <mutex>
#include <sstream>
#include <vector>

namespace mcpgate::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {

// How much of `bytes` is one whole request: its size, 0 when more bytes are
// needed, nullopt when they are not HTTP.
std::optional<std::size_t> request_size(std::string_view bytes) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  std::size_t used = 0;
  while (!parser.is_done()) {
    error_code ec;
    const std::size_t n = parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more) return 0;
    if (ec) return std::nullopt;
    if (n == 0) return 0;
  }
  return used;
}

}  // namespace

// --- upstream_conn --------------------------------------------------------------------

struct upstream_conn::impl {
  explicit impl(const std::shared_ptr<ssl::context>& tls_context) {
    if (tls_context) tls.emplace(tcp::socket(io), *tls_context);
  }

  tcp::socket& socket() { return tls ? tls->next_layer() : plain; }

  // Calls f with the stream the script's bytes go through.
  template <class F>
  void with_stream(F&& f) {
    if (tls) {
      f(*tls);
    } else {
      f(plain);
    }
  }

  // Starts an operation (start(handler), the handler taking error_code and
  // a byte count) and runs the io_context until it completed; false when the
  // deadline passed or the upstream stopped first, and the connection is
  // closed then, so that nothing runs against it later.
  template <class Start>
  bool await(steady::time_point until, Start&& start, error_code& ec, std::size_t& transferred) {
    struct outcome {
      bool done = false;
      error_code ec;
      std::size_t n = 0;
    };
    auto out = std::make_shared<outcome>();
    start([out](error_code e, std::size_t n) {
      out->done = true;
      out->ec = e;
      out->n = n;
    });
    while (!out->done) {
      if (io.run_one_until(until) == 0) break;  // deadline, or stopped
    }
    if (!out->done) {
      close();
      return false;
    }
    ec = out->ec;
    transferred = out->n;
    return true;
  }

  bool handshake(steady::time_point until) {
    error_code ec;
    std::size_t ignored = 0;
    const bool done = await(
        until,
        [this](auto handler) {
          tls->async_handshake(ssl::stream_base::server, [handler](error_code e) mutable {
            handler(e, std::size_t{0});
          });
        },
        ec, ignored);
    return done && !ec;
  }

  // Reads what is there into pending; false on EOF, error, deadline, stop.
  bool receive(steady::time_point until) {
    error_code ec;
    std::size_t n = 0;
    const bool done = await(
        until, [&](auto handler) { with_stream([&](auto& s) { s.async_read_some(asio::buffer(buffer), handler); }); },
        ec, n);
    if (!done || ec) return false;
    pending.append(buffer.data(), n);
    return true;
  }

  void close() {
    error_code ignored;
    socket().close(ignored);
  }

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  tcp::socket plain{io};
  std::optional<ssl::stream<tcp::socket>> tls;
  std::string pending;  // received, not yet part of a request handed out
  // Where reads land; a member, so that a read abandoned at its deadline
  // never points at a stack frame that is gone.
  std::array<char, 16 * 1024> buffer{};
};

upstream_conn::upstream_conn(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
upstream_conn::~upstream_conn() = default;

std::optional<std::string> upstream_conn::read_request(std::chrono::milliseconds within) {
  const auto until = steady::now() + within;
  for (;;) {
    const auto size = request_size(impl_->pending);
    if (!size) return std::nullopt;
    if (*size > 0) {
      std::string request = impl_->pending.substr(0, *size);
      impl_->pending.erase(0, *size);
      return request;
    }
    if (!impl_->receive(until)) return std::nullopt;
  }
}

bool upstream_conn::write(std::string_view bytes) {
  error_code ec;
  std::size_t n = 0;
  const bool done = impl_->await(
      steady::now() + wait_limit,
      [&](auto handler) {
        impl_->with_stream([&](auto& s) { asio::async_write(s, asio::buffer(bytes.data(), bytes.size()), handler); });
      },
      ec, n);
  return done && !ec;
}

bool upstream_conn::wait_closed(std::chrono::milliseconds within) {
  const auto until = steady::now() + within;
  for (;;) {
    error_code ec;
    std::size_t n = 0;
    const bool done = impl_->await(
        until,
        [&](auto handler) {
          impl_->with_stream([&](auto& s) { s.async_read_some(asio::buffer(impl_->buffer), handler); });
        },
        ec, n);
    if (!done) return false;  // deadline or stop
    if (ec) return true;      // EOF, reset, a TLS stream cut short
  }
}

void upstream_conn::close() { impl_->close(); }

bool upstream_conn::wait_for(const std::shared_future<void>& signal, std::chrono::milliseconds within) {
  return signal.wait_for(within) == std::future_status::ready;
}

// --- scripted_upstream ------------------------------------------------------------------

struct scripted_upstream::impl {
  asio::io_context io;  // the acceptor's; run by the acceptor thread only
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};

  std::mutex mu;
  bool stopping = false;                              // guarded by mu
  std::vector<std::shared_ptr<upstream_conn>> conns;  // guarded by mu
  std::vector<std::thread> threads;                   // guarded by mu
};

scripted_upstream::scripted_upstream(script s, upstream_options options)
    : script_(std::move(s)), options_(std::move(options)), impl_(std::make_unique<impl>()) {
  port_ = impl_->acceptor.local_endpoint().port();
  acceptor_thread_ = std::thread([this] { accept_loop(); });
}

scripted_upstream::~scripted_upstream() {
  {
    const std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    for (const auto& conn : impl_->conns) conn->impl_->io.stop();
  }
  impl_->io.stop();
  acceptor_thread_.join();
  // The acceptor thread was the only one adding threads.
  for (auto& t : impl_->threads) t.join();
}

void scripted_upstream::accept_loop() {
  for (int i = 0; i < options_.max_connections; ++i) {
    auto conn = std::shared_ptr<upstream_conn>(new upstream_conn(std::make_unique<upstream_conn::impl>(options_.tls)));
    {
      const std::lock_guard lock(impl_->mu);
      if (impl_->stopping) return;
      impl_->conns.push_back(conn);
    }
    bool accepted = false;
    error_code ec;
    impl_->acceptor.async_accept(conn->impl_->socket(), [&](error_code e) {
      accepted = true;
      ec = e;
    });
    while (!accepted) {
      if (impl_->io.run_one() == 0) return;  // stopped
    }
    if (ec) return;
    ++accepts_;
    const std::lock_guard lock(impl_->mu);
    impl_->threads.emplace_back([this, conn] { run_connection(*conn); });
  }
}

void scripted_upstream::run_connection(upstream_conn& conn) {
  if (options_.tls && !conn.impl_->handshake(steady::now() + wait_limit)) {
    conn.close();
    return;
  }
  script_(conn);
  conn.close();
}

scripted_upstream::script scripted_upstream::serve(responder respond) {
  return [respond = std::move(respond)](upstream_conn& conn) {
    while (const auto raw = conn.read_request()) {
      const auto request = parse_request(*raw);
      if (!request) return;
      const answer a = respond(*request);
      if (!a.bytes) {
        conn.wait_closed();
        return;
      }
      if (!conn.write(*a.bytes)) return;
      if (a.close_after || !request->keep_alive()) return;
    }
  };
}

std::string scripted_upstream::base() const {
  return std::string(options_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::string scripted_upstream::url(std::string_view path) const { return base() + std::string(path); }

// --- helpers ------------------------------------------------------------------------------

std::optional<http_request> parse_request(std::string_view raw) {
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  std::size_t used = 0;
  while (!parser.is_done()) {
    error_code ec;
    const std::size_t n = parser.put(asio::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec || n == 0) return std::nullopt;
  }
  if (used != raw.size()) return std::nullopt;
  return parser.release();
}

std::string to_wire(const http_response& response) {
  std::ostringstream out;
  out << response;
  return out.str();
}

std::string chunk(std::string_view data) {
  std::array<char, 32> size{};
  const int n = std::snprintf(size.data(), size.size(), "%zx\r\n", data.size());
  return std::string(size.data(), static_cast<std::size_t>(n)) + std::string(data) + "\r\n";
}

std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}  // closed here: nothing listens on it any more

std::string http_answer(unsigned status, std::string_view content_type, std::string_view body,
                        std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
  if (!content_type.empty()) out.append("Content-Type: ").append(content_type).append("\r\n");
  out.append(extra_headers);
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return out;
}

std::string json_answer(std::string_view body, std::string_view extra_headers) {
  return http_answer(200, "application/json", body, extra_headers);
}

}  // namespace mcpgate::test
