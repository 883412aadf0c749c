#include "auth/secret_box.hpp"

#include "auth/digest.hpp"
#include "auth/openssl_data.hpp"
#include "common/ids.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <memory>
#include <stdexcept>

namespace mcpgate::auth {
namespace {

// Blob layout: version | key id | nonce | ciphertext | tag.
constexpr unsigned char blob_version = 1;
constexpr std::size_t id_size = 4;
constexpr std::size_t nonce_size = 12;  // GCM's default IV length
constexpr std::size_t tag_size = 16;
constexpr std::size_t header_size = 1 + id_size + nonce_size;

constexpr std::size_t key_file_limit = 4096;  // a key file is 64 hex digits and whitespace

struct cipher_ctx_free {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using cipher_ctx = std::unique_ptr<EVP_CIPHER_CTX, cipher_ctx_free>;

void wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }

// AES-256-GCM of `in` into `out` (in.size() bytes), authenticating `aad` too.
// Encrypting writes the tag to `tag`; decrypting checks it. False on any
// failure, a tag mismatch included.
bool run_gcm(bool encrypt, const key_ring::key& key, const unsigned char* nonce, std::string_view aad,
             std::string_view in, unsigned char* out, unsigned char* tag) {
  if (in.size() > INT_MAX || aad.size() > INT_MAX) return false;
  const cipher_ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  // Empty inputs are skipped: OpenSSL takes a null input pointer as "final".
  const auto update = [&](unsigned char* to, std::string_view from) {
    return from.empty() || EVP_CipherUpdate(ctx.get(), to, &len, bytes(from), static_cast<int>(from.size())) == 1;
  };
  return ctx && EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce, encrypt ? 1 : 0) == 1 &&
         (encrypt || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_size, tag) == 1) &&
         update(nullptr, aad) && update(out, in) && EVP_CipherFinal_ex(ctx.get(), out + in.size(), &len) == 1 &&
         (!encrypt || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_size, tag) == 1);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

result<key_ring::key> parse_key(std::string_view text) {
  constexpr std::string_view space = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(space);
  text = first == std::string_view::npos ? std::string_view{}
                                         : text.substr(first, text.find_last_not_of(space) - first + 1);
  key_ring::key k{};
  if (text.size() != 2 * k.size()) return errc::invalid_argument;
  for (std::size_t i = 0; i < k.size(); ++i) {
    const int hi = hex_digit(text[2 * i]);
    const int lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(k.data(), k.size());
      return errc::invalid_argument;
    }
    k[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return k;
}

// Reads up to `limit` bytes of `path` into `out`: 0, or the errno of the failure.
int read_file(const std::string& path, std::string& out, std::size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out.assign(limit, '\0');
  std::size_t used = 0;
  int error = 0;
  while (used < limit) {
    const ssize_t n = ::read(fd, out.data() + used, limit - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = errno;
    if (n <= 0) break;
    used += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(used);
  return error;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Creates every missing folder of `dir` with mode 0700.
bool make_private_dirs(const std::filesystem::path& dir) {
  std::filesystem::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  return true;
}

result<key_ring::key> load_key(const std::string& path, bool create_if_missing);

// Writes a new random key to `path`, which must not exist. O_EXCL with mode
// 0600 at creation: the file is never readable by others, not even briefly.
result<key_ring::key> create_key_file(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !make_private_dirs(parent)) return errc::io_failure;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    // Another process created it first: use theirs.
    return errno == EEXIST ? load_key(path, false) : result<key_ring::key>(errc::io_failure);
  }
  std::string random = random_bytes(sizeof(key_ring::key));
  std::string text = to_hex(random);
  wipe(random);
  auto k = parse_key(text);
  bool written = write_all(fd, text) && write_all(fd, "\n") && ::fsync(fd) == 0;
  written = ::close(fd) == 0 && written;
  wipe(text);
  if (written) return k;
  ::unlink(path.c_str());  // never leave a half-written key behind
  return errc::io_failure;
}

result<key_ring::key> load_key(const std::string& path, bool create_if_missing) {
  std::string text;
  const int error = read_file(path, text, key_file_limit);
  if (error == ENOENT && create_if_missing) return create_key_file(path);
  if (error != 0) return errc::io_failure;
  auto k = parse_key(text);
  wipe(text);
  return k;
}

}  // namespace

key_ring::key_ring(std::vector<key> keys) : keys_(std::move(keys)) {
  assert(!keys_.empty());
  for (const key& k : keys_) {
    const sha256_digest digest = sha256({reinterpret_cast<const char*>(k.data()), k.size()});
    auto& id = ids_.emplace_back();
    std::copy_n(digest.begin(), id.size(), id.begin());
  }
}

key_ring& key_ring::operator=(key_ring other) noexcept {
  keys_.swap(other.keys_);
  ids_.swap(other.ids_);
  return *this;
}

key_ring::~key_ring() {
  for (key& k : keys_) OPENSSL_cleanse(k.data(), k.size());
}

result<key_ring> key_ring::from_files(const std::vector<std::string>& paths, bool create_first_if_missing) {
  if (paths.empty()) return errc::invalid_argument;
  std::vector<key> keys;
  keys.reserve(paths.size());  // no reallocation leaves unwiped copies behind
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto k = load_key(paths[i], create_first_if_missing && i == 0);
    if (!k) {
      for (key& loaded : keys) OPENSSL_cleanse(loaded.data(), loaded.size());
      return k.error();
    }
    keys.push_back(*k);
    OPENSSL_cleanse(k->data(), k->size());
  }
  return key_ring(std::move(keys));
}

std::string key_ring::seal(std::string_view plaintext, std::string_view context) const {
  std::string blob(header_size + plaintext.size() + tag_size, '\0');
  blob[0] = static_cast<char>(blob_version);
  std::copy(ids_.front().begin(), ids_.front().end(), bytes(blob) + 1);
  const std::string nonce = random_bytes(nonce_size);
  std::copy(nonce.begin(), nonce.end(), blob.begin() + 1 + id_size);
  unsigned char* const out = bytes(blob) + header_size;
  if (!run_gcm(true, keys_.front(), out - nonce_size, context, plaintext, out, out + plaintext.size())) {
    throw std::runtime_error("AES-256-GCM sealing failed");  // only on allocation failure
  }
  return blob;
}

result<std::string> key_ring::open(std::string_view sealed, std::string_view context) const {
  if (sealed.size() < header_size + tag_size || static_cast<unsigned char>(sealed[0]) != blob_version) {
    return errc::crypto_failure;
  }
  const unsigned char* const id = bytes(sealed) + 1;
  const unsigned char* const nonce = id + id_size;
  const std::string_view ciphertext = sealed.substr(header_size, sealed.size() - header_size - tag_size);
  std::array<unsigned char, tag_size> tag{};
  std::copy_n(bytes(sealed) + sealed.size() - tag_size, tag_size, tag.begin());
  std::string plaintext(ciphertext.size(), '\0');
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    // Key ids are 32 bits, so two keys may share one: try each that matches.
    if (std::equal(ids_[i].begin(), ids_[i].end(), id) &&
        run_gcm(false, keys_[i], nonce, context, ciphertext, bytes(plaintext), tag.data())) {
      return plaintext;
    }
  }
  wipe(plaintext);  // may hold unauthenticated output of a failed attempt
  return errc::crypto_failure;
}

}  // namespace mcpgate::auth
