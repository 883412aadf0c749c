// SHA-256 and base64: the encodings behind API key hashes, secret box key
// ids and PKCE challenges. Private to auth/, except that oauth/ uses sha256
// and base64url for PKCE and random tokens, and proxy/ base64_decode for the
// header values of MCP 2026-07-28.
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::auth {

using sha256_digest = std::array<unsigned char, 32>;

sha256_digest sha256(std::string_view data);

// RFC 4648 section 5 alphabet, without '=' padding.
// REQUIRES: data.size() < 1 GiB (OpenSSL counts in int).
std::string base64url(std::string_view data);

// RFC 4648 section 4 (the standard alphabet, '=' padding required); nullopt
// for anything else, whitespace included.
// REQUIRES: text.size() < 1 GiB (OpenSSL counts in int).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace mcpgate::auth
