// Benchmark connection holder for bench/run: opens many loopback connections
// to one server and holds them, so the server's memory can be read meanwhile.
//
//   mcpgate_bench_holder --port P --count N --mode MODE [--path PATH] [--key KEY]
//                        [--concurrency C] [--hold-seconds S] [--setup-seconds S]
//
//   MODE connect   open the connection, send nothing (idle keep-alive client)
//   MODE request   send one POST tools/call on it, read the whole answer, keep it open
//   MODE sse       send a GET with Accept: text/event-stream, read the response
//                  header (200, text/event-stream), keep reading the stream
//
// At most C connections are being set up at a time. When all N are set up (or
// --setup-seconds passed) it prints "ready ok=N failed=N"; it then holds them
// until --hold-seconds pass or SIGTERM/SIGINT comes, prints
// "done open=N closed_by_peer=N" and exits (0 if every connection was set up).
//
// "mcpgate_bench_holder --wait-port P --timeout-seconds S" retries connecting
// to 127.0.0.1:P until it succeeds (exit 0) or the deadline passes (exit 1).

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

enum class mode { connect, request, sse };

struct options {
  unsigned short port = 0;
  std::size_t count = 0;
  mode what = mode::connect;
  std::string path = "/mcp";
  std::string key;
  std::size_t concurrency = 64;
  std::chrono::seconds hold{120};
  std::chrono::seconds setup{120};
};

struct state {
  std::size_t started = 0;
  std::size_t ok = 0;
  std::size_t failed = 0;
  std::size_t in_setup = 0;
  std::size_t open = 0;
  std::size_t closed_by_peer = 0;
  bool ready_printed = false;
  bool stopping = false;
  std::string first_error;
};

class holder;

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(asio::io_context& io, holder& owner) : socket_(io), owner_(owner) {}
  void start();
  void stop() {
    beast::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void on_connected();
  void send_request();
  void setup_done(bool ok, std::string_view why);
  void drain();

  tcp::socket socket_;
  holder& owner_;
  beast::flat_buffer buffer_;
  std::optional<http::request<http::string_body>> request_;
  std::optional<http::response_parser<http::string_body>> parser_;
  char scratch_[4096]{};
  bool counted_open_ = false;
};

class holder {
 public:
  holder(asio::io_context& io, options opt)
      : io_(io), opt_(std::move(opt)), timer_(io), signals_(io, SIGINT, SIGTERM) {}

  void run() {
    signals_.async_wait([this](beast::error_code ec, int) {
      if (!ec) finish();
    });
    timer_.expires_after(opt_.setup);
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) print_ready();
    });
    launch();
  }

  // Starts connections up to the concurrency bound.
  void launch() {
    while (!st_.stopping && st_.started < opt_.count && st_.in_setup < opt_.concurrency) {
      ++st_.started;
      ++st_.in_setup;
      auto c = std::make_shared<connection>(io_, *this);
      all_.push_back(c);
      c->start();
    }
  }

  void setup_finished(bool ok, std::string_view why) {
    --st_.in_setup;
    if (ok) ++st_.ok;
    else {
      ++st_.failed;
      if (st_.first_error.empty()) st_.first_error = std::string(why);
    }
    if (st_.ok + st_.failed == opt_.count) print_ready();
    else launch();
  }

  void opened() { ++st_.open; }
  void lost() { --st_.open; }
  void peer_closed() {
    --st_.open;
    ++st_.closed_by_peer;
  }

  const options& opt() const { return opt_; }
  asio::io_context& io() { return io_; }
  bool ok() const { return st_.failed == 0 && st_.ok == opt_.count; }

 private:
  void print_ready() {
    if (st_.ready_printed) return;
    st_.ready_printed = true;
    std::cout << "ready ok=" << st_.ok << " failed=" << (opt_.count - st_.ok);
    if (!st_.first_error.empty()) std::cout << " first_error=\"" << st_.first_error << "\"";
    std::cout << std::endl;
    timer_.expires_after(opt_.hold);
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) finish();
    });
  }

  void finish() {
    if (st_.stopping) return;
    st_.stopping = true;
    if (!st_.ready_printed) print_ready();
    std::cout << "done open=" << st_.open << " closed_by_peer=" << st_.closed_by_peer << std::endl;
    for (auto& c : all_) c->stop();
    timer_.cancel();
    signals_.cancel();
    io_.stop();
  }

  asio::io_context& io_;
  options opt_;
  state st_;
  asio::steady_timer timer_;
  asio::signal_set signals_;
  std::vector<std::shared_ptr<connection>> all_;
};

void connection::start() {
  auto self = shared_from_this();
  const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), owner_.opt().port);
  socket_.async_connect(to, [self](beast::error_code ec) {
    if (ec) return self->setup_done(false, "connect: " + ec.message());
    self->on_connected();
  });
}

void connection::on_connected() {
  counted_open_ = true;
  owner_.opened();
  if (owner_.opt().what == mode::connect) {
    setup_done(true, {});
    return drain();
  }
  send_request();
}

void connection::send_request() {
  const auto& opt = owner_.opt();
  request_.emplace();
  auto& req = *request_;
  req.version(11);
  req.target(opt.path);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(opt.port));
  if (!opt.key.empty()) req.set(http::field::authorization, "Bearer " + opt.key);
  if (opt.what == mode::sse) {
    req.method(http::verb::get);
    req.set(http::field::accept, "text/event-stream");
  } else {
    req.method(http::verb::post);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::accept, "application/json, text/event-stream");
    req.body() =
        R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hold"}}})";
    req.prepare_payload();
  }
  auto self = shared_from_this();
  http::async_write(socket_, req, [self](beast::error_code ec, std::size_t) {
    if (ec) return self->setup_done(false, "write: " + ec.message());
    self->parser_.emplace();
    self->parser_->body_limit(1024 * 1024);
    if (self->owner_.opt().what == mode::sse) {
      http::async_read_header(self->socket_, self->buffer_, *self->parser_, [self](beast::error_code rec, std::size_t) {
        if (rec) return self->setup_done(false, "read header: " + rec.message());
        const auto& res = self->parser_->get();
        if (res.result() != http::status::ok)
          return self->setup_done(false, "status " + std::to_string(res.result_int()));
        if (res[http::field::content_type].find("text/event-stream") == std::string_view::npos)
          return self->setup_done(false, "content-type " + std::string(res[http::field::content_type]));
        self->setup_done(true, {});
        self->drain();
      });
    } else {
      http::async_read(self->socket_, self->buffer_, *self->parser_, [self](beast::error_code rec, std::size_t) {
        if (rec) return self->setup_done(false, "read: " + rec.message());
        const auto& res = self->parser_->get();
        if (res.result() != http::status::ok)
          return self->setup_done(false,
                                  "status " + std::to_string(res.result_int()) + " " + res.body().substr(0, 200));
        if (res.body().find("\"result\"") == std::string::npos)
          return self->setup_done(false, "no JSON-RPC result: " + res.body().substr(0, 200));
        self->setup_done(true, {});
        self->drain();
      });
    }
  });
}

void connection::setup_done(bool ok, std::string_view why) {
  if (!ok) {
    stop();
    if (counted_open_) owner_.lost();
    counted_open_ = false;
  }
  owner_.setup_finished(ok, why);
}

// Reads (and discards) whatever comes until the peer closes.
void connection::drain() {
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(scratch_), [self](beast::error_code ec, std::size_t) {
    if (!ec) return self->drain();
    if (ec == asio::error::operation_aborted || !self->counted_open_) return;
    self->counted_open_ = false;
    self->owner_.peer_closed();
  });
}

int wait_port(unsigned short port, long seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  asio::io_context io;
  const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), port);
  auto pause = std::chrono::milliseconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    tcp::socket s(io);
    beast::error_code ec;
    s.connect(to, ec);
    if (!ec) return 0;
    asio::steady_timer t(io, pause);  // back off before retrying the connect
    t.wait();
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
  std::cerr << "mcpgate_bench_holder: nothing listens on 127.0.0.1:" << port << "\n";
  return 1;
}

int usage() {
  std::cerr << "usage: mcpgate_bench_holder --port P --count N --mode connect|request|sse [--path PATH]\n"
               "         [--key KEY] [--concurrency C] [--hold-seconds S] [--setup-seconds S]\n"
               "       mcpgate_bench_holder --wait-port P [--timeout-seconds S]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  long wait_for = 0;
  long timeout_seconds = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    if (arg == "--port") opt.port = static_cast<unsigned short>(std::strtoul(v, nullptr, 10));
    else if (arg == "--count") opt.count = std::strtoul(v, nullptr, 10);
    else if (arg == "--path") opt.path = v;
    else if (arg == "--key") opt.key = v;
    else if (arg == "--concurrency") opt.concurrency = std::max(1UL, std::strtoul(v, nullptr, 10));
    else if (arg == "--hold-seconds") opt.hold = std::chrono::seconds(std::strtol(v, nullptr, 10));
    else if (arg == "--setup-seconds") opt.setup = std::chrono::seconds(std::strtol(v, nullptr, 10));
    else if (arg == "--wait-port") wait_for = std::strtol(v, nullptr, 10);
    else if (arg == "--timeout-seconds") timeout_seconds = std::strtol(v, nullptr, 10);
    else if (arg == "--mode") {
      const std::string_view m = v;
      if (m == "connect") opt.what = mode::connect;
      else if (m == "request") opt.what = mode::request;
      else if (m == "sse") opt.what = mode::sse;
      else return usage();
    } else return usage();
  }
  if (wait_for > 0) return wait_port(static_cast<unsigned short>(wait_for), timeout_seconds);
  if (opt.port == 0 || opt.count == 0) return usage();

  try {
    asio::io_context io(1);
    holder h(io, opt);
    h.run();
    io.run();
    return h.ok() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "mcpgate_bench_holder: " << e.what() << "\n";
    return 1;
  }
}
