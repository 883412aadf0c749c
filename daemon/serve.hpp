// `mcpgate serve`: runs the daemon until SIGTERM/SIGINT, then drains.
// Returns the process exit code. Thread-safety: call once, from main.
#pragma once

#include "config/config.hpp"

namespace mcpgate::daemon {

int serve(const config::config& cfg);

}  // namespace mcpgate::daemon
