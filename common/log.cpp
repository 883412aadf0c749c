#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <string>

namespace mcpgate {

bool set_log_level(std::string_view level) {
  const std::string name(level);
  const auto lvl = spdlog::level::from_str(name);
  // from_str answers "off" for anything it does not know.
  if (lvl == spdlog::level::off && name != "off") return false;
  spdlog::set_level(lvl);
  return true;
}

bool init_logging(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("mcpgate");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  return set_log_level(level);
}

}  // namespace mcpgate
