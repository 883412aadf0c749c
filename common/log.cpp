#include "common/log.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

namespace mcpgate {
namespace {

namespace json = boost::json;

// Marks a message whose text is already the members of a JSON object
// (log_event() in JSON format); never the first byte of ordinary text.
constexpr char structured_mark = '\x1e';

std::atomic<bool> json_format{false};

std::string timestamp(spdlog::log_clock::time_point when) {
  const auto since = when.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  const std::time_t t = secs.count();
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[80];  // ample for any int the fields can hold (-Wformat-truncation)
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<long long>(micros));
  return buf;
}

// {"time":"...","level":"info","msg":"..."} per line; a structured event's
// members take the place of "msg".
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    const auto level = spdlog::level::to_string_view(msg.level);
    std::string line = "{\"time\":\"" + timestamp(msg.time) + "\",\"level\":\"";
    line.append(level.data(), level.size()).append("\",");
    if (!payload.empty() && payload.front() == structured_mark) {
      line.append(payload.substr(1));
    } else {
      line.append("\"msg\":").append(json::serialize(json::string(payload))).append("}");
    }
    line.push_back('\n');
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(); }
};

}  // namespace

bool set_log_level(std::string_view level) {
  const std::string name(level);
  const auto lvl = spdlog::level::from_str(name);
  // from_str answers "off" for anything it does not know.
  if (lvl == spdlog::level::off && name != "off") return false;
  spdlog::set_level(lvl);
  return true;
}

bool init_logging(std::string_view level, std::string_view format) {
  auto logger = spdlog::stderr_logger_mt("mcpgate");
  if (format == "json") {
    json_format = true;
    logger->set_formatter(std::make_unique<json_formatter>());
  } else {
    json_format = false;
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  }
  spdlog::set_default_logger(logger);
  return set_log_level(level);
}

void log_event(spdlog::level::level_enum level, std::string_view event, const json::object& fields) {
  if (!spdlog::should_log(level)) return;
  if (json_format.load(std::memory_order_relaxed)) {
    json::object line;
    line.reserve(fields.size() + 1);
    line["event"] = event;
    for (const auto& [key, value] : fields) line[key] = value;
    std::string text = json::serialize(line);  // {"event":...,...}
    text.front() = structured_mark;            // the formatter adds the opening brace's place
    spdlog::log(level, "{}", text);
    return;
  }
  std::string text(event);
  for (const auto& [key, value] : fields) {
    text.append(" ").append(key.data(), key.size()).append("=");
    text.append(value.is_string() ? std::string(value.get_string()) : json::serialize(value));
  }
  spdlog::log(level, "{}", text);
}

bool summarised_log::take_turn(std::uint64_t& left_out) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (written_ && now - last_ < every_) {
    ++pending_;
    ++total_;
    return false;
  }
  written_ = true;
  last_ = now;
  left_out = std::exchange(pending_, 0);
  return true;
}

std::uint64_t summarised_log::left_out_total() const {
  std::lock_guard lock(mu_);
  return total_;
}

}  // namespace mcpgate
