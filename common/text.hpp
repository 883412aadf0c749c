// Small text helpers shared by the modules (protocol names, hosts and header
// values are ASCII-case-insensitive; peers' text goes into one-line errors).
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mcpgate {

// `c` with A-Z turned into a-z (no locale involved).
constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// A C0 control character or DEL: never part of a header value, a stored
// credential or a one-line message.
constexpr bool is_control_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7F;
}

// `s` with A-Z turned into a-z; other bytes as they are.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// True when `a` and `b` are equal ignoring ASCII case.
constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// Text from a peer fit for a one-line error or log: control characters
// become spaces, at most `limit` bytes (cut before a UTF-8 continuation
// byte, so a multi-byte character is never split).
inline std::string printable(std::string_view s, std::size_t limit = 200) {
  if (s.size() > limit) {
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s = s.substr(0, cut);
  }
  std::string out;
  out.reserve(s.size());
  for (const char c : s) out.push_back(is_control_char(c) ? ' ' : c);
  return out;
}

}  // namespace mcpgate
