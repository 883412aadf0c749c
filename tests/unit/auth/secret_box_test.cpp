#include "auth/secret_box.hpp"

#include "auth/digest.hpp"

#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

using mcpgate::errc;
using mcpgate::auth::key_ring;
namespace fs = std::filesystem;

namespace {

key_ring::key key_filled(unsigned char value) {
  key_ring::key k;
  k.fill(value);
  return k;
}

std::string_view view(const key_ring::key& k) { return {reinterpret_cast<const char*>(k.data()), k.size()}; }

bool is_crypto_failure(const mcpgate::result<std::string>& r) {
  return !r && r.error() == mcpgate::make_error_code(errc::crypto_failure);
}

template <class T>
bool failed_with(const mcpgate::result<T>& r, errc e) {
  return !r && r.error() == mcpgate::make_error_code(e);
}

// Two different keys whose ids (first 4 bytes of SHA-256) are equal: a
// birthday search over counter keys, about 2^16 hashes.
std::pair<key_ring::key, key_ring::key> keys_sharing_an_id() {
  const auto counter_key = [](std::uint32_t i) {
    key_ring::key k{};
    for (std::size_t b = 0; b < 4; ++b) k[b] = static_cast<unsigned char>(i >> (8 * b));
    return k;
  };
  std::unordered_map<std::uint32_t, std::uint32_t> seen;
  for (std::uint32_t i = 0;; ++i) {
    const auto d = mcpgate::auth::sha256(view(counter_key(i)));
    const std::uint32_t id = std::uint32_t{d[0]} << 24 | std::uint32_t{d[1]} << 16 | std::uint32_t{d[2]} << 8 | d[3];
    const auto [it, inserted] = seen.emplace(id, i);
    if (!inserted) return {counter_key(it->second), counter_key(i)};
  }
}

// A fresh folder under the system temp folder, removed with its content.
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "mcpgate-auth-XXXXXX").string();
    BOOST_REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

void write_file(const fs::path& p, const std::string& content) { std::ofstream(p, std::ios::binary) << content; }

std::string read_file(const fs::path& p) {
  std::ostringstream out;
  out << std::ifstream(p, std::ios::binary).rdbuf();
  return out.str();
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  BOOST_REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

const std::string hex_of_0x11 = std::string(64, '1');  // key_filled(0x11)

}  // namespace

BOOST_AUTO_TEST_SUITE(secret_box)

BOOST_AUTO_TEST_CASE(sealed_secret_opens_with_same_context) {
  const key_ring ring({key_filled(1)});
  for (const std::string& plaintext :
       {std::string(), std::string("sk-live-123"), std::string("bin\0ary\xff", 8), std::string(100000, 'x')}) {
    const auto opened = ring.open(ring.seal(plaintext, "installation:1:api_key"), "installation:1:api_key");
    BOOST_REQUIRE(opened.has_value());
    BOOST_TEST(*opened == plaintext);
  }
}

BOOST_AUTO_TEST_CASE(blob_is_version_key_id_nonce_ciphertext_tag) {
  const key_ring::key k = key_filled(7);
  const std::string blob = key_ring({k}).seal("secret", "ctx");
  BOOST_REQUIRE(blob.size() == 1u + 4u + 12u + 6u + 16u);
  BOOST_TEST(blob[0] == '\x01');
  const auto digest = mcpgate::auth::sha256(view(k));
  BOOST_TEST(blob.substr(1, 4) == std::string(reinterpret_cast<const char*>(digest.data()), 4));

  // Opened independently with plain EVP calls, from the documented layout.
  const auto u = [](const std::string& s, std::size_t at) {
    return reinterpret_cast<const unsigned char*>(s.data()) + at;
  };
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  unsigned char out[6];
  unsigned char tag[16];
  std::copy_n(u(blob, 23), 16, tag);
  int len = 0;
  BOOST_TEST(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, k.data(), u(blob, 5)) == 1);
  BOOST_TEST(EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>("ctx"), 3) == 1);
  BOOST_TEST(EVP_DecryptUpdate(ctx, out, &len, u(blob, 17), 6) == 1);
  BOOST_TEST(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1);
  BOOST_TEST(EVP_DecryptFinal_ex(ctx, out + len, &len) == 1);
  EVP_CIPHER_CTX_free(ctx);
  BOOST_TEST(std::string(reinterpret_cast<const char*>(out), 6) == "secret");
}

BOOST_AUTO_TEST_CASE(each_seal_uses_a_fresh_nonce) {
  const key_ring ring({key_filled(1)});
  const std::string a = ring.seal("same", "ctx");
  const std::string b = ring.seal("same", "ctx");
  BOOST_TEST(a.substr(5, 12) != b.substr(5, 12));
  BOOST_TEST(a != b);
}

BOOST_AUTO_TEST_CASE(tampered_blob_is_refused) {
  const key_ring ring({key_filled(1)});
  const std::string blob = ring.seal("secret value", "ctx");
  for (std::size_t i = 0; i < blob.size(); ++i) {
    std::string tampered = blob;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    BOOST_TEST_CONTEXT("byte " << i) { BOOST_TEST(is_crypto_failure(ring.open(tampered, "ctx"))); }
  }
  BOOST_TEST(is_crypto_failure(ring.open(blob + 'x', "ctx")));
}

BOOST_AUTO_TEST_CASE(short_blob_is_refused) {
  const key_ring ring({key_filled(1)});
  const std::string blob = ring.seal("", "ctx");  // the shortest valid blob, 33 bytes
  BOOST_REQUIRE(ring.open(blob, "ctx").has_value());
  for (std::size_t n = 0; n < blob.size(); ++n) {
    BOOST_TEST_CONTEXT("length " << n) { BOOST_TEST(is_crypto_failure(ring.open(blob.substr(0, n), "ctx"))); }
  }
}

BOOST_AUTO_TEST_CASE(unknown_version_is_refused) {
  const key_ring ring({key_filled(1)});
  std::string blob = ring.seal("secret", "ctx");
  blob[0] = '\x02';
  BOOST_TEST(is_crypto_failure(ring.open(blob, "ctx")));
}

BOOST_AUTO_TEST_CASE(blob_copied_to_another_context_is_refused) {
  const key_ring ring({key_filled(1)});
  const std::string blob = ring.seal("secret", "installation:1:api_key");
  BOOST_TEST(is_crypto_failure(ring.open(blob, "installation:2:api_key")));
  BOOST_TEST(is_crypto_failure(ring.open(blob, "")));
}

BOOST_AUTO_TEST_CASE(blob_sealed_with_unknown_key_is_refused) {
  const std::string blob = key_ring({key_filled(1)}).seal("secret", "ctx");
  BOOST_TEST(is_crypto_failure(key_ring({key_filled(2)}).open(blob, "ctx")));
}

BOOST_AUTO_TEST_CASE(blob_sealed_with_old_key_opens_after_rotation) {
  const key_ring old_ring({key_filled(1)});
  const key_ring rotated({key_filled(2), key_filled(1)});
  const auto opened = rotated.open(old_ring.seal("secret", "ctx"), "ctx");
  BOOST_REQUIRE(opened.has_value());
  BOOST_TEST(*opened == "secret");
}

BOOST_AUTO_TEST_CASE(first_key_seals_after_rotation) {
  const key_ring rotated({key_filled(2), key_filled(1)});
  const std::string blob = rotated.seal("secret", "ctx");
  BOOST_TEST(key_ring({key_filled(2)}).open(blob, "ctx").has_value());
  BOOST_TEST(is_crypto_failure(key_ring({key_filled(1)}).open(blob, "ctx")));
}

BOOST_AUTO_TEST_CASE(keys_sharing_an_id_are_each_tried) {
  const auto [a, b] = keys_sharing_an_id();
  BOOST_REQUIRE(a != b);
  const key_ring both({a, b});
  const auto from_b = both.open(key_ring({b}).seal("by b", "ctx"), "ctx");
  const auto from_a = both.open(key_ring({a}).seal("by a", "ctx"), "ctx");
  BOOST_REQUIRE(from_a.has_value());
  BOOST_REQUIRE(from_b.has_value());
  BOOST_TEST(*from_a == "by a");
  BOOST_TEST(*from_b == "by b");
}

BOOST_AUTO_TEST_CASE(copied_and_assigned_rings_still_open) {
  const key_ring ring({key_filled(1)});
  const std::string blob = ring.seal("secret", "ctx");
  key_ring copy = ring;
  key_ring other({key_filled(2)});
  other = copy;
  key_ring moved = std::move(copy);
  BOOST_TEST(other.open(blob, "ctx").has_value());
  BOOST_TEST(moved.open(blob, "ctx").has_value());
}

BOOST_AUTO_TEST_CASE(key_file_is_created_0600) {
  const temp_dir dir;
  const fs::path file = dir.path / "state" / "keys" / "primary.key";
  const auto created = key_ring::from_files({file.string()}, true);
  BOOST_REQUIRE(created.has_value());
  BOOST_TEST(fs::is_regular_file(file));
  BOOST_TEST(mode_of(file) == 0600u);
  BOOST_TEST(mode_of(file.parent_path()) == 0700u);
  BOOST_TEST(mode_of(file.parent_path().parent_path()) == 0700u);

  const std::string content = read_file(file);
  BOOST_TEST(content.size() == 65u);
  BOOST_TEST(content.find_first_not_of("0123456789abcdef") == 64u);
  BOOST_TEST(content.back() == '\n');

  // Reading it back gives the same key.
  const auto reread = key_ring::from_files({file.string()}, false);
  BOOST_REQUIRE(reread.has_value());
  BOOST_TEST(reread->open(created->seal("secret", "ctx"), "ctx").has_value());
}

BOOST_AUTO_TEST_CASE(existing_key_file_is_read_not_replaced) {
  const temp_dir dir;
  const fs::path file = dir.path / "primary.key";
  write_file(file, "  \n" + hex_of_0x11 + "\r\n\n");
  const auto ring = key_ring::from_files({file.string()}, true);
  BOOST_REQUIRE(ring.has_value());
  BOOST_TEST(key_ring({key_filled(0x11)}).open(ring->seal("x", "ctx"), "ctx").has_value());
  BOOST_TEST(read_file(file) == "  \n" + hex_of_0x11 + "\r\n\n");
}

BOOST_AUTO_TEST_CASE(upper_case_hex_key_file_is_read) {
  const temp_dir dir;
  const fs::path file = dir.path / "k";
  write_file(file, std::string(64, 'A'));
  const auto ring = key_ring::from_files({file.string()}, false);
  BOOST_REQUIRE(ring.has_value());
  BOOST_TEST(key_ring({key_filled(0xaa)}).open(ring->seal("x", "ctx"), "ctx").has_value());
}

BOOST_AUTO_TEST_CASE(key_files_give_rotation_order) {
  const temp_dir dir;
  write_file(dir.path / "new", std::string(64, '2'));
  write_file(dir.path / "old", hex_of_0x11);
  const auto ring = key_ring::from_files({(dir.path / "new").string(), (dir.path / "old").string()}, false);
  BOOST_REQUIRE(ring.has_value());
  const std::string by_old = key_ring({key_filled(0x11)}).seal("old", "ctx");
  BOOST_TEST(ring->open(by_old, "ctx").has_value());
  BOOST_TEST(key_ring({key_filled(0x22)}).open(ring->seal("new", "ctx"), "ctx").has_value());
}

BOOST_AUTO_TEST_CASE(missing_key_file_is_io_failure_unless_created) {
  const temp_dir dir;
  const std::string missing = (dir.path / "missing.key").string();
  BOOST_TEST(failed_with(key_ring::from_files({missing}, false), errc::io_failure));
  BOOST_TEST(!fs::exists(missing));
}

BOOST_AUTO_TEST_CASE(only_the_first_key_file_is_created) {
  const temp_dir dir;
  const std::string first = (dir.path / "first.key").string();
  const std::string second = (dir.path / "second.key").string();
  BOOST_TEST(failed_with(key_ring::from_files({first, second}, true), errc::io_failure));
  BOOST_TEST(!fs::exists(second));
}

BOOST_AUTO_TEST_CASE(malformed_key_file_is_invalid_argument) {
  const temp_dir dir;
  const fs::path file = dir.path / "bad.key";
  for (const std::string& content :
       {std::string(), std::string("   \n"), std::string(63, 'a'), std::string(65, 'a'), std::string(63, 'a') + 'g',
        std::string(32, 'a') + ' ' + std::string(32, 'a'), "0x" + std::string(62, 'a'), std::string(5000, 'a')}) {
    write_file(file, content);
    BOOST_TEST_CONTEXT("content '" << content << "'") {
      BOOST_TEST(failed_with(key_ring::from_files({file.string()}, true), errc::invalid_argument));
    }
  }
}

BOOST_AUTO_TEST_CASE(unreadable_key_file_is_io_failure) {
  const temp_dir dir;
  BOOST_TEST(failed_with(key_ring::from_files({dir.path.string()}, true), errc::io_failure));
}

BOOST_AUTO_TEST_CASE(key_file_that_cannot_be_created_is_io_failure) {
  const temp_dir dir;
  write_file(dir.path / "plain-file", "");
  const std::string under_file = (dir.path / "plain-file" / "primary.key").string();
  BOOST_TEST(failed_with(key_ring::from_files({under_file}, true), errc::io_failure));
}

BOOST_AUTO_TEST_CASE(no_key_files_is_invalid_argument) {
  BOOST_TEST(failed_with(key_ring::from_files({}, true), errc::invalid_argument));
}

BOOST_AUTO_TEST_SUITE_END()
