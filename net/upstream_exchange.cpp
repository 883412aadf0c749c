#include "net/upstream_exchange.hpp"

#include "common/text.hpp"
#include "net/await_callback.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <array>
#include <type_traits>

namespace mcpgate::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

constexpr std::size_t read_size = 16 * 1024;

// Socket operations on either kind of upstream stream. A plain connection
// is read and written through its socket directly: the deadline is ours, so
// beast::tcp_stream's per-operation wrapper has nothing to add.
template <class Stream>
auto& io_object(Stream& stream) {
  if constexpr (std::is_same_v<Stream, upstream_connection::plain_stream>) {
    return stream.socket();
  } else {
    return stream;
  }
}

}  // namespace

// Parses the response into the connection's scratch space: the head's
// fields appended to one string, body bytes to the piece being handed out.
// The parsing itself is Beast's.
class response_reader final : public http::basic_parser<false> {
 public:
  response_reader(upstream_connection::scratch_space& scratch, upstream_exchange::response_head& head)
      : scratch_(scratch), head_(head) {
    scratch_.text.clear();
    scratch_.fields.clear();
    scratch_.head_fields.clear();
    head_.fields = {};
    head_.status = 0;
  }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int, error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code&) override {
    head_.status = static_cast<unsigned>(code);
  }
  void on_field_impl(http::field, beast::string_view name, beast::string_view value, error_code&) override {
    const auto n = static_cast<std::uint32_t>(scratch_.text.size());
    scratch_.text.append(name);
    const auto v = static_cast<std::uint32_t>(scratch_.text.size());
    scratch_.text.append(value);
    scratch_.fields.push_back({n, static_cast<std::uint32_t>(name.size()), v,
                               static_cast<std::uint32_t>(value.size())});
  }
  void on_header_impl(error_code&) override {
    const std::string& t = scratch_.text;  // no longer grows: views can be taken
    for (const auto& f : scratch_.fields) {
      scratch_.head_fields.emplace_back(std::string_view(t.data() + f[0], f[1]),
                                        std::string_view(t.data() + f[2], f[3]));
    }
    head_.fields = scratch_.head_fields;
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, error_code&) override {
    scratch_.piece.append(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) override {
    scratch_.piece.append(body);
    return body.size();
  }
  void on_finish_impl(error_code&) override {}

  upstream_connection::scratch_space& scratch_;
  upstream_exchange::response_head& head_;
};

std::string_view upstream_exchange::response_head::header(std::string_view name) const {
  for (const auto& [key, value] : fields) {
    if (ascii_iequals(key, name)) return value;
  }
  return {};
}

upstream_exchange::upstream_exchange(std::shared_ptr<upstream_pool> pool, exchange_options options)
    : pool_(std::move(pool)), options_(options) {}

upstream_exchange::~upstream_exchange() {
  if (conn_ && !cancelled_ && !failed_ && parser_ && parser_->is_done() && parser_->keep_alive() &&
      conn_->scratch().buffer.size() == 0) {
    pool_->release(std::move(conn_));
  }
}

namespace {

// The request line and header block, into `head` (the connection's scratch:
// no allocation once it has grown).
void render_request_head(std::string& head, const parsed_url& url, const upstream_exchange::raw_request& request) {
  head.clear();
  head.append(request.method).append(" ").append(url.target).append(" HTTP/1.1\r\nHost: ");
  head.append(url.host_header).append("\r\n").append(request.fields);
  const bool has_payload = !request.body.empty() || request.method == "POST" || request.method == "PUT" ||
                           request.method == "PATCH";
  if (has_payload) head.append("Content-Length: ").append(std::to_string(request.body.size())).append("\r\n");
  head.append("\r\n");
}

}  // namespace

asio::awaitable<upstream_exchange::started> upstream_exchange::start(
    std::shared_ptr<upstream_pool> pool, const parsed_url& url, raw_request request, exchange_options options) {
  auto self = std::make_shared<upstream_exchange>(std::move(pool), options);
  upstream_exchange* const exchange = self.get();
  return exchange->send(std::move(self), url, std::move(request));  // the frame holds self
}

asio::awaitable<upstream_exchange::started> upstream_exchange::start(
    std::shared_ptr<upstream_pool> pool, std::string_view url, http::request<http::string_body> request,
    exchange_options options) {
  const auto verdict = check_upstream_url(url, pool->options().policy);
  if (verdict.problem == url_problem::not_allowed) {
    co_return started{make_error_code(client_error::ssrf_denied), verdict.reason, nullptr};
  }
  if (!verdict) co_return started{make_error_code(client_error::invalid_url), verdict.reason, nullptr};
  const auto parsed = parse_url(url);
  if (!parsed) co_return started{make_error_code(client_error::invalid_url), "not an absolute http(s) URL", nullptr};
  raw_request raw;
  raw.method = request.method_string();
  for (const auto& field : request) {
    if (field.name() == http::field::host || field.name() == http::field::content_length ||
        field.name() == http::field::connection) {
      continue;
    }
    raw.fields.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
  }
  raw.body = std::move(request.body());
  auto inner = start(std::move(pool), *parsed, std::move(raw), options);
  co_return co_await std::move(inner);
}

asio::awaitable<upstream_exchange::started> upstream_exchange::send(std::shared_ptr<upstream_exchange> self,
                                                                    const parsed_url& url, raw_request request) {
  const origin& where = url.origin;
  for (bool retried = false;;) {
    conn_ = retried ? nullptr : pool_->take_idle_connection(where);
    if (!conn_) {
      auto connecting = await_callback<error_code, std::unique_ptr<upstream_connection>, std::string>(
          [this, &where](auto done) { pool_->connect(where, std::move(done), false); });
      auto [ec, conn, detail] = co_await std::move(connecting);
      if (ec) {
        failed_ = true;
        co_return started{ec, std::move(detail), nullptr};
      }
      conn_ = std::move(conn);
    }

    // The first-byte deadline covers sending the request and the head's arrival.
    net::deadline& deadline = conn_->deadline();
    deadline.expires_after(options_.first_byte_timeout);
    error_code ec;
    std::string& head = conn_->scratch().request_head;
    render_request_head(head, url, request);
    const std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(request.body)};
    auto writing = conn_->visit([&](auto& stream) {
      return asio::async_write(io_object(stream), wire, asio::redirect_error(asio::use_awaitable, ec));
    });
    co_await std::move(writing);
    if (!ec) {
      parser_ = std::make_unique<response_reader>(conn_->scratch(), head_);
      parser_->body_limit(boost::none);  // streamed through, never held whole
      auto reading = read_head();
      ec = co_await std::move(reading);
    }
    if (!ec) co_return started{{}, {}, std::move(self)};

    const bool nothing_received = !parser_ || !parser_->got_some();
    const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                        ec == asio::ssl::error::stream_truncated;
    // The upstream may close an idle keep-alive connection just as we reuse
    // it; the request never reached it, so one retry on a new connection is safe.
    if (conn_->reused() && !retried && nothing_received && closed && !deadline.expired()) {
      retried = true;
      parser_.reset();
      continue;
    }
    const bool timed_out = deadline.expired();
    failed_ = true;
    conn_.reset();  // closed: the upstream sees it at once
    parser_.reset();
    if (timed_out)
      co_return started{make_error_code(client_error::timeout), "upstream did not answer in time", nullptr};
    co_return started{ec, ec.message(), nullptr};
  }
}

asio::awaitable<error_code> upstream_exchange::read_head() {
  auto& scratch = conn_->scratch();
  scratch.piece.clear();
  error_code ec;
  for (;;) {
    if (scratch.buffer.size() > 0) {
      const std::size_t used = parser_->put(scratch.buffer.data(), ec);
      scratch.buffer.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        co_return ec;
      } else if (parser_->is_header_done()) {
        parser_->eager(true);  // from here on, a put() parses all the body bytes it is given
        co_return ec;
      } else if (used > 0) {
        continue;
      }
    }
    auto reading = conn_->visit([&](auto& stream) {
      return io_object(stream).async_read_some(scratch.buffer.prepare(read_size),
                                               asio::redirect_error(asio::use_awaitable, ec));
    });
    const std::size_t n = co_await std::move(reading);
    if (ec) co_return ec == asio::error::eof && parser_->got_some() ? error_code(http::error::partial_message) : ec;
    scratch.buffer.commit(n);
  }
}

bool upstream_exchange::body_done() const { return parser_ && parser_->is_done(); }

asio::awaitable<std::pair<error_code, std::string_view>> upstream_exchange::read_some() {
  if (cancelled_ || failed_ || !conn_)
    co_return std::pair{error_code(asio::error::operation_aborted), std::string_view()};
  auto& scratch = conn_->scratch();
  scratch.piece.clear();
  if (parser_->is_done()) co_return std::pair{error_code(), std::string_view()};
  error_code ec;
  for (;;) {
    if (scratch.buffer.size() > 0) {
      const std::size_t used = parser_->put(scratch.buffer.data(), ec);
      scratch.buffer.consume(used);
      if (ec == http::error::need_more) ec = {};
      if (ec) break;
      // A piece as soon as there is one (framing alone is no piece: read on).
      if (!scratch.piece.empty() || parser_->is_done()) break;
      if (used > 0) continue;
    }
    conn_->deadline().expires_after(options_.idle_timeout);
    auto reading = conn_->visit([&](auto& stream) {
      return io_object(stream).async_read_some(scratch.buffer.prepare(read_size),
                                               asio::redirect_error(asio::use_awaitable, ec));
    });
    const std::size_t n = co_await std::move(reading);
    if (ec == asio::error::eof) {
      ec = {};
      parser_->put_eof(ec);  // ends a body delimited by the close; else partial_message
      break;
    }
    if (ec) {
      if (conn_ && conn_->deadline().expired()) ec = client_error::timeout;
      break;
    }
    scratch.buffer.commit(n);
  }
  if (ec) {
    // The connection is of no further use: the upstream sees it close now,
    // not when the exchange goes.
    failed_ = true;
    error_code ignored;
    conn_->tcp().socket().close(ignored);
    co_return std::pair{ec, std::string_view()};
  }
  conn_->deadline().expires_never();
  co_return std::pair{error_code(), std::string_view(scratch.piece)};
}

void upstream_exchange::cancel() {
  cancelled_ = true;
  if (!conn_) return;
  // Closing cancels a pending read (it completes with operation_aborted)
  // and tells the upstream at once. The connection object stays until the
  // exchange goes: head() still points into it.
  error_code ignored;
  conn_->tcp().socket().close(ignored);
}

}  // namespace mcpgate::net
