// The installation endpoints of a real daemon: each success path, field
// validation, and request bodies that are not valid JSON objects.
#include "harness.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

using namespace mcpgate::it;

namespace {}  // namespace

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(installation_endpoints, default_gateway)

BOOST_AUTO_TEST_CASE(create_answers_201_with_every_field_of_the_installation) {
  auto alice = client(create_key("alice", "*"));
  const auto before = now_micros();
  const reply r = alice.post(p1, json::object{{"url", "https://mcp.example.com/mcp"},
                                              {"display_name", "Example"},
                                              {"description", "An example server"},
                                              {"auth_type", "api_key"},
                                              {"is_enabled", false}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("application/json"));
  const json::object o = r.object();
  BOOST_TEST_REQUIRE(is_installation(o));
  const std::string id = id_of(o);
  BOOST_TEST(o.at("template_id").is_null());
  BOOST_TEST(o.at("name") == "Example");
  BOOST_TEST(o.at("icon_key") == "");
  BOOST_TEST(o.at("display_name") == "Example");
  BOOST_TEST(o.at("url") == "https://mcp.example.com/mcp");
  BOOST_TEST(o.at("description") == "An example server");
  BOOST_TEST(o.at("auth_type") == "api_key");
  BOOST_TEST(o.at("is_enabled") == false);
  BOOST_TEST(o.at("needs_reauth") == false);
  BOOST_TEST(o.at("pending_oauth") == false);
  BOOST_TEST(o.at("tool_count") == 0);
  BOOST_TEST(string_of(o, "proxy_url") ==
             base_url() + "/api/environments/1/mcp_server_installations/" + id + "/proxy/");
  BOOST_TEST(o.at("created_at") == o.at("updated_at"));
  // The clocks are the same machine's: allow for a second of rounding.
  BOOST_TEST(micros_of(o, "created_at") >= before - 1'000'000);
  BOOST_TEST(micros_of(o, "created_at") <= now_micros() + 1'000'000);
}

BOOST_AUTO_TEST_CASE(create_defaults_to_oauth_enabled_and_pending_oauth) {
  auto alice = client(create_key("alice", "*"));
  const json::object oauth = create_installation(alice, p1, body_with_url("https://oauth.example.com/mcp"));
  BOOST_TEST(is_installation(oauth));
  BOOST_TEST(oauth.at("auth_type") == "oauth");
  BOOST_TEST(oauth.at("pending_oauth") == true);
  BOOST_TEST(oauth.at("is_enabled") == true);
  BOOST_TEST(oauth.at("display_name") == "");
  BOOST_TEST(oauth.at("name") == "");
  BOOST_TEST(oauth.at("description") == "");
  BOOST_TEST(oauth.at("needs_reauth") == false);

  const json::object none = create_url(alice, p1, "https://none.example.com/mcp");
  BOOST_TEST(none.at("auth_type") == "none");
  BOOST_TEST(none.at("pending_oauth") == false);

  const json::object api_key =
      create_installation(alice, p1, json::object{{"url", "https://key.example.com/mcp"}, {"auth_type", "api_key"}});
  BOOST_TEST(api_key.at("pending_oauth") == false);
}

BOOST_AUTO_TEST_CASE(list_answers_200_with_the_callers_installations_newest_first) {
  auto alice = client(create_key("alice", "*"));
  const json::object first = create_url(alice, p1, "https://one.example.com/mcp");
  const json::object second = create_url(alice, p1, "https://two.example.com/mcp");
  const reply r = alice.get(p1);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("application/json"));
  const json::object page = r.object();
  BOOST_TEST(page.size() == 4u);
  BOOST_TEST(page.at("count") == 2);
  BOOST_TEST(page.at("next").is_null());
  BOOST_TEST(page.at("previous").is_null());
  BOOST_TEST(page.at("results") == (json::array{second, first}));
}

BOOST_AUTO_TEST_CASE(list_is_empty_for_a_new_user) {
  auto alice = client(create_key("alice", "*"));
  const reply r = alice.get(p1);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.json() == json::parse(R"({"count":0,"next":null,"previous":null,"results":[]})"));
}

BOOST_AUTO_TEST_CASE(retrieve_answers_200_with_the_installation) {
  auto alice = client(create_key("alice", "*"));
  const json::object created = create_url(alice, p1, "https://one.example.com/mcp");
  const reply r = alice.get(item_of(p1, id_of(created)));
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("application/json"));
  BOOST_TEST(r.object() == created);
}

BOOST_AUTO_TEST_CASE(patch_changes_only_the_given_fields) {
  auto alice = client(create_key("alice", "*"));
  const json::object created = create_installation(
      alice, p1,
      json::object{{"url", "https://one.example.com/mcp"},
                   {"display_name", "Old"},
                   {"description", "old description"},
                   {"auth_type", "api_key"}});
  const std::string item = item_of(p1, id_of(created));

  const reply renamed = alice.patch(item, json::object{{"display_name", "New"}});
  BOOST_TEST_REQUIRE(renamed.status == 200u, renamed);
  json::object o = renamed.object();
  BOOST_TEST(is_installation(o));
  BOOST_TEST(o.at("display_name") == "New");
  BOOST_TEST(o.at("name") == "New");
  json::object expected = created;
  expected["display_name"] = "New";
  expected["name"] = "New";
  expected["updated_at"] = o.at("updated_at");
  BOOST_TEST(o == expected);  // nothing else changed, created_at included
  BOOST_TEST(micros_of(o, "updated_at") >= micros_of(created, "updated_at"));
  BOOST_TEST(micros_of(o, "updated_at") >= micros_of(o, "created_at"));

  const reply toggled = alice.patch(item, json::object{{"is_enabled", false}, {"description", ""}});
  BOOST_TEST_REQUIRE(toggled.status == 200u, toggled);
  const json::object t = toggled.object();
  BOOST_TEST(t.at("is_enabled") == false);
  BOOST_TEST(t.at("description") == "");
  BOOST_TEST(t.at("display_name") == "New");
  BOOST_TEST(t.at("url") == "https://one.example.com/mcp");
  BOOST_TEST(t.at("auth_type") == "api_key");
  BOOST_TEST(t.at("created_at") == created.at("created_at"));
  BOOST_TEST(micros_of(t, "updated_at") >= micros_of(o, "updated_at"));

  const reply fetched = alice.get(item);
  BOOST_TEST_REQUIRE(fetched.status == 200u, fetched);
  BOOST_TEST(fetched.object() == t);

  const reply empty = alice.patch(item, json::object{});
  BOOST_TEST_REQUIRE(empty.status == 200u, empty);
  json::object unchanged = empty.object();
  unchanged["updated_at"] = t.at("updated_at");
  BOOST_TEST(unchanged == t);
}

BOOST_AUTO_TEST_CASE(delete_answers_204_and_the_installation_is_gone) {
  auto alice = client(create_key("alice", "*"));
  const json::object kept = create_url(alice, p1, "https://kept.example.com/mcp");
  const json::object created = create_url(alice, p1, "https://one.example.com/mcp");
  const std::string item = item_of(p1, id_of(created));
  const reply r = alice.del(item);
  BOOST_TEST(r.status == 204u, r);
  BOOST_TEST(r.body.empty());
  BOOST_TEST(is_error(alice.get(item), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.patch(item, json::object{{"display_name", "x"}}), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.del(item), 404, "invalid_request", "not_found"));
  const reply list = alice.get(p1);
  BOOST_TEST_REQUIRE(list.status == 200u, list);
  BOOST_TEST(list.object().at("results") == (json::array{kept}));
  BOOST_TEST(list.object().at("count") == 1);
}

BOOST_AUTO_TEST_CASE(unknown_installation_ids_are_404) {
  auto alice = client(create_key("alice", "*"));
  create_url(alice, p1, "https://one.example.com/mcp");
  for (const std::string id : {"01900000-0000-7000-8000-000000000000", "not-a-uuid", "1"}) {
    BOOST_TEST_CONTEXT("id " << id) {
      const std::string item = item_of(p1, id);
      BOOST_TEST(is_error(alice.get(item), 404, "invalid_request", "not_found"));
      BOOST_TEST(is_error(alice.patch(item, json::object{{"display_name", "x"}}), 404, "invalid_request", "not_found"));
      BOOST_TEST(is_error(alice.del(item), 404, "invalid_request", "not_found"));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(validation, default_gateway)

BOOST_AUTO_TEST_CASE(create_rejects_each_invalid_field_with_its_code_and_attr) {
  auto alice = client(create_key("alice", "*"));
  const std::string long_url = "https://example.com/" + std::string(2049 - 20, 'a');
  BOOST_TEST_REQUIRE(long_url.size() == 2049u);
  struct bad_case {
    json::object body;
    std::string code;
    std::string attr;
  };
  const std::vector<bad_case> cases{
      {json::object{}, "required", "url"},
      {json::object{{"display_name", "no url"}}, "required", "url"},
      {json::object{{"url", nullptr}}, "null", "url"},
      {json::object{{"url", ""}}, "blank", "url"},
      {json::object{{"url", 42}}, "invalid", "url"},
      {json::object{{"url", json::array{"https://example.com/"}}}, "invalid", "url"},
      {body_with_url("ftp://example.com/mcp"), "invalid", "url"},
      {body_with_url("example.com/mcp"), "invalid", "url"},
      {body_with_url("/mcp"), "invalid", "url"},
      {body_with_url("https://"), "invalid", "url"},
      {body_with_url(long_url), "max_length", "url"},
      {body_with_url("http://10.0.0.1/"), "url_not_allowed", "url"},
      {body_with_url("http://192.168.1.1/mcp"), "url_not_allowed", "url"},
      {body_with_url("http://localhost:8080/"), "url_not_allowed", "url"},
      {body_with_url("http://169.254.169.254/"), "url_not_allowed", "url"},
      {body_with_url("http://127.0.0.1:8080/"), "url_not_allowed", "url"},
      {body_with_url("http://127.0.0.1:10/"), "url_not_allowed", "url"},
      {body_with_url("http://[::1]:9/"), "url_not_allowed", "url"},
      {body_with_url("http://[::ffff:10.0.0.1]/"), "url_not_allowed", "url"},
      {body_with_url("http://[fd00:ec2::254]/"), "url_not_allowed", "url"},
      {body_with_url("http://100.100.100.200/"), "url_not_allowed", "url"},
      {body_with_url("http://0.0.0.0/"), "url_not_allowed", "url"},
      {body_with_url("http://2130706433/"), "url_not_allowed", "url"},
      {body_with_url("http://0x7f.0.0.1/"), "url_not_allowed", "url"},
      {body_with_url("http://127.1/"), "url_not_allowed", "url"},
      {body_with_url("http://foo.localhost/"), "url_not_allowed", "url"},
      {body_with_url("http://metadata.google.internal/"), "url_not_allowed", "url"},
      {body_with_url("https://user:pass@example.com/"), "invalid", "url"},
      {body_with_url("https://example.com:0/"), "invalid", "url"},
      {body_with_url("https://example.com:65536/"), "invalid", "url"},
      {body_with_url(" https://example.com/"), "invalid", "url"},
      {body_with_url("https://exa mple.com/"), "invalid", "url"},
      {body_with_url("javascript:alert(1)"), "invalid", "url"},
      {body_with_url("file:///etc/passwd"), "invalid", "url"},
      {json::object{{"url", "https://example.com/"}, {"display_name", std::string(201, 'x')}}, "max_length",
       "display_name"},
      {json::object{{"url", "https://example.com/"}, {"display_name", nullptr}}, "null", "display_name"},
      {json::object{{"url", "https://example.com/"}, {"display_name", 7}}, "invalid", "display_name"},
      {json::object{{"url", "https://example.com/"}, {"description", false}}, "invalid", "description"},
      {json::object{{"url", "https://example.com/"}, {"auth_type", "basic"}}, "invalid_choice", "auth_type"},
      {json::object{{"url", "https://example.com/"}, {"auth_type", "OAUTH"}}, "invalid_choice", "auth_type"},
      {json::object{{"url", "https://example.com/"}, {"auth_type", 1}}, "invalid_choice", "auth_type"},
      {json::object{{"url", "https://example.com/"}, {"is_enabled", "yes"}}, "invalid", "is_enabled"},
      {json::object{{"url", "https://example.com/"}, {"is_enabled", 1}}, "invalid", "is_enabled"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("body " << json::serialize(c.body).substr(0, 120)) {
      BOOST_TEST(is_validation_error(alice.post(p1, c.body), c.code, c.attr));
    }
  }
  BOOST_TEST(count_of(alice, p1) == 0);
}

BOOST_AUTO_TEST_CASE(length_limits_are_inclusive_and_count_characters) {
  auto alice = client(create_key("alice", "*"));
  const std::string url_2048 = "https://example.com/" + std::string(2048 - 20, 'a');
  BOOST_TEST_REQUIRE(url_2048.size() == 2048u);
  const json::object at_limit = create_installation(alice, p1, json::object{{"url", url_2048}, {"auth_type", "none"}});
  BOOST_TEST(string_of(at_limit, "url") == url_2048);

  const json::object ascii = create_installation(
      alice, p1, json::object{{"url", "https://a.example.com/"}, {"display_name", std::string(200, 'x')}});
  BOOST_TEST(ascii.at("display_name").as_string().size() == 200u);

  // 200 two-byte characters: 400 bytes, still 200 characters.
  const std::string accented = repeated("\xc3\xa9", 200);
  const json::object wide =
      create_installation(alice, p1, json::object{{"url", "https://b.example.com/"}, {"display_name", accented}});
  BOOST_TEST(string_of(wide, "display_name") == accented);
  BOOST_TEST(is_validation_error(
      alice.post(p1, json::object{{"url", "https://c.example.com/"}, {"display_name", accented + "\xc3\xa9"}}),
      "max_length", "display_name"));
}

BOOST_AUTO_TEST_CASE(an_allow_listed_private_host_is_accepted) {
  auto alice = client(create_key("alice", "*"));
  const json::object o = create_url(alice, p1, "http://127.0.0.1:9/mcp");
  BOOST_TEST(o.at("url") == "http://127.0.0.1:9/mcp");
}

BOOST_AUTO_TEST_CASE(a_duplicate_url_for_the_same_user_is_400_unique) {
  auto alice = client(create_key("alice", "*"));
  const json::object first = create_url(alice, p1, "https://one.example.com/mcp");
  BOOST_TEST(is_validation_error(alice.post(p1, body_with_url("https://one.example.com/mcp")), "unique", "url"));
  BOOST_TEST(is_validation_error(
      alice.post(p1, json::object{{"url", "https://one.example.com/mcp"}, {"auth_type", "api_key"}}), "unique", "url"));
  BOOST_TEST(count_of(alice, p1) == 1);
  // Once deleted, the url may be installed again.
  BOOST_TEST(alice.del(item_of(p1, id_of(first))).status == 204u);
  const json::object again = create_url(alice, p1, "https://one.example.com/mcp");
  BOOST_TEST(id_of(again) != id_of(first));
}

BOOST_AUTO_TEST_CASE(patch_rejects_read_only_fields_and_changes_nothing) {
  auto alice = client(create_key("alice", "*"));
  const json::object created =
      create_installation(alice, p1, json::object{{"url", "https://one.example.com/mcp"}, {"display_name", "Old"}});
  const std::string item = item_of(p1, id_of(created));
  for (const std::string field : {"url", "auth_type", "id", "name", "icon_key", "template_id", "needs_reauth",
                                  "pending_oauth", "proxy_url", "tool_count", "created_at", "updated_at", "bogus"}) {
    BOOST_TEST_CONTEXT("field " << field) {
      const json::object body{{"display_name", "Changed"}, {field, "x"}};
      BOOST_TEST(is_validation_error(alice.patch(item, body), "read_only", field));
    }
  }
  const reply after = alice.get(item);
  BOOST_TEST_REQUIRE(after.status == 200u, after);
  BOOST_TEST(after.object() == created);
}

BOOST_AUTO_TEST_CASE(text_fields_round_trip_byte_for_byte) {
  auto alice = client(create_key("alice", "*"));
  const std::string name = std::string("nul \0 inside, \"quotes\", back\\slash, emoji \xf0\x9f\x9a\x80, tab\t", 52);
  const std::string description = "line one\nline two \xe2\x80\xa8 \xc3\xa9\xc3\xa8 <script>";
  const json::object created = create_installation(alice, p1,
                                                   json::object{{"url", "https://text.example.com/mcp?x=1&y=%20"},
                                                                {"display_name", name},
                                                                {"description", description}});
  BOOST_TEST(string_of(created, "display_name") == name);
  const reply fetched = alice.get(item_of(p1, id_of(created)));
  BOOST_TEST_REQUIRE(fetched.status == 200u, fetched);
  BOOST_TEST(fetched.object() == created);
  BOOST_TEST(string_of(fetched.json(), "display_name") == name);
  BOOST_TEST(string_of(fetched.json(), "description") == description);
  BOOST_TEST(string_of(fetched.json(), "url") == "https://text.example.com/mcp?x=1&y=%20");
  // 200 four-byte characters are 200 characters.
  const std::string rockets = repeated("\xf0\x9f\x9a\x80", 200);
  const reply p = alice.patch(item_of(p1, id_of(created)), json::object{{"display_name", rockets}});
  BOOST_TEST_REQUIRE(p.status == 200u, p);
  BOOST_TEST(string_of(p.json(), "display_name") == rockets);
}

BOOST_AUTO_TEST_CASE(patch_rejects_wrong_types_and_lengths) {
  auto alice = client(create_key("alice", "*"));
  const json::object created = create_url(alice, p1, "https://one.example.com/mcp");
  const std::string item = item_of(p1, id_of(created));
  struct bad_case {
    json::object body;
    std::string code;
    std::string attr;
  };
  const std::vector<bad_case> cases{
      {json::object{{"is_enabled", "no"}}, "invalid", "is_enabled"},
      {json::object{{"is_enabled", 0}}, "invalid", "is_enabled"},
      {json::object{{"is_enabled", nullptr}}, "null", "is_enabled"},
      {json::object{{"display_name", 1}}, "invalid", "display_name"},
      {json::object{{"display_name", nullptr}}, "null", "display_name"},
      {json::object{{"display_name", std::string(201, 'x')}}, "max_length", "display_name"},
      {json::object{{"description", json::object{}}}, "invalid", "description"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("body " << json::serialize(c.body).substr(0, 120)) {
      BOOST_TEST(is_validation_error(alice.patch(item, c.body), c.code, c.attr));
    }
  }
  BOOST_TEST(alice.get(item).object() == created);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(request_bodies, default_gateway)

BOOST_AUTO_TEST_CASE(malformed_json_is_400_parse_error) {
  auto alice = client(create_key("alice", "*"));
  const std::string item = item_of(p1, id_of(create_url(alice, p1, "https://one.example.com/mcp")));
  for (const std::string body : {R"({"url": )", "not json", R"({"url":"https://x.example.com/"} trailing)",
                                 R"({"url":"https://x.example.com/",})", "{'url': 'https://x.example.com/'}"}) {
    BOOST_TEST_CONTEXT("body " << body) {
      BOOST_TEST(is_error(alice.send("POST", p1, body), 400, "invalid_request", "parse_error"));
      BOOST_TEST(is_error(alice.send("PATCH", item, body), 400, "invalid_request", "parse_error"));
    }
  }
  BOOST_TEST_CONTEXT("nesting 60000 deep") {
    BOOST_TEST(is_error(alice.send("POST", p1, std::string(60000, '[')), 400, "invalid_request", "parse_error"));
    BOOST_TEST(is_error(alice.send("POST", p1, repeated(R"({"a":)", 10000)), 400, "invalid_request", "parse_error"));
  }
  BOOST_TEST_CONTEXT("empty body") {
    BOOST_TEST(is_error(alice.send("POST", p1, ""), 400, "invalid_request", "parse_error"));
    BOOST_TEST(is_error(alice.send("PATCH", item, ""), 400, "invalid_request", "parse_error"));
  }
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_a_json_string_is_400_parse_error) {
  auto alice = client(create_key("alice", "*"));
  const std::string item = item_of(p1, id_of(create_url(alice, p1, "https://one.example.com/mcp")));
  for (const std::string& bad :
       {std::string("\xff"), std::string("\xc3\x28"), std::string("\xed\xa0\x80"), std::string("\xe2\x82")}) {
    BOOST_TEST_CONTEXT("bytes " << hex(bad)) {
      BOOST_TEST(is_error(alice.send("POST", p1, R"({"url":"https://x.example.com/)" + bad + R"("})"), 400,
                          "invalid_request", "parse_error"));
      BOOST_TEST(is_error(alice.send("PATCH", item, R"({"display_name":")" + bad + R"("})"), 400, "invalid_request",
                          "parse_error"));
    }
  }
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(json_that_is_not_an_object_is_400_invalid_input) {
  auto alice = client(create_key("alice", "*"));
  const std::string item = item_of(p1, id_of(create_url(alice, p1, "https://one.example.com/mcp")));
  for (const std::string body :
       {"[]", R"(["https://x.example.com/"])", R"("https://x.example.com/")", "42", "null", "true"}) {
    BOOST_TEST_CONTEXT("body " << body) {
      BOOST_TEST(is_error(alice.send("POST", p1, body), 400, "validation_error", "invalid_input"));
      BOOST_TEST(is_error(alice.send("PATCH", item, body), 400, "validation_error", "invalid_input"));
    }
  }
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_SUITE_END()
