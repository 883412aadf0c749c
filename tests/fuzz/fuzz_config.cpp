// Fuzz target: the config loader (config/load.hpp), load_string() on the
// input as a YAML file, and parse_duration() on it as a duration.
//
// Oracles: no crash and no exception escapes; a config comes back exactly
// when there are no problems, and every problem has a message and a position
// that is 0 (none) or 1-based; a loaded config keeps the invariants the rest
// of the daemon relies on: at least one listener, every limit and timeout
// positive, projects with unique positive ids each owning the environment of
// its own id, environment ids unique across projects, template ids unique
// slugs with http(s) URLs, a key file, known logging values and tools_list_hide
// states, public_url and origins without a trailing '/'; a parsed duration is
// its digits times its unit.
#include "config/load.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/url/parse.hpp>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

namespace {

namespace config = mcpgate::config;

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> choices) {
  return std::find(choices.begin(), choices.end(), s) != choices.end();
}

bool is_http_url(const std::string& s) {
  const auto url = boost::urls::parse_absolute_uri(s);
  return url && (url->scheme_id() == boost::urls::scheme::http || url->scheme_id() == boost::urls::scheme::https) &&
         url->has_authority() && !url->encoded_host().empty();
}

void check_config(const config::config& c) {
  FUZZ_CHECK(c.source == "fuzz.yaml");
  FUZZ_CHECK(!c.data_dir.empty());
  FUZZ_CHECK(!c.server.listen.empty());
  for (const auto& l : c.server.listen) FUZZ_CHECK(!l.host.empty());
  if (c.server.metrics_listen) FUZZ_CHECK(!c.server.metrics_listen->host.empty());
  FUZZ_CHECK(!c.server.public_url.ends_with('/'));
  for (const auto& o : c.server.allowed_origins) FUZZ_CHECK(!o.empty() && !o.ends_with('/'));
  for (const auto& h : c.server.allowed_hosts) FUZZ_CHECK(!h.empty());

  const auto& limits = c.server.limits;
  FUZZ_CHECK(limits.max_connections > 0 && limits.max_body_bytes > 0 && limits.max_header_bytes > 0 &&
             limits.max_streams_per_installation > 0);
  const auto& t = c.server.timeouts;
  for (const auto d : {t.upstream_connect, t.upstream_first_byte, t.idle, t.request_read, t.shutdown_grace,
                       t.stream_idle, t.oauth_state}) {
    FUZZ_CHECK(d.count() > 0);
  }

  FUZZ_CHECK(!c.storage.sqlite_path.empty());
  FUZZ_CHECK(!c.secrets.key_files.empty());
  for (const auto& k : c.secrets.key_files) FUZZ_CHECK(!k.empty());

  FUZZ_CHECK(!c.projects.empty());
  std::set<std::int64_t> project_ids, environment_ids;
  for (const auto& p : c.projects) {
    FUZZ_CHECK(p.id > 0);
    FUZZ_CHECK(!p.name.empty());
    FUZZ_CHECK(project_ids.insert(p.id).second);
    bool own = false;
    for (const auto& e : p.environments) {
      FUZZ_CHECK(e.id > 0);
      FUZZ_CHECK(!e.name.empty());
      FUZZ_CHECK(environment_ids.insert(e.id).second);
      own = own || e.id == p.id;
    }
    FUZZ_CHECK(own);
    const config::project* owner = nullptr;
    FUZZ_CHECK(c.find_environment(p.id, &owner) != nullptr && owner == &p);
    FUZZ_CHECK(c.find_project(p.id) == &p);
  }

  std::set<std::string> template_ids;
  for (const auto& tpl : c.templates) {
    FUZZ_CHECK(!tpl.id.empty() && template_ids.insert(tpl.id).second);
    FUZZ_CHECK(std::all_of(tpl.id.begin(), tpl.id.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    }));
    FUZZ_CHECK(!tpl.name.empty());
    FUZZ_CHECK(is_http_url(tpl.url));
    FUZZ_CHECK(tpl.docs_url.empty() || is_http_url(tpl.docs_url));
    FUZZ_CHECK(tpl.api_key_format.find("{key}") != std::string::npos);
    FUZZ_CHECK(!tpl.api_key_header.empty());
    FUZZ_CHECK(tpl.client_secret_file.empty() || tpl.client_secret_env.empty());
    if (!tpl.client_secret_file.empty() || !tpl.client_secret_env.empty()) {
      FUZZ_CHECK(!tpl.client_id.empty());
      FUZZ_CHECK(!tpl.client_secret.empty());
    }
    FUZZ_CHECK(tpl.category.empty() ||
               is_one_of(tpl.category, {"business", "data", "design", "dev", "infra", "productivity"}));
  }

  for (const auto& s : c.proxy.tools_list_hide) FUZZ_CHECK(is_one_of(s, {"needs_approval", "do_not_use", "removed"}));
  FUZZ_CHECK(is_one_of(c.logging.level, {"trace", "debug", "info", "warn", "error", "critical", "off"}));
  FUZZ_CHECK(is_one_of(c.logging.format, {"json", "text"}));
}

void check_duration(const std::string& text) {
  const auto d = config::parse_duration(text);
  if (!d) return;
  const std::size_t digits = text.find_first_not_of("0123456789");
  FUZZ_CHECK(digits != 0 && digits != std::string::npos);
  const std::string_view unit = std::string_view(text).substr(digits);
  const std::int64_t scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000 : 0;
  FUZZ_CHECK(scale != 0);
  FUZZ_CHECK(d->count() >= 0 && d->count() % scale == 0);
  // The digits, read back from the result, are the digits written (leading
  // zeros aside).
  std::string written = text.substr(0, digits);
  written.erase(0, std::min(written.find_first_not_of('0'), written.size() - 1));
  FUZZ_CHECK(std::to_string(d->count() / scale) == written);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  check_duration(text);

  const config::load_result loaded = config::load_string(text, "fuzz.yaml");
  FUZZ_CHECK(loaded.value.has_value() == loaded.problems.empty());
  for (const auto& p : loaded.problems) {
    FUZZ_CHECK(p.file == "fuzz.yaml");
    FUZZ_CHECK(!p.message.empty());
    FUZZ_CHECK(p.line >= 0 && p.column >= 0);
    FUZZ_CHECK((p.line == 0) == (p.column == 0));
    FUZZ_CHECK(p.to_string().starts_with("fuzz.yaml:"));
  }
  if (loaded.value) check_config(*loaded.value);
  return 0;
}
