// Benchmark upstream: a minimal, fast MCP server (Streamable HTTP, JSON
// answers) for bench/run. One thread, one io_context (epoll), HTTP/1.1
// keep-alive, so that it is never the bottleneck of a one-core proxy run.
//
//   POST <any path>   JSON-RPC object or batch:
//                     initialize, tools/list, tools/call (echoes the request's
//                     id and its "text" argument), ping; notifications -> 202
//                     With --big-bytes N, a second tool "big" is listed: a
//                     tools/call of it (a single message, not a batch) answers
//                     a JSON body of about N bytes (one text content of N
//                     'a's, built once and written from the same buffer every
//                     time, with a Content-Length)
//   GET  <any path>   with Accept: text/event-stream: an SSE stream held open,
//                     a comment at once and a ": ping" every --ping-seconds
//   GET  /stats       {"requests":N,"sse_open":N,"sse_total":N,"auth_ok":N,"big":N}
//   DELETE            204
//
// Usage: mcpgate_bench_upstream [--port N] [--ping-seconds S] [--expect-key K]
//                               [--big-bytes N]
// Prints "listening 127.0.0.1:PORT" once it accepts; SIGTERM/SIGINT stop it.
// "mcpgate_bench_upstream --free-port" prints a free loopback port and exits.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct counters {
  std::uint64_t requests = 0;
  std::uint64_t sse_open = 0;
  std::uint64_t sse_total = 0;
  std::uint64_t auth_ok = 0;
  std::uint64_t big = 0;  // big answers written whole
};

struct settings {
  std::chrono::seconds ping{10};
  std::string expected_authorization;  // "Bearer <key>", empty: not counted
  // With --big-bytes: everything of the big answer after its id, built once.
  std::shared_ptr<const std::string> big_tail;
};

json::value tool_list(bool with_big) {
  const json::object schema{{"type", "object"},
                            {"properties", json::object{{"text", json::object{{"type", "string"}}}}}};
  json::array tools{json::object{
      {"name", "echo"},
      {"description", "Echoes its text argument"},
      {"inputSchema", schema},
  }};
  if (with_big) {
    tools.push_back(json::object{
        {"name", "big"},
        {"description", "Answers a large text (bench/flood)"},
        {"inputSchema", schema},
    });
  }
  return json::value{{"tools", std::move(tools)}};
}

// The id of a single tools/call of the "big" tool, or nothing.
const json::value* big_call_id(const json::value& message) {
  const auto* obj = message.if_object();
  if (obj == nullptr) return nullptr;
  const auto* id = obj->if_contains("id");
  const auto* method = obj->if_contains("method");
  const auto* params = obj->if_contains("params");
  if (id == nullptr || method == nullptr || !method->is_string() || method->get_string() != "tools/call" ||
      params == nullptr || !params->is_object())
    return nullptr;
  const auto* name = params->get_object().if_contains("name");
  if (name == nullptr || !name->is_string() || name->get_string() != "big") return nullptr;
  return id;
}

// The answer to one JSON-RPC message, or nothing for a notification.
std::optional<json::value> answer(const json::value& message, bool with_big) {
  const auto* obj = message.if_object();
  if (obj == nullptr) {
    return json::value{{"jsonrpc", "2.0"},
                       {"id", nullptr},
                       {"error", json::object{{"code", -32600}, {"message", "Invalid Request"}}}};
  }
  const auto* id = obj->if_contains("id");
  const auto* method_value = obj->if_contains("method");
  if (id == nullptr) return std::nullopt;  // notification (or a response from the client)
  const std::string_view method = method_value != nullptr && method_value->is_string()
                                      ? std::string_view{method_value->get_string()}
                                      : std::string_view{};
  const auto* params_value = obj->if_contains("params");
  const auto* params = params_value != nullptr ? params_value->if_object() : nullptr;

  json::value result;
  if (method == "initialize") {
    json::value version = "2025-06-18";
    if (params != nullptr) {
      if (const auto* asked = params->if_contains("protocolVersion"); asked != nullptr && asked->is_string())
        version = *asked;
    }
    result = json::object{
        {"protocolVersion", version},
        {"capabilities", json::object{{"tools", json::object{{"listChanged", false}}}}},
        {"serverInfo", json::object{{"name", "mcpgate-bench-upstream"}, {"version", "1"}}},
    };
  } else if (method == "tools/list") {
    result = tool_list(with_big);
  } else if (method == "tools/call") {
    json::string text = "ok";
    if (params != nullptr) {
      if (const auto* args = params->if_contains("arguments"); args != nullptr && args->is_object()) {
        if (const auto* t = args->get_object().if_contains("text"); t != nullptr && t->is_string())
          text = t->get_string();
      }
    }
    result = json::object{
        {"content", json::array{json::object{{"type", "text"}, {"text", text}}}},
        {"isError", false},
    };
  } else if (method == "ping") {
    result = json::object{};
  } else {
    return json::value{{"jsonrpc", "2.0"},
                       {"id", *id},
                       {"error", json::object{{"code", -32601}, {"message", "Method not found"}}}};
  }
  return json::value{{"jsonrpc", "2.0"}, {"id", *id}, {"result", std::move(result)}};
}

class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, counters& count, const settings& config)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), count_(count), config_(config) {}

  void start() { read_request(); }

 private:
  void read_request() {
    parser_.emplace();
    parser_->body_limit(4 * 1024 * 1024);
    auto self = shared_from_this();
    http::async_read(socket_, buffer_, *parser_, [self](beast::error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec) return close();
    ++count_.requests;
    auto& req = parser_->get();
    if (!config_.expected_authorization.empty() && req[http::field::authorization] == config_.expected_authorization)
      ++count_.auth_ok;

    response_ = {};
    response_.version(11);
    response_.keep_alive(req.keep_alive());

    if (req.method() == http::verb::post) {
      handle_post(req);
    } else if (req.method() == http::verb::get && req.target() == "/stats") {
      reply(http::status::ok, "application/json",
            json::serialize(json::value{{"requests", count_.requests},
                                        {"sse_open", count_.sse_open},
                                        {"sse_total", count_.sse_total},
                                        {"auth_ok", count_.auth_ok},
                                        {"big", count_.big}}));
    } else if (req.method() == http::verb::get) {
      if (req[http::field::accept].find("text/event-stream") == std::string_view::npos)
        return reply(http::status::method_not_allowed, "application/json", R"({"error":"GET needs SSE"})");
      return start_stream();
    } else if (req.method() == http::verb::delete_) {
      reply(http::status::no_content, {}, {});
    } else {
      response_.set(http::field::allow, "GET, POST, DELETE");
      reply(http::status::method_not_allowed, "application/json", R"({"error":"method not allowed"})");
    }
  }

  void handle_post(const http::request<http::string_body>& req) {
    boost::system::error_code parse_error;
    const json::value body = json::parse(req.body(), parse_error);
    if (parse_error) {
      return reply(http::status::bad_request, "application/json",
                   R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})");
    }
    const bool with_big = config_.big_tail != nullptr;
    if (const auto* batch = body.if_array()) {
      json::array answers;
      for (const auto& item : *batch) {
        if (auto a = answer(item, with_big)) answers.push_back(std::move(*a));
      }
      if (answers.empty()) return reply(http::status::accepted, {}, {});
      return reply(http::status::ok, "application/json", json::serialize(answers));
    }
    if (with_big) {
      if (const auto* id = big_call_id(body)) return reply_big(*id);
    }
    auto a = answer(body, with_big);
    if (!a) return reply(http::status::accepted, {}, {});
    reply(http::status::ok, "application/json", json::serialize(*a));
  }

  void reply(http::status status, std::string_view content_type, std::string body) {
    response_.result(status);
    if (!content_type.empty()) response_.set(http::field::content_type, content_type);
    response_.body() = std::move(body);
    response_.prepare_payload();
    auto self = shared_from_this();
    http::async_write(socket_, response_, [self](beast::error_code ec, std::size_t) {
      if (ec || !self->response_.keep_alive()) return self->close();
      self->read_request();
    });
  }

  // The big answer: a head and the id written from buffers of their own, the
  // rest from the one shared tail (no copy of its megabytes per answer).
  void reply_big(const json::value& id) {
    big_id_ = "{\"jsonrpc\":\"2.0\",\"id\":" + json::serialize(id);
    const auto& tail = *config_.big_tail;
    big_head_ = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(big_id_.size() + tail.size()) + "\r\n";
    if (!response_.keep_alive()) big_head_ += "Connection: close\r\n";
    big_head_ += "\r\n";
    const std::array<asio::const_buffer, 3> wire{asio::buffer(big_head_), asio::buffer(big_id_), asio::buffer(tail)};
    auto self = shared_from_this();
    auto keep = config_.big_tail;  // the buffer outlives the write
    asio::async_write(socket_, wire, [self, keep](beast::error_code ec, std::size_t) {
      if (ec || !self->response_.keep_alive()) return self->close();
      ++self->count_.big;
      self->read_request();
    });
  }

  // SSE: a raw chunked response held open until the client goes.
  void start_stream() {
    ++count_.sse_open;
    ++count_.sse_total;
    streaming_ = true;
    static constexpr std::string_view head =
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n"
        "8\r\n: open\n\n\r\n";
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(head), [self](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->watch_peer();
      self->schedule_ping();
    });
  }

  // Any byte or EOF from the client while streaming ends the stream.
  void watch_peer() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(scratch_), [self](beast::error_code, std::size_t) { self->close(); });
  }

  void schedule_ping() {
    timer_.expires_after(config_.ping);
    auto self = shared_from_this();
    timer_.async_wait([self](beast::error_code ec) {
      if (ec || !self->socket_.is_open()) return;
      static constexpr std::string_view ping = "8\r\n: ping\n\n\r\n";
      asio::async_write(self->socket_, asio::buffer(ping), [self](beast::error_code wec, std::size_t) {
        if (wec) return self->close();
        self->schedule_ping();
      });
    });
  }

  void close() {
    if (!socket_.is_open()) return;
    if (streaming_) --count_.sse_open;
    streaming_ = false;
    timer_.cancel();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  counters& count_;
  const settings& config_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::string big_head_;
  std::string big_id_;
  bool streaming_ = false;
  char scratch_[64]{};
};

class listener {
 public:
  listener(asio::io_context& io, tcp::endpoint at, counters& count, const settings& config)
      : acceptor_(io), count_(count), config_(config) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        beast::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        std::make_shared<session>(std::move(socket), count_, config_)->start();
      }
      accept();  // EMFILE and friends: keep serving the connections we have
    });
  }

  void stop() {
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  tcp::acceptor acceptor_;
  counters& count_;
  const settings& config_;
};

int usage() {
  std::cerr << "usage: mcpgate_bench_upstream [--port N] [--ping-seconds S] [--expect-key KEY] [--big-bytes N]\n"
               "       mcpgate_bench_upstream --free-port\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  settings config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--free-port") {
      asio::io_context io;
      tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      std::cout << probe.local_endpoint().port() << std::endl;
      return 0;
    }
    if (arg == "--port" && has_value) {
      port = static_cast<unsigned short>(std::strtoul(argv[++i], nullptr, 10));
    } else if (arg == "--ping-seconds" && has_value) {
      config.ping = std::chrono::seconds(std::max(1L, std::strtol(argv[++i], nullptr, 10)));
    } else if (arg == "--expect-key" && has_value) {
      config.expected_authorization = std::string("Bearer ") + argv[++i];
    } else if (arg == "--big-bytes" && has_value) {
      const auto n = std::strtoull(argv[++i], nullptr, 10);
      if (n == 0) return usage();
      config.big_tail = std::make_shared<const std::string>(",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"" +
                                                            std::string(n, 'a') + "\"}],\"isError\":false}}");
    } else {
      return usage();
    }
  }

  try {
    asio::io_context io(1);
    counters count;
    listener server(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), count, config);
    server.accept();
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
      server.stop();
      io.stop();
    });
    std::cout << "listening 127.0.0.1:" << server.port() << std::endl;
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "mcpgate_bench_upstream: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
