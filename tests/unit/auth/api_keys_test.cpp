#include "auth/api_keys.hpp"

#include <boost/test/unit_test.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <set>

using namespace mcpgate::auth;
using scopes = std::vector<std::string>;

namespace {

bool is_base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

BOOST_AUTO_TEST_SUITE(api_keys)

BOOST_AUTO_TEST_CASE(generated_secret_is_prefix_and_43_base64url_chars) {
  const new_api_key k = generate_api_key();
  BOOST_TEST(k.secret.size() == 5u + 43u);
  BOOST_TEST(k.secret.starts_with("mcpg_"));
  const std::string body = k.secret.substr(5);
  BOOST_TEST(std::all_of(body.begin(), body.end(), is_base64url_char));
}

BOOST_AUTO_TEST_CASE(generated_hash_is_hash_of_secret) {
  const new_api_key k = generate_api_key();
  BOOST_TEST(k.hash == hash_api_key(k.secret));
  BOOST_TEST(k.hash.size() == 64u);
}

BOOST_AUTO_TEST_CASE(mask_shows_first_and_last_four_chars_of_random_part) {
  const new_api_key k = generate_api_key();
  const std::string body = k.secret.substr(5);
  BOOST_TEST(k.mask == "mcpg_" + body.substr(0, 4) + "..." + body.substr(39));
  BOOST_TEST(k.mask.find(body.substr(4, 35)) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(generated_keys_are_distinct) {
  std::set<std::string> secrets;
  for (int i = 0; i < 100; ++i) secrets.insert(generate_api_key().secret);
  BOOST_TEST(secrets.size() == 100u);
}

BOOST_AUTO_TEST_CASE(hash_is_lower_case_hex_sha256) {
  BOOST_TEST(hash_api_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  BOOST_TEST(hash_api_key("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

BOOST_AUTO_TEST_CASE(known_scopes_parse) {
  BOOST_TEST(*parse_scopes("project:read") == scopes{"project:read"});
  BOOST_TEST(*parse_scopes("project:read,project:write") == (scopes{"project:read", "project:write"}));
  BOOST_TEST(*parse_scopes("*") == scopes{"*"});
}

BOOST_AUTO_TEST_CASE(scopes_are_trimmed_deduplicated_and_keep_order) {
  BOOST_TEST(*parse_scopes(" project:write , project:read,project:write ") ==
             (scopes{"project:write", "project:read"}));
  BOOST_TEST(*parse_scopes("\tproject:read\t") == scopes{"project:read"});
}

BOOST_AUTO_TEST_CASE(empty_or_unknown_scopes_are_rejected) {
  for (const char* csv : {"", " ", ",", "project:read,", ",project:read", "project:read,,*", "project:admin",
                          "PROJECT:READ", "project:read;project:write", "project: read", "**"}) {
    BOOST_TEST_CONTEXT("csv '" << csv << "'") { BOOST_TEST(!parse_scopes(csv).has_value()); }
  }
}

BOOST_AUTO_TEST_CASE(star_grants_every_scope) {
  const scopes all{"*"};
  BOOST_TEST(has_scope(all, scope_read));
  BOOST_TEST(has_scope(all, scope_write));
  BOOST_TEST(has_scope(all, scope_all));
}

BOOST_AUTO_TEST_CASE(write_scope_implies_read) {
  const scopes write{"project:write"};
  BOOST_TEST(has_scope(write, scope_write));
  BOOST_TEST(has_scope(write, scope_read));
  BOOST_TEST(!has_scope(write, scope_all));
}

BOOST_AUTO_TEST_CASE(read_scope_does_not_grant_write) {
  const scopes read{"project:read"};
  BOOST_TEST(has_scope(read, scope_read));
  BOOST_TEST(!has_scope(read, scope_write));
  BOOST_TEST(!has_scope(scopes{}, scope_read));
}

BOOST_AUTO_TEST_CASE(empty_project_list_allows_every_project) {
  BOOST_TEST(allows_project({}, 1));
  BOOST_TEST(allows_project({}, 42));
}

BOOST_AUTO_TEST_CASE(project_list_limits_the_key) {
  BOOST_TEST(allows_project({1, 7}, 7));
  BOOST_TEST(!allows_project({1, 7}, 2));
}

BOOST_AUTO_TEST_SUITE_END()

// digest_api_key() remembers recent digests per thread; what it returns must
// not depend on that: always the SHA-256 of exactly the given secret.
namespace {

std::string reference_sha256_hex(const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  BOOST_TEST_REQUIRE(EVP_Digest(data.data(), data.size(), out, &size, EVP_sha256(), nullptr) == 1);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    static constexpr char digits[] = "0123456789abcdef";
    hex += digits[out[i] >> 4];
    hex += digits[out[i] & 0xf];
  }
  return hex;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(api_key_digest)

BOOST_AUTO_TEST_CASE(digest_matches_the_stored_hash_however_often_and_in_whatever_order) {
  std::vector<std::string> secrets;
  for (int i = 0; i < 7; ++i) secrets.push_back(generate_api_key().secret);  // more than it remembers
  secrets.push_back(secrets[0].substr(0, secrets[0].size() - 1) + (secrets[0].back() == 'A' ? "B" : "A"));
  secrets.push_back(std::string(100, 'x'));  // longer than a remembered secret
  for (int round = 0; round < 3; ++round) {
    for (const auto& s : secrets) {
      BOOST_TEST(hex_of(digest_api_key(s)) == reference_sha256_hex(s), s);
      BOOST_TEST(hash_api_key(s) == reference_sha256_hex(s), s);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
