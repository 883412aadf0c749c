// Identifiers: time-ordered UUIDs (RFC 9562 version 7) for installations and
// keys, and random tokens. Thread-safe: randomness comes from OpenSSL's CSPRNG.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace mcpgate {

// A UUIDv7 string ("0190b6c8-...") whose first 48 bits are `now` in
// milliseconds, so ids sort by creation time.
std::string new_uuid_v7(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// `bytes` random bytes from the CSPRNG. Throws std::runtime_error only if the
// CSPRNG itself fails, which leaves nothing safe to do.
std::string random_bytes(std::size_t bytes);

// Lower-case hex of arbitrary bytes.
std::string to_hex(std::string_view bytes);

}  // namespace mcpgate
