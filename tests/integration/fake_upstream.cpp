#include "fake_upstream.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mcpgate::it {

namespace beast = boost::beast;
namespace asio = boost::asio;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

int poll_ms(steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left, 1'000'000));
}

std::string status_line(unsigned status) {
  const auto reason = beast::http::obsolete_reason(beast::http::int_to_status(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\r\n";
}

std::string head_of(unsigned status, const header_list& headers) {
  std::string head = status_line(status);
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  return head;
}

}  // namespace

// recorded_request -------------------------------------------------------------

std::optional<std::string> recorded_request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::size_t recorded_request::header_count(std::string_view name) const {
  return static_cast<std::size_t>(std::count_if(headers.begin(), headers.end(), [&](const auto& h) {
    return iequals(h.first, name);
  }));
}

std::ostream& operator<<(std::ostream& os, const recorded_request& r) {
  os << r.method << " " << r.target << " (connection " << r.connection << ")\n";
  for (const auto& [n, v] : r.headers) os << "  " << n << ": " << v << "\n";
  return os << "  body (" << r.body.size() << " bytes): " << r.body.substr(0, 300);
}

// fake_exchange --------------------------------------------------------------

bool fake_exchange::send_all(std::string_view bytes, bool count_as_body) {
  if (failed_) return false;
  while (!bytes.empty()) {
    server_.note_write(connection_, true);
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    server_.note_write(connection_, false);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed_ = true;
      if (!server_.stopping_) server_.record_event(connection_, connection_event_kind::peer_closed);
      return false;
    }
    if (count_as_body) server_.body_bytes_sent_ += static_cast<std::uint64_t>(n);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool fake_exchange::respond(unsigned status, const header_list& headers, std::string_view body) {
  responded_ = true;
  std::string message = head_of(status, headers);
  message += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  message += body;
  return send_all(message, false);
}

bool fake_exchange::respond_json(unsigned status, std::string_view body, const header_list& extra) {
  header_list headers{{"Content-Type", "application/json"}};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return respond(status, headers, body);
}

bool fake_exchange::start_chunked(unsigned status, const header_list& headers) {
  responded_ = true;
  return send_all(head_of(status, headers) + "Transfer-Encoding: chunked\r\n\r\n", false);
}

bool fake_exchange::write_chunk(std::string_view data) {
  if (data.empty()) return !failed_;
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  if (!send_all(size, false)) return false;
  if (!send_all(data, true)) return false;
  return send_all("\r\n", false);
}

bool fake_exchange::end_chunked() { return send_all("0\r\n\r\n", false); }

// Waits until the peer closes the connection (closed = true) or the deadline
// passes (closed = false); false instead when the server stops first.
bool fake_exchange::wait_for_close_until(steady::time_point deadline, bool& closed) {
  closed = false;
  for (;;) {
    // POLLRDHUP reports the peer's FIN without consuming anything;
    // POLLHUP/POLLERR (always reported) its reset.
    pollfd fds[2] = {{fd_, POLLRDHUP, 0}, {server_.stop_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, poll_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;  // the deadline: still open
    if (fds[1].revents != 0) return false;
    if (fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
      closed = true;
      failed_ = true;
      server_.record_event(connection_, connection_event_kind::peer_closed);
      return true;
    }
  }
}

bool fake_exchange::pause(std::chrono::milliseconds period) {
  if (failed_) return false;
  bool closed = false;
  const bool waited = wait_for_close_until(steady::now() + period, closed);
  return waited && !closed;
}

bool fake_exchange::wait_for_peer_close(std::chrono::milliseconds within) {
  if (failed_) return true;
  bool closed = false;
  wait_for_close_until(steady::now() + within, closed);
  return closed;
}

// fake_upstream ------------------------------------------------------------------

fake_upstream::fake_upstream(fake_upstream_options options) : options_(std::move(options)) {
  handler_ = answer_default;
  const bool v6 = options_.bind_address.find(':') != std::string::npos;
  listen_fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(errno_text("socket"));
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    if (::inet_pton(AF_INET6, options_.bind_address.c_str(), &a->sin6_addr) != 1) {
      ::close(listen_fd_);
      throw std::runtime_error("bad address " + options_.bind_address);
    }
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    if (::inet_pton(AF_INET, options_.bind_address.c_str(), &a->sin_addr) != 1) {
      ::close(listen_fd_);
      throw std::runtime_error("bad address " + options_.bind_address);
    }
    len = sizeof(sockaddr_in);
  }
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(listen_fd_, 64) != 0) {
    const std::string why = errno_text("bind/listen");
    ::close(listen_fd_);
    throw std::runtime_error(why + " on " + options_.bind_address);
  }
  len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                   : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) {
    ::close(listen_fd_);
    throw std::runtime_error(errno_text("eventfd"));
  }
  acceptor_ = std::thread([this] { accept_loop(); });
}

fake_upstream::~fake_upstream() {
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t w = ::write(stop_fd_, &one, sizeof one);
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (const int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    threads.swap(connection_threads_);
  }
  for (auto& t : threads) t.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
}

std::string fake_upstream::base_url() const {
  const bool v6 = options_.bind_address.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + options_.bind_address + "]" : options_.bind_address) + ":" + std::to_string(port_);
}

std::string fake_upstream::url(std::string_view path) const { return base_url() + std::string(path); }

void fake_upstream::answer_default(fake_exchange& ex) {
  ex.respond_json(200, R"({"jsonrpc":"2.0","id":1,"result":{}})");
}

void fake_upstream::on_request(handler h) {
  std::lock_guard lock(mu_);
  handler_ = std::move(h);
}

fake_upstream::handler fake_upstream::replace_handler(handler h) {
  std::lock_guard lock(mu_);
  std::swap(handler_, h);
  return h;
}

void fake_upstream::clear_records() {
  {
    std::lock_guard lock(mu_);
    requests_.clear();
    events_.clear();
    accepted_ = 0;
  }
  changed_.notify_all();
}

std::vector<recorded_request> fake_upstream::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t fake_upstream::request_count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

bool fake_upstream::wait_for_requests(std::size_t n, std::chrono::milliseconds within) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, within, [&] { return requests_.size() >= n; });
}

std::vector<connection_event> fake_upstream::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

std::optional<connection_event> fake_upstream::wait_for_event(connection_event_kind kind, int connection,
                                                              std::chrono::milliseconds within) const {
  std::unique_lock lock(mu_);
  std::optional<connection_event> found;
  changed_.wait_for(lock, within, [&] {
    for (const auto& e : events_) {
      if (e.kind == kind && (connection == 0 || e.connection == connection)) {
        found = e;
        return true;
      }
    }
    return false;
  });
  return found;
}

int fake_upstream::connections_accepted() const {
  std::lock_guard lock(mu_);
  return accepted_;
}

bool fake_upstream::wait_for_blocked_write(std::chrono::milliseconds blocked_for,
                                           std::chrono::milliseconds within) const {
  const auto deadline = steady::now() + within;
  std::unique_lock lock(mu_);
  for (;;) {
    const auto now = steady::now();
    // The earliest moment one of the writes in progress will have been
    // blocked for `blocked_for`.
    std::optional<steady::time_point> due;
    for (const auto& [connection, since] : writing_since_) {
      if (now - since >= blocked_for) return true;
      if (!due || since + blocked_for < *due) due = since + blocked_for;
    }
    if (now >= deadline) return false;
    // Woken by any write starting or ending, or when the oldest write in
    // progress becomes due.
    changed_.wait_until(lock, due ? std::min(*due, deadline) : deadline);
  }
}

void fake_upstream::note_write(int connection, bool started) {
  {
    std::lock_guard lock(mu_);
    if (started) {
      writing_since_[connection] = steady::now();
    } else {
      writing_since_.erase(connection);
    }
  }
  changed_.notify_all();
}

void fake_upstream::record_event(int connection, connection_event_kind kind) {
  {
    std::lock_guard lock(mu_);
    if (kind == connection_event_kind::peer_closed) {
      for (const auto& e : events_) {
        if (e.connection == connection && e.kind == kind) return;
      }
    }
    events_.push_back({connection, kind, steady::now()});
  }
  changed_.notify_all();
}

void fake_upstream::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (options_.send_buffer > 0) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options_.send_buffer, sizeof options_.send_buffer);
    }
    int connection = 0;
    {
      std::lock_guard lock(mu_);
      connection = ++accepted_;
      open_fds_.insert(fd);
      events_.push_back({connection, connection_event_kind::accepted, steady::now()});
      connection_threads_.emplace_back([this, fd, connection] { serve(fd, connection); });
    }
    changed_.notify_all();
  }
}

void fake_upstream::serve(int fd, int connection) {
  std::string raw;
  bool open = true;
  while (open && !stopping_) {
    beast::http::request_parser<beast::http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    parser.eager(true);
    bool need_more = raw.empty();
    while (!parser.is_done()) {
      if (need_more) {
        pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
        const int n = ::poll(fds, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || fds[1].revents != 0) {
          open = false;
          break;
        }
        char buf[65536];
        const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
          if (!stopping_) record_event(connection, connection_event_kind::peer_closed);
          open = false;
          break;
        }
        raw.append(buf, static_cast<std::size_t>(got));
      }
      boost::system::error_code ec;
      const std::size_t used = parser.put(asio::buffer(raw), ec);
      raw.erase(0, used);
      if (ec == beast::http::error::need_more) {
        need_more = true;
        continue;
      }
      if (ec) {
        open = false;  // not HTTP: drop the connection
        break;
      }
      need_more = raw.empty();
    }
    if (!open) break;

    recorded_request request;
    request.connection = connection;
    const auto& message = parser.get();
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = message.body();
    request.at = steady::now();
    const bool keep_alive = message.keep_alive();
    handler h;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
      h = handler_;
    }
    changed_.notify_all();

    fake_exchange exchange(*this, fd, connection, std::move(request));
    try {
      h(exchange);
    } catch (const std::exception&) {
      exchange.close_ = true;
    }
    if (exchange.close_ || exchange.failed_ || !exchange.responded_ || !keep_alive) open = false;
  }
  std::lock_guard lock(mu_);
  writing_since_.erase(connection);
  open_fds_.erase(fd);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

// chunked_decoder ----------------------------------------------------------------

bool chunked_decoder::feed(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size()) {
    const char c = in[i];
    switch (state_) {
      case state::size: {
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        if (v >= 0) {
          if (remaining_ > (std::uint64_t{1} << 40)) return false;
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(v);
          size_digits_ = true;
        } else if (c == ';' && size_digits_) {
          state_ = state::size_ext;
        } else if (c == '\r' && size_digits_) {
          state_ = state::size_lf;
        } else {
          return false;
        }
        ++i;
        break;
      }
      case state::size_ext:
        if (c == '\r') state_ = state::size_lf;
        ++i;
        break;
      case state::size_lf:
        if (c != '\n') return false;
        state_ = remaining_ == 0 ? state::trailer : state::data;
        if (remaining_ != 0) ++chunks_;
        trailer_empty_ = true;
        ++i;
        break;
      case state::data: {
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - i));
        out.append(in.substr(i, take));
        remaining_ -= take;
        i += take;
        if (remaining_ == 0) state_ = state::data_cr;
        break;
      }
      case state::data_cr:
        if (c != '\r') return false;
        state_ = state::data_lf;
        ++i;
        break;
      case state::data_lf:
        if (c != '\n') return false;
        state_ = state::size;
        size_digits_ = false;
        ++i;
        break;
      case state::trailer:
        if (c == '\r') {
          state_ = state::trailer_lf;
        } else {
          trailer_empty_ = false;
        }
        ++i;
        break;
      case state::trailer_lf:
        if (c != '\n') return false;
        if (trailer_empty_) {
          state_ = state::done;
        } else {
          trailer_empty_ = true;
          state_ = state::trailer;
        }
        ++i;
        break;
      case state::done: return true;
    }
  }
  return true;
}

// agent_stream -------------------------------------------------------------------

agent_stream::agent_stream(std::uint16_t port, int receive_buffer) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(errno_text("socket"));
  if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = errno_text("connect");
    close();
    throw std::runtime_error(why);
  }
}

agent_stream::~agent_stream() { close(); }

void agent_stream::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool agent_stream::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long agent_stream::fill(steady::time_point deadline) {
  if (fd_ < 0) return -1;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, poll_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) return -2;
    char buf[65536];
    const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return -1;
    raw_.append(buf, static_cast<std::size_t>(got));
    return got;
  }
}

std::optional<reply> agent_stream::read_head(std::chrono::milliseconds within) {
  const auto deadline = steady::now() + within;
  std::size_t end = std::string::npos;
  while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
    if (fill(deadline) <= 0) return std::nullopt;
  }
  const std::string head = raw_.substr(0, end + 4);
  raw_.erase(0, end + 4);
  beast::http::response_parser<beast::http::empty_body> parser;
  boost::system::error_code ec;
  parser.put(asio::buffer(head), ec);
  if (!parser.is_header_done()) return std::nullopt;
  reply r;
  r.status = parser.get().result_int();
  r.keep_alive = parser.get().keep_alive();
  r.headers = parser.get().base();
  if (parser.chunked()) {
    framing_ = framing::chunked;
  } else if (parser.content_length()) {
    framing_ = framing::length;
    remaining_ = *parser.content_length();
    body_done_ = remaining_ == 0;
  } else if (r.status == 204 || r.status == 304 || r.status / 100 == 1) {
    framing_ = framing::length;
    body_done_ = true;
  } else {
    framing_ = framing::until_close;
  }
  return r;
}

agent_stream::read_status agent_stream::decode(std::string& out) {
  switch (framing_) {
    case framing::chunked:
      if (!chunks_.feed(raw_, out)) return read_status::error;
      raw_.clear();
      body_done_ = chunks_.done();
      break;
    case framing::length: {
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, raw_.size()));
      out.append(raw_, 0, take);
      raw_.erase(0, take);
      remaining_ -= take;
      body_done_ = remaining_ == 0;
      break;
    }
    case framing::until_close:
      out += raw_;
      raw_.clear();
      break;
    case framing::none: return read_status::error;
  }
  return read_status::data;
}

agent_stream::read_status agent_stream::read_body(std::string& out, std::chrono::milliseconds within) {
  const auto deadline = steady::now() + within;
  const std::size_t before = out.size();
  if (!raw_.empty()) {
    if (decode(out) == read_status::error) return read_status::error;
    if (out.size() > before) return read_status::data;
  }
  while (!body_done_) {
    const long got = fill(deadline);
    if (got == -2) return read_status::timeout;
    if (got < 0) return read_status::closed;
    if (got == 0) {
      if (framing_ == framing::until_close) {
        body_done_ = true;
        break;
      }
      return read_status::closed;
    }
    if (decode(out) == read_status::error) return read_status::error;
    if (out.size() > before) return read_status::data;
  }
  return out.size() > before ? read_status::data : read_status::end;
}

std::optional<agent_stream::event> agent_stream::next_event(std::chrono::milliseconds within) {
  const auto deadline = steady::now() + within;
  for (;;) {
    const auto end = pending_.find("\n\n");
    if (end != std::string::npos) {
      event e{pending_.substr(0, end + 2), arrived_};
      pending_.erase(0, end + 2);
      return e;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (left.count() <= 0) return std::nullopt;
    if (read_body(pending_, left) != read_status::data) return std::nullopt;
    arrived_ = steady::now();
  }
}

std::optional<std::string> agent_stream::read_rest(std::chrono::milliseconds within) {
  const auto deadline = steady::now() + within;
  std::string out = std::move(pending_);
  pending_.clear();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    const read_status s = read_body(out, std::max(left, std::chrono::milliseconds(0)));
    if (s == read_status::end) return out;
    if (s != read_status::data) return std::nullopt;
  }
}

// free functions -------------------------------------------------------------------

std::string raw_request(std::string_view method, const std::string& target, std::uint16_t port,
                        const std::string& secret, const header_list& headers, std::string_view body) {
  std::string text = std::string(method) + " " + target + " HTTP/1.1\r\n";
  bool has_host = false;
  for (const auto& [name, value] : headers) has_host = has_host || iequals(name, "Host");
  if (!has_host) text += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  if (!secret.empty()) text += "Authorization: Bearer " + secret + "\r\n";
  for (const auto& [name, value] : headers) text += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST") text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  text += "\r\n";
  text += body;
  return text;
}

std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string why = errno_text("bind");
    ::close(fd);
    throw std::runtime_error(why);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::uint64_t resident_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) {
      std::istringstream fields(line.substr(6));
      std::uint64_t kb = 0;
      fields >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

// proxy test shorthands -----------------------------------------------------------

gateway_options proxy_options(gateway_options options) {
  if (options.upstreams_yaml.empty()) options.upstreams_yaml = "upstreams: { allow_private_networks: true }";
  return options;
}

std::string install(api_client& client, const std::string& url, const std::string& auth_type,
                    const std::string& api_key) {
  json::object body{{"name", "Upstream"}, {"url", url}, {"auth_type", auth_type}};
  if (auth_type == "api_key") body["api_key"] = api_key;
  const reply r = client.post(environments_collection(1) + "/install_custom/", body);
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  return id_of(r.object());
}

std::string install(api_client& client, fake_upstream& upstream, const std::string& url, const std::string& auth_type,
                    const std::string& api_key) {
  fake_upstream::handler scripted = upstream.replace_handler([](fake_exchange& ex) {
    ex.respond(503, {{"Content-Type", "text/plain"}, {"Connection", "close"}}, "not an MCP server during install");
    ex.close_connection();
  });
  std::string id;
  try {
    id = install(client, url, auth_type, api_key);
  } catch (...) {
    upstream.on_request(std::move(scripted));
    throw;
  }
  upstream.on_request(std::move(scripted));
  upstream.clear_records();
  return id;
}

std::string proxy_path(const std::string& collection, const std::string& installation_id, bool trailing_slash) {
  return item_of(collection, installation_id) + (trailing_slash ? "/proxy/" : "/proxy");
}

boost::test_tools::assertion_result is_proxy_error(const reply& r, unsigned status, std::string_view message,
                                                   bool prefix) {
  boost::test_tools::assertion_result result(false);
  const auto fail = [&](const std::string& why) {
    result.message() << why << "; got " << r;
    return result;
  };
  auto body = json_error_body(r, status);
  if (auto* why = std::get_if<std::string>(&body)) return fail(*why);
  const json::object& o = std::get<json::object>(body);
  const auto* error = o.if_contains("error");
  if (!error || !error->is_string()) return fail("no string member \"error\"");
  const std::string_view text(error->as_string().data(), error->as_string().size());
  if (prefix ? !text.starts_with(message) : text != message) {
    return fail("expected error " + std::string(prefix ? "starting with " : "") + "\"" + std::string(message) + "\"");
  }
  if (o.size() != 1) return fail("expected only the member \"error\"");
  return true;
}

}  // namespace mcpgate::it
