// Flood tools for bench/flood: a memory sampler and a slow-body flooder.
//
//   mcpgate_bench_flood rss --pid P [--pid P2 ...] [--interval-ms 100]
//       Prints "EPOCH_MS KIB" every interval: VmRSS of the given processes,
//       summed (a process that is gone counts 0), until SIGTERM/SIGINT.
//
//   mcpgate_bench_flood slowbody --port P --path PATH [--key KEY]
//       --connections N --seconds S [--interval-ms 50] [--step 64]
//       [--pattern line|data]
//       Keeps N connections sending one chunked POST each, slowly: every
//       interval (jittered +-50%) `step` more bytes of it. Pattern `line`: one
//       chunk-size line "1;x=aaaa..." whose extension never ends (no CRLF),
//       `step` bytes of extension at a time; pattern `data`: a chunk of `step`
//       bytes of JSON whitespace at a time (a body that never ends). A
//       connection the server answers (its status is counted) or closes is
//       replaced at once by a new one. Prints "started connections=N" once the
//       first N have sent their header, and at the end
//       "slowbody opened=N answered=N closed=N refused=N sent_bytes=N status_NNN=N..."
//       (refused: connect failed). Exit 0.

#include <boost/asio.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

long long epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

int run_rss(const std::vector<int>& pids, long interval_ms) {
  asio::io_context io(1);
  asio::steady_timer timer(io);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](error_code, int) {
    timer.cancel();
    io.stop();
  });
  auto next = std::chrono::steady_clock::now();
  std::function<void()> sample = [&] {
    long total = 0;
    for (int p : pids) total += rss_kib(p);
    std::cout << epoch_ms() << ' ' << total << '\n' << std::flush;
    next += std::chrono::milliseconds(interval_ms);
    timer.expires_at(next);
    timer.async_wait([&](error_code ec) {
      if (!ec) sample();
    });
  };
  sample();
  io.run();
  return 0;
}

struct slow_options {
  unsigned short port = 0;
  std::string path = "/mcp";
  std::string key;
  std::size_t connections = 0;
  long seconds = 10;
  long interval_ms = 50;
  std::size_t step = 64;
  bool line = true;  // pattern line (else data)
};

struct slow_stats {
  std::size_t opened = 0;
  std::size_t answered = 0;
  std::size_t closed = 0;
  std::size_t refused = 0;
  std::size_t started = 0;  // header sent
  unsigned long long sent = 0;
  std::map<int, std::size_t> status;
  bool started_printed = false;
  bool stopping = false;
};

class slow_flood;

class slow_connection : public std::enable_shared_from_this<slow_connection> {
 public:
  slow_connection(asio::io_context& io, slow_flood& owner) : socket_(io), timer_(io), owner_(owner) {}
  void start();
  void stop() {
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

 private:
  void send_head();
  void tick();
  void read_answer();
  void finish(bool answered, int status);

  tcp::socket socket_;
  asio::steady_timer timer_;
  slow_flood& owner_;
  std::string out_;
  std::array<char, 512> in_{};
  std::size_t in_size_ = 0;
  bool done_ = false;
};

class slow_flood {
 public:
  slow_flood(asio::io_context& io, slow_options opt)
      : io_(io), opt_(std::move(opt)), end_(io), signals_(io, SIGINT, SIGTERM), rng_(12345) {
    chunk_line_ = "1;x=";
    filler_.assign(opt_.step, opt_.line ? 'a' : ' ');
    char size[32];
    std::snprintf(size, sizeof size, "%zx", opt_.step);
    data_chunk_ = std::string(size) + "\r\n" + filler_ + "\r\n";
    head_ = "POST " + opt_.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(opt_.port) +
            "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n";
    if (!opt_.key.empty()) head_ += "Authorization: Bearer " + opt_.key + "\r\n";
    head_ += "Transfer-Encoding: chunked\r\n\r\n";
  }

  void run() {
    signals_.async_wait([this](error_code ec, int) {
      if (!ec) finish();
    });
    end_.expires_after(std::chrono::seconds(opt_.seconds));
    end_.async_wait([this](error_code ec) {
      if (!ec) finish();
    });
    for (std::size_t i = 0; i < opt_.connections; ++i) launch();
  }

  void launch() {
    if (st_.stopping) return;
    auto c = std::make_shared<slow_connection>(io_, *this);
    live_.push_back(c);
    if (live_.size() > 4 * opt_.connections) {
      // Forget the finished ones now and then (they hold only themselves).
      std::erase_if(live_, [](const std::weak_ptr<slow_connection>& w) { return w.expired(); });
    }
    c->start();
  }

  std::chrono::milliseconds jittered() {
    std::uniform_int_distribution<long> d(opt_.interval_ms / 2, opt_.interval_ms + opt_.interval_ms / 2);
    return std::chrono::milliseconds(std::max(1L, d(rng_)));
  }

  void on_started() {
    ++st_.started;
    if (!st_.started_printed && st_.started >= opt_.connections) {
      st_.started_printed = true;
      std::cout << "started connections=" << opt_.connections << std::endl;
    }
  }

  void finish() {
    if (st_.stopping) return;
    st_.stopping = true;
    end_.cancel();
    signals_.cancel();
    for (auto& w : live_) {
      if (auto c = w.lock()) c->stop();
    }
    std::cout << "slowbody opened=" << st_.opened << " answered=" << st_.answered << " closed=" << st_.closed
              << " refused=" << st_.refused << " sent_bytes=" << st_.sent;
    for (const auto& [code, n] : st_.status) std::cout << " status_" << code << '=' << n;
    std::cout << std::endl;
    io_.stop();
  }

  const slow_options& opt() const { return opt_; }
  slow_stats& stats() { return st_; }
  const std::string& head() const { return head_; }
  const std::string& chunk_line() const { return chunk_line_; }
  const std::string& filler() const { return filler_; }
  const std::string& data_chunk() const { return data_chunk_; }

 private:
  asio::io_context& io_;
  slow_options opt_;
  slow_stats st_;
  asio::steady_timer end_;
  asio::signal_set signals_;
  std::mt19937 rng_;
  std::vector<std::weak_ptr<slow_connection>> live_;
  std::string head_;
  std::string chunk_line_;
  std::string filler_;
  std::string data_chunk_;
};

void slow_connection::start() {
  auto self = shared_from_this();
  const tcp::endpoint to(asio::ip::make_address("127.0.0.1"), owner_.opt().port);
  socket_.async_connect(to, [self](error_code ec) {
    auto& st = self->owner_.stats();
    if (st.stopping) return;
    if (ec) {
      ++st.refused;
      // Back off a little before trying again (the server may be at its
      // connection cap): pacing, not synchronisation.
      self->timer_.expires_after(std::chrono::milliseconds(100));
      self->timer_.async_wait([self](error_code tec) {
        if (!tec) self->owner_.launch();
      });
      return;
    }
    ++st.opened;
    self->send_head();
    self->read_answer();
  });
}

void slow_connection::send_head() {
  out_ = owner_.head();
  if (owner_.opt().line) out_ += owner_.chunk_line();
  auto self = shared_from_this();
  asio::async_write(socket_, asio::buffer(out_), [self](error_code ec, std::size_t n) {
    if (ec) return self->finish(false, 0);
    self->owner_.stats().sent += n;
    self->owner_.on_started();
    self->tick();
  });
}

void slow_connection::tick() {
  if (done_) return;
  timer_.expires_after(owner_.jittered());
  auto self = shared_from_this();
  timer_.async_wait([self](error_code ec) {
    if (ec || self->done_) return;
    const std::string& piece = self->owner_.opt().line ? self->owner_.filler() : self->owner_.data_chunk();
    asio::async_write(self->socket_, asio::buffer(piece), [self](error_code wec, std::size_t n) {
      if (wec) return self->finish(false, 0);
      self->owner_.stats().sent += n;
      self->tick();
    });
  });
}

// Whatever the server sends first: its status line tells the answer.
void slow_connection::read_answer() {
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(in_.data() + in_size_, in_.size() - in_size_),
                          [self](error_code ec, std::size_t n) {
                            if (ec) return self->finish(false, 0);
                            self->in_size_ += n;
                            const std::string_view got(self->in_.data(), self->in_size_);
                            if (got.size() >= 12 && got.substr(0, 5) == "HTTP/") {
                              return self->finish(true, std::atoi(std::string(got.substr(9, 3)).c_str()));
                            }
                            if (self->in_size_ == self->in_.size()) return self->finish(true, 0);
                            self->read_answer();
                          });
}

void slow_connection::finish(bool answered, int status) {
  if (done_) return;
  done_ = true;
  auto& st = owner_.stats();
  if (st.stopping) return;
  if (answered) {
    ++st.answered;
    ++st.status[status];
  } else {
    ++st.closed;
  }
  stop();
  owner_.launch();
}

int usage() {
  std::cerr << "usage: mcpgate_bench_flood rss --pid P [--pid P ...] [--interval-ms MS]\n"
               "       mcpgate_bench_flood slowbody --port P --path PATH [--key KEY] --connections N\n"
               "           --seconds S [--interval-ms MS] [--step BYTES] [--pattern line|data]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string_view mode = argv[1];
  std::vector<int> pids;
  long interval_ms = 100;
  slow_options slow;
  bool interval_given = false;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    if (arg == "--pid") pids.push_back(std::atoi(v));
    else if (arg == "--interval-ms") {
      interval_ms = std::max(1L, std::strtol(v, nullptr, 10));
      interval_given = true;
    } else if (arg == "--port") slow.port = static_cast<unsigned short>(std::strtoul(v, nullptr, 10));
    else if (arg == "--path") slow.path = v;
    else if (arg == "--key") slow.key = v;
    else if (arg == "--connections") slow.connections = std::strtoul(v, nullptr, 10);
    else if (arg == "--seconds") slow.seconds = std::max(1L, std::strtol(v, nullptr, 10));
    else if (arg == "--step") slow.step = std::max(1UL, std::strtoul(v, nullptr, 10));
    else if (arg == "--pattern") {
      const std::string_view p = v;
      if (p == "line") slow.line = true;
      else if (p == "data") slow.line = false;
      else return usage();
    } else return usage();
  }
  try {
    if (mode == "rss") {
      if (pids.empty()) return usage();
      return run_rss(pids, interval_ms);
    }
    if (mode == "slowbody") {
      if (slow.port == 0 || slow.connections == 0) return usage();
      slow.interval_ms = interval_given ? interval_ms : 50;
      asio::io_context io(1);
      slow_flood flood(io, slow);
      flood.run();
      io.run();
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "mcpgate_bench_flood: " << e.what() << "\n";
    return 1;
  }
  return usage();
}
