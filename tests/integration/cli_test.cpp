// The mcpgate command line: check-config, --help, keys and migrate.
#include "harness.hpp"

#include <boost/test/unit_test.hpp>

using namespace mcpgate::it;

namespace {

// A folder with a config file (the gateway's) and no daemon.
struct config_folder {
  temp_dir root;
  fs::path data = root.path() / "data";
  fs::path config = root.path() / "mcpgate.yaml";
  config_folder() { write_file(config, config_yaml(data, gateway_options{})); }
};

bool mentions(const command_result& r, const std::string& text) {
  return r.out.find(text) != std::string::npos || r.err.find(text) != std::string::npos;
}

// True if `text` contains "FILE:LINE:COLUMN: " for this file.
bool has_position(const std::string& text, const std::string& file) {
  const auto digits = [&](std::size_t& at) {
    const std::size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    return at > start;
  };
  for (std::size_t at = text.find(file + ":"); at != std::string::npos; at = text.find(file + ":", at + 1)) {
    std::size_t i = at + file.size() + 1;
    if (digits(i) && i < text.size() && text[i] == ':' && digits(++i) && text.compare(i, 2, ": ") == 0) return true;
  }
  return false;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(command_line, config_folder)

BOOST_AUTO_TEST_CASE(check_config_accepts_a_valid_file) {
  const command_result r = run_mcpgate({"check-config", config.string()});
  BOOST_TEST(r.exit_code == 0, r);
  BOOST_TEST(mentions(r, config.string()), r);
  // Checking touches nothing.
  BOOST_TEST(!fs::exists(data));
}

BOOST_AUTO_TEST_CASE(check_config_names_an_unknown_key_by_file_line_and_column) {
  const fs::path bad = root.path() / "bad.yaml";
  write_file(bad, "data_dir: \"" + data.string() +
                      "\"\n"
                      "server:\n"
                      "  listen: [\"127.0.0.1:0\"]\n"
                      "  bogus: 1\n"
                      "projects:\n"
                      "  - { id: 1, name: One, colour: red }\n");
  const command_result r = run_mcpgate({"check-config", bad.string()});
  BOOST_TEST(r.exit_code == 1, r);
  BOOST_TEST(mentions(r, bad.string() + ":4:3: unknown key 'bogus'"), r);
  BOOST_TEST(mentions(r, bad.string() + ":6:25: unknown key 'colour'"), r);
  BOOST_TEST(!fs::exists(data));
}

BOOST_AUTO_TEST_CASE(check_config_reports_yaml_syntax_errors_with_a_position) {
  const fs::path bad = root.path() / "broken.yaml";
  write_file(bad, "server:\n  listen: [\"127.0.0.1:0\"\n  workers: 2\n");
  const command_result r = run_mcpgate({"check-config", bad.string()});
  BOOST_TEST(r.exit_code == 1, r);
  BOOST_TEST(has_position(r.out + r.err, bad.string()), r);
}

BOOST_AUTO_TEST_CASE(check_config_fails_on_a_missing_file) {
  const command_result r = run_mcpgate({"check-config", (root.path() / "absent.yaml").string()});
  BOOST_TEST(r.exit_code == 1, r);
  BOOST_TEST(mentions(r, "absent.yaml"), r);
}

BOOST_AUTO_TEST_CASE(help_prints_usage_and_exits_0_for_every_command) {
  for (const std::string command : {"serve", "check-config", "keys", "migrate"}) {
    BOOST_TEST_CONTEXT(command) {
      const command_result r = run_mcpgate({command, "--help"});
      BOOST_TEST(r.exit_code == 0, r);
      BOOST_TEST(r.out.find("Usage:") != std::string::npos, r);
      BOOST_TEST(r.out.find("mcpgate " + command) != std::string::npos, r);
    }
  }
  const command_result top = run_mcpgate({"--help"});
  BOOST_TEST(top.exit_code == 0, top);
  BOOST_TEST(top.out.find("Usage:") != std::string::npos, top);
  // serve --help does not start a daemon (it returned, with the usage).
  BOOST_TEST(!fs::exists(data));
}

BOOST_AUTO_TEST_CASE(an_unknown_command_or_option_is_a_usage_error) {
  const command_result unknown = run_mcpgate({"frobnicate"});
  BOOST_TEST(unknown.exit_code != 0, unknown);
  const command_result option = run_mcpgate({"serve", "--bogus", "1"});
  BOOST_TEST(option.exit_code != 0, option);
}

BOOST_AUTO_TEST_CASE(keys_create_rejects_bad_scopes_and_unknown_projects) {
  for (const std::string scopes : {"admin", "", "project:read,bogus"}) {
    BOOST_TEST_CONTEXT("scopes '" << scopes << "'") {
      const command_result r =
          run_mcpgate({"keys", "create", "--config", config.string(), "--user", "alice", "--scopes", scopes});
      BOOST_TEST(r.exit_code != 0, r);
      BOOST_TEST(r.out.find("mcpg_") == std::string::npos, r);
    }
  }
  const command_result r = run_mcpgate({"keys", "create", "--config", config.string(), "--user", "alice", "--scopes",
                                        "*", "--projects", "99"});
  BOOST_TEST(r.exit_code != 0, r);
  BOOST_TEST(r.out.find("mcpg_") == std::string::npos, r);
}

BOOST_AUTO_TEST_CASE(keys_list_shows_keys_without_their_secret_and_marks_revoked_ones) {
  const command_result created =
      run_mcpgate({"keys", "create", "--config", config.string(), "--user", "alice", "--scopes", "project:read"});
  BOOST_TEST_REQUIRE(created.exit_code == 0, created);
  const auto key = parse_created_key(created.out);
  BOOST_TEST_REQUIRE(key.has_value(), created);
  const std::string id = key->id;
  const std::string secret = key->secret;

  const command_result listed = run_mcpgate({"keys", "list", "--config", config.string()});
  BOOST_TEST_REQUIRE(listed.exit_code == 0, listed);
  BOOST_TEST(listed.out.find(id) != std::string::npos, listed);
  BOOST_TEST(listed.out.find(secret) == std::string::npos, listed);
  BOOST_TEST(listed.out.find(secret.substr(5, 20)) == std::string::npos, listed);

  const command_result revoked = run_mcpgate({"keys", "revoke", id, "--config", config.string()});
  BOOST_TEST(revoked.exit_code == 0, revoked);
  const command_result twice = run_mcpgate({"keys", "revoke", id, "--config", config.string()});
  BOOST_TEST(twice.exit_code != 0, twice);

  const command_result after = run_mcpgate({"keys", "list", "--config", config.string()});
  BOOST_TEST_REQUIRE(after.exit_code == 0, after);
  const auto at = after.out.find(id);
  BOOST_TEST_REQUIRE(at != std::string::npos, after);
  const std::string line = after.out.substr(at, after.out.find('\n', at) - at);
  // The last column, REVOKED, is a timestamp now instead of "-".
  const std::string revoked_at = line.substr(line.find_last_of(' ') + 1);
  BOOST_TEST(iso8601_micros(revoked_at).has_value(), "line: " << line);
}

BOOST_AUTO_TEST_CASE(migrate_brings_the_schema_up_to_date) {
  const command_result r = run_mcpgate({"migrate", "--config", config.string()});
  BOOST_TEST(r.exit_code == 0, r);
  BOOST_TEST(mentions(r, "schema version"), r);
  BOOST_TEST(fs::exists(data / "mcpgate.db"));
  const command_result again = run_mcpgate({"migrate", "--config", config.string()});
  BOOST_TEST(again.exit_code == 0, again);
}

BOOST_AUTO_TEST_SUITE_END()
