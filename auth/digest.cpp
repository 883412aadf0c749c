#include "auth/digest.hpp"

#include "auth/openssl_data.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace mcpgate::auth {

sha256_digest sha256(std::string_view data) {
  // One context and one fetched algorithm per thread: EVP_Digest() would
  // allocate both on every call, and the proxy hashes the agent's key on
  // every request.
  struct context {
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~context() {
      EVP_MD_CTX_free(ctx);
      EVP_MD_free(md);
    }
  };
  thread_local context local;
  sha256_digest out{};
  if (local.md == nullptr || local.ctx == nullptr || EVP_DigestInit_ex2(local.ctx, local.md, nullptr) != 1 ||
      EVP_DigestUpdate(local.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(local.ctx, out.data(), nullptr) != 1) {
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
