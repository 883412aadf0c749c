// Small ASCII text helpers shared by the modules (protocol names, hosts and
// header values are ASCII-case-insensitive). Thread-safe: pure functions.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace mcpgate {

// `s` with A-Z turned into a-z; other bytes as they are.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace mcpgate
