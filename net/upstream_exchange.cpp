#include "net/upstream_exchange.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace mcpgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

upstream_exchange::upstream_exchange(std::shared_ptr<upstream_pool> pool, origin where, std::string head,
                                     std::string body, exchange_options options, head_handler handler)
    : pool_(std::move(pool)),
      origin_(std::move(where)),
      head_(std::move(head)),
      body_(std::move(body)),
      options_(options),
      on_head_(std::move(handler)) {
  // Beast sizes each socket read by the buffer's free space: without room
  // reserved, a stream would be read 512 bytes at a time.
  buffer_.reserve(read_buffer_size);
}

upstream_exchange::~upstream_exchange() {
  // No handler holds us, so nothing is pending on the connection.
  if (conn_ && !cancelled_ && !failed_ && parser_ && parser_->is_done() && parser_->keep_alive() &&
      buffer_.size() == 0) {
    pool_->release(std::move(conn_));
  }
}

void upstream_exchange::start(const std::shared_ptr<upstream_pool>& pool, std::string_view url,
                              http::request<http::string_body> request, exchange_options options,
                              head_handler handler) {
  auto refuse = [&](client_error e, std::string detail) {
    asio::post(pool->executor(), [handler = std::move(handler), e, detail = std::move(detail)] {
      handler(make_error_code(e), detail, nullptr);
    });
  };
  const auto verdict = check_upstream_url(url, pool->options().policy);
  if (verdict.problem == url_problem::not_allowed) return refuse(client_error::ssrf_denied, verdict.reason);
  if (!verdict) return refuse(client_error::invalid_url, verdict.reason);
  const auto parsed = parse_url(url);
  if (!parsed) return refuse(client_error::invalid_url, "not an absolute http(s) URL");
  start(pool, *parsed, std::move(request), options, std::move(handler));
}

void upstream_exchange::start(const std::shared_ptr<upstream_pool>& pool, const parsed_url& url,
                              http::request<http::string_body> request, exchange_options options,
                              head_handler handler) {
  request.target(url.target);
  request.set(http::field::host, url.host_header);
  request.keep_alive(true);
  request.prepare_payload();
  std::string head;
  head.append(request.method_string()).append(" ").append(request.target()).append(" HTTP/1.1\r\n");
  for (const auto& field : request) {
    head.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
  }
  head.append("\r\n");
  auto self = std::make_shared<upstream_exchange>(pool, url.origin, std::move(head), std::move(request.body()),
                                                  options, std::move(handler));
  self->connect(true);
}

void upstream_exchange::start(const std::shared_ptr<upstream_pool>& pool, const parsed_url& url,
                              raw_request request, exchange_options options, head_handler handler) {
  std::string head;
  head.reserve(64 + url.target.size() + url.host_header.size() + request.fields.size());
  head.append(request.method).append(" ").append(url.target).append(" HTTP/1.1\r\nHost: ");
  head.append(url.host_header).append("\r\n").append(request.fields);
  const bool has_payload = !request.body.empty() || request.method == "POST" || request.method == "PUT" ||
                           request.method == "PATCH";
  if (has_payload) head.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
  head.append("\r\n");
  auto self = std::make_shared<upstream_exchange>(pool, url.origin, std::move(head), std::move(request.body),
                                                  options, std::move(handler));
  self->connect(true);
}

const upstream_exchange::response_head& upstream_exchange::head() const { return parser_->get().base(); }

bool upstream_exchange::body_done() const { return parser_->is_done(); }

void upstream_exchange::connect(bool reuse_idle) {
  pool_->connect(
      origin_,
      [self = shared_from_this()](error_code ec, std::unique_ptr<upstream_connection> conn, std::string detail) {
        self->on_connect(ec, std::move(conn), std::move(detail));
      },
      reuse_idle);
}

void upstream_exchange::on_connect(error_code ec, std::unique_ptr<upstream_connection> conn,
                                   std::string detail) {
  if (ec) return fail_head(ec, std::move(detail));
  conn_ = std::move(conn);
  // The first-byte deadline covers sending the request and the header's arrival.
  conn_->tcp().expires_after(options_.first_byte_timeout);
  conn_->visit([this](auto& stream) {
    const std::array<asio::const_buffer, 2> wire{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream, wire, [self = shared_from_this()](error_code wec, std::size_t) {
      self->on_write(wec);
    });
  });
}

void upstream_exchange::on_write(error_code ec) {
  if (ec) return on_error(ec);
  parser_.emplace();
  parser_->body_limit(boost::none);  // streamed through, never held whole
  conn_->visit([this](auto& stream) {
    http::async_read_header(stream, buffer_, *parser_, [self = shared_from_this()](error_code rec, std::size_t) {
      self->on_header(rec);
    });
  });
}

void upstream_exchange::on_header(error_code ec) {
  if (ec) return on_error(ec);
  conn_->tcp().expires_never();
  auto handler = std::exchange(on_head_, nullptr);
  handler({}, {}, shared_from_this());
}

void upstream_exchange::on_error(error_code ec) {
  const bool nothing_received = !parser_ || !parser_->got_some();
  const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                      ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                      ec == asio::ssl::error::stream_truncated;
  // The upstream may close an idle keep-alive connection just as we reuse it;
  // the request never reached it, so one retry on a new connection is safe.
  if (conn_ && conn_->reused() && !retried_ && nothing_received && closed) {
    retried_ = true;
    conn_.reset();
    parser_.reset();
    buffer_.clear();
    return connect(false);
  }
  if (ec == beast::error::timeout) return fail_head(client_error::timeout, "upstream did not answer in time");
  fail_head(ec, ec.message());
}

void upstream_exchange::fail_head(error_code ec, std::string detail) {
  failed_ = true;
  conn_.reset();
  auto handler = std::exchange(on_head_, nullptr);
  handler(ec, std::move(detail), nullptr);
}

void upstream_exchange::read_some(piece_handler handler) {
  if (!conn_) {  // the head failed: there is no body
    return asio::post(pool_->executor(), [handler = std::move(handler)] {
      handler(asio::error::operation_aborted, {});
    });
  }
  auto ex = conn_->tcp().get_executor();
  asio::dispatch(ex, [self = shared_from_this(), handler = std::move(handler)]() mutable {
    self->do_read(std::move(handler));
  });
}

void upstream_exchange::do_read(piece_handler handler) {
  if (cancelled_ || failed_) {
    return asio::post(conn_->tcp().get_executor(), [handler = std::move(handler)] {
      handler(asio::error::operation_aborted, {});
    });
  }
  if (parser_->is_done()) {
    return asio::post(conn_->tcp().get_executor(), [handler = std::move(handler)] { handler({}, {}); });
  }
  if (!piece_) piece_.reset(new char[piece_size]);
  parser_->get().body().data = piece_.get();
  parser_->get().body().size = piece_size;
  conn_->tcp().expires_after(options_.idle_timeout);
  conn_->visit([this, &handler](auto& stream) {
    http::async_read_some(stream, buffer_, *parser_,
                          [self = shared_from_this(), handler = std::move(handler)](error_code ec, std::size_t) mutable {
                            self->on_body(ec, std::move(handler));
                          });
  });
}

void upstream_exchange::on_body(error_code ec, piece_handler handler) {
  if (ec == http::error::need_buffer) ec = {};
  if (ec == beast::error::timeout) ec = client_error::timeout;
  if (ec) {
    failed_ = true;
    return handler(ec, {});
  }
  const std::size_t got = piece_size - parser_->get().body().size;
  if (got == 0 && !parser_->is_done()) return do_read(std::move(handler));  // framing only, read on
  conn_->tcp().expires_never();
  handler({}, std::string_view(piece_.get(), got));
}

void upstream_exchange::cancel() {
  if (!conn_) return;
  auto ex = conn_->tcp().get_executor();
  asio::dispatch(ex, [self = shared_from_this()] {
    self->cancelled_ = true;
    if (self->conn_) self->conn_->tcp().close();
  });
}

}  // namespace mcpgate::net
