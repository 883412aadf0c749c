// install_custom's api_key and none branches: 201 with the installation, the
// key sealed at rest (checked on disk, and opened with the daemon's own key
// file), duplicates refused. The oauth branch is in oauth_api_test.cpp.
#include "harness.hpp"

#include "auth/secret_box.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace mcpgate::it;

namespace {

const std::string install_custom = p1 + "/install_custom/";

}  // namespace

BOOST_FIXTURE_TEST_SUITE(install_custom_api_key, default_gateway)

BOOST_AUTO_TEST_CASE(api_key_install_answers_201_and_seals_the_key) {
  auto alice = client(create_key("alice", "project:read"));  // install_custom needs project:read only
  const std::string upstream_key = "upstream-secret-" + hex("\x01\x02\x03\x04\x05\x06\x07\x08");
  const reply r = alice.post(install_custom, json::object{{"name", "Docs"},
                                                          {"url", "https://docs.example.com/mcp"},
                                                          {"auth_type", "api_key"},
                                                          {"api_key", upstream_key},
                                                          {"description", "d"}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  const json::object inst = r.json().as_object();
  BOOST_TEST(is_installation(inst));
  BOOST_TEST(string_of(inst, "display_name") == "Docs");
  BOOST_TEST(string_of(inst, "name") == "Docs");
  BOOST_TEST(string_of(inst, "auth_type") == "api_key");
  BOOST_TEST(inst.at("pending_oauth").as_bool() == false);
  BOOST_TEST(r.body.find(upstream_key) == std::string::npos);

  // It is an ordinary installation of alice's.
  const reply again = alice.get(item_of(p1, id_of(inst)));
  BOOST_TEST_REQUIRE(again.status == 200u, again);
  BOOST_TEST(again.body.find(upstream_key) == std::string::npos);

  // On disk: sealed, not plaintext, and it opens with the daemon's key file
  // only for this installation.
  const fs::path db = data_dir() / "mcpgate.db";
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path file = db.string() + suffix;
    if (fs::exists(file)) BOOST_TEST(read_file(file).find(upstream_key) == std::string::npos, file);
  }
  const auto sealed = gateway_db(data_dir()).sealed_secret(id_of(inst), "api_key");
  BOOST_TEST_REQUIRE(sealed.has_value());
  auto ring = mcpgate::auth::key_ring::from_files({(data_dir() / "secret.key").string()}, false);
  BOOST_TEST_REQUIRE(ring.has_value());
  const auto opened = ring->open(*sealed, "installation:" + id_of(inst) + ":api_key");
  BOOST_TEST_REQUIRE(opened.has_value());
  BOOST_TEST(*opened == upstream_key);
  BOOST_TEST(!ring->open(*sealed, "installation:other:api_key").has_value());
}

BOOST_AUTO_TEST_CASE(none_install_answers_201_without_a_secret) {
  auto alice = client(create_key("alice", "*"));
  const reply r = alice.post(install_custom, json::object{{"name", "Open"},
                                                          {"url", "https://open.example.com/mcp"},
                                                          {"auth_type", "none"},
                                                          {"api_key", "ignored-for-none"}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  BOOST_TEST(string_of(r.json(), "auth_type") == "none");
  BOOST_TEST(!gateway_db(data_dir()).sealed_secret(id_of(r.json().as_object()), "api_key").has_value());
}

BOOST_AUTO_TEST_CASE(same_url_twice_is_400_already_installed) {
  auto alice = client(create_key("alice", "*"));
  const json::object body{{"url", "https://dup.example.com/mcp"}, {"auth_type", "api_key"}, {"api_key", "k"}};
  BOOST_TEST_REQUIRE(alice.post(install_custom, body).status == 201u);
  const reply r = alice.post(install_custom, body);
  BOOST_TEST(is_validation_error(r, "unique", "url"));
  BOOST_TEST(string_of(r.json(), "detail") == "This server URL is already installed.");
  BOOST_TEST(count_of(alice, p1) == 1);
  // Another user may install the same url.
  auto bob = client(create_key("bob", "*"));
  BOOST_TEST(bob.post(install_custom, body).status == 201u);
}

BOOST_AUTO_TEST_CASE(bad_bodies_are_400_and_store_nothing) {
  auto alice = client(create_key("alice", "*"));
  BOOST_TEST(is_validation_error(alice.post(install_custom, json::object{{"auth_type", "api_key"}}), "required",
                                 "url"));
  BOOST_TEST(is_validation_error(
      alice.post(install_custom,
                 json::object{{"url", "https://a.example.com/"}, {"api_key", 5}, {"auth_type", "api_key"}}),
      "invalid", "api_key"));
  BOOST_TEST(is_validation_error(alice.post(install_custom,
                                            json::object{{"url", "http://10.1.2.3/mcp"}, {"auth_type", "none"}}),
                                 "url_not_allowed", "url"));
  BOOST_TEST(is_validation_error(
      alice.post(install_custom, json::object{{"url", "https://a.example.com/"}, {"install_source", "elsewhere"}}),
      "invalid_choice", "install_source"));
  BOOST_TEST(is_validation_error(
      alice.post(install_custom, json::object{{"url", "https://a.example.com/"},
                                              {"auth_type", "oauth"},
                                              {"posthog_code_callback_url", "https://evil.example/cb"}}),
      "invalid", "posthog_code_callback_url"));
  BOOST_TEST(is_error(alice.send("GET", install_custom), 405, "invalid_request", "method_not_allowed"));
  BOOST_TEST(count_of(alice, p1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
