// Loading and validating the YAML config.
//
// Every problem is collected (not just the first), each with the file, line
// and column it points at; unknown and repeated keys are errors, and so are a
// second YAML document, server.tls and storage.postgres (not in this version).
// Never throws on bad input: YAML syntax errors become problems too.
// Thread-safe: pure functions over their arguments.
#pragma once

#include "config/config.hpp"

#include <string>
#include <variant>
#include <vector>

namespace mcpgate::config {

struct problem {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (file unreadable)
  int column = 0;  // 1-based
  std::string message;

  // "file:line:column: message" (or "file: message" without a position).
  std::string to_string() const;
};

struct load_result {
  std::optional<struct config> value;  // set iff problems is empty
  std::vector<problem> problems;
};

// The embedded default: 127.0.0.1:8080, data folder `data_dir`, SQLite at
// <data_dir>/mcpgate.db, key file <data_dir>/secret.key (generated if
// missing), one project with id 1 and its environment 1.
struct config default_config(const std::string& data_dir = "mcpgate-data");

// Parses and validates a YAML file. Keys not given take default_config()'s
// values (data_dir defaults to "mcpgate-data"; relative paths are relative to
// the working directory).
load_result load_file(const std::string& path);

// Same, from text; `name` is used as the file name in problems.
load_result load_string(const std::string& yaml, const std::string& name);

// "500ms", "10s", "5m", "1h" -> milliseconds; nullopt when malformed. "0s"
// parses, but the config's timeouts must be positive.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace mcpgate::config
