#include "net/upstream_client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <vector>

namespace mcpgate::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

class client_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "mcpgate.net.client"; }
  std::string message(int ev) const override {
    switch (static_cast<client_error>(ev)) {
      case client_error::ok: return "success";
      case client_error::invalid_url: return "invalid upstream URL";
      case client_error::ssrf_denied: return "upstream address not allowed";
      case client_error::resolve_failed: return "upstream host could not be resolved";
      case client_error::connect_failed: return "upstream connection failed";
      case client_error::connect_timeout: return "upstream connection timed out";
      case client_error::tls_failed: return "upstream TLS handshake failed";
      case client_error::timeout: return "upstream request timed out";
    }
    return "unknown upstream client error";
  }
};

bool is_ip_literal(const std::string& host) {
  error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

// An idle connection is worth reusing when the upstream has neither closed it
// (readable with 0 bytes) nor sent anything unasked (a late error, a TLS
// alert): either way it cannot carry a new request cleanly.
bool looks_alive(upstream_connection& conn) {
  auto& socket = conn.tcp().socket();
  if (!socket.is_open()) return false;
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

const boost::system::error_category& client_category() noexcept {
  static const client_category_impl instance;
  return instance;
}

// --- upstream_connection -----------------------------------------------------

upstream_connection::upstream_connection(net::origin where, plain_stream stream)
    : origin_(std::move(where)), stream_(std::in_place_type<plain_stream>, std::move(stream)) {}

upstream_connection::upstream_connection(net::origin where, plain_stream stream, std::shared_ptr<ssl::context> tls)
    : origin_(std::move(where)),
      tls_context_(std::move(tls)),
      stream_(std::in_place_type<tls_stream>, std::move(stream), *tls_context_) {}

upstream_connection::~upstream_connection() = default;

net::deadline& upstream_connection::deadline() {
  if (!deadline_) {
    deadline_ = std::make_unique<net::deadline>(tcp().get_executor(), [this] {
      error_code ignored;
      tcp().socket().cancel(ignored);
    });
  }
  return *deadline_;
}

beast::tcp_stream& upstream_connection::tcp() {
  return std::visit([](auto& s) -> beast::tcp_stream& { return beast::get_lowest_layer(s); }, stream_);
}

// --- connect_op: resolve, SSRF filter, connect, TLS handshake ------------------

// Lives (through shared_ptr captures) until its handler has run. Every step
// runs on the strand of the connection being built.
class connect_op : public std::enable_shared_from_this<connect_op> {
 public:
  connect_op(std::shared_ptr<upstream_pool> pool, origin where, upstream_pool::connect_handler handler)
      : pool_(std::move(pool)),
        origin_(std::move(where)),
        handler_(std::move(handler)),
        strand_(pool_->options().single_thread ? pool_->executor()
                                               : asio::any_io_executor(asio::make_strand(pool_->executor()))),
        resolver_(strand_),
        timer_(strand_),
        stream_(strand_) {}

  void start() {
    // The resolver has no deadline of its own; the timer cancels it.
    timer_.expires_after(pool_->options().connect_timeout);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && self->resolving_) {
        self->resolve_timed_out_ = true;
        self->resolver_.cancel();
      }
    });
    resolving_ = true;
    resolver_.async_resolve(origin_.host, std::to_string(origin_.port),
                            [self = shared_from_this()](error_code ec, const tcp::resolver::results_type& results) {
                              self->on_resolve(ec, results);
                            });
  }

 private:
  void on_resolve(error_code ec, const tcp::resolver::results_type& results) {
    resolving_ = false;
    timer_.cancel();
    if (resolve_timed_out_) {
      return finish(client_error::connect_timeout, "resolving " + origin_.host + " timed out");
    }
    if (ec) return finish(client_error::resolve_failed, ec.message());
    // Every address is checked before any connect: an allowed and a refused
    // address under one name (rebinding) yields connects to the allowed only.
    std::vector<tcp::endpoint> allowed;
    std::string first_reason;
    for (const auto& entry : results) {
      const auto endpoint = entry.endpoint();
      auto reason = check_address(endpoint.address(), origin_.host, origin_.port, pool_->options().policy);
      if (!reason) {
        allowed.push_back(endpoint);
      } else if (first_reason.empty()) {
        first_reason = std::move(*reason);
      }
    }
    if (allowed.empty()) {
      if (first_reason.empty()) first_reason = "host " + origin_.host + " has no address";
      return finish(client_error::ssrf_denied, std::move(first_reason));
    }
    stream_.expires_after(pool_->options().connect_timeout);
    stream_.async_connect(allowed, [self = shared_from_this()](error_code cec, const tcp::endpoint&) {
      self->on_connect(cec);
    });
  }

  void on_connect(error_code ec) {
    if (ec == beast::error::timeout) {
      return finish(client_error::connect_timeout, "connecting to " + origin_.host + " timed out");
    }
    if (ec) return finish(client_error::connect_failed, ec.message());
    if (!origin_.tls) {
      conn_ = std::make_unique<upstream_connection>(origin_, std::move(stream_));
      return finish(client_error::ok, {});
    }
    conn_ = std::make_unique<upstream_connection>(origin_, std::move(stream_), pool_->tls_context_);
    auto& tls = std::get<upstream_connection::tls_stream>(conn_->stream_);
    // SNI carries names only (RFC 6066), never an IP literal.
    if (!is_ip_literal(origin_.host) &&
        // SSL_set_tlsext_host_name() without its C cast.
        SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(origin_.host.c_str())) != 1) {
      return finish(client_error::tls_failed, "cannot set the TLS server name");
    }
    error_code vec;
    tls.set_verify_mode(ssl::verify_peer, vec);
    if (!vec) tls.set_verify_callback(ssl::host_name_verification(origin_.host), vec);
    if (vec) return finish(client_error::tls_failed, vec.message());
    conn_->tcp().expires_after(pool_->options().connect_timeout);
    tls.async_handshake(ssl::stream_base::client, [self = shared_from_this()](error_code hec) {
      self->on_handshake(hec);
    });
  }

  void on_handshake(error_code ec) {
    if (ec == beast::error::timeout) {
      return finish(client_error::connect_timeout, "TLS handshake with " + origin_.host + " timed out");
    }
    if (ec) return finish(client_error::tls_failed, ec.message());
    finish(client_error::ok, {});
  }

  void finish(client_error e, std::string detail) {
    if (e != client_error::ok) {
      conn_.reset();
      handler_(make_error_code(e), nullptr, std::move(detail));
      return;
    }
    conn_->tcp().expires_never();
    handler_({}, std::move(conn_), {});
  }

  // Constant after construction.
  const std::shared_ptr<upstream_pool> pool_;
  const origin origin_;
  const upstream_pool::connect_handler handler_;
  const asio::any_io_executor strand_;  // a strand, or the executor itself when single-threaded

  // Touched only on strand_.
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  beast::tcp_stream stream_;
  std::unique_ptr<upstream_connection> conn_;
  bool resolving_ = false;
  bool resolve_timed_out_ = false;
};

// --- upstream_pool -------------------------------------------------------------

upstream_pool::upstream_pool(asio::any_io_executor executor, client_options options, std::shared_ptr<ssl::context> tls)
    : executor_(std::move(executor)), options_(std::move(options)), tls_context_(std::move(tls)) {}

result<std::shared_ptr<upstream_pool>> upstream_pool::create(asio::any_io_executor executor, client_options options) {
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
  error_code ec;
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  if (!ec) tls->set_default_verify_paths(ec);
  if (!ec && !options.ca_file.empty()) tls->load_verify_file(options.ca_file, ec);
  if (!ec) tls->set_verify_mode(ssl::verify_peer, ec);
  if (ec) return ec;
  return std::make_shared<upstream_pool>(std::move(executor), std::move(options), std::move(tls));
}

std::unique_ptr<upstream_connection> upstream_pool::take_idle(const origin& where) {
  std::vector<std::unique_ptr<upstream_connection>> stale;  // closed outside the lock
  std::unique_ptr<upstream_connection> found;
  {
    const std::lock_guard lock(mu_);
    const auto it = idle_.find(where);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = std::chrono::steady_clock::now();
    const auto oldest_allowed = now - options_.idle_keepalive;
    const auto recent_enough = now - std::chrono::seconds(1);
    // Newest first: the most recently used connection is the likeliest alive.
    while (!list.empty() && !found) {
      auto conn = std::move(list.back());
      list.pop_back();
      // A connection used a moment ago is taken as is (a close we missed is
      // caught by the retry in the request ops); an older one is probed,
      // which costs a system call.
      const bool recent = conn->idle_since_ >= recent_enough;
      if (conn->idle_since_ >= oldest_allowed && (recent || looks_alive(*conn))) {
        found = std::move(conn);
      } else {
        stale.push_back(std::move(conn));
      }
    }
    if (list.empty()) idle_.erase(it);
  }
  return found;
}

std::unique_ptr<upstream_connection> upstream_pool::take_idle_connection(const origin& where) {
  auto conn = take_idle(where);
  if (conn) conn->reused_ = true;
  return conn;
}

void upstream_pool::connect(const origin& where, connect_handler handler, bool reuse_idle) {
  if (reuse_idle) {
    if (auto conn = take_idle(where)) {
      conn->reused_ = true;
      auto ex = conn->tcp().get_executor();
      asio::post(ex, [handler = std::move(handler), conn = std::move(conn)]() mutable {
        handler({}, std::move(conn), {});
      });
      return;
    }
  }
  std::make_shared<connect_op>(shared_from_this(), where, std::move(handler))->start();
}

void upstream_pool::release(std::unique_ptr<upstream_connection> conn) {
  if (!conn || !conn->tcp().socket().is_open()) return;
  conn->tcp().expires_never();
  if (conn->deadline_) conn->deadline_->expires_never();  // its wait, if any, stays for the next exchange
  conn->idle_since_ = std::chrono::steady_clock::now();
  std::unique_ptr<upstream_connection> dropped;  // closed outside the lock
  const std::lock_guard lock(mu_);
  auto& list = idle_[conn->where()];
  if (list.size() >= options_.max_idle_per_origin) {
    if (list.empty()) {
      dropped = std::move(conn);
      idle_.erase(dropped->where());
      return;
    }
    dropped = std::move(list.front());  // the oldest goes
    list.pop_front();
  }
  list.push_back(std::move(conn));
}

std::size_t upstream_pool::idle_count(const origin& where) const {
  const std::lock_guard lock(mu_);
  const auto it = idle_.find(where);
  return it == idle_.end() ? 0 : it->second.size();
}

// --- async_request -------------------------------------------------------------

namespace {

class request_op : public std::enable_shared_from_this<request_op> {
 public:
  request_op(std::shared_ptr<upstream_pool> pool, origin where, http::request<http::string_body> request,
             request_options options, request_handler handler)
      : pool_(std::move(pool)),
        origin_(std::move(where)),
        request_(std::move(request)),
        options_(options),
        handler_(std::move(handler)),
        deadline_(std::chrono::steady_clock::now() + options.timeout) {}

  void start(bool reuse_idle) {
    pool_->connect(
        origin_,
        [self = shared_from_this()](error_code ec, std::unique_ptr<upstream_connection> conn, std::string detail) {
          self->on_connect(ec, std::move(conn), std::move(detail));
        },
        reuse_idle);
  }

 private:
  void on_connect(error_code ec, std::unique_ptr<upstream_connection> conn, std::string detail) {
    if (ec) return fail(ec, std::move(detail));
    conn_ = std::move(conn);
    if (std::chrono::steady_clock::now() >= deadline_) {
      return fail(client_error::timeout, "no time left after connecting");
    }
    conn_->tcp().expires_at(deadline_);
    conn_->visit([this](auto& stream) {
      http::async_write(stream, request_,
                        [self = shared_from_this()](error_code wec, std::size_t) { self->on_write(wec); });
    });
  }

  void on_write(error_code ec) {
    if (ec) return on_error(ec);
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    conn_->visit([this](auto& stream) {
      http::async_read(stream, buffer_, *parser_,
                       [self = shared_from_this()](error_code rec, std::size_t) { self->on_read(rec); });
    });
  }

  void on_read(error_code ec) {
    if (ec) return on_error(ec);
    auto response = parser_->release();
    // Reusable only when nothing unread is left on the connection.
    if (response.keep_alive() && buffer_.size() == 0) pool_->release(std::move(conn_));
    conn_.reset();
    handler_({}, std::move(response), {});
  }

  void on_error(error_code ec) {
    const bool nothing_received = !parser_ || !parser_->got_some();
    const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                        ec == ssl::error::stream_truncated;
    // The upstream may close an idle keep-alive connection just as we reuse
    // it; the request never reached it, so one retry on a new one is safe.
    if (conn_ && conn_->reused() && !retried_ && nothing_received && closed) {
      retried_ = true;
      conn_.reset();
      parser_.reset();
      buffer_.clear();
      return start(false);
    }
    if (ec == beast::error::timeout) return fail(client_error::timeout, "upstream did not answer in time");
    fail(ec, ec.message());
  }

  void fail(error_code ec, std::string detail) {
    conn_.reset();
    handler_(ec, {}, std::move(detail));
  }

  // Constant after construction.
  const std::shared_ptr<upstream_pool> pool_;
  const origin origin_;
  const http::request<http::string_body> request_;
  const request_options options_;
  const request_handler handler_;
  const std::chrono::steady_clock::time_point deadline_;

  // Touched only on the connection's strand.
  std::unique_ptr<upstream_connection> conn_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
  bool retried_ = false;
};

}  // namespace

void async_request(const std::shared_ptr<upstream_pool>& pool, std::string_view url,
                   http::request<http::string_body> request, request_options options, request_handler handler) {
  auto refuse = [&](client_error e, std::string detail) {
    asio::post(pool->executor(), [handler = std::move(handler), e, detail = std::move(detail)] {
      handler(make_error_code(e), {}, detail);
    });
  };
  const auto verdict = check_upstream_url(url, pool->options().policy);
  if (verdict.problem == url_problem::not_allowed) {
    return refuse(client_error::ssrf_denied, verdict.reason);
  }
  if (!verdict) return refuse(client_error::invalid_url, verdict.reason);
  auto parsed = parse_url(url);
  if (!parsed) return refuse(client_error::invalid_url, "not an absolute http(s) URL");
  request.target(parsed->target);
  request.set(http::field::host, parsed->host_header);
  request.keep_alive(true);
  request.prepare_payload();
  std::make_shared<request_op>(pool, std::move(parsed->origin), std::move(request), options, std::move(handler))
      ->start(true);
}

}  // namespace mcpgate::net
