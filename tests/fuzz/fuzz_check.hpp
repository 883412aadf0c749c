// What every fuzz target shares: the oracle check that turns a wrong result
// into a crash libFuzzer keeps, and a few deterministic helpers that derive
// test data (tool states, piece sizes) from the fuzz input.
//
// Thread-safety: pure functions; libFuzzer runs one input at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace mcpgate::fuzz {

[[noreturn]] inline void oracle_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "\n==ORACLE== %s:%d: violated: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();  // libFuzzer's deadly-signal handler saves the input
}

// FNV-1a: a stable hash, so the oracle and the code under test see the same
// decision for the same bytes.
inline std::uint64_t fnv1a(std::string_view s, std::uint64_t seed = 0) {
  std::uint64_t h = 1469598103934665603ull ^ seed;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// A small PRNG (splitmix64) for piece sizes chosen by a fuzz byte.
class splitmix {
 public:
  explicit splitmix(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

}  // namespace mcpgate::fuzz

// Aborts with the condition's text when it does not hold.
#define FUZZ_CHECK(cond)                                                    \
  do {                                                                      \
    if (!(cond)) ::mcpgate::fuzz::oracle_failed(#cond, __FILE__, __LINE__); \
  } while (0)
