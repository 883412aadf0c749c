// Process-wide logging to stderr (journald captures it under systemd).
// Thread-safe: spdlog's sinks are the multi-threaded variants.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace mcpgate {

// Sets the global logger: stderr, the given level ("trace".."critical", "off").
// Returns false (and leaves the level unchanged) for an unknown level name.
bool init_logging(std::string_view level);

// Changes the level of the global logger; false for an unknown name.
bool set_log_level(std::string_view level);

}  // namespace mcpgate
