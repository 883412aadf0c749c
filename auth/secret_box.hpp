// The secret box: AES-256-GCM sealing of secrets at rest (OpenSSL EVP).
//
// A key ring holds one or more 256-bit keys, read from key files outside the
// database. The first key seals; every key opens, so a key can be rotated by
// putting the new key first and keeping the old one until everything has been
// resealed. Each sealed blob names the key that sealed it (a key id derived
// from the key), carries a fresh random 96-bit nonce and the GCM tag, and is
// bound to a caller-given context (e.g. "installation:<id>:api_key") as
// additional authenticated data, so a blob copied to another row will not open.
//
// Thread-safety: a key_ring is immutable after construction; seal/open are
// const and safe to call from any thread.
#pragma once

#include "common/error.hpp"

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::auth {

class key_ring {
 public:
  using key = std::array<unsigned char, 32>;

  // REQUIRES: keys is not empty.
  explicit key_ring(std::vector<key> keys);
  key_ring(const key_ring&) = default;
  key_ring(key_ring&&) noexcept = default;
  // Copy and move assignment in one; the replaced keys are wiped.
  key_ring& operator=(key_ring other) noexcept;
  // Wipes the keys (OPENSSL_cleanse) before the memory is freed.
  ~key_ring();

  // Reads each file: 64 hex characters (surrounding whitespace ignored).
  // errc::io_failure if a file cannot be read; errc::invalid_argument if its
  // content is not a key. When `create_first_if_missing` and the first file
  // does not exist, a new random key is written there with mode 0600 (its
  // folder is created with 0700).
  static result<key_ring> from_files(const std::vector<std::string>& paths, bool create_first_if_missing);

  // Opaque binary blob: version (1), key id (first 4 bytes of the key's
  // SHA-256), 12-byte nonce, ciphertext, 16-byte tag. Throws
  // std::runtime_error only if OpenSSL itself fails (allocation, CSPRNG).
  std::string seal(std::string_view plaintext, std::string_view context) const;

  // errc::crypto_failure when no key in the ring opens it, it was tampered
  // with, or the context differs.
  result<std::string> open(std::string_view sealed, std::string_view context) const;

 private:
  std::vector<key> keys_;
  std::vector<std::array<unsigned char, 4>> ids_;
};

}  // namespace mcpgate::auth
