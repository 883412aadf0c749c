// Operating the daemon: the systemd notify protocol (READY, RELOADING with
// MONOTONIC_USEC, STOPPING, WATCHDOG), live reload on SIGHUP (listeners,
// limits, projects and templates change; open connections and streams keep
// flowing; a broken edit is refused with file:line:column and the old config
// stays), and the drain on SIGTERM (a slow upstream answer started before
// the signal still reaches the agent whole).
#include "fake_upstream.hpp"

#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

using namespace mcpgate::it;

namespace {

// A datagram socket the test owns, standing in for systemd's notify socket.
class notify_socket {
 public:
  explicit notify_socket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    BOOST_TEST_REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    BOOST_TEST_REQUIRE(path.string().size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path.c_str());
    BOOST_TEST_REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0, std::strerror(errno));
  }
  ~notify_socket() { ::close(fd_); }
  notify_socket(const notify_socket&) = delete;
  notify_socket& operator=(const notify_socket&) = delete;

  // The next datagram; nullopt at the deadline.
  std::optional<std::string> next(std::chrono::milliseconds within = io_deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(within.count())) != 1) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }
  // The next datagram that is not a WATCHDOG=1 ping (those are counted).
  std::optional<std::string> next_state(std::chrono::milliseconds within = io_deadline) {
    const auto deadline = steady::now() + within;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      if (left.count() <= 0) return std::nullopt;
      auto message = next(left);
      if (!message) return std::nullopt;
      if (*message == "WATCHDOG=1") {
        ++watchdog_pings;
        continue;
      }
      return message;
    }
  }
  const fs::path& path() const { return path_; }
  int watchdog_pings = 0;

 private:
  fs::path path_;
  int fd_ = -1;
};

// Sets environment variables for the daemons started in its lifetime (the
// harness spawns them with this process's environment).
class scoped_env {
 public:
  explicit scoped_env(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (const auto& [name, value] : vars_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    for (const auto& [name, value] : vars_) ::unsetenv(name.c_str());
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
}

// SIGHUPs to one gateway, counted like the daemon counts them ("config
// reload #n ..."), so each outcome is waited for by its own log line.
class reloader {
 public:
  explicit reloader(gateway& gw) : gw_(gw) {}

  // Rewrites the config file from `options` with `edit` applied to the text,
  // sends SIGHUP, and returns once the daemon logged that this reload was
  // applied (accepted = true) or rejected (false); the test fails otherwise.
  void operator()(const gateway_options& options, const std::function<void(std::string&)>& edit, bool accepted = true) {
    std::string yaml = config_yaml(gw_.data_dir(), options);
    if (edit) edit(yaml);
    write_file(gw_.config_path(), yaml);
    signal(accepted);
  }
  // Sends SIGHUP for the file as it is.
  void signal(bool accepted) {
    gw_.process().send_signal(SIGHUP);
    const std::string outcome = "config reload #" + std::to_string(++count_) + (accepted ? " applied:" : " rejected");
    BOOST_TEST_REQUIRE(gw_.process().wait_for_stderr(outcome, io_deadline), "no \"" << outcome << "\" in the log:\n"
                                                                                    << gw_.process().err());
  }

 private:
  gateway& gw_;
  int count_ = 0;
};

// Adds project 5 after project 2 in a harness config.
void add_project_5(std::string& yaml) {
  const std::string_view two = "  - { id: 2, name: Two }\n";
  const auto at = yaml.find(two);
  BOOST_TEST_REQUIRE(at != std::string::npos, yaml);
  yaml.insert(at + two.size(), "  - { id: 5, name: Five }\n");
}

void replace_once(std::string& text, std::string_view from, std::string_view to) {
  const auto at = text.find(from);
  BOOST_TEST_REQUIRE(at != std::string::npos, "\"" << from << "\" not in\n" << text);
  text.replace(at, from.size(), to);
}

std::string install_body(std::string_view template_id, std::string_view key = "") {
  std::string body = "{\"template_id\":\"" + std::string(template_id) + "\"";
  if (!key.empty()) body += ",\"api_key\":\"" + std::string(key) + "\"";
  return body + "}";
}

}  // namespace

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(notify_protocol)

BOOST_AUTO_TEST_CASE(ready_reloading_ready_stopping_in_order_and_watchdog_pings) {
  temp_dir dir;
  notify_socket sock(dir.path() / "notify.sock");
  // WATCHDOG_USEC 400 ms: a ping every 200 ms.
  scoped_env env({{"NOTIFY_SOCKET", sock.path().string()}, {"WATCHDOG_USEC", "400000"}});
  gateway gw;

  const auto first = sock.next_state();
  BOOST_TEST_REQUIRE(first.has_value(), "no notification after start");
  BOOST_TEST(*first == "READY=1");

  // The pings repeat: wait for three of them (the deadline bounds it).
  const auto deadline = steady::now() + io_deadline;
  while (sock.watchdog_pings < 3 && steady::now() < deadline) {
    auto m = sock.next(std::chrono::milliseconds(2000));
    BOOST_TEST_REQUIRE(m.has_value(), "no WATCHDOG=1 within 2 s (after " << sock.watchdog_pings << ")");
    BOOST_TEST_REQUIRE(*m == "WATCHDOG=1", *m);
    ++sock.watchdog_pings;
  }
  BOOST_TEST(sock.watchdog_pings >= 3);

  const std::uint64_t before = monotonic_usec();
  gw.process().send_signal(SIGHUP);
  const auto reloading = sock.next_state();
  const std::uint64_t after = monotonic_usec();
  BOOST_TEST_REQUIRE(reloading.has_value(), "no notification after SIGHUP");
  const std::string prefix = "RELOADING=1\nMONOTONIC_USEC=";
  BOOST_TEST_REQUIRE(reloading->starts_with(prefix), *reloading);
  const std::uint64_t stamp = std::stoull(reloading->substr(prefix.size()));
  BOOST_TEST(stamp >= before);
  BOOST_TEST(stamp <= after);
  const auto ready_again = sock.next_state();
  BOOST_TEST_REQUIRE(ready_again.has_value(), "no READY=1 after the reload");
  BOOST_TEST(*ready_again == "READY=1");

  // A rejected reload also ends in READY=1 (the old config serves on).
  write_file(gw.config_path(), "server: [\n");
  gw.process().send_signal(SIGHUP);
  const auto reloading_bad = sock.next_state();
  BOOST_TEST_REQUIRE(reloading_bad.has_value());
  BOOST_TEST(reloading_bad->starts_with(prefix), *reloading_bad);
  const auto ready_bad = sock.next_state();
  BOOST_TEST_REQUIRE(ready_bad.has_value());
  BOOST_TEST(*ready_bad == "READY=1");

  gw.process().send_signal(SIGTERM);
  const auto stopping = sock.next_state();
  BOOST_TEST_REQUIRE(stopping.has_value(), "no notification after SIGTERM");
  BOOST_TEST(*stopping == "STOPPING=1");
  gw.expect_clean_exit();
}

BOOST_AUTO_TEST_CASE(no_watchdog_pings_without_watchdog_usec) {
  temp_dir dir;
  notify_socket sock(dir.path() / "notify.sock");
  scoped_env env({{"NOTIFY_SOCKET", sock.path().string()}});
  gateway gw;
  const auto first = sock.next();
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(*first == "READY=1");
  gw.process().send_signal(SIGTERM);
  // The next datagram is STOPPING=1: no ping came in between.
  const auto next = sock.next();
  BOOST_TEST_REQUIRE(next.has_value());
  BOOST_TEST(*next == "STOPPING=1");
  gw.expect_clean_exit();
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// A gateway with the harness's config, its reloader, and alice with a key.
struct reload_gateway {
  gateway_options options;
  gateway gw{options};
  reloader reload{gw};
  api_key key = gw.create_key("alice", "*");
  api_client alice = gw.client(key);
};

BOOST_FIXTURE_TEST_SUITE(live_reload, reload_gateway)

BOOST_AUTO_TEST_CASE(a_broken_edit_is_refused_with_its_position_and_the_old_config_serves_on) {
  BOOST_TEST_REQUIRE(alice.get(e1).status == 200u);

  // Line 3 names an unknown key; project 5 would be new.
  reload(
      options,
      [](std::string& yaml) {
        replace_once(yaml, "server:\n", "server:\n  colour: blue\n");
        add_project_5(yaml);
      },
      false);
  const std::string where = gw.config_path().string() + ":3:3: unknown key 'colour' in server";
  BOOST_TEST(gw.process().err().find("config reload #1: " + where) != std::string::npos, gw.process().err());
  // Still serving, on the same connection, with the old projects.
  const reply still = alice.get(e1);
  BOOST_TEST(still.status == 200u, still);
  BOOST_TEST(alice.connections_opened() == 1);
  BOOST_TEST(alice.get(projects_collection(5)).status == 404u);

  // YAML that does not parse is refused the same way.
  write_file(gw.config_path(), "server: [\n");
  reload.signal(false);
  BOOST_TEST(gw.process().err().find("config reload #2: " + gw.config_path().string() + ":") != std::string::npos,
             gw.process().err());
  BOOST_TEST(alice.get(e1).status == 200u);

  // Once the file is good again, a reload applies it.
  reload(options, add_project_5);
  BOOST_TEST(alice.get(projects_collection(5)).status == 200u);
}

BOOST_AUTO_TEST_CASE(projects_limits_and_templates_change_and_a_new_template_is_installable_at_once) {
  BOOST_TEST_REQUIRE(alice.get(projects_collection(5)).status == 404u);
  const reply no_template = alice.send("POST", e1 + "/install_template/", install_body("added", "k-1"));
  BOOST_TEST_REQUIRE(no_template.status == 404u, no_template);
  // 20 KB, not an installation: refused for what it says (400), not its size.
  const std::string big_body = R"({"padding":")" + std::string(20'000, 'x') + "\"}";
  const reply within_limit = alice.send("POST", e1 + "/", big_body);
  BOOST_TEST_REQUIRE(within_limit.status == 400u, within_limit);

  gateway_options next = options;
  next.max_body_bytes = 16'384;
  next.extra_yaml =
      "templates:\n"
      "  - { id: added, name: Added by reload, url: \"http://127.0.0.1:9/added\", auth_type: api_key,"
      " category: dev }\n";
  reload(next, add_project_5);

  // The keep-alive connection from before the reload is still the one in use.
  const reply five = alice.get(projects_collection(5));
  BOOST_TEST(five.status == 200u, five);
  BOOST_TEST(alice.connections_opened() == 1);
  const reply catalog = alice.get("/api/environments/1/mcp_servers/");
  BOOST_TEST_REQUIRE(catalog.status == 200u, catalog);
  BOOST_TEST(catalog.body.find("\"added\"") != std::string::npos, catalog);
  const reply installed = alice.send("POST", e1 + "/install_template/", install_body("added", "k-1"));
  BOOST_TEST(installed.status == 201u, installed);
  BOOST_TEST(installed.body.find("\"template_id\":\"added\"") != std::string::npos, installed);
  // The new body limit applies.
  const reply too_big = alice.send("POST", e1 + "/", big_body);
  BOOST_TEST(too_big.status == 413u, too_big);
}

BOOST_AUTO_TEST_CASE(listeners_open_and_close_while_open_connections_keep_working) {
  BOOST_TEST_REQUIRE(alice.get(e1).status == 200u);
  const std::uint16_t first = gw.port();
  const std::uint16_t second = closed_port();

  // Add a listener.
  const std::string both = "listen: [\"127.0.0.1:0\", \"127.0.0.1:" + std::to_string(second) + "\"]";
  reload(options, [&](std::string& yaml) { replace_once(yaml, "listen: [\"127.0.0.1:0\"]", both); });
  api_client on_second(second, key.secret);
  BOOST_TEST(on_second.get(e1).status == 200u);
  BOOST_TEST(alice.get(e1).status == 200u);

  // Keep only the new one: the first port stops accepting, but the
  // connection already open on it keeps serving.
  const std::string only = "listen: [\"127.0.0.1:" + std::to_string(second) + "\"]";
  reload(options, [&](std::string& yaml) { replace_once(yaml, "listen: [\"127.0.0.1:0\"]", only); });
  const reply kept = alice.get(e1);
  BOOST_TEST(kept.status == 200u, kept);
  BOOST_TEST(alice.connections_opened() == 1);
  BOOST_CHECK_THROW(http_connection(first, std::chrono::milliseconds(2000)), std::exception);
  BOOST_TEST(on_second.get(e1).status == 200u);

  // A listener that cannot be opened refuses the whole reload.
  const std::string taken = "listen: [\"127.0.0.1:" + std::to_string(second) + "\", \"192.0.2.1:80\"]";
  reload(
      options,
      [&](std::string& yaml) {
        replace_once(yaml, "listen: [\"127.0.0.1:0\"]", taken);
        add_project_5(yaml);
      },
      false);
  BOOST_TEST(gw.process().err().find("config reload #3 rejected: cannot listen on 192.0.2.1:80") != std::string::npos,
             gw.process().err());
  BOOST_TEST(on_second.get(projects_collection(5)).status == 404u);
  BOOST_TEST(on_second.get(e1).status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(live_reload_streams)

BOOST_AUTO_TEST_CASE(a_stream_open_across_a_reload_keeps_flowing) {
  std::atomic<bool> go{false};
  fake_upstream upstream;
  upstream.on_request([&](fake_exchange& ex) {
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
    if (!ex.write_chunk("id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n"))
      return;
    // The upstream's own pacing: it holds the second event until the test
    // has reloaded the gateway.
    while (!go.load()) {
      if (!ex.pause(std::chrono::milliseconds(20))) return;
    }
    if (!ex.write_chunk("id: 2\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n"))
      return;
    ex.end_chunked();
  });
  gateway_options options = proxy_options();
  gateway gw(options);
  reloader reload(gw);
  const api_key key = gw.create_key("alice", "*");
  auto alice = gw.client(key);
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");

  agent_stream agent(gw.port());
  BOOST_TEST_REQUIRE(agent.send(raw_request("GET", proxy_path(e1, id), gw.port(), key.secret,
                                            {{"Accept", "text/event-stream"}})));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST_REQUIRE(head->status == 200u, *head);
  const auto one = agent.next_event();
  BOOST_TEST_REQUIRE(one.has_value());
  BOOST_TEST(one->text.starts_with("id: 1\n"), one->text);

  gateway_options next = options;
  next.max_body_bytes = 32'768;
  reload(next, add_project_5);
  go = true;
  const auto two = agent.next_event();
  BOOST_TEST_REQUIRE(two.has_value(), "the stream broke at the reload");
  BOOST_TEST(two->text.starts_with("id: 2\n"), two->text);
  const auto rest = agent.read_rest();
  BOOST_TEST(rest.has_value(), "the stream did not end normally");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(drain)

BOOST_AUTO_TEST_CASE(a_slow_upstream_answer_started_before_sigterm_reaches_the_agent_whole) {
  std::atomic<bool> signalled{false};
  const std::string answer = R"({"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":")" +
                             std::string(20'000, 'z') + R"("}]}})";
  fake_upstream upstream;
  upstream.on_request([&](fake_exchange& ex) {
    // Answers only once the gateway has been told to stop.
    while (!signalled.load()) {
      if (!ex.pause(std::chrono::milliseconds(20))) return;
    }
    ex.respond_json(200, answer);
  });
  gateway_options options = proxy_options();
  options.shutdown_grace = "15s";
  gateway gw(options);
  const api_key key = gw.create_key("alice", "*");
  auto alice = gw.client(key);
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");

  agent_stream agent(gw.port());
  BOOST_TEST_REQUIRE(agent.send(raw_request(
      "POST", proxy_path(e1, id), gw.port(), key.secret,
      {{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}},
      R"({"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"slow://x"}})")));
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline), "the request did not reach the upstream");
  gw.process().send_signal(SIGTERM);
  BOOST_TEST_REQUIRE(gw.process().wait_for_stderr("signal 15 received", io_deadline), gw.process().err());
  signalled = true;

  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value(), "no answer after SIGTERM");
  BOOST_TEST(head->status == 200u, *head);
  const auto body = agent.read_rest();
  BOOST_TEST_REQUIRE(body.has_value(), "the answer did not end");
  BOOST_TEST(*body == answer);
  gw.expect_clean_exit();
}

BOOST_AUTO_TEST_SUITE_END()
