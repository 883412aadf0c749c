#include "auth/digest.hpp"

#include "common/ids.hpp"

#include <boost/test/unit_test.hpp>

using mcpgate::auth::base64url;
using mcpgate::auth::sha256;

BOOST_AUTO_TEST_SUITE(digest)

BOOST_AUTO_TEST_CASE(sha256_matches_the_fips_180_vector) {
  const auto d = sha256("abc");
  BOOST_TEST(mcpgate::to_hex({reinterpret_cast<const char*>(d.data()), d.size()}) ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(base64url_matches_rfc_4648_vectors_without_padding) {
  BOOST_TEST(base64url("") == "");
  BOOST_TEST(base64url("f") == "Zg");
  BOOST_TEST(base64url("fo") == "Zm8");
  BOOST_TEST(base64url("foo") == "Zm9v");
  BOOST_TEST(base64url("foob") == "Zm9vYg");
  BOOST_TEST(base64url("fooba") == "Zm9vYmE");
  BOOST_TEST(base64url("foobar") == "Zm9vYmFy");
}

BOOST_AUTO_TEST_CASE(base64url_uses_the_url_safe_alphabet) {
  // Standard base64 of these bytes is "+/8=".
  BOOST_TEST(base64url("\xfb\xff") == "-_8");
}

BOOST_AUTO_TEST_CASE(base64_decode_takes_the_standard_alphabet_padded) {
  // RFC 4648 section 10's test vectors, and the inverse of the '+' and '/' case.
  BOOST_TEST(base64_decode("").value() == "");
  BOOST_TEST(base64_decode("Zg==").value() == "f");
  BOOST_TEST(base64_decode("Zm8=").value() == "fo");
  BOOST_TEST(base64_decode("Zm9v").value() == "foo");
  BOOST_TEST(base64_decode("Zm9vYg==").value() == "foob");
  BOOST_TEST(base64_decode("Zm9vYmE=").value() == "fooba");
  BOOST_TEST(base64_decode("Zm9vYmFy").value() == "foobar");
  BOOST_TEST(base64_decode("+/8=").value() == "\xfb\xff");
}

BOOST_AUTO_TEST_CASE(base64_decode_refuses_everything_else) {
  for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "====", "-_8=", " Zg==", "Zg== ", "Zg=a", "Z\ng=="}) {
    BOOST_TEST(!base64_decode(bad).has_value(), bad);
  }
}

BOOST_AUTO_TEST_SUITE_END()
