#include "daemon/cli.hpp"

#include "auth/api_keys.hpp"
#include "common/ids.hpp"
#include "common/log.hpp"
#include "config/load.hpp"
#include "daemon/serve.hpp"
#include "daemon/setup.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mcpgate::daemon {
namespace {

constexpr const char* main_usage = R"(mcpgate: a gateway between AI agents and MCP servers

Usage: mcpgate <command> [options]

Commands:
  serve [--config FILE]        run the daemon (no config: 127.0.0.1:8080, data in ./mcpgate-data)
  check-config FILE            validate a config file; print every problem as file:line:column
  keys create|list|revoke      manage personal API keys
  migrate [--config FILE]      bring the database schema up to date
  version                      print the version

Run 'mcpgate <command> --help' for a command's options.
)";

constexpr const char* serve_usage = R"(Usage: mcpgate serve [--config FILE]

Runs the gateway until SIGTERM or SIGINT, then stops accepting, lets requests
in flight finish (server.timeouts.shutdown_grace) and exits 0.
Without --config it uses the embedded default: listen on 127.0.0.1:8080,
SQLite database and secret key in ./mcpgate-data, one project with id 1.
)";

constexpr const char* check_usage = R"(Usage: mcpgate check-config FILE

Validates FILE and prints every problem as FILE:LINE:COLUMN: message.
Exit status 0 when the file is valid, 1 otherwise.
)";

constexpr const char* keys_usage = R"(Usage:
  mcpgate keys create --user NAME --scopes SCOPES [--projects IDS] [--config FILE]
  mcpgate keys list [--config FILE]
  mcpgate keys revoke ID [--config FILE]

Personal API keys authenticate callers of the REST API and the proxy
(Authorization: Bearer <key>). The secret is printed once, at creation; only
its hash is stored.
  --user NAME       the key's user (created on first use)
  --scopes SCOPES   comma-separated: project:read, project:write, or *
  --projects IDS    comma-separated project ids the key is limited to (default: all)
)";

constexpr const char* migrate_usage = R"(Usage: mcpgate migrate [--config FILE]

Brings the database schema up to date (the daemon also does this at start).
)";

// Arguments after the command: --flag value pairs and positionals.
struct arguments {
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
  bool help = false;
  std::string error;
};

arguments parse_arguments(int argc, char** argv, int first, std::initializer_list<std::string_view> known) {
  arguments args;
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      args.help = true;
    } else if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        args.error = "option --" + name + " needs a value";
        return args;
      }
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        args.error = "unknown option --" + name;
        return args;
      }
      args.flags[name] = value;
    } else {
      args.positional.push_back(arg);
    }
  }
  return args;
}

int usage_error(const std::string& message, const char* usage) {
  std::fprintf(stderr, "mcpgate: %s\n\n%s", message.c_str(), usage);
  return 2;
}

void print_problems(const std::vector<config::problem>& problems) {
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.to_string().c_str());
}

// The config named by --config, or the embedded default.
std::optional<config::config> load_config(const arguments& args) {
  const auto it = args.flags.find("config");
  if (it == args.flags.end()) return config::default_config();
  auto loaded = config::load_file(it->second);
  if (!loaded.value) {
    print_problems(loaded.problems);
    std::fprintf(stderr, "mcpgate: %s is not a valid config (%zu problem(s))\n", it->second.c_str(),
                 loaded.problems.size());
    return std::nullopt;
  }
  return std::move(*loaded.value);
}

std::unique_ptr<registry::store> store_or_complain(const config::config& cfg) {
  std::string why;
  auto store = open_store(cfg, why);
  if (!store) std::fprintf(stderr, "mcpgate: %s\n", why.c_str());
  return store;
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string projects_text(const std::vector<std::int64_t>& projects) {
  if (projects.empty()) return "all";
  std::vector<std::string> ids;
  for (auto id : projects) ids.push_back(std::to_string(id));
  return join(ids, ",");
}

std::optional<std::vector<std::int64_t>> parse_project_ids(const std::string& csv, const config::config& cfg,
                                                           std::string& why) {
  std::vector<std::int64_t> ids;
  std::size_t start = 0;
  while (start <= csv.size()) {
    std::size_t end = csv.find(',', start);
    if (end == std::string::npos) end = csv.size();
    const std::string item = csv.substr(start, end - start);
    std::int64_t id = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size()) {
      why = "'" + item + "' is not a project id";
      return std::nullopt;
    }
    if (!cfg.find_project(id)) {
      why = "project " + item + " is not in the config";
      return std::nullopt;
    }
    ids.push_back(id);
    start = end + 1;
  }
  return ids;
}

int keys_create(const arguments& args) {
  const auto user = args.flags.find("user");
  const auto scopes_flag = args.flags.find("scopes");
  if (user == args.flags.end() || user->second.empty()) return usage_error("keys create needs --user", keys_usage);
  if (scopes_flag == args.flags.end()) return usage_error("keys create needs --scopes", keys_usage);
  const auto scopes = auth::parse_scopes(scopes_flag->second);
  if (!scopes) {
    return usage_error("--scopes must list project:read, project:write or *", keys_usage);
  }
  auto cfg = load_config(args);
  if (!cfg) return 1;
  std::vector<std::int64_t> projects;
  if (const auto it = args.flags.find("projects"); it != args.flags.end()) {
    std::string why;
    auto ids = parse_project_ids(it->second, *cfg, why);
    if (!ids) return usage_error("--projects: " + why, keys_usage);
    projects = std::move(*ids);
  }
  auto store = store_or_complain(*cfg);
  if (!store) return 1;
  auto owner = store->ensure_user(user->second);
  if (!owner) {
    std::fprintf(stderr, "mcpgate: cannot record user: %s\n", owner.error().message().c_str());
    return 1;
  }
  const auto generated = auth::generate_api_key();
  registry::api_key key;
  key.id = new_uuid_v7();
  key.user_id = owner->id;
  key.user_name = owner->name;
  key.secret_hash = generated.hash;
  key.mask = generated.mask;
  key.scopes = *scopes;
  key.projects = projects;
  key.created_at = std::chrono::system_clock::now();
  if (auto stored = store->insert_api_key(key); !stored) {
    std::fprintf(stderr, "mcpgate: cannot store the key: %s\n", stored.error().message().c_str());
    return 1;
  }
  std::printf(
      "Created API key %s for user '%s' (scopes: %s; projects: %s).\n"
      "The secret is shown only now; store it safely:\n%s\n",
      key.id.c_str(), key.user_name.c_str(), join(key.scopes, ",").c_str(), projects_text(key.projects).c_str(),
      generated.secret.c_str());
  return 0;
}

int keys_list(const arguments& args) {
  auto cfg = load_config(args);
  if (!cfg) return 1;
  auto store = store_or_complain(*cfg);
  if (!store) return 1;
  auto keys = store->list_api_keys();
  if (!keys) {
    std::fprintf(stderr, "mcpgate: cannot list keys: %s\n", keys.error().message().c_str());
    return 1;
  }
  std::printf("%-36s  %-16s  %-28s  %-10s  %-20s  %-27s  %s\n", "ID", "USER", "SCOPES", "PROJECTS", "KEY", "CREATED",
              "REVOKED");
  for (const auto& k : *keys) {
    std::printf("%-36s  %-16s  %-28s  %-10s  %-20s  %-27s  %s\n", k.id.c_str(), k.user_name.c_str(),
                join(k.scopes, ",").c_str(), projects_text(k.projects).c_str(), k.mask.c_str(),
                to_iso8601(k.created_at).c_str(), k.revoked_at ? to_iso8601(*k.revoked_at).c_str() : "-");
  }
  return 0;
}

int keys_revoke(const arguments& args) {
  if (args.positional.size() != 2) return usage_error("keys revoke needs one key ID", keys_usage);
  auto cfg = load_config(args);
  if (!cfg) return 1;
  auto store = store_or_complain(*cfg);
  if (!store) return 1;
  const std::string& id = args.positional[1];
  if (auto done = store->revoke_api_key(id, std::chrono::system_clock::now()); !done) {
    if (done.error() == errc::not_found) {
      std::fprintf(stderr, "mcpgate: no active key with ID %s\n", id.c_str());
    } else {
      std::fprintf(stderr, "mcpgate: cannot revoke: %s\n", done.error().message().c_str());
    }
    return 1;
  }
  std::printf("Revoked API key %s.\n", id.c_str());
  return 0;
}

int keys(int argc, char** argv) {
  const auto args = parse_arguments(argc, argv, 2, {"user", "scopes", "projects", "config"});
  if (args.help) {
    std::fputs(keys_usage, stdout);
    return 0;
  }
  if (!args.error.empty()) return usage_error(args.error, keys_usage);
  const std::string sub = args.positional.empty() ? "" : args.positional.front();
  if (sub == "create") return keys_create(args);
  if (sub == "list") return keys_list(args);
  if (sub == "revoke") return keys_revoke(args);
  return usage_error(sub.empty() ? "keys needs a subcommand" : "unknown keys subcommand '" + sub + "'", keys_usage);
}

int check_config(int argc, char** argv) {
  const auto args = parse_arguments(argc, argv, 2, {});
  if (args.help) {
    std::fputs(check_usage, stdout);
    return 0;
  }
  if (!args.error.empty()) return usage_error(args.error, check_usage);
  if (args.positional.size() != 1) return usage_error("check-config needs one FILE", check_usage);
  const auto loaded = config::load_file(args.positional.front());
  if (!loaded.value) {
    print_problems(loaded.problems);
    return 1;
  }
  std::printf("%s: ok\n", args.positional.front().c_str());
  return 0;
}

int serve_command(int argc, char** argv) {
  const auto args = parse_arguments(argc, argv, 2, {"config"});
  if (args.help) {
    std::fputs(serve_usage, stdout);
    return 0;
  }
  if (!args.error.empty()) return usage_error(args.error, serve_usage);
  if (!args.positional.empty()) return usage_error("unexpected argument " + args.positional.front(), serve_usage);
  auto cfg = load_config(args);
  if (!cfg) return 1;
  return serve(*cfg);
}

int migrate(int argc, char** argv) {
  const auto args = parse_arguments(argc, argv, 2, {"config"});
  if (args.help) {
    std::fputs(migrate_usage, stdout);
    return 0;
  }
  if (!args.error.empty()) return usage_error(args.error, migrate_usage);
  auto cfg = load_config(args);
  if (!cfg) return 1;
  auto store = store_or_complain(*cfg);
  if (!store) return 1;
  const auto version = store->schema_version();
  if (!version) {
    std::fprintf(stderr, "mcpgate: %s\n", version.error().message().c_str());
    return 1;
  }
  std::printf("Database %s is at schema version %d.\n",
              cfg->storage.postgres ? "PostgreSQL (storage.postgres)" : cfg->storage.sqlite_path.c_str(), *version);
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  // Everything mcpgate writes (database, WAL, key files) is for its own eyes.
  ::umask(0077);
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "serve") return serve_command(argc, argv);
  if (command == "check-config") return check_config(argc, argv);
  if (command == "keys") return keys(argc, argv);
  if (command == "migrate") return migrate(argc, argv);
  if (command == "version" || command == "--version") {
    std::printf("mcpgate %s\n", MCPGATE_VERSION);
    return 0;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(main_usage, stdout);
    return 0;
  }
  return usage_error(command.empty() ? "no command given" : "unknown command '" + command + "'", main_usage);
}

}  // namespace mcpgate::daemon
