#include "auth/digest.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace mcpgate::auth {
namespace {

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

sha256_digest sha256(std::string_view data) {
  sha256_digest out{};
  if (EVP_Digest(data.data(), data.size(), out.data(), nullptr, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failure");  // only on allocation failure
  }
  return out;
}

std::string base64url(std::string_view data) {
  // EVP_EncodeBlock writes padded standard base64 plus a terminating NUL.
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(data),
                                static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

}  // namespace mcpgate::auth
