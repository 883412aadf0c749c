#include "config/load.hpp"

#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace mcpgate::config;
using namespace std::chrono_literals;

namespace {

load_result load(const std::string& yaml) { return load_string(yaml, "t.yaml"); }

// A file holding `content`, for client_secret_file (removed at exit by the OS
// temp cleaner; the name is unique per process and call).
std::string temp_secret_file(const std::string& content) {
  static int counter = 0;
  const auto path = std::filesystem::temp_directory_path() /
                    ("mcpgate-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
  std::ofstream(path) << content;
  return path.string();
}

// Each problem as "file:line:column: message", for whole-list comparisons.
std::vector<std::string> problems_of(const load_result& r) {
  std::vector<std::string> out;
  for (const problem& p : r.problems) out.push_back(p.to_string());
  return out;
}

// A loaded config; fails the test (printing the problems) when it did not load.
config loaded(const std::string& yaml) {
  const load_result r = load(yaml);
  std::string listed;
  for (const std::string& p : problems_of(r)) listed += "\n  " + p;
  BOOST_TEST_REQUIRE(r.problems.empty(), "unexpected problems:" << listed);
  BOOST_TEST_REQUIRE(r.value.has_value());
  return *r.value;
}

// The problems, in order, as "file:line:column: message".
void expect_problems(const load_result& r, const std::vector<std::string>& expected) {
  BOOST_TEST(!r.value.has_value());
  BOOST_TEST(problems_of(r) == expected, boost::test_tools::per_element());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(loading)

BOOST_AUTO_TEST_CASE(loads_operations_example_with_its_values) {
  // operations.md's example, minus server.tls (refused in this version).
  const config c = loaded(R"(server:
  listen: ["127.0.0.1:8080"]      # several allowed; "[::1]:8080" too
  public_url: "https://gateway.example.com"   # used in proxy_url, OAuth redirect_uri, pagination links
  workers: auto                   # event-loop threads
  limits: { max_connections: 10000, max_body_bytes: 1048576, max_header_bytes: 16384 }
  timeouts: { upstream_connect: 10s, upstream_first_byte: 180s, idle: 60s }
storage:
  sqlite: { path: /var/lib/mcpgate/mcpgate.db }   # the embedded default
  # postgres: { dsn_file: /etc/mcpgate/pg.dsn }    # for several gateway nodes
secrets:
  key_files: [/etc/mcpgate/secret.key]            # first seals, all open (rotation)
upstreams:
  allow_private_networks: false   # SSRF policy; tests and local setups turn it on
  allow_hosts: []                 # exceptions, e.g. "127.0.0.1:9000", "*.corp.example"
projects:
  - id: 1
    name: Default
    environments: [{ id: 1, name: production }, { id: 2, name: staging }]
templates:
  - id: linear
    name: Linear
    url: https://mcp.linear.app/mcp
    auth_type: oauth
    category: productivity
    is_active: true
proxy:
  tools_list_hide: [do_not_use]
logging: { level: info, format: json }
)");
  BOOST_TEST(c.source == "t.yaml");
  BOOST_TEST_REQUIRE(c.server.listen.size() == 1u);
  BOOST_TEST(c.server.listen[0].host == "127.0.0.1");
  BOOST_TEST(c.server.listen[0].port == 8080);
  BOOST_TEST(c.server.public_url == "https://gateway.example.com");
  BOOST_TEST(c.server.workers == 0u);
  BOOST_TEST(c.server.limits.max_connections == 10000u);
  BOOST_TEST(c.server.limits.max_body_bytes == 1048576u);
  BOOST_TEST(c.server.limits.max_header_bytes == 16384u);
  BOOST_TEST(c.server.timeouts.upstream_connect.count() == 10'000);
  BOOST_TEST(c.server.timeouts.upstream_first_byte.count() == 180'000);
  BOOST_TEST(c.server.timeouts.idle.count() == 60'000);
  BOOST_TEST(c.storage.sqlite_path == "/var/lib/mcpgate/mcpgate.db");
  BOOST_TEST(c.secrets.key_files == std::vector<std::string>{"/etc/mcpgate/secret.key"});
  BOOST_TEST(!c.secrets.generate_missing);
  BOOST_TEST(!c.upstreams.allow_private_networks);
  BOOST_TEST(c.upstreams.allow_hosts.empty());
  BOOST_TEST_REQUIRE(c.projects.size() == 1u);
  BOOST_TEST(c.projects[0].id == 1);
  BOOST_TEST(c.projects[0].name == "Default");
  BOOST_TEST_REQUIRE(c.projects[0].environments.size() == 2u);
  BOOST_TEST(c.projects[0].environments[1].id == 2);
  BOOST_TEST(c.projects[0].environments[1].name == "staging");
  BOOST_TEST_REQUIRE(c.templates.size() == 1u);
  const template_entry& t = c.templates[0];
  BOOST_TEST(t.id == "linear");
  BOOST_TEST(t.name == "Linear");
  BOOST_TEST(t.url == "https://mcp.linear.app/mcp");
  BOOST_TEST((t.auth_type == auth_type::oauth));
  BOOST_TEST(t.category == "productivity");
  BOOST_TEST(t.is_active);
  BOOST_TEST(t.api_key_header == "Authorization");
  BOOST_TEST(t.api_key_format == "Bearer {key}");
  BOOST_TEST(t.offline_access);  // asked for when the authorization server lists it
  BOOST_TEST(c.proxy.tools_list_hide == std::vector<std::string>{"do_not_use"});
  BOOST_TEST(c.logging.level == "info");
  BOOST_TEST(c.logging.format == "json");
}

BOOST_AUTO_TEST_CASE(default_config_listens_on_loopback_with_files_in_data_dir) {
  const config c = default_config();
  BOOST_TEST(c.source == "");
  BOOST_TEST(c.data_dir == "mcpgate-data");
  BOOST_TEST_REQUIRE(c.server.listen.size() == 1u);
  BOOST_TEST(c.server.listen[0].host == "127.0.0.1");
  BOOST_TEST(c.server.listen[0].port == 8080);
  BOOST_TEST(c.server.public_url == "");
  BOOST_TEST(c.storage.sqlite_path == "mcpgate-data/mcpgate.db");
  BOOST_TEST(c.secrets.key_files == std::vector<std::string>{"mcpgate-data/secret.key"});
  BOOST_TEST(c.secrets.generate_missing);
  BOOST_TEST_REQUIRE(c.projects.size() == 1u);
  BOOST_TEST(c.projects[0].id == 1);
  BOOST_TEST(c.projects[0].name == "Default");
  BOOST_TEST_REQUIRE(c.projects[0].environments.size() == 1u);
  BOOST_TEST(c.projects[0].environments[0].id == 1);
  BOOST_TEST(c.projects[0].environments[0].name == "production");
  BOOST_TEST(c.proxy.tools_list_hide == (std::vector<std::string>{"do_not_use", "removed"}));
  BOOST_TEST(c.logging.level == "info");
  BOOST_TEST(c.templates.empty());
}

BOOST_AUTO_TEST_CASE(empty_document_loads_as_the_default) {
  const config c = loaded("# nothing but a comment\n");
  BOOST_TEST(c.source == "t.yaml");
  BOOST_TEST(c.storage.sqlite_path == "mcpgate-data/mcpgate.db");
  BOOST_TEST(c.projects.size() == 1u);
}

BOOST_AUTO_TEST_CASE(defaulted_paths_follow_data_dir_wherever_it_is_written) {
  const config c = loaded("logging: { level: debug }\ndata_dir: /srv/gw\n");
  BOOST_TEST(c.data_dir == "/srv/gw");
  BOOST_TEST(c.storage.sqlite_path == "/srv/gw/mcpgate.db");
  BOOST_TEST(c.secrets.key_files == std::vector<std::string>{"/srv/gw/secret.key"});
  BOOST_TEST(c.secrets.generate_missing);
}

BOOST_AUTO_TEST_CASE(collects_every_problem_with_line_and_column) {
  const load_result r = load(R"(server:
  workers: many
  limits:
    max_body_bytes: lots
logging:
  level: loud
)");
  expect_problems(r, {
                         "t.yaml:2:12: server.workers: expected auto or a positive integer",
                         "t.yaml:4:21: server.limits.max_body_bytes: expected a positive integer",
                         "t.yaml:6:10: logging.level: expected one of trace, debug, info, warn, error, critical, off",
                     });
}

BOOST_AUTO_TEST_CASE(reports_syntax_error_as_one_problem_with_its_position) {
  const load_result r = load("server:\n  listen: [\"127.0.0.1:8080\"\nlogging: {}\n");
  BOOST_TEST_REQUIRE(r.problems.size() == 1u);
  BOOST_TEST(r.problems[0].file == "t.yaml");
  BOOST_TEST(r.problems[0].line == 3);
  BOOST_TEST(r.problems[0].column == 1);
  BOOST_TEST(r.problems[0].message.starts_with("invalid YAML: "));
}

BOOST_AUTO_TEST_CASE(reports_unknown_key_with_line_and_column) {
  const load_result r = load("server:\n  limits:\n    max_bodies: 3\ncolour: blue\n");
  expect_problems(r, {
                         "t.yaml:3:5: unknown key 'max_bodies' in server.limits",
                         "t.yaml:4:1: unknown key 'colour' at the top level",
                     });
}

BOOST_AUTO_TEST_CASE(reports_repeated_key) {
  const load_result r = load("logging:\n  level: info\n  level: debug\n");
  expect_problems(r, {"t.yaml:3:3: duplicate key 'level' in logging"});
}

BOOST_AUTO_TEST_CASE(reports_wrong_types) {
  const load_result r = load(R"(server:
  limits: { max_connections: "10", max_body_bytes: -1, max_header_bytes: 0 }
  listen: "127.0.0.1:8080"
upstreams: { allow_private_networks: yes, allow_hosts: [a, [b]] }
storage: []
data_dir:
)");
  expect_problems(r, {
                         "t.yaml:6:1: data_dir: expected a non-empty string",
                         "t.yaml:2:30: server.limits.max_connections: expected a positive integer",
                         "t.yaml:2:52: server.limits.max_body_bytes: expected a positive integer",
                         "t.yaml:2:74: server.limits.max_header_bytes: expected a positive integer",
                         "t.yaml:3:11: server.listen: expected a non-empty list",
                         "t.yaml:4:38: upstreams.allow_private_networks: expected true or false",
                         "t.yaml:4:60: upstreams.allow_hosts[1]: expected a non-empty string",
                         "t.yaml:5:10: storage: expected a mapping",
                     });
}

BOOST_AUTO_TEST_CASE(top_level_must_be_a_mapping) {
  expect_problems(load("- a\n- b\n"), {"t.yaml:1:1: expected a mapping at the top level"});
}

BOOST_AUTO_TEST_CASE(refuses_several_documents) {
  expect_problems(load("data_dir: a\n---\ndata_dir: b\n"), {"t.yaml:3:1: expected a single YAML document"});
}

// yaml-cpp hands out empty documents forever for some inputs: reading all
// of them once took every byte of memory (found by tests/fuzz).
BOOST_AUTO_TEST_CASE(inputs_with_endless_empty_documents_end) {
  for (const char* text : {"\n,", ",", "\n,\n,"}) {
    const auto r = load(text);
    BOOST_TEST(!r.value.has_value(), text);
    BOOST_TEST(!r.problems.empty(), text);
  }
}

BOOST_AUTO_TEST_CASE(parse_duration_accepts_ms_s_m_h) {
  const auto millis = [](const char* text) { return parse_duration(text).value_or(-1ms).count(); };
  BOOST_TEST(millis("500ms") == 500);
  BOOST_TEST(millis("10s") == 10'000);
  BOOST_TEST(millis("5m") == 300'000);
  BOOST_TEST(millis("1h") == 3'600'000);
  BOOST_TEST(millis("0s") == 0);
}

BOOST_AUTO_TEST_CASE(parse_duration_rejects_other_forms) {
  for (const char* bad : {"", "10", "s", "1.5s", "-1s", "+1s", "10 s", "1d", "10S", "5min", " 5m",
                          "99999999999999999999ms", "9999999999999999h"})
    BOOST_TEST(!parse_duration(bad).has_value(), "accepted '" << bad << "'");
}

BOOST_AUTO_TEST_CASE(reads_timeouts_and_refuses_bad_durations) {
  const load_result r = load(R"(server:
  timeouts:
    shutdown_grace: 10
    upstream_connect: 0s
)");
  expect_problems(
      r, {
             "t.yaml:3:21: server.timeouts.shutdown_grace: expected a positive duration such as 500ms, 10s, 5m or 1h",
             "t.yaml:4:23: server.timeouts.upstream_connect: expected a positive duration such as 500ms, 10s, 5m or 1h",
         });
  const config c = loaded("server:\n  timeouts: { idle: 5m, request_read: 500ms, shutdown_grace: 1h }\n");
  BOOST_TEST(c.server.timeouts.idle.count() == 300'000);
  BOOST_TEST(c.server.timeouts.request_read.count() == 500);
  BOOST_TEST(c.server.timeouts.shutdown_grace.count() == 3'600'000);
}

BOOST_AUTO_TEST_CASE(parses_listen_addresses_including_bracketed_ipv6) {
  const config c = loaded(R"(server: { listen: ["[::1]:8080", "0.0.0.0:0", "localhost:65535", "[::]:443"] })");
  BOOST_TEST_REQUIRE(c.server.listen.size() == 4u);
  BOOST_TEST(c.server.listen[0].host == "::1");
  BOOST_TEST(c.server.listen[0].port == 8080);
  BOOST_TEST(c.server.listen[1].host == "0.0.0.0");
  BOOST_TEST(c.server.listen[1].port == 0);
  BOOST_TEST(c.server.listen[2].host == "127.0.0.1");
  BOOST_TEST(c.server.listen[2].port == 65535);
  BOOST_TEST(c.server.listen[3].host == "::");
}

BOOST_AUTO_TEST_CASE(refuses_bad_listen_addresses_and_ports) {
  const load_result r = load(R"(server:
  listen:
    - "127.0.0.1:65536"
    - "127.0.0.1:-1"
    - "127.0.0.1:"
    - "::1:8080"
    - "example.com:80"
    - "[127.0.0.1]:80"
    - "127.0.0.1"
    - "127.0.0.1:http"
)");
  BOOST_TEST_REQUIRE(r.problems.size() == 8u);
  for (std::size_t i = 0; i < r.problems.size(); ++i) {
    BOOST_TEST(r.problems[i].line == static_cast<int>(i) + 3);
    BOOST_TEST(r.problems[i].column == 7);
    BOOST_TEST(r.problems[i].message ==
               "server.listen[" + std::to_string(i) +
                   "]: expected \"host:port\" with an IP address or localhost and a port 0-65535");
  }
}

BOOST_AUTO_TEST_CASE(strips_trailing_slash_of_public_url_and_refuses_non_http) {
  BOOST_TEST(loaded("server: { public_url: \"http://gw.example.com:8080/base/\" }").server.public_url ==
             "http://gw.example.com:8080/base");
  expect_problems(load("server: { public_url: ftp://gw.example.com }"),
                  {"t.yaml:1:23: server.public_url: expected an absolute http or https URL without query or fragment"});
  BOOST_TEST(load("server: { public_url: \"https://gw.example.com/?a=1\" }").problems.size() == 1u);
  BOOST_TEST(load("server: { public_url: /relative }").problems.size() == 1u);
}

BOOST_AUTO_TEST_CASE(refuses_tls_at_its_position) {
  // As operations.md writes it.
  const load_result r = load("server:\n  tls: { cert_file: ..., key_file: ... }      # optional\n");
  expect_problems(r, {"t.yaml:2:3: server.tls is not supported in this version: terminate TLS in front of mcpgate"});
}

BOOST_AUTO_TEST_CASE(reads_postgres_storage_from_fields) {
  const std::string password = temp_secret_file("s3cret 'x'\n");
  const std::string ca = temp_secret_file("-----BEGIN CERTIFICATE-----\n");
  const config c = loaded(
      "storage:\n  postgres:\n    host: db.internal\n    port: 6432\n    dbname: mcpgate\n"
      "    user: gw\n    password_file: " +
      password + "\n    sslmode: verify-full\n    sslrootcert: " + ca +
      "\n    pool_size: 8\n    statement_timeout: 2s\n");
  BOOST_TEST_REQUIRE(c.storage.postgres.has_value());
  const postgres& p = *c.storage.postgres;
  BOOST_TEST(p.host == "db.internal");
  BOOST_TEST(p.port == 6432u);
  BOOST_TEST(p.dbname == "mcpgate");
  BOOST_TEST(p.user == "gw");
  BOOST_TEST(p.password == "s3cret 'x'");  // read at load, line break dropped
  BOOST_TEST(p.sslmode == "verify-full");
  BOOST_TEST(p.pool_size == 8u);
  BOOST_TEST(p.statement_timeout.count() == 2000);
  std::vector<std::string> params;
  for (const auto& [key, value] : postgres_parameters(p)) params.push_back(key + "=" + value);
  BOOST_TEST(params == (std::vector<std::string>{"dbname=mcpgate", "host=db.internal", "port=6432", "user=gw",
                                                 "password=s3cret 'x'", "sslmode=verify-full", "sslrootcert=" + ca,
                                                 "application_name=mcpgate"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(reads_postgres_storage_from_a_conninfo_a_dsn_file_or_the_environment) {
  const config plain = loaded("storage:\n  postgres: { conninfo: \"host=/run/pg dbname=gw\" }\n");
  BOOST_TEST_REQUIRE(plain.storage.postgres.has_value());
  BOOST_TEST(plain.storage.postgres->conninfo == "host=/run/pg dbname=gw");
  BOOST_TEST(plain.storage.postgres->pool_size == 4u);  // the defaults
  BOOST_TEST(plain.storage.postgres->statement_timeout.count() == 5000);
  BOOST_TEST(postgres_parameters(*plain.storage.postgres).front().second == "host=/run/pg dbname=gw");

  const std::string dsn = temp_secret_file("postgresql://gw:pw@db/gw?sslmode=require\n");
  const config from_file = loaded("storage:\n  postgres: { dsn_file: " + dsn + " }\n");
  BOOST_TEST(from_file.storage.postgres->conninfo == "postgresql://gw:pw@db/gw?sslmode=require");

  ::setenv("MCPGATE_TEST_PG_URL", "postgresql://gw:pw@db/gw", 1);
  ::setenv("MCPGATE_TEST_PG_PASSWORD", "from-env", 1);
  const config from_env = loaded(
      "storage:\n  postgres: { conninfo: \"${MCPGATE_TEST_PG_URL}\", password: \"${MCPGATE_TEST_PG_PASSWORD}\" }\n");
  BOOST_TEST(from_env.storage.postgres->conninfo == "postgresql://gw:pw@db/gw");
  BOOST_TEST(from_env.storage.postgres->password == "from-env");
  // Without storage.postgres the store is SQLite, as before.
  BOOST_TEST(!loaded("storage: { sqlite: { path: /srv/x.db } }").storage.postgres.has_value());
}

BOOST_AUTO_TEST_CASE(refuses_postgres_storage_it_cannot_use_at_their_positions) {
  ::unsetenv("MCPGATE_TEST_PG_UNSET");
  expect_problems(load("storage:\n  postgres: { conninfo: \"host=db password=x dbname=gw\" }\n"),
                  {"t.yaml:2:25: storage.postgres.conninfo: secrets must not be inline: use password_file, "
                   "password: ${ENV}, or conninfo: ${ENV}"});
  expect_problems(load("storage:\n  postgres: { conninfo: \"postgresql://gw:pw@db/gw\" }\n"),
                  {"t.yaml:2:25: storage.postgres.conninfo: secrets must not be inline: use password_file, "
                   "password: ${ENV}, or conninfo: ${ENV}"});
  expect_problems(load("storage:\n  postgres: { password: hunter2, dbname: gw }\n"),
                  {"t.yaml:2:25: storage.postgres.password: secrets must not be inline: use password_file or ${ENV}"});
  expect_problems(load("storage:\n  postgres: { conninfo: \"dbname=gw\", host: db }\n"),
                  {"t.yaml:2:13: storage.postgres: give conninfo or host/port/dbname/user, not both"});
  expect_problems(load("storage:\n  postgres: { host: db }\n"),
                  {"t.yaml:2:13: storage.postgres: storage.postgres needs conninfo, dsn_file or dbname"});
  expect_problems(load("storage:\n  postgres: { dbname: gw, port: 70000, pool_size: 0, sslmode: maybe,"
                       " statement_timeout: soon, password: \"${MCPGATE_TEST_PG_UNSET}\" }\n"),
                  {"t.yaml:2:33: storage.postgres.port: expected a port 1-65535",
                   "t.yaml:2:51: storage.postgres.pool_size: expected a positive integer",
                   "t.yaml:2:63: storage.postgres.sslmode: expected one of disable, allow, prefer, require, "
                   "verify-ca, verify-full",
                   "t.yaml:2:89: storage.postgres.statement_timeout: expected a positive duration such as 500ms, "
                   "10s, 5m or 1h",
                   "t.yaml:2:13: storage.postgres: password: environment variable MCPGATE_TEST_PG_UNSET is not set"});
  expect_problems(load("storage:\n  postgres: { dbname: gw, sslrootcert: /no/such/ca.pem, pool_size: 65 }\n"),
                  {"t.yaml:2:40: storage.postgres.sslrootcert: /no/such/ca.pem: No such file or directory",
                   "t.yaml:2:68: storage.postgres.pool_size: expected a pool size of 1 to 64"});
}

BOOST_AUTO_TEST_CASE(given_key_files_are_not_generated) {
  const config c = loaded("secrets: { key_files: [/k/new.key, /k/old.key] }");
  BOOST_TEST(c.secrets.key_files == (std::vector<std::string>{"/k/new.key", "/k/old.key"}));
  BOOST_TEST(!c.secrets.generate_missing);
  expect_problems(load("secrets: { key_files: [] }"), {"t.yaml:1:23: secrets.key_files: expected a non-empty list"});
}

BOOST_AUTO_TEST_CASE(key_files_take_a_leading_variable_from_the_environment) {
  // As systemd's LoadCredential= hands the key over: $CREDENTIALS_DIRECTORY/secret.key.
  ::setenv("MCPGATE_TEST_CREDENTIALS", "/run/credentials/mcpgate.service", 1);
  ::setenv("MCPGATE_TEST_KEY_FILE", "/k/whole.key", 1);
  const config c = loaded(R"(secrets:
  key_files: ["${MCPGATE_TEST_CREDENTIALS}/secret.key", "${MCPGATE_TEST_KEY_FILE}", /k/old.key]
)");
  ::unsetenv("MCPGATE_TEST_CREDENTIALS");
  ::unsetenv("MCPGATE_TEST_KEY_FILE");
  BOOST_TEST(c.secrets.key_files == (std::vector<std::string>{"/run/credentials/mcpgate.service/secret.key",
                                                              "/k/whole.key", "/k/old.key"}),
             boost::test_tools::per_element());
  BOOST_TEST(!c.secrets.generate_missing);
}

BOOST_AUTO_TEST_CASE(unset_or_empty_key_file_variable_is_a_problem_at_its_entry) {
  ::unsetenv("MCPGATE_TEST_UNSET_DIR");
  ::setenv("MCPGATE_TEST_EMPTY_DIR", "", 1);
  const load_result r = load(R"(secrets:
  key_files:
    - "${MCPGATE_TEST_UNSET_DIR}/secret.key"
    - /k/old.key
    - ${MCPGATE_TEST_EMPTY_DIR}/secret.key
)");
  ::unsetenv("MCPGATE_TEST_EMPTY_DIR");
  expect_problems(r, {
                         "t.yaml:3:7: secrets.key_files[0]: environment variable MCPGATE_TEST_UNSET_DIR is not set",
                         "t.yaml:5:7: secrets.key_files[2]: environment variable MCPGATE_TEST_EMPTY_DIR is not set",
                     });
}

BOOST_AUTO_TEST_CASE(key_file_variable_only_at_the_start_and_well_formed) {
  ::setenv("MCPGATE_TEST_DIR", "/d", 1);
  const load_result r = load(R"(secrets:
  key_files:
    - /etc/${MCPGATE_TEST_DIR}/secret.key
    - ${MCPGATE_TEST_DIR
    - ${1BAD}/secret.key
    - ${MCPGATE_TEST_DIR}secret.key
    - ${MCPGATE_TEST_DIR}/${MCPGATE_TEST_DIR}
    - ${}/secret.key
)");
  ::unsetenv("MCPGATE_TEST_DIR");
  const std::string expected = ": expected a path, ${NAME} or ${NAME}/path (a variable only at the start)";
  expect_problems(r, {
                         "t.yaml:3:7: secrets.key_files[0]" + expected,
                         "t.yaml:4:7: secrets.key_files[1]" + expected,
                         "t.yaml:5:7: secrets.key_files[2]" + expected,
                         "t.yaml:6:7: secrets.key_files[3]" + expected,
                         "t.yaml:7:7: secrets.key_files[4]" + expected,
                         "t.yaml:8:7: secrets.key_files[5]" + expected,
                     });
}

BOOST_AUTO_TEST_CASE(adds_each_project_its_own_environment) {
  const config c = loaded(R"(projects:
  - { id: 1, name: One }
  - { id: 2, name: Two, environments: [{ id: 7, name: staging }] }
  - { id: 3, name: Three, environments: [{ id: 8, name: dev }, { id: 3, name: live }] }
)");
  BOOST_TEST_REQUIRE(c.projects.size() == 3u);
  BOOST_TEST_REQUIRE(c.projects[0].environments.size() == 1u);
  BOOST_TEST(c.projects[0].environments[0].id == 1);
  BOOST_TEST(c.projects[0].environments[0].name == "production");
  BOOST_TEST_REQUIRE(c.projects[1].environments.size() == 2u);
  BOOST_TEST(c.projects[1].environments[0].id == 2);
  BOOST_TEST(c.projects[1].environments[0].name == "default");
  BOOST_TEST(c.projects[1].environments[1].id == 7);
  BOOST_TEST(c.projects[2].environments.size() == 2u);
}

BOOST_AUTO_TEST_CASE(refuses_duplicate_project_and_environment_ids) {
  const load_result r = load(R"(projects:
  - { id: 1, name: One, environments: [{ id: 5, name: a }, { id: 2, name: b }] }
  - { id: 1, name: Again }
  - { id: 2, name: Two, environments: [{ id: 5, name: c }] }
)");
  expect_problems(r, {
                         "t.yaml:3:11: projects[1].id: duplicate project id 1",
                         "t.yaml:2:66: projects[0].environments[1].id: "
                         "environment id 2 is project 2's id: only that project may have it",
                         "t.yaml:4:46: projects[2].environments[0].id: duplicate environment id 5 (also in project 1)",
                     });
}

BOOST_AUTO_TEST_CASE(requires_project_id_and_name) {
  expect_problems(load("projects:\n  - { name: X }\n  - { id: 0, name: Y }\n  - []\n"),
                  {
                      "t.yaml:2:5: projects[0]: missing required key 'id'",
                      "t.yaml:3:11: projects[1].id: expected a positive integer",
                      "t.yaml:4:5: projects[2]: expected a mapping",
                  });
  expect_problems(load("projects: []\n"), {"t.yaml:1:11: projects: expected a non-empty list"});
}

BOOST_AUTO_TEST_CASE(reads_template_fields) {
  const std::string secret_file = temp_secret_file("acme-secret\n");
  const config c = loaded(R"(templates:
  - id: acme_api-2
    name: Acme
    url: https://acme.example/mcp?region=eu
    docs_url: https://acme.example/docs
    description: Acme things
    auth_type: api_key
    icon_key: acme
    category: dev
    is_active: false
    client_id: abc
    offline_access: false
    client_secret_file: )" +
                          secret_file + R"(
    api_key_header: X-Api-Key
    api_key_format: "{key}"
)");
  BOOST_TEST_REQUIRE(c.templates.size() == 1u);
  const template_entry& t = c.templates[0];
  BOOST_TEST(t.id == "acme_api-2");
  BOOST_TEST(t.url == "https://acme.example/mcp?region=eu");
  BOOST_TEST(t.docs_url == "https://acme.example/docs");
  BOOST_TEST(t.description == "Acme things");
  BOOST_TEST((t.auth_type == auth_type::api_key));
  BOOST_TEST(t.icon_key == "acme");
  BOOST_TEST(t.category == "dev");
  BOOST_TEST(!t.is_active);
  BOOST_TEST(t.client_id == "abc");
  BOOST_TEST(!t.offline_access);
  BOOST_TEST(t.client_secret_file == secret_file);
  BOOST_TEST(t.client_secret == "acme-secret");  // read at load, line break dropped
  BOOST_TEST(t.client_secret_env == "");
  BOOST_TEST(t.api_key_header == "X-Api-Key");
  BOOST_TEST(t.api_key_format == "{key}");
}

BOOST_AUTO_TEST_CASE(accepts_client_secret_as_env_reference) {
  ::setenv("A_SECRET_1", "from-env", 1);
  const config c = loaded(R"(templates:
  - { id: a, name: A, url: "https://a.example", client_id: ca, client_secret: "${A_SECRET_1}" }
)");
  ::unsetenv("A_SECRET_1");
  BOOST_TEST(c.templates.at(0).client_secret_env == "A_SECRET_1");
  BOOST_TEST(c.templates.at(0).client_secret == "from-env");
  BOOST_TEST(c.templates.at(0).client_secret_file == "");
}

BOOST_AUTO_TEST_CASE(refuses_unreadable_or_unset_client_secret) {
  ::unsetenv("MCPGATE_TEST_UNSET_SECRET");
  const load_result r = load(R"(templates:
  - { id: a, name: A, url: "https://a.example", client_id: ca, client_secret: "${MCPGATE_TEST_UNSET_SECRET}" }
  - { id: b, name: B, url: "https://b.example", client_id: cb, client_secret_file: /nonexistent/mcpgate-secret }
  - { id: c, name: C, url: "https://c.example", client_secret_file: )" +
                             temp_secret_file("x") + R"( }
)");
  BOOST_TEST_REQUIRE(r.problems.size() == 3u);
  BOOST_TEST(r.problems[0].message.find("MCPGATE_TEST_UNSET_SECRET is not set") != std::string::npos);
  BOOST_TEST(r.problems[1].message.find("/nonexistent/mcpgate-secret") != std::string::npos);
  BOOST_TEST(r.problems[2].message.find("needs a client_id") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(refuses_inline_client_secret) {
  const load_result r = load(R"(templates:
  - { id: a, name: A, url: "https://a.example", client_secret: s3cr3t }
  - { id: b, name: B, url: "https://b.example", client_secret: "${1BAD}" }
  - { id: c, name: C, url: "https://c.example", client_secret: "${C}", client_secret_file: /c }
)");
  expect_problems(r, {
                         "t.yaml:2:64: templates[0].client_secret: secrets must not be inline: "
                         "use client_secret_file or ${ENV}",
                         "t.yaml:3:64: templates[1].client_secret: secrets must not be inline: "
                         "use client_secret_file or ${ENV}",
                         "t.yaml:4:5: templates[2]: give client_secret_file or client_secret, not both",
                     });
}

BOOST_AUTO_TEST_CASE(refuses_invalid_templates) {
  const load_result r = load(R"(templates:
  - { id: Linear, name: L, url: "https://l.example" }
  - { id: x, url: "mailto:a@b.example", auth_type: basic, category: fun }
  - { id: x, name: X2, url: "https://x.example", api_key_format: "Token", api_key_header: "X Key" }
  - { id: y, name: Y, url: "https://y.example", offline_access: sometimes }
)");
  expect_problems(
      r, {
             "t.yaml:2:11: templates[0].id: expected lower-case letters, digits, '_' or '-'",
             "t.yaml:3:19: templates[1].url: expected an absolute http or https URL",
             "t.yaml:3:52: templates[1].auth_type: expected one of oauth, api_key, none",
             "t.yaml:3:69: templates[1].category: expected one of business, data, design, dev, infra, productivity",
             "t.yaml:3:5: templates[1]: missing required key 'name'",
             "t.yaml:4:11: templates[2].id: duplicate template id 'x'",
             "t.yaml:4:66: templates[2].api_key_format: expected a format containing {key}",
             "t.yaml:4:91: templates[2].api_key_header: expected an HTTP header name",
             "t.yaml:5:65: templates[3].offline_access: expected true or false",
         });
}

BOOST_AUTO_TEST_CASE(reads_tools_list_hide_values) {
  BOOST_TEST(loaded("proxy: { tools_list_hide: [] }").proxy.tools_list_hide.empty());
  BOOST_TEST(loaded("proxy: { tools_list_hide: [removed, needs_approval] }").proxy.tools_list_hide ==
             (std::vector<std::string>{"removed", "needs_approval"}));
  expect_problems(load("proxy: { tools_list_hide: [hidden] }"),
                  {"t.yaml:1:28: proxy.tools_list_hide[0]: expected one of needs_approval, do_not_use, removed"});
}

BOOST_AUTO_TEST_CASE(reads_the_filtered_list_ttl) {
  BOOST_TEST(default_config().proxy.filtered_list_ttl == std::chrono::seconds(60));
  BOOST_TEST(loaded("proxy: { filtered_list_ttl: 1500ms }").proxy.filtered_list_ttl == std::chrono::milliseconds(1500));
  expect_problems(load("proxy: { filtered_list_ttl: soon }"),
                  {"t.yaml:1:29: proxy.filtered_list_ttl: expected a positive duration such as 500ms, 10s, 5m or 1h"});
}

BOOST_AUTO_TEST_CASE(reads_which_tool_calls_are_audited) {
  BOOST_TEST(default_config().audit.forwarded_calls == "all");
  BOOST_TEST(loaded("audit: { forwarded_calls: blocked_only }").audit.forwarded_calls == "blocked_only");
  BOOST_TEST(loaded("audit: { forwarded_calls: off }").audit.forwarded_calls == "off");
  expect_problems(load("audit: { forwarded_calls: some }"),
                  {"t.yaml:1:27: audit.forwarded_calls: expected one of all, blocked_only, off"});
}

BOOST_AUTO_TEST_CASE(missing_file_is_a_problem_without_position) {
  const load_result r = load_file("/nonexistent/mcpgate.yaml");
  BOOST_TEST(!r.value.has_value());
  BOOST_TEST_REQUIRE(r.problems.size() == 1u);
  BOOST_TEST(r.problems[0].line == 0);
  BOOST_TEST(r.problems[0].to_string() == "/nonexistent/mcpgate.yaml: cannot read the file: No such file or directory");
  BOOST_TEST(load_file("/").problems.size() == 1u);
}

BOOST_AUTO_TEST_CASE(load_file_names_the_file_as_source_and_in_problems) {
  const auto path = std::filesystem::temp_directory_path() / ("mcpgate-config-" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << "logging: { format: text }\n";
  const load_result good = load_file(path.string());
  BOOST_TEST_REQUIRE(good.value.has_value());
  BOOST_TEST(good.value->source == path.string());
  BOOST_TEST(good.value->logging.format == "text");
  std::ofstream(path) << "logging: { format: xml }\n";
  expect_problems(load_file(path.string()), {path.string() + ":1:20: logging.format: expected one of json, text"});
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 3: the proxy's Host/Origin allow-lists, stream idle timeout and
// per-installation stream cap, and the upstream CA file.
BOOST_AUTO_TEST_SUITE(loading)

BOOST_AUTO_TEST_CASE(reads_proxy_settings_and_upstream_ca_file) {
  const config c = loaded(R"(server:
  allowed_hosts: ["gw.internal:8080", "mcp.example.com"]
  allowed_origins: ["https://app.example.com", "http://localhost:3000/"]
  timeouts: { stream_idle: 2m, oauth_state: 3s }
  limits: { max_streams_per_installation: 7 }
upstreams:
  ca_file: /etc/mcpgate/upstream-ca.pem
)");
  BOOST_TEST(c.server.allowed_hosts == (std::vector<std::string>{"gw.internal:8080", "mcp.example.com"}));
  // A trailing slash is dropped: origins are compared without one.
  BOOST_TEST(c.server.allowed_origins ==
             (std::vector<std::string>{"https://app.example.com", "http://localhost:3000"}));
  BOOST_TEST(c.server.timeouts.stream_idle.count() == 120'000);
  BOOST_TEST(c.server.timeouts.oauth_state.count() == 3'000);
  BOOST_TEST(c.server.limits.max_streams_per_installation == 7u);
  BOOST_TEST(c.upstreams.ca_file == "/etc/mcpgate/upstream-ca.pem");
}

BOOST_AUTO_TEST_CASE(proxy_settings_default_when_absent) {
  const config c = loaded("logging: { format: text }\n");
  BOOST_TEST(c.server.allowed_hosts.empty());
  BOOST_TEST(c.server.allowed_origins.empty());
  BOOST_TEST(c.server.timeouts.stream_idle.count() == 300'000);
  BOOST_TEST(c.server.timeouts.oauth_state.count() == 600'000);  // the spec's 10 minutes
  BOOST_TEST(c.server.limits.max_streams_per_installation == 100u);
  BOOST_TEST(c.upstreams.ca_file.empty());
  BOOST_TEST(loaded("server: { allowed_hosts: [], allowed_origins: [] }\n").server.allowed_origins.empty());
}

BOOST_AUTO_TEST_CASE(origin_with_a_path_is_a_problem_naming_its_line) {
  const load_result r = load(R"(server:
  allowed_origins:
    - "https://app.example.com"
    - "https://app.example.com/app"
)");
  BOOST_TEST(!r.value.has_value());
  BOOST_TEST_REQUIRE(r.problems.size() == 1u, [&] {
    std::string all;
    for (const auto& p : problems_of(r)) all += "\n  " + p;
    return all;
  }());
  const problem& p = r.problems[0];
  BOOST_TEST(p.file == "t.yaml");
  BOOST_TEST(p.message.find("server.allowed_origins") != std::string::npos, p.message);
  BOOST_TEST(p.line == 4, p.to_string());
}

// Like every other list check, a bad origin is reported at its own entry.
BOOST_AUTO_TEST_CASE(origin_problem_points_at_the_entry) {
  const load_result r = load(R"(server:
  allowed_origins:
    - "https://app.example.com"
    - "https://app.example.com/app"
)");
  BOOST_TEST_REQUIRE(r.problems.size() == 1u);
  BOOST_TEST(r.problems[0].to_string() ==
             "t.yaml:4:7: server.allowed_origins[1]: expected origins like \"https://app.example.com\" (scheme, host, "
             "optional port)");
}

BOOST_AUTO_TEST_CASE(origins_that_are_not_http_origins_are_problems) {
  for (const char* bad : {"\"app.example.com\"", "\"ftp://app.example.com\"", "\"https://app.example.com?x=1\"",
                          "\"https://user@app.example.com\"", "\"https://\"", "\"null\"", "\"*\""}) {
    const load_result r = load(std::string("server: { allowed_origins: [") + bad + "] }\n");
    BOOST_TEST(!r.value.has_value(), bad);
    BOOST_TEST(r.problems.size() == 1u, bad);
    if (!r.problems.empty()) BOOST_TEST(r.problems[0].line == 1, bad);
  }
}

BOOST_AUTO_TEST_CASE(metrics_listen_is_optional_and_must_be_an_address) {
  BOOST_TEST(!loaded("logging: { format: text }\n").server.metrics_listen.has_value());
  const config c = loaded("server: { metrics_listen: \"127.0.0.1:9464\" }\n");
  BOOST_TEST_REQUIRE(c.server.metrics_listen.has_value());
  BOOST_TEST(c.server.metrics_listen->host == "127.0.0.1");
  BOOST_TEST(c.server.metrics_listen->port == 9464);
  expect_problems(load("server: { metrics_listen: \"example.com:80\" }\n"),
                  {"t.yaml:1:27: server.metrics_listen: expected \"host:port\" with an IP address or localhost and a "
                   "port 0-65535"});
}

BOOST_AUTO_TEST_CASE(invalid_stream_settings_are_problems) {
  expect_problems(
      load("server: { timeouts: { stream_idle: 0s }, limits: { max_streams_per_installation: 0 } }\n"),
      {
          "t.yaml:1:36: server.timeouts.stream_idle: expected a positive duration such as 500ms, 10s, 5m or 1h",
          "t.yaml:1:82: server.limits.max_streams_per_installation: expected a positive integer",
      });
}

BOOST_AUTO_TEST_CASE(allowed_hosts_must_be_host_header_values) {
  const load_result r = load(R"(server:
  allowed_hosts: ["gw.example.com", "gw.example.com:8443", "https://gw.example.com", "a/b"]
)");
  BOOST_TEST_REQUIRE(r.problems.size() == 2u);
  BOOST_TEST(r.problems[0].message.find("server.allowed_hosts[2]") != std::string::npos, r.problems[0].to_string());
  BOOST_TEST(r.problems[1].message.find("server.allowed_hosts[3]") != std::string::npos, r.problems[1].to_string());
}

BOOST_AUTO_TEST_SUITE_END()
