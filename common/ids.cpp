#include "common/ids.hpp"

#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace mcpgate {

std::string random_bytes(std::size_t bytes) {
  std::string out(bytes, '\0');
  if (bytes != 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("CSPRNG failure");
  }
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0x0f]);
  }
  return out;
}

namespace {

// Random bytes for ids, drawn from the CSPRNG a block at a time per thread:
// an id is made for every audit record on the proxy path, and RAND_bytes
// per id (a lock and a getpid each time) showed up there.
class id_randomness {
 public:
  void take(unsigned char* out, std::size_t n) {
    if (used_ + n > block_.size()) {
      if (RAND_bytes(block_.data(), static_cast<int>(block_.size())) != 1) throw std::runtime_error("CSPRNG failure");
      used_ = 0;
    }
    std::memcpy(out, block_.data() + used_, n);
    std::memset(block_.data() + used_, 0, n);  // each byte handed out once
    used_ += n;
  }

 private:
  std::array<unsigned char, 4096> block_{};
  std::size_t used_ = block_.size();
};

}  // namespace

std::string new_uuid_v7(std::chrono::system_clock::time_point now) {
  const auto ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  thread_local id_randomness randomness;
  std::array<unsigned char, 16> b;
  randomness.take(b.data() + 6, 10);
  for (int i = 0; i < 6; ++i) b[static_cast<std::size_t>(i)] = static_cast<unsigned char>((ms >> (40 - 8 * i)) & 0xff);
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x70);  // version 7
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t at = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (at == 8 || at == 13 || at == 18 || at == 23) ++at;  // the dashes stay
    out[at++] = digits[b[i] >> 4];
    out[at++] = digits[b[i] & 0x0f];
  }
  return out;
}

}  // namespace mcpgate
