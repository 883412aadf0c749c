#include "harness.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <variant>

extern char** environ;

namespace mcpgate::it {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// Milliseconds left until `deadline` as poll() wants them (0 when past).
int poll_timeout(steady::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left.count(), 1'000'000));
}

// A pidfd for a child just spawned; without one the child is killed and
// reaped, so that no process outlives the error.
int open_pidfd(pid_t pid) {
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) {
    const std::string why = errno_text("pidfd_open (Linux 5.3 or later)");
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw std::runtime_error(why);
  }
  return static_cast<int>(fd);
}

// True once the process behind `pidfd` has exited (poll: readable), false
// at the deadline.
bool wait_pidfd(int pidfd, steady::time_point deadline) {
  for (;;) {
    pollfd p{pidfd, POLLIN, 0};
    const int n = ::poll(&p, 1, poll_timeout(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) throw std::runtime_error(errno_text("poll(pidfd)"));
  }
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(errno_text("waitpid"));
  }
  return status;
}

struct spawned {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
};

// posix_spawn with stdin from /dev/null and stdout/stderr on pipes. The
// pipes are close-on-exec, so no other child holds their write ends.
spawned spawn(const std::vector<std::string>& args) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error(errno_text("pipe2"));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  spawned child;
  const int rc = ::posix_spawn(&child.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    throw std::runtime_error("posix_spawn " + args.front() + ": " + std::strerror(rc));
  }
  child.out_fd = out[0];
  child.err_fd = err[0];
  return child;
}

std::string tail(const std::string& text, std::size_t bytes = 6000) {
  return text.size() <= bytes ? text : "..." + text.substr(text.size() - bytes);
}

bool current_test_failed() {
  namespace utf = boost::unit_test;
  return !utf::results_collector.results(utf::framework::current_test_case().p_id).passed();
}

}  // namespace

// temp_dir -------------------------------------------------------------------

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/mcpgate-it-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw std::runtime_error(errno_text("mkdtemp"));
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// run_command ----------------------------------------------------------------

std::ostream& operator<<(std::ostream& os, const command_result& r) {
  os << "exit " << r.exit_code << (r.timed_out ? " (timed out)" : "") << "\n--- stdout:\n"
     << r.out << "\n--- stderr:\n"
     << r.err;
  return os;
}

// Reads a child's stdout and stderr pipes until both reach EOF, handing each
// chunk to on_data(0 for stdout / 1 for stderr, bytes). timeout_ms() is
// poll's timeout for each wait (-1: none). False when a wait timed out.
template <class Timeout, class OnData>
bool pump_pipes(int out_fd, int err_fd, Timeout timeout_ms, OnData on_data) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open = 2;
  while (open > 0) {
    const int n = ::poll(fds, 2, timeout_ms());
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        on_data(i, std::string_view(buf, static_cast<std::size_t>(got)));
      } else if (got == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  return true;
}

command_result run_command(const std::vector<std::string>& args, std::chrono::milliseconds within) {
  const auto deadline = steady::now() + within;
  const spawned child = spawn(args);
  int pidfd = -1;
  try {
    pidfd = open_pidfd(child.pid);
  } catch (...) {
    ::close(child.out_fd);
    ::close(child.err_fd);
    throw;
  }
  command_result result;
  result.timed_out = !pump_pipes(
      child.out_fd, child.err_fd, [&] { return poll_timeout(deadline); },
      [&](int index, std::string_view data) { (index == 0 ? result.out : result.err).append(data); });
  if (!result.timed_out && !wait_pidfd(pidfd, deadline)) result.timed_out = true;
  if (result.timed_out) ::kill(child.pid, SIGKILL);
  const int status = reap(child.pid);
  ::close(pidfd);
  ::close(child.out_fd);
  ::close(child.err_fd);
  result.exit_code = !result.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

command_result run_mcpgate(std::vector<std::string> args) {
  args.insert(args.begin(), MCPGATE_BINARY);
  return run_command(args);
}

// daemon_process -------------------------------------------------------------

daemon_process::daemon_process(const std::vector<std::string>& args) {
  const spawned child = spawn(args);
  pid_ = child.pid;
  out_fd_ = child.out_fd;
  err_fd_ = child.err_fd;
  try {
    pidfd_ = open_pidfd(pid_);
  } catch (...) {
    ::close(out_fd_);
    ::close(err_fd_);
    throw;
  }
  drainer_ = std::thread([this] { drain(); });
}

daemon_process::~daemon_process() {
  if (!reaped_) kill_hard();
  // The child is gone, so both pipes reach EOF and the drain thread ends.
  if (drainer_.joinable()) drainer_.join();
  ::close(pidfd_);
  ::close(out_fd_);
  ::close(err_fd_);
}

void daemon_process::drain() {
  // No deadline needed: the pipes close when the child exits, and the owner
  // kills the child before joining this thread.
  pump_pipes(
      out_fd_, err_fd_, [] { return -1; },
      [this](int index, std::string_view data) {
        std::lock_guard lock(mu_);
        (index == 0 ? out_ : err_).append(data);
        changed_.notify_all();
      });
  std::lock_guard lock(mu_);
  eof_ = true;
  changed_.notify_all();
}

void daemon_process::send_signal(int signo) const {
  if (!reaped_) ::kill(pid_, signo);
}

std::optional<std::string> daemon_process::wait_for_stdout_line(std::string_view prefix,
                                                                std::chrono::milliseconds within) {
  std::unique_lock lock(mu_);
  std::optional<std::string> line;
  const auto found = [&] {
    std::size_t at = 0;
    while (at < out_.size()) {
      const std::size_t end = out_.find('\n', at);
      if (end == std::string::npos) break;  // an incomplete line
      if (std::string_view(out_).substr(at, end - at).starts_with(prefix)) {
        line = out_.substr(at, end - at);
        return true;
      }
      at = end + 1;
    }
    return eof_;
  };
  changed_.wait_for(lock, within, found);
  return line;
}

bool daemon_process::wait_for_stderr(std::string_view needle, std::chrono::milliseconds within) {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, within, [&] { return eof_ || err_.find(needle) != std::string::npos; });
  return err_.find(needle) != std::string::npos;
}

std::optional<int> daemon_process::wait_exit(std::chrono::milliseconds within) {
  if (reaped_) return std::nullopt;
  if (!wait_pidfd(pidfd_, steady::now() + within)) return std::nullopt;
  const int status = reap(pid_);
  reaped_ = true;
  return status;
}

void daemon_process::kill_hard() {
  if (reaped_) return;
  ::kill(pid_, SIGKILL);
  reap(pid_);
  reaped_ = true;
}

std::string daemon_process::out() const {
  std::lock_guard lock(mu_);
  return out_;
}

std::string daemon_process::err() const {
  std::lock_guard lock(mu_);
  return err_;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// reply ----------------------------------------------------------------------

std::string reply::header(std::string_view name) const {
  const auto it = headers.find(beast::string_view(name.data(), name.size()));
  return it == headers.end() ? "" : std::string(it->value());
}

json::value reply::json() const {
  error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) throw std::runtime_error("response body is not JSON (" + ec.message() + "): " + body);
  return v;
}

json::object reply::object() const {
  json::value v = json();
  if (!v.is_object()) throw std::runtime_error("response body is not a JSON object: " + body);
  return std::move(v.as_object());
}

std::ostream& operator<<(std::ostream& os, const reply& r) {
  return os << "HTTP " << r.status << " " << tail(r.body, 2000);
}

// http_connection ------------------------------------------------------------

template <class Start>
error_code http_connection::run(Start&& start, std::size_t* transferred) {
  error_code result = asio::error::would_block;
  bool done = false;
  stream_.expires_after(timeout_);
  start([&](error_code ec, std::size_t n) {
    result = ec;
    if (transferred) *transferred = n;
    done = true;
  });
  ioc_.restart();
  // Beast's own timer bounds the operation, so this returns by timeout_.
  while (!done && ioc_.run_one() > 0) {
  }
  return done ? result : error_code(asio::error::timed_out);
}

http_connection::http_connection(std::uint16_t port, std::chrono::milliseconds timeout)
    : stream_(ioc_), timeout_(timeout) {
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
  const error_code ec = run([&](auto handler) {
    stream_.async_connect(endpoint, [handler](error_code e) mutable { handler(e, 0); });
  });
  if (ec) throw std::runtime_error("connect to port " + std::to_string(port) + ": " + ec.message());
  // Children spawned later (CLI runs, other daemons) must not inherit it.
  ::fcntl(stream_.socket().native_handle(), F_SETFD, FD_CLOEXEC);
  local_port_ = stream_.socket().local_endpoint().port();
}

error_code http_connection::write(std::string_view bytes) {
  return run([&](auto handler) { asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()), handler); });
}

error_code http_connection::write(http::request<http::string_body>& request) {
  return run([&](auto handler) { http::async_write(stream_, request, handler); });
}

std::pair<std::optional<reply>, error_code> http_connection::try_read() {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  const error_code ec = run([&](auto handler) { http::async_read(stream_, buffer_, parser, handler); });
  if (ec) return {std::nullopt, ec};
  auto message = parser.release();
  reply r;
  r.status = message.result_int();
  r.keep_alive = message.keep_alive();
  r.body = std::move(message.body());
  r.headers = std::move(message.base());
  return {std::move(r), ec};
}

reply http_connection::read() {
  auto [r, ec] = try_read();
  if (!r) throw std::runtime_error("reading a response: " + ec.message());
  return std::move(*r);
}

http_connection::close_outcome http_connection::wait_for_close(std::chrono::milliseconds within) {
  if (buffer_.size() > 0) return close_outcome::got_data;
  const auto saved = timeout_;
  timeout_ = within;
  std::size_t n = 0;
  const error_code ec = run([&](auto handler) { stream_.async_read_some(buffer_.prepare(1024), handler); }, &n);
  timeout_ = saved;
  if (!ec) {
    buffer_.commit(n);
    return close_outcome::got_data;
  }
  if (ec == beast::error::timeout || ec == asio::error::timed_out) return close_outcome::still_open;
  return close_outcome::closed;  // eof, or reset by the peer
}

bool http_connection::is_open() const { return stream_.socket().is_open(); }

std::ostream& operator<<(std::ostream& os, http_connection::close_outcome outcome) {
  switch (outcome) {
    case http_connection::close_outcome::closed: return os << "closed";
    case http_connection::close_outcome::still_open: return os << "still open";
    case http_connection::close_outcome::got_data: return os << "got data";
  }
  return os;
}

// api_client -----------------------------------------------------------------

api_client::api_client(std::uint16_t port, std::string secret) : port_(port), secret_(std::move(secret)) {}

http_connection& api_client::connection() {
  if (!connection_ || !connection_->is_open()) {
    connection_ = std::make_unique<http_connection>(port_);
    ++connections_opened_;
  }
  return *connection_;
}

reply api_client::send(std::string_view method, const std::string& target, std::string body, const header_list& extra) {
  http::request<http::string_body> req;
  req.method_string(beast::string_view(method.data(), method.size()));
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
  if (!secret_.empty()) req.set(http::field::authorization, "Bearer " + secret_);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : extra) req.set(name, value);
  req.body() = std::move(body);
  req.prepare_payload();

  http_connection& conn = connection();
  if (const error_code ec = conn.write(req)) {
    throw std::runtime_error(std::string(method) + " " + target.substr(0, 200) + ": write: " + ec.message());
  }
  auto [r, ec] = conn.try_read();
  if (!r)
    throw std::runtime_error(std::string(method) + " " + target.substr(0, 200) + ": no response: " + ec.message());
  if (!r->keep_alive) connection_.reset();
  return std::move(*r);
}

void api_client::disconnect() { connection_.reset(); }

std::string form_input(const std::string& page, const std::string& name) {
  const std::string marker = "name=\"" + name + "\" value=\"";
  const auto at = page.find(marker);
  if (at == std::string::npos) return "";
  const auto start = at + marker.size();
  const auto end = page.find('"', start);
  return end == std::string::npos ? "" : page.substr(start, end - start);
}

confirm_form open_start_page(api_client& browser, const std::string& start_target) {
  confirm_form out;
  out.page = browser.get(start_target);
  const std::string set_cookie = out.page.header("Set-Cookie");
  out.cookie = set_cookie.substr(0, set_cookie.find(';'));
  out.state = form_input(out.page.body, "state");
  out.csrf = form_input(out.page.body, "csrf");
  return out;
}

reply post_confirm(api_client& browser, const std::string& state, const std::string& csrf, const std::string& cookie,
                   const std::string& origin) {
  header_list headers{{"Content-Type", "application/x-www-form-urlencoded"}};
  if (!cookie.empty()) headers.emplace_back("Cookie", cookie);
  if (!origin.empty()) headers.emplace_back("Origin", origin);
  return browser.send("POST", "/api/mcp_store/oauth_start/", "state=" + state + "&csrf=" + csrf, headers);
}

std::string query_param(const std::string& url, const std::string& name) {
  const auto q = url.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    const auto amp = std::min(rest.find('&'), rest.size());
    const std::string_view pair = rest.substr(0, amp);
    if (pair.starts_with(name + "=")) return std::string(pair.substr(name.size() + 1));
    rest.remove_prefix(std::min(amp + 1, rest.size()));
  }
  return "";
}

reply api_client::get(const std::string& target) { return send("GET", target); }
reply api_client::post(const std::string& target, const json::value& body) {
  return send("POST", target, json::serialize(body));
}
reply api_client::patch(const std::string& target, const json::value& body) {
  return send("PATCH", target, json::serialize(body));
}
reply api_client::del(const std::string& target) { return send("DELETE", target); }

// gateway --------------------------------------------------------------------

std::string config_yaml(const fs::path& data_dir, const gateway_options& options) {
  std::ostringstream yaml;
  yaml << "data_dir: \"" << data_dir.string() << "\"\n"
       << "server:\n"
       << "  listen: [\"127.0.0.1:0\"]\n"
       << "  workers: 2\n";
  if (!options.public_url.empty()) yaml << "  public_url: \"" << options.public_url << "\"\n";
  yaml << "  limits: { max_body_bytes: " << options.max_body_bytes;
  if (options.max_connections != 0) yaml << ", max_connections: " << options.max_connections;
  if (!options.extra_limits.empty()) yaml << ", " << options.extra_limits;
  yaml << " }\n"
       << "  timeouts: { request_read: " << options.request_read << ", idle: " << options.idle
       << ", shutdown_grace: " << options.shutdown_grace;
  if (!options.extra_timeouts.empty()) yaml << ", " << options.extra_timeouts;
  yaml << " }\n" << options.extra_server_yaml;
  if (!options.extra_server_yaml.empty() && !options.extra_server_yaml.ends_with('\n')) yaml << '\n';
  if (options.upstreams_yaml.empty()) {
    yaml << "upstreams: { allow_private_networks: false, allow_hosts: [\"127.0.0.1:9\"] }\n";
  } else {
    yaml << options.upstreams_yaml;
    if (!options.upstreams_yaml.ends_with('\n')) yaml << '\n';
  }
  yaml << "projects:\n"
       << "  - { id: 1, name: One, environments: [{id: 1, name: production}, {id: 3, name: staging}] }\n"
       << "  - { id: 2, name: Two }\n"
       << "logging: { level: info, format: text }\n";
  yaml << options.extra_yaml;
  if (!options.extra_yaml.empty() && !options.extra_yaml.ends_with('\n')) yaml << '\n';
  return yaml.str();
}

gateway::gateway(gateway_options options)
    : options_(std::move(options)), data_dir_(root_.path() / "data"), config_path_(root_.path() / "mcpgate.yaml") {
  write_file(config_path_, config_yaml(data_dir_, options_));
  start();
}

gateway::~gateway() {
  if (running()) stop();
  if (current_test_failed()) {
    BOOST_TEST_MESSAGE("daemon stderr (tail):\n" << tail(previous_logs_));
  }
}

void gateway::start() {
  process_ = std::make_unique<daemon_process>(std::vector<std::string>{MCPGATE_BINARY, "serve", "--config",
                                                                       config_path_.string()});
  constexpr std::string_view banner = "mcpgate listening on ";
  const auto line = process_->wait_for_stdout_line(banner, startup_deadline);
  if (!line) {
    const std::string logs = process_->err();
    process_.reset();  // kills it if it still runs
    BOOST_TEST_REQUIRE(false, "the daemon did not print its banner; stderr:\n" << tail(logs));
  }
  base_url_ = line->substr(banner.size());
  const auto colon = base_url_.rfind(':');
  port_ = static_cast<std::uint16_t>(std::stoi(base_url_.substr(colon + 1)));
  BOOST_TEST_REQUIRE(base_url_ == "http://127.0.0.1:" + std::to_string(port_));
  BOOST_TEST_REQUIRE(port_ != 0);
}

void gateway::stop() {
  if (!process_) return;
  process_->send_signal(SIGTERM);
  expect_clean_exit();
}

void gateway::expect_clean_exit() {
  if (!process_) return;
  const auto status = process_->wait_exit(exit_deadline);
  if (!status) {
    process_->kill_hard();
    BOOST_ERROR("the daemon did not exit within " << exit_deadline.count() << " ms of SIGTERM; killed it");
  } else {
    const std::string how = describe_wait_status(*status);
    BOOST_TEST(how == "exit 0", "the daemon ended with " << how << " after SIGTERM; stderr:\n"
                                                         << tail(process_->err()));
  }
  previous_logs_ += process_->err();
  process_.reset();
}

void gateway::restart() {
  stop();
  start();
}

api_key gateway::create_key(const std::string& user, const std::string& scopes, const std::string& projects) {
  std::vector<std::string> args{"keys",   "create", "--config", config_path_.string(),
                                "--user", user,     "--scopes", scopes};
  if (!projects.empty()) {
    args.push_back("--projects");
    args.push_back(projects);
  }
  const command_result r = run_mcpgate(args);
  BOOST_TEST_REQUIRE(r.exit_code == 0, r);
  const auto key = parse_created_key(r.out);
  BOOST_TEST_REQUIRE(key.has_value(), r);
  return *key;
}

void gateway::revoke_key(const std::string& id) {
  const command_result r = run_mcpgate({"keys", "revoke", id, "--config", config_path_.string()});
  BOOST_TEST_REQUIRE(r.exit_code == 0, r);
}

std::optional<api_key> parse_created_key(const std::string& out) {
  api_key key;
  std::istringstream lines(out);
  constexpr std::string_view created = "Created API key ";
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("mcpg_") && line.find(' ') == std::string::npos) key.secret = line;
    if (line.starts_with(created)) {
      const std::string rest = line.substr(created.size());
      key.id = rest.substr(0, rest.find(' '));
    }
  }
  if (key.secret.size() <= 20 || key.id.size() != 36) return std::nullopt;
  return key;
}

// API shorthands ---------------------------------------------------------------

json::object body_with_url(const std::string& url) { return json::object{{"url", url}}; }

json::object create_installation(api_client& client, const std::string& collection, const json::object& body) {
  const reply r = client.post(collection, body);
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  return r.object();
}

json::object create_url(api_client& client, const std::string& collection, const std::string& url) {
  return create_installation(client, collection, json::object{{"url", url}, {"auth_type", "none"}});
}

std::string id_of(const json::object& installation) {
  const auto* id = installation.if_contains("id");
  BOOST_TEST_REQUIRE((id && id->is_string()), "no id in " << installation);
  return std::string(id->as_string());
}

std::int64_t count_of(api_client& client, const std::string& collection) {
  const reply r = client.get(collection);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  return r.object().at("count").to_number<std::int64_t>();
}

std::int64_t micros_of(const json::object& installation, std::string_view key) {
  const auto* v = installation.if_contains(key);
  BOOST_TEST_REQUIRE((v && v->is_string()), key << " missing in " << installation);
  const auto t = iso8601_micros(v->as_string());
  BOOST_TEST_REQUIRE(t.has_value(), key << " = " << *v);
  return *t;
}

std::int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string target_of_link(const json::value& link, const std::string& base_url) {
  BOOST_TEST_REQUIRE(link.is_string(), "link " << link);
  const std::string text(link.as_string());
  BOOST_TEST_REQUIRE(text.starts_with(base_url + "/"), text);
  return text.substr(base_url.size());
}

std::string repeated(std::string_view unit, std::size_t times) {
  std::string out;
  for (std::size_t i = 0; i < times; ++i) out += unit;
  return out;
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += digits[c >> 4];
    out += digits[c & 0x0f];
  }
  return out;
}

// paths and predicates ---------------------------------------------------------

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::string projects_collection(std::int64_t project_id) {
  return "/api/projects/" + std::to_string(project_id) + "/mcp_server_installations";
}

std::string environments_collection(std::int64_t environment_id) {
  return "/api/environments/" + std::to_string(environment_id) + "/mcp_server_installations";
}

std::string item_of(const std::string& collection, const std::string& installation_id) {
  return collection + "/" + installation_id;
}

std::variant<json::object, std::string> json_error_body(const reply& r, unsigned status) {
  if (r.status != status) return "expected status " + std::to_string(status);
  if (!r.header("Content-Type").starts_with("application/json")) {
    return "Content-Type is '" + r.header("Content-Type") + "'";
  }
  json::value v;
  try {
    v = r.json();
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  if (!v.is_object()) return std::string("body is not an object");
  return std::move(v.as_object());
}

boost::test_tools::assertion_result is_error(const reply& r, unsigned status, std::string_view type,
                                             std::string_view code, std::optional<std::string> attr) {
  boost::test_tools::assertion_result result(false);
  const auto fail = [&](const std::string& why) {
    result.message() << why << "; got " << r;
    return result;
  };
  auto body = json_error_body(r, status);
  if (auto* why = std::get_if<std::string>(&body)) return fail(*why);
  const json::object& o = std::get<json::object>(body);
  if (o.size() != 4) return fail("expected exactly type, code, detail, attr");
  const auto* t = o.if_contains("type");
  const auto* c = o.if_contains("code");
  const auto* d = o.if_contains("detail");
  const auto* a = o.if_contains("attr");
  if (!t || !t->is_string() || t->as_string() != type) return fail("expected type " + std::string(type));
  if (!c || !c->is_string() || c->as_string() != code) return fail("expected code " + std::string(code));
  if (!d || !d->is_string() || d->as_string().empty()) return fail("expected a non-empty detail");
  if (!a) return fail("attr missing");
  if (attr) {
    if (!a->is_string() || a->as_string() != *attr) return fail("expected attr " + *attr);
  } else if (!a->is_null()) {
    return fail("expected attr null");
  }
  return true;
}

boost::test_tools::assertion_result is_validation_error(const reply& r, std::string_view code,
                                                        const std::string& attr) {
  return is_error(r, 400, "validation_error", code, attr);
}

bool is_uuid_v7(std::string_view text) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (!hex(text[i])) {
      return false;
    }
  }
  return text[14] == '7' && std::string_view("89ab").find(text[19]) != std::string_view::npos;
}

std::optional<std::int64_t> iso8601_micros(std::string_view text) {
  // "YYYY-MM-DDTHH:MM:SS" then optionally ".f" to ".ffffff", then "Z".
  constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd";
  if (text.size() < shape.size() + 1 || text.back() != 'Z') return std::nullopt;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (shape[i] == 'd' ? !digit : text[i] != shape[i]) return std::nullopt;
  }
  const auto number = [&](std::size_t at, std::size_t len) {
    int v = 0;
    for (std::size_t i = at; i < at + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::string_view frac = text.substr(shape.size(), text.size() - shape.size() - 1);
  std::int64_t micros = 0;
  if (!frac.empty()) {
    if (frac.front() != '.' || frac.size() < 2 || frac.size() > 7) return std::nullopt;
    frac.remove_prefix(1);
    for (std::size_t i = 0; i < 6; ++i) {
      if (i < frac.size() && (frac[i] < '0' || frac[i] > '9')) return std::nullopt;
      micros = micros * 10 + (i < frac.size() ? frac[i] - '0' : 0);
    }
  }
  std::tm tm{};
  tm.tm_year = number(0, 4) - 1900;
  tm.tm_mon = number(5, 2) - 1;
  tm.tm_mday = number(8, 2);
  tm.tm_hour = number(11, 2);
  tm.tm_min = number(14, 2);
  tm.tm_sec = number(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(::timegm(&tm)) * 1'000'000 + micros;
}

std::int64_t ms_since(steady::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count();
}

std::string string_of(const json::value& object, std::string_view key) {
  if (!object.is_object()) return "";
  const auto* v = object.as_object().if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

boost::test_tools::assertion_result is_installation(const json::value& v) {
  boost::test_tools::assertion_result result(false);
  const auto fail = [&](const std::string& why) {
    result.message() << why << " in " << json::serialize(v);
    return result;
  };
  if (!v.is_object()) return fail("not an object");
  const json::object& o = v.as_object();
  static const std::vector<std::string> keys{
      "id",          "template_id",      "name",       "icon_key",     "display_name",       "url",
      "description", "auth_type",        "is_enabled", "needs_reauth", "pending_oauth",      "proxy_url",
      "tool_count",  "protocol_version", "created_at", "updated_at",   "needs_reauth_reason"};
  for (const auto& k : keys) {
    if (!o.contains(k)) return fail("field " + k + " missing");
  }
  if (o.size() != keys.size()) return fail("unexpected extra fields");
  for (const char* k : {"id", "name", "icon_key", "display_name", "url", "description", "auth_type", "proxy_url",
                        "created_at", "updated_at"}) {
    if (!o.at(k).is_string()) return fail(std::string(k) + " is not a string");
  }
  for (const char* k : {"is_enabled", "needs_reauth", "pending_oauth"}) {
    if (!o.at(k).is_bool()) return fail(std::string(k) + " is not a boolean");
  }
  if (!o.at("template_id").is_null() && !o.at("template_id").is_string()) return fail("template_id type");
  // A reason exactly when re-authentication is needed.
  if (o.at("needs_reauth").as_bool() != o.at("needs_reauth_reason").is_string() ||
      (!o.at("needs_reauth_reason").is_null() && !o.at("needs_reauth_reason").is_string())) {
    return fail("needs_reauth_reason does not go with needs_reauth");
  }
  if (!o.at("protocol_version").is_null() && !o.at("protocol_version").is_string()) {
    return fail("protocol_version type");
  }
  if (!o.at("tool_count").is_int64() && !o.at("tool_count").is_uint64()) return fail("tool_count type");
  if (!is_uuid_v7(o.at("id").as_string())) return fail("id is not a UUIDv7");
  if (!iso8601_micros(o.at("created_at").as_string())) return fail("created_at is not ISO 8601 UTC");
  if (!iso8601_micros(o.at("updated_at").as_string())) return fail("updated_at is not ISO 8601 UTC");
  const std::string auth = std::string(o.at("auth_type").as_string());
  if (auth != "oauth" && auth != "api_key" && auth != "none") return fail("auth_type " + auth);
  return true;
}

// --- gateway_db --------------------------------------------------------------------------------

namespace {

// A prepared statement with its parameters bound, finalized on scope exit.
class db_statement {
 public:
  db_statement(sqlite3* db, std::string_view sql, const std::vector<db_param>& params) : db_(db), sql_(sql) {
    const int rc = sqlite3_prepare_v2(db, sql_.data(), static_cast<int>(sql_.size()), &stmt_, nullptr);
    BOOST_TEST_REQUIRE(rc == SQLITE_OK, "preparing " << sql_ << ": " << sqlite3_errmsg(db));
    int index = 1;
    for (const db_param& p : params) {
      int bound = SQLITE_OK;
      if (const auto* i = std::get_if<std::int64_t>(&p)) {
        bound = sqlite3_bind_int64(stmt_, index, *i);
      } else if (const auto* t = std::get_if<std::string>(&p)) {
        bound = sqlite3_bind_text(stmt_, index, t->data(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
      } else {
        const auto& b = std::get<db_blob>(p).bytes;
        bound = sqlite3_bind_blob(stmt_, index, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
      }
      if (bound != SQLITE_OK) {
        const std::string why = sqlite3_errmsg(db);
        sqlite3_finalize(stmt_);
        stmt_ = nullptr;
        BOOST_TEST_REQUIRE(false, "binding ?" << index << " of " << sql_ << ": " << why);
      }
      ++index;
    }
  }
  ~db_statement() { sqlite3_finalize(stmt_); }
  db_statement(const db_statement&) = delete;
  db_statement& operator=(const db_statement&) = delete;

  // The next row; nullopt at the end. A failed step fails the test.
  std::optional<db_row> next() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_DONE) return std::nullopt;
    BOOST_TEST_REQUIRE(rc == SQLITE_ROW, "running " << sql_ << ": " << sqlite3_errmsg(db_));
    db_row row(static_cast<std::size_t>(sqlite3_column_count(stmt_)));
    for (int c = 0; c < static_cast<int>(row.size()); ++c) {
      db_value& v = row[static_cast<std::size_t>(c)];
      v.null = sqlite3_column_type(stmt_, c) == SQLITE_NULL;
      if (v.null) continue;
      v.integer = sqlite3_column_int64(stmt_, c);
      const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt_, c));
      v.text.assign(bytes != nullptr ? bytes : "", static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c)));
    }
    return row;
  }

 private:
  sqlite3* db_;
  std::string_view sql_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

gateway_db::gateway_db(const fs::path& data_dir, access mode) : path_(data_dir / "mcpgate.db") {
  const int flags = mode == access::read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    const std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    BOOST_TEST_REQUIRE(false, "cannot open " << path_ << ": " << why);
  }
  sqlite3_busy_timeout(db_, 5000);
}

gateway_db::~gateway_db() { sqlite3_close(db_); }

std::vector<db_row> gateway_db::query(std::string_view sql, const std::vector<db_param>& params) {
  db_statement statement(db_, sql, params);
  std::vector<db_row> rows;
  while (auto row = statement.next()) rows.push_back(std::move(*row));
  return rows;
}

std::optional<db_row> gateway_db::query_one(std::string_view sql, const std::vector<db_param>& params) {
  db_statement statement(db_, sql, params);
  return statement.next();
}

std::int64_t gateway_db::query_int(std::string_view sql, const std::vector<db_param>& params) {
  const auto row = query_one(sql, params);
  BOOST_TEST_REQUIRE(row.has_value(), "no row from " << sql);
  BOOST_TEST_REQUIRE(!row->empty(), "no column from " << sql);
  return row->front().integer;
}

std::int64_t gateway_db::execute(std::string_view sql, const std::vector<db_param>& params) {
  db_statement statement(db_, sql, params);
  BOOST_TEST_REQUIRE(!statement.next().has_value(), sql << " returned rows");
  return sqlite3_changes64(db_);
}

std::optional<std::int64_t> gateway_db::user_id(const std::string& name) {
  const auto row = query_one("SELECT id FROM users WHERE name = ?1", {name});
  if (!row) return std::nullopt;
  return row->at(0).integer;
}

std::optional<std::string> gateway_db::sealed_secret(const std::string& installation_id, const std::string& kind) {
  const auto row = query_one("SELECT sealed FROM installation_secrets WHERE installation_id = ?1 AND kind = ?2",
                             {installation_id, kind});
  if (!row) return std::nullopt;
  return row->at(0).text;
}

std::vector<audit_row> gateway_db::audit_rows(const std::string& installation_id, const std::string& event_type) {
  std::vector<audit_row> out;
  for (const db_row& r :
       query("SELECT id, environment_id, user_id, installation_id, event_type, tool_name, detail, created_at"
             " FROM audit_events WHERE installation_id = ?1 AND event_type = ?2 ORDER BY created_at, id",
             {installation_id, event_type})) {
    audit_row row;
    row.id = r.at(0).text;
    row.environment_id = r.at(1).integer;
    row.user_id = r.at(2).integer;
    row.installation_id = r.at(3).text;
    row.event_type = r.at(4).text;
    row.tool_name = r.at(5).text;
    row.detail = r.at(6).text;
    row.created_at = r.at(7).integer;
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace mcpgate::it
