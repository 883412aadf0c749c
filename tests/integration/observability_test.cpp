// What an operator watches: /healthz and /readyz, /metrics in the Prometheus
// text format (checked by promtool, the counters moving with traffic), and
// the JSON log: one object per line, a line per request with its id, route,
// status, latency, user and installation, and no secret anywhere in it.
#include "fake_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <sstream>

using namespace mcpgate::it;

namespace {

// The value of the sample `series` (name with its labels, exactly as
// rendered) in a metrics text; -1 when absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::string metrics_of(gateway& gw) {
  api_client anonymous = gw.anonymous();
  const reply r = anonymous.get("/metrics");
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("text/plain; version=0.0.4"), r);
  return r.body;
}

reply proxy_post(gateway& gw, const api_key& key, const std::string& id, const std::string& body) {
  api_client c = gw.client(key);
  header_list headers = json_headers;
  return c.send("POST", proxy_path(e1, id), body, headers);
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(observability, proxy_gateway)

BOOST_AUTO_TEST_CASE(healthz_and_readyz_answer_without_a_key) {
  api_client anonymous = this->anonymous();
  const reply health = anonymous.get("/healthz");
  BOOST_TEST(health.status == 200u, health);
  BOOST_TEST(health.body == R"({"status":"ok"})");
  const reply ready = anonymous.get("/readyz");
  BOOST_TEST(ready.status == 200u, ready);
  BOOST_TEST(ready.body == R"({"status":"ready"})");
  const reply posted = anonymous.send("POST", "/healthz");
  BOOST_TEST(posted.status == 405u, posted);
  BOOST_TEST(posted.header("Allow") == "GET");
}

BOOST_AUTO_TEST_CASE(metrics_pass_promtool_and_move_with_traffic) {
  fake_upstream upstream;
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "secret-upstream-key");
  const std::string dead = install(alice, "http://127.0.0.1:" + std::to_string(closed_port()) + "/mcp", "api_key",
                                   "k2");

  const std::string before = metrics_of(*this);
  const std::string ok_series = R"(mcpgate_http_requests_total{route="proxy",status="200"})";
  const double ok_before = std::max(0.0, sample(before, ok_series));
  const double latency_before = sample(before, "mcpgate_proxy_request_duration_seconds_count");
  BOOST_TEST(latency_before >= 0);

  // A forwarded ping, a tools/call of a tool the registry does not know
  // (blocked), a request to an upstream nobody listens on (502), a reload.
  const reply pinged = proxy_post(*this, key, id, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  BOOST_TEST_REQUIRE(pinged.status == 200u, pinged);
  const reply blocked = proxy_post(*this, key, id,
                                   R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"nope"}})");
  BOOST_TEST_REQUIRE(blocked.status == 200u, blocked);
  BOOST_TEST_REQUIRE(blocked.body.find("\"error\"") != std::string::npos, blocked);
  const reply unreachable = proxy_post(*this, key, dead, R"({"jsonrpc":"2.0","id":3,"method":"ping"})");
  BOOST_TEST_REQUIRE(unreachable.status == 502u, unreachable);
  process().send_signal(SIGHUP);
  BOOST_TEST_REQUIRE(process().wait_for_stderr("config reload #1 applied:", io_deadline), process().err());

  const std::string after = metrics_of(*this);
  BOOST_TEST(sample(after, ok_series) >= ok_before + 2);  // the ping and the blocked call
  BOOST_TEST(sample(after, R"(mcpgate_http_requests_total{route="proxy",status="502"})") >= 1);
  BOOST_TEST(sample(after, "mcpgate_proxy_request_duration_seconds_count") >= latency_before + 3);
  BOOST_TEST(sample(after, R"(mcpgate_proxy_request_duration_seconds_bucket{le="+Inf"})") ==
             sample(after, "mcpgate_proxy_request_duration_seconds_count"));
  BOOST_TEST(sample(after, R"(mcpgate_tool_calls_total{decision="blocked",state="unknown"})") >= 1, after);
  BOOST_TEST(sample(after, R"(mcpgate_upstream_errors_total{installation=")" + dead + R"(",kind="unreachable"})") == 1,
             after);
  BOOST_TEST(sample(after, R"(mcpgate_config_reloads_total{outcome="applied"})") == 1);
  BOOST_TEST(sample(after, R"(mcpgate_http_requests_total{route="install_custom",status="201"})") >= 2, after);
  BOOST_TEST(sample(after, "mcpgate_open_connections") >= 1);
  BOOST_TEST(after.find("secret-upstream-key") == std::string::npos);
  BOOST_TEST(after.find(key.secret) == std::string::npos);

  // The exposition format, as Prometheus's own tool reads it.
  temp_dir dir;
  const fs::path file = dir.path() / "metrics.txt";
  write_file(file, after);
  const command_result checked = run_command({"/bin/sh", "-c", "promtool check metrics < '" + file.string() + "'"});
  BOOST_TEST(checked.exit_code == 0, checked);
  BOOST_TEST(checked.err.empty(), checked);
}

BOOST_AUTO_TEST_CASE(json_logs_have_a_line_per_request_and_no_secret) {
  // The harness writes text logs; this test wants JSON.
  std::string yaml = read_file(config_path());
  const auto at = yaml.find("format: text");
  BOOST_TEST_REQUIRE(at != std::string::npos);
  yaml.replace(at, std::string_view("format: text").size(), "format: json");
  write_file(config_path(), yaml);
  restart();
  // What the first (text) run wrote comes first in all_logs(): skipped. This
  // run's stderr is read first, so the skip never reaches into it.
  const std::size_t this_run_so_far = process().err().size();
  const std::size_t skip = all_logs().size() - this_run_so_far;

  fake_upstream upstream;
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string upstream_key = "upstream-secret-4f1c9a";
  const std::string id = install(alice, upstream, upstream.url(), "api_key", upstream_key);
  const reply pinged = proxy_post(*this, key, id, R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
  BOOST_TEST_REQUIRE(pinged.status == 200u, pinged);
  const reply missing = alice.get(item_of(e1, "01890000-0000-7000-8000-000000000000"));
  BOOST_TEST_REQUIRE(missing.status == 404u, missing);
  BOOST_TEST_REQUIRE(upstream.request_count() >= 1u);
  // The upstream got the key: it was in use during this run.
  BOOST_TEST(upstream.requests().back().header("Authorization").value_or("") == "Bearer " + upstream_key);
  stop();

  const std::string log = all_logs().substr(skip);
  std::istringstream lines(log);
  std::string line;
  int parsed = 0;
  bool saw_proxy = false;
  bool saw_404 = false;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    const json::value v = boost::json::parse(line, ec);
    BOOST_TEST_REQUIRE((!ec && v.is_object()), "not a JSON object: " << line);
    const json::object& o = v.as_object();
    ++parsed;
    BOOST_TEST(o.contains("time"), line);
    BOOST_TEST(o.contains("level"), line);
    const json::value* event = o.if_contains("event");
    if (!event || *event != json::value("request")) continue;
    for (const char* field : {"request_id", "method", "route", "status", "latency_ms", "user_id"}) {
      BOOST_TEST(o.contains(field), field << " missing in " << line);
    }
    const json::value& route = o.at("route");
    const json::value& status = o.at("status");
    if (route == json::value("proxy") && status == json::value(200)) {
      saw_proxy = true;
      BOOST_TEST((o.if_contains("installation_id") && *o.if_contains("installation_id") == json::value(id)), line);
    }
    if (route == json::value("installation") && status == json::value(404)) saw_404 = true;
  }
  BOOST_TEST(parsed > 5);
  BOOST_TEST(saw_proxy, "no request line for the proxied ping in\n" << log);
  BOOST_TEST(saw_404, "no request line for the 404 in\n" << log);
  BOOST_TEST(log.find(key.secret) == std::string::npos, "the API key is in the log");
  BOOST_TEST(log.find(upstream_key) == std::string::npos, "the upstream key is in the log");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(metrics_on_their_own_listener_are_served_there_only) {
  const std::uint16_t metrics_port = closed_port();
  gateway_options options;
  options.extra_server_yaml = "  metrics_listen: \"127.0.0.1:" + std::to_string(metrics_port) + "\"\n";
  gateway gw(options);
  api_client on_metrics_port(metrics_port);
  const reply metrics = on_metrics_port.get("/metrics");
  BOOST_TEST(metrics.status == 200u, metrics);
  BOOST_TEST(metrics.body.find("mcpgate_build_info{") != std::string::npos, metrics);
  BOOST_TEST(on_metrics_port.get("/healthz").status == 200u);
  // Nothing of the API there.
  BOOST_TEST(on_metrics_port.get(e1).status == 404u);
  // And no metrics on the API listener.
  api_client on_api_port = gw.anonymous();
  BOOST_TEST(on_api_port.get("/metrics").status == 404u);
  BOOST_TEST(on_api_port.get("/healthz").status == 200u);
  gw.stop();  // both listeners drain; exit 0
}
