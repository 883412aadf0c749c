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

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 != 0) return std::nullopt;
  // EVP_DecodeBlock skips surrounding whitespace and takes '=' anywhere:
  // only the alphabet, then at most two '=' at the end, get that far.
  const std::size_t last = text.find_last_not_of('=');
  const std::size_t padding = last == std::string_view::npos ? text.size() : text.size() - last - 1;
  if (padding > 2) return std::nullopt;
  const auto in_alphabet = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  };
  if (!std::all_of(text.begin(), text.end() - static_cast<std::ptrdiff_t>(padding), in_alphabet)) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(text),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - padding);  // it counts the padding as zero bytes
  return out;
}

}  // namespace mcpgate::auth
