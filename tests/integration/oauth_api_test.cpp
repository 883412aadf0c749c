// The OAuth and template side of the management API, the parts that need no
// authorization server (the Node interop suite runs whole flows against a
// real one):
//   - the template catalog (GET .../mcp_servers), active templates only;
//   - install_template: validation, an api_key template's key sealed at rest,
//     presented upstream as the template says (X-Api-Key: Token <key>) on the
//     tools sync and on the proxy path, and replaced by a second install of
//     the same template (same installation);
//   - authorize: the argument checks, 404 for what is not the caller's, 400
//     for what does not use OAuth, refused callback URLs;
//   - install_custom with auth_type oauth: validation, and an upstream with
//     no OAuth metadata at all (discovery fails, nothing is left behind);
//   - the browser routes (no API key): missing / unknown state, the result
//     page (which never echoes its input), methods;
//   - the proxy on an oauth installation that was never authorized: a JSON-RPC
//     -32003 answer whose data.authorize_url restarts the flow, and no
//     upstream traffic.
// Every case checks the answer and what the upstream (and the disk) saw.
#include "mcp_upstream.hpp"

#include "auth/secret_box.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>

using namespace mcpgate::it;

namespace {

const std::string e3 = environments_collection(3);

// An upstream with no OAuth metadata anywhere (and no MCP either).
void answer_404(fake_exchange& ex) { ex.respond(404, {{"Content-Type", "text/plain"}}, "not found"); }

// The template catalog the fixture's gateway is configured with:
//   keyed    api_key, presented as "X-Api-Key: Token {key}", served by an mcp_upstream
//   nometa   oauth, served by an upstream that answers 404 to everything
//   withas   oauth, served by a metadata-only server (discovery and DCR succeed)
//   retired  api_key, is_active: false
//   plain    oauth, no docs_url/description/icon_key (the defaults)
std::string templates_yaml(const std::string& keyed_url, const std::string& nometa_url, const std::string& withas_url) {
  return "templates:\n"
         "  - id: keyed\n"
         "    name: Keyed Service\n"
         "    url: \"" +
         keyed_url +
         "\"\n"
         "    docs_url: \"https://docs.keyed.example/start\"\n"
         "    description: \"An MCP server that takes an API key\"\n"
         "    auth_type: api_key\n"
         "    icon_key: keyed-icon\n"
         "    category: dev\n"
         "    api_key_header: X-Api-Key\n"
         "    api_key_format: \"Token {key}\"\n"
         "  - id: nometa\n"
         "    name: No Metadata\n"
         "    url: \"" +
         nometa_url +
         "\"\n"
         "    auth_type: oauth\n"
         "    icon_key: nometa-icon\n"
         "    category: data\n"
         "  - id: withas\n"
         "    name: With Metadata\n"
         "    url: \"" +
         withas_url +
         "\"\n"
         "    auth_type: oauth\n"
         "    category: infra\n"
         "  - id: retired\n"
         "    name: Retired\n"
         "    url: \"https://retired.example.com/mcp\"\n"
         "    auth_type: api_key\n"
         "    category: business\n"
         "    is_active: false\n"
         "  - id: plain\n"
         "    name: Plain\n"
         "    url: \"https://plain.example.com/mcp\"\n"
         "    auth_type: oauth\n"
         "    category: productivity\n";
}

// An MCP server that publishes OAuth metadata and takes dynamic
// registrations, and nothing more (no tokens are ever issued): enough for a
// flow to start. It is its own authorization server (issuer = its origin).
//   POST /mcp                                         401 with a resource_metadata challenge
//   GET /.well-known/oauth-protected-resource[/mcp]   RFC 9728 metadata
//   GET /.well-known/oauth-authorization-server       RFC 8414 metadata
//   POST /register                                    201 {"client_id": "dyn-client"}
void serve_metadata_only(fake_exchange& ex, const std::string& base) {
  const std::string& target = ex.request().target;
  const std::string& method = ex.request().method;
  if (method == "POST" && target == "/mcp") {
    ex.respond(401,
               {{"Content-Type", "application/json"},
                {"WWW-Authenticate",
                 "Bearer resource_metadata=\"" + base + "/.well-known/oauth-protected-resource/mcp\""}},
               R"({"error":"unauthorized"})");
  } else if (method == "GET" && (target == "/.well-known/oauth-protected-resource/mcp" ||
                                 target == "/.well-known/oauth-protected-resource")) {
    ex.respond_json(200, json::serialize(json::object{{"resource", base + "/mcp"},
                                                      {"authorization_servers", json::array{json::value(base)}}}));
  } else if (method == "GET" && target == "/.well-known/oauth-authorization-server") {
    ex.respond_json(200, json::serialize(json::object{{"issuer", base},
                                                      {"authorization_endpoint", base + "/authorize"},
                                                      {"token_endpoint", base + "/token"},
                                                      {"registration_endpoint", base + "/register"},
                                                      {"response_types_supported", json::array{"code"}},
                                                      {"code_challenge_methods_supported", json::array{"S256"}}}));
  } else if (method == "POST" && target == "/register") {
    ex.respond_json(201, R"({"client_id":"dyn-client","token_endpoint_auth_method":"none"})");
  } else {
    answer_404(ex);
  }
}

// The upstreams exist before the gateway: the config names their ports.
struct template_upstreams {
  template_upstreams() {
    nometa.on_request(answer_404);
    withas.on_request([base = withas.base_url()](fake_exchange& ex) { serve_metadata_only(ex, base); });
  }
  fake_upstream keyed;   // the keyed template's MCP server
  fake_upstream nometa;  // the nometa template's "server": 404 to everything
  fake_upstream withas;  // the withas template's: metadata only
};

gateway_options template_gateway_options(const template_upstreams& u) {
  gateway_options o = proxy_options();  // loopback upstreams allowed
  o.extra_yaml = templates_yaml(u.keyed.url("/mcp"), u.nometa.url("/mcp"), u.withas.url("/mcp"));
  return o;
}

// The gateway with the catalog above, alice ("*") and bob ("*"), and the
// keyed template's scripted MCP server offering one tool, "echo".
struct template_fixture : template_upstreams, gateway {
  template_fixture()
      : template_upstreams(),
        gateway(template_gateway_options(*this)),
        alice_key(create_key("alice", "*")),
        alice(client(alice_key)),
        mcp(keyed) {
    mcp_tool echo;
    echo.name = "echo";
    mcp.set_tools({echo});
  }

  std::string authorize(const std::string& query, const std::string& collection = e1) {
    return collection + "/authorize/" + (query.empty() ? "" : "?" + query);
  }

  api_key alice_key;
  api_client alice;
  mcp_upstream mcp;
};

// Rows in the installations table, every user and environment together.
std::int64_t installation_rows(const fs::path& data_dir) {
  return gateway_db(data_dir).query_int("SELECT COUNT(*) FROM installations");
}

// True when no file of the database (main, WAL, shared memory) holds `text`.
boost::test_tools::assertion_result not_on_disk(const fs::path& data_dir, const std::string& text) {
  const fs::path db = data_dir / "mcpgate.db";
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path file = db.string() + suffix;
    if (fs::exists(file) && read_file(file).find(text) != std::string::npos) {
      boost::test_tools::assertion_result result(false);
      result.message() << "plaintext found in " << file;
      return result;
    }
  }
  return true;
}

// The sealed API key of an installation, opened with the daemon's key file.
std::optional<std::string> opened_api_key(const fs::path& data_dir, const std::string& installation_id) {
  const auto sealed = gateway_db(data_dir).sealed_secret(installation_id, "api_key");
  if (!sealed) return std::nullopt;
  auto ring = mcpgate::auth::key_ring::from_files({(data_dir / "secret.key").string()}, false);
  if (!ring) return std::nullopt;
  auto opened = ring->open(*sealed, "installation:" + installation_id + ":api_key");
  if (!opened) return std::nullopt;
  return std::string(*opened);
}

// Every recorded request presents the key as the keyed template says, and
// carries no Authorization header at all.
boost::test_tools::assertion_result presented_as_template_says(const std::vector<recorded_request>& requests,
                                                               const std::string& key) {
  boost::test_tools::assertion_result result(false);
  if (requests.empty()) {
    result.message() << "the upstream received nothing";
    return result;
  }
  for (const auto& r : requests) {
    if (r.header_count("X-Api-Key") != 1 || r.header("X-Api-Key").value_or("") != "Token " + key) {
      result.message() << "X-Api-Key is not exactly 'Token " << key << "' in " << r;
      return result;
    }
    if (r.header_count("Authorization") != 0) {
      result.message() << "an Authorization header reached the upstream: " << r;
      return result;
    }
  }
  return true;
}

// The recorded POSTs whose JSON-RPC method is `method`.
std::vector<recorded_request> posts_of(const fake_upstream& server, std::string_view method) {
  std::vector<recorded_request> out;
  for (auto& r : server.requests()) {
    if (r.method != "POST") continue;
    boost::system::error_code ec;
    const json::value body = json::parse(r.body, ec);
    if (!ec && string_of(body, "method") == method) out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> targets_of(const fake_upstream& server) {
  std::vector<std::string> out;
  for (const auto& r : server.requests()) out.push_back(r.method + " " + r.target);
  return out;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string tools_call(int id, const std::string& tool) {
  return json::serialize(json::object{{"jsonrpc", "2.0"},
                                      {"id", id},
                                      {"method", "tools/call"},
                                      {"params", json::object{{"name", tool}, {"arguments", json::object{}}}}});
}

// status 400 and a JSON error whose detail starts with `prefix`.
boost::test_tools::assertion_result is_400_detail_prefix(const reply& r, std::string_view prefix) {
  boost::test_tools::assertion_result result(false);
  auto body = json_error_body(r, 400);
  if (auto* why = std::get_if<std::string>(&body)) {
    result.message() << *why << "; got " << r;
    return result;
  }
  const std::string detail = string_of(std::get<json::object>(body), "detail");
  if (!detail.starts_with(prefix)) {
    result.message() << "detail does not start with '" << prefix << "'; got " << r;
    return result;
  }
  return true;
}

// The JSON error's detail ("" when not a JSON object).
std::string detail_of(const reply& r) {
  try {
    return string_of(r.json(), "detail");
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace

// 1. The template catalog ---------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_templates_catalog, template_fixture)

BOOST_AUTO_TEST_CASE(lists_active_templates_only_with_the_documented_fields) {
  const reply r = alice.get("/api/projects/1/mcp_servers");
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("application/json"), r);
  const json::object body = r.object();
  BOOST_TEST(body.size() == 1u, r);  // {"results": [...]}
  BOOST_TEST_REQUIRE(body.contains("results"), r);
  BOOST_TEST_REQUIRE(body.at("results").is_array(), r);
  const json::array& results = body.at("results").as_array();

  std::set<std::string> ids;
  for (const auto& t : results) {
    BOOST_TEST_REQUIRE(t.is_object(), r);
    const json::object& o = t.as_object();
    BOOST_TEST(o.size() == 8u, json::serialize(o));
    for (const char* k : {"id", "name", "url", "docs_url", "description", "auth_type", "icon_key", "category"}) {
      BOOST_TEST((o.contains(k) && o.at(k).is_string()), k << " in " << json::serialize(o));
    }
    // No client credentials, no presentation details.
    for (const char* k : {"client_id", "client_secret", "is_active", "api_key_header", "api_key_format"}) {
      BOOST_TEST(!o.contains(k), k << " in " << json::serialize(o));
    }
    ids.insert(string_of(o, "id"));
  }
  BOOST_TEST((ids == std::set<std::string>{"keyed", "nometa", "withas", "plain"}), r);
  BOOST_TEST(results.size() == 4u, r);
  BOOST_TEST(r.body.find("retired") == std::string::npos, r);

  const auto entry_of = [&](const std::string& id) {
    for (const auto& t : results) {
      if (string_of(t, "id") == id) return t.as_object();
    }
    return json::object{};
  };
  const json::object keyed_entry = entry_of("keyed");
  BOOST_TEST(string_of(keyed_entry, "name") == "Keyed Service");
  BOOST_TEST(string_of(keyed_entry, "url") == keyed.url("/mcp"));
  BOOST_TEST(string_of(keyed_entry, "docs_url") == "https://docs.keyed.example/start");
  BOOST_TEST(string_of(keyed_entry, "description") == "An MCP server that takes an API key");
  BOOST_TEST(string_of(keyed_entry, "auth_type") == "api_key");
  BOOST_TEST(string_of(keyed_entry, "icon_key") == "keyed-icon");
  BOOST_TEST(string_of(keyed_entry, "category") == "dev");
  const json::object plain = entry_of("plain");
  BOOST_TEST(string_of(plain, "auth_type") == "oauth");
  BOOST_TEST(string_of(plain, "category") == "productivity");
  BOOST_TEST(string_of(plain, "docs_url") == "");
  BOOST_TEST(string_of(plain, "icon_key") == "");
}

BOOST_AUTO_TEST_CASE(both_route_families_answer_the_same_catalog) {
  const reply projects = alice.get("/api/projects/1/mcp_servers");
  BOOST_TEST_REQUIRE(projects.status == 200u, projects);
  for (const std::string target : {"/api/projects/1/mcp_servers/", "/api/environments/1/mcp_servers",
                                   "/api/environments/3/mcp_servers/", "/api/projects/2/mcp_servers"}) {
    const reply r = alice.get(target);
    BOOST_TEST_REQUIRE(r.status == 200u, target << ": " << r);
    BOOST_TEST(r.json() == projects.json(), target << ": " << r);
  }
  BOOST_TEST(is_error(alice.get("/api/projects/99/mcp_servers"), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.get("/api/environments/99/mcp_servers"), 404, "invalid_request", "not_found"));
}

BOOST_AUTO_TEST_CASE(without_an_api_key_the_catalog_is_401) {
  auto nobody = anonymous();
  BOOST_TEST(is_error(nobody.get("/api/projects/1/mcp_servers"), 401, "authentication_error", "not_authenticated"));
  BOOST_TEST(is_error(nobody.get("/api/environments/1/mcp_servers/"), 401, "authentication_error",
                      "not_authenticated"));
  api_client wrong(port(), "phx_not_a_key");
  BOOST_TEST(is_error(wrong.get("/api/projects/1/mcp_servers"), 401, "authentication_error", "authentication_failed"));
}

BOOST_AUTO_TEST_CASE(the_catalog_is_read_only) {
  const reply r = alice.post("/api/projects/1/mcp_servers", json::object{{"id", "x"}});
  BOOST_TEST(is_error(r, 405, "invalid_request", "method_not_allowed"));
  BOOST_TEST(r.header("Allow") == "GET", r);
}

BOOST_AUTO_TEST_SUITE_END()

// 2. install_template ---------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_install_template, template_fixture)

BOOST_AUTO_TEST_CASE(bad_requests_are_400_or_404_and_store_nothing) {
  const std::string target = p1 + "/install_template/";
  BOOST_TEST(is_validation_error(alice.post(target, json::object{}), "required", "template_id"));
  BOOST_TEST(is_validation_error(alice.post(target, json::object{{"api_key", "k"}}), "required", "template_id"));
  BOOST_TEST(is_error(alice.post(target, json::object{{"template_id", "no-such-template"}, {"api_key", "k"}}), 404,
                      "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.post(target, json::object{{"template_id", "retired"}, {"api_key", "k"}}), 404,
                      "invalid_request", "not_found"));
  BOOST_TEST(is_validation_error(alice.post(target, json::object{{"template_id", "keyed"}}), "required", "api_key"));
  BOOST_TEST(is_validation_error(alice.post(target, json::object{{"template_id", "keyed"}, {"api_key", ""}}),
                                 "required", "api_key"));
  BOOST_TEST(is_error(alice.send("GET", target), 405, "invalid_request", "method_not_allowed"));
  BOOST_TEST(count_of(alice, p1) == 0);
  BOOST_TEST(installation_rows(data_dir()) == 0);
  // None of this reached the template's server.
  BOOST_TEST(keyed.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(without_an_api_key_install_template_is_401) {
  auto nobody = anonymous();
  BOOST_TEST(is_error(nobody.post(p1 + "/install_template/", json::object{{"template_id", "keyed"}, {"api_key", "k"}}),
                      401, "authentication_error", "not_authenticated"));
  BOOST_TEST(keyed.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(api_key_template_installs_seals_the_key_and_presents_it_as_configured) {
  // install_template needs project:read only.
  auto reader = client(create_key("reader", "project:read"));
  const std::string first_key = "first-upstream-key-" + hex("\x11\x22\x33\x44\x55\x66");
  const reply r = reader.post(p1 + "/install_template/",
                              json::object{{"template_id", "keyed"}, {"api_key", first_key}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  const json::object inst = r.object();
  BOOST_TEST(is_installation(inst));
  BOOST_TEST(string_of(inst, "template_id") == "keyed");
  BOOST_TEST(string_of(inst, "name") == "Keyed Service");
  BOOST_TEST(string_of(inst, "display_name") == "");
  BOOST_TEST(string_of(inst, "icon_key") == "keyed-icon");
  BOOST_TEST(string_of(inst, "url") == keyed.url("/mcp"));
  BOOST_TEST(string_of(inst, "auth_type") == "api_key");
  BOOST_TEST(inst.at("pending_oauth") == false);
  BOOST_TEST(inst.at("needs_reauth") == false);
  BOOST_TEST(inst.at("tool_count") == json::value(1), r);  // the install synced the tools
  BOOST_TEST(r.body.find(first_key) == std::string::npos, r);
  const std::string id = id_of(inst);

  // The same object on retrieve, in both route families.
  for (const auto& collection : {p1, e1}) {
    const reply again = reader.get(item_of(collection, id));
    BOOST_TEST_REQUIRE(again.status == 200u, again);
    BOOST_TEST(string_of(again.json(), "template_id") == "keyed");
    BOOST_TEST(string_of(again.json(), "name") == "Keyed Service");
    BOOST_TEST(string_of(again.json(), "icon_key") == "keyed-icon");
    BOOST_TEST(again.body.find(first_key) == std::string::npos, again);
  }

  // The tools sync presented the key as the template says, and nothing else.
  const std::vector<std::string> methods = methods_received(keyed);
  BOOST_TEST(contains(methods, "initialize"), methods.size() << " messages");
  BOOST_TEST(contains(methods, "tools/list"));
  BOOST_TEST(presented_as_template_says(keyed.requests(), first_key));

  // Sealed at rest: no plaintext in the database files; it opens with the
  // daemon's key file for this installation.
  BOOST_TEST(not_on_disk(data_dir(), first_key));
  BOOST_TEST(opened_api_key(data_dir(), id).value_or("<none>") == first_key);

  // A proxied tools/call (the tool approved first) carries the key the same
  // way; the agent's own Authorization stays at the gateway.
  const reply approved = reader.patch(item_of(e1, id) + "/tools/echo", json::object{{"approval_state", "approved"}});
  BOOST_TEST_REQUIRE(approved.status == 200u, approved);
  keyed.clear_records();
  const reply call = reader.send("POST", proxy_path(e1, id), tools_call(7, "echo"), json_headers);
  BOOST_TEST_REQUIRE(call.status == 200u, call);
  BOOST_TEST(call.body.find("called echo") != std::string::npos, call);
  const auto calls = posts_of(keyed, "tools/call");
  BOOST_TEST_REQUIRE(calls.size() == 1u, targets_of(keyed).size() << " requests");
  BOOST_TEST(presented_as_template_says(calls, first_key));
  BOOST_TEST(calls.front().target == "/mcp");
}

BOOST_AUTO_TEST_CASE(installing_again_replaces_the_key_of_the_same_installation) {
  const std::string target = p1 + "/install_template/";
  const std::string first_key = "key-one-" + hex("\x0a\x0b\x0c");
  const std::string second_key = "key-two-" + hex("\x0d\x0e\x0f");
  const reply first = alice.post(target, json::object{{"template_id", "keyed"}, {"api_key", first_key}});
  BOOST_TEST_REQUIRE(first.status == 201u, first);
  const std::string id = id_of(first.object());
  const reply approved = alice.patch(item_of(p1, id) + "/tools/echo", json::object{{"approval_state", "approved"}});
  BOOST_TEST_REQUIRE(approved.status == 200u, approved);
  // The proxy has the first key cached now.
  BOOST_TEST_REQUIRE(alice.send("POST", proxy_path(e1, id), tools_call(1, "echo"), json_headers).status == 200u);
  BOOST_TEST(presented_as_template_says(posts_of(keyed, "tools/call"), first_key));
  keyed.clear_records();

  // Through the environments route this time: the same data.
  const reply second = alice.post(e1 + "/install_template",
                                  json::object{{"template_id", "keyed"}, {"api_key", second_key}});
  BOOST_TEST_REQUIRE(second.status == 201u, second);
  BOOST_TEST(id_of(second.object()) == id, second);
  BOOST_TEST(string_of(second.json(), "template_id") == "keyed");
  BOOST_TEST(second.body.find(second_key) == std::string::npos, second);
  BOOST_TEST(count_of(alice, p1) == 1);
  // The re-install synced with the new key.
  BOOST_TEST(contains(methods_received(keyed), "tools/list"));
  BOOST_TEST(presented_as_template_says(keyed.requests(), second_key));
  // The tool kept its approval.
  const reply tools = alice.get(item_of(p1, id) + "/tools");
  BOOST_TEST_REQUIRE(tools.status == 200u, tools);
  BOOST_TEST(tools.body.find("\"approved\"") != std::string::npos, tools);

  // The proxy uses the new key at once (no stale cached credential).
  keyed.clear_records();
  const reply call = alice.send("POST", proxy_path(e1, id), tools_call(2, "echo"), json_headers);
  BOOST_TEST_REQUIRE(call.status == 200u, call);
  const auto calls = posts_of(keyed, "tools/call");
  BOOST_TEST_REQUIRE(calls.size() == 1u);
  BOOST_TEST(presented_as_template_says(calls, second_key));

  // On disk: only the new key, sealed.
  BOOST_TEST(not_on_disk(data_dir(), first_key));
  BOOST_TEST(not_on_disk(data_dir(), second_key));
  BOOST_TEST(opened_api_key(data_dir(), id).value_or("<none>") == second_key);
}

BOOST_AUTO_TEST_CASE(a_custom_install_of_the_templates_url_is_taken_over_and_keyed_as_the_template_says) {
  // alice installed the template's url by hand first (no template: the key
  // goes as Authorization: Bearer).
  const reply custom =
      alice.post(p1 + "/install_custom/",
                 json::object{{"url", keyed.url("/mcp")}, {"auth_type", "api_key"}, {"api_key", "hand-made-key"}});
  BOOST_TEST_REQUIRE(custom.status == 201u, custom);
  const std::string id = id_of(custom.object());
  BOOST_TEST(custom.json().at("template_id").is_null(), custom);
  keyed.clear_records();

  // install_template of that url overwrites the key of that installation...
  const reply r = alice.post(p1 + "/install_template/",
                             json::object{{"template_id", "keyed"}, {"api_key", "templ-key"}});
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  BOOST_TEST(id_of(r.object()) == id, r);
  BOOST_TEST(count_of(alice, p1) == 1);
  BOOST_TEST(opened_api_key(data_dir(), id).value_or("") == "templ-key");
  // ...and from then on the key goes upstream the way the template says:
  // the upstream behind the template takes X-Api-Key: Token <key>.
  BOOST_TEST(string_of(r.json(), "template_id") == "keyed", r);
  BOOST_TEST(presented_as_template_says(keyed.requests(), "templ-key"));
}

BOOST_AUTO_TEST_CASE(each_user_gets_an_installation_of_their_own) {
  auto bob = client(create_key("bob", "*"));
  const reply a = alice.post(p1 + "/install_template/", json::object{{"template_id", "keyed"}, {"api_key", "alice-k"}});
  const reply b = bob.post(p1 + "/install_template/", json::object{{"template_id", "keyed"}, {"api_key", "bob-k"}});
  BOOST_TEST_REQUIRE(a.status == 201u, a);
  BOOST_TEST_REQUIRE(b.status == 201u, b);
  BOOST_TEST(id_of(a.object()) != id_of(b.object()));
  BOOST_TEST(opened_api_key(data_dir(), id_of(a.object())).value_or("") == "alice-k");
  BOOST_TEST(opened_api_key(data_dir(), id_of(b.object())).value_or("") == "bob-k");
  BOOST_TEST(is_error(bob.get(item_of(p1, id_of(a.object()))), 404, "invalid_request", "not_found"));
}

BOOST_AUTO_TEST_CASE(an_oauth_template_whose_server_has_no_metadata_is_400_and_leaves_nothing) {
  const reply r = alice.post(p1 + "/install_template/", json::object{{"template_id", "nometa"}});
  BOOST_TEST(is_400_detail_prefix(r, "OAuth discovery failed"));
  BOOST_TEST(count_of(alice, p1) == 0);
  BOOST_TEST(installation_rows(data_dir()) == 0);
  // It did look, and sent no credential of anyone's.
  BOOST_TEST(nometa.request_count() > 0u);
  for (const auto& req : nometa.requests()) BOOST_TEST(req.header_count("Authorization") == 0u, req);
}

BOOST_AUTO_TEST_SUITE_END()

// 3. authorize ------------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_authorize, template_fixture)

BOOST_AUTO_TEST_CASE(exactly_one_of_template_id_or_installation_id) {
  const json::object oauth_inst = create_installation(alice, p1, body_with_url("https://o.example.com/mcp"));
  const std::string id = id_of(oauth_inst);
  for (const std::string& query :
       std::vector<std::string>{"", "install_source=posthog", "template_id=plain&installation_id=" + id}) {
    for (const auto& collection : {p1, e1}) {
      const reply r = alice.get(authorize(query, collection));
      BOOST_TEST(is_error(r, 400, "invalid_request", "bad_request"), query);
      BOOST_TEST(detail_of(r) == "Pass exactly one of template_id or installation_id", r);
    }
  }
  BOOST_TEST(installation_rows(data_dir()) == 1);
}

BOOST_AUTO_TEST_CASE(what_is_not_the_callers_is_404) {
  // Unknown installation, another user's installation, unknown or inactive template.
  auto bob = client(create_key("bob", "*"));
  const std::string bobs = id_of(create_installation(bob, p1, body_with_url("https://bob.example.com/mcp")));
  for (const std::string& query :
       std::vector<std::string>{"installation_id=01900000-0000-7000-8000-000000000000", "installation_id=nope",
                                "installation_id=" + bobs, "template_id=no-such-template", "template_id=retired"}) {
    BOOST_TEST(is_error(alice.get(authorize(query)), 404, "invalid_request", "not_found"), query);
  }
  // bob's installation is also not reachable through another environment of his.
  BOOST_TEST(is_error(bob.get(authorize("installation_id=" + bobs, e3)), 404, "invalid_request", "not_found"));
  BOOST_TEST(count_of(alice, p1) == 0);
  BOOST_TEST(installation_rows(data_dir()) == 1);
}

BOOST_AUTO_TEST_CASE(what_does_not_use_oauth_is_400) {
  // (Its install-time tools sync meets a closed port and fails: that is fine.)
  const std::string closed = "http://127.0.0.1:" + std::to_string(closed_port()) + "/mcp";
  const reply installed =
      alice.post(p1 + "/install_custom/",
                 json::object{{"name", "K"}, {"url", closed}, {"auth_type", "api_key"}, {"api_key", "k"}});
  BOOST_TEST_REQUIRE(installed.status == 201u, installed);
  const reply r = alice.get(authorize("installation_id=" + id_of(installed.object())));
  BOOST_TEST(is_error(r, 400, "invalid_request", "bad_request"));
  const json::object none =
      create_installation(alice, p1, json::object{{"url", "https://n.example.com/mcp"}, {"auth_type", "none"}});
  BOOST_TEST(json_error_body(alice.get(authorize("installation_id=" + id_of(none))), 400).index() == 0u);
  // An api_key template cannot be authorized either, and gets no installation.
  BOOST_TEST(json_error_body(alice.get(authorize("template_id=keyed")), 400).index() == 0u);
  BOOST_TEST(count_of(alice, p1) == 2);
  BOOST_TEST(keyed.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_callback_url_elsewhere_is_400_before_anything_happens) {
  const json::object oauth_inst = create_installation(alice, p1, body_with_url(nometa.url("/other")));
  for (const std::string& subject :
       std::vector<std::string>{"template_id=nometa", "installation_id=" + id_of(oauth_inst)}) {
    for (const std::string callback : {"https%3A%2F%2Fevil.example%2Fcb", "http%3A%2F%2Fevil.example%2Fcb",
                                       "javascript%3Aalert(1)", "http%3A%2F%2F10.0.0.1%2Fcb"}) {
      const std::string query = subject + "&install_source=posthog-code&posthog_code_callback_url=" + callback;
      const reply r = alice.get(authorize(query));
      BOOST_TEST(is_validation_error(r, "invalid", "posthog_code_callback_url"), query);
    }
  }
  const reply source = alice.get(authorize("template_id=nometa&install_source=elsewhere"));
  BOOST_TEST(is_validation_error(source, "invalid_choice", "install_source"));
  // Refused before any discovery, and no installation was made for the template.
  BOOST_TEST(nometa.request_count() == 0u, targets_of(nometa).size());
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(discovery_failure_on_reconnect_keeps_the_installation) {
  // An existing oauth installation whose server offers no metadata: 400, and
  // the installation (not created by this call) stays.
  const json::object inst = create_installation(alice, p1, body_with_url(nometa.url("/mcp")));
  const reply r = alice.get(authorize("installation_id=" + id_of(inst)));
  BOOST_TEST(is_400_detail_prefix(r, "OAuth discovery failed"));
  BOOST_TEST(alice.get(item_of(p1, id_of(inst))).status == 200u);
  BOOST_TEST(nometa.request_count() > 0u);
  // A template's flow that fails removes the row it made.
  nometa.clear_records();
  const reply t = alice.get(authorize("template_id=nometa", e3));
  BOOST_TEST(is_400_detail_prefix(t, "OAuth discovery failed"));
  BOOST_TEST(count_of(alice, e3) == 0);
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(a_template_with_metadata_starts_a_flow_through_the_gateway) {
  // The control for the next case: with discovery and registration working,
  // authorize answers 302 to the gateway's oauth_start URL, and the
  // installation is the template's, pending.
  const reply r = alice.get(authorize("template_id=withas"));
  BOOST_TEST_REQUIRE(r.status == 302u, r);
  const std::string location = r.header("Location");
  BOOST_TEST(location.find("/api/mcp_store/oauth_start/?state=") != std::string::npos, r);
  const reply listed = alice.get(p1);
  BOOST_TEST_REQUIRE(listed.status == 200u, listed);
  BOOST_TEST_REQUIRE(listed.json().at("count") == json::value(1), listed);
  const json::value inst = listed.json().at("results").at(0);
  BOOST_TEST(string_of(inst, "template_id") == "withas");
  BOOST_TEST(string_of(inst, "auth_type") == "oauth");
  BOOST_TEST(inst.at("pending_oauth") == true);
  // The gateway registered itself and sent no credential of anyone's.
  BOOST_TEST(contains(targets_of(withas), "POST /register"));
  for (const auto& req : withas.requests()) BOOST_TEST(req.header_count("Authorization") == 0u, req);
}

BOOST_AUTO_TEST_CASE(an_oauth_template_whose_url_is_installed_with_an_api_key_is_400) {
  // alice has the url as an api_key installation; the oauth template of the
  // same url must not start a flow on it (installations are unique per url;
  // install_custom oauth answers "This server URL is already installed.").
  const reply keyed_install = alice.post(
      p1 + "/install_custom/", json::object{{"url", withas.url("/mcp")}, {"auth_type", "api_key"}, {"api_key", "k"}});
  BOOST_TEST_REQUIRE(keyed_install.status == 201u, keyed_install);
  const std::string id = id_of(keyed_install.object());
  const reply r = alice.get(authorize("template_id=withas"));
  BOOST_TEST(json_error_body(r, 400).index() == 0u, r);
  BOOST_TEST(r.header("Location").empty(), r);
  const reply t = alice.post(p1 + "/install_template/", json::object{{"template_id", "withas"}});
  BOOST_TEST(json_error_body(t, 400).index() == 0u, t);
  // The api_key installation is as it was.
  const reply kept = alice.get(item_of(p1, id));
  BOOST_TEST_REQUIRE(kept.status == 200u, kept);
  BOOST_TEST(string_of(kept.json(), "auth_type") == "api_key");
  BOOST_TEST(opened_api_key(data_dir(), id).value_or("") == "k");
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(the_flow_is_bound_to_the_browser_that_started_it) {
  // Needs no token endpoint: the authorization server is never asked for a
  // token here. posthog-code with its own callback URL.
  const reply started = alice.get(
      authorize("template_id=withas&install_source=posthog-code&posthog_code_callback_url=posthog-code%3A%2F%2Fcb"));
  BOOST_TEST_REQUIRE(started.status == 302u, started);
  const std::string start_url = started.header("Location");
  const std::string start_target = start_url.substr(start_url.find("/api/mcp_store/"));
  const std::string state = query_param(start_url, "state");
  BOOST_TEST_REQUIRE(state.size() >= 43u, start_url);  // 256 bits, base64url

  // The browser opens the start URL: a page that asks, and a cookie. Nothing
  // has gone to the authorization server.
  auto browser = anonymous();
  const confirm_form form = open_start_page(browser, start_target);
  BOOST_TEST_REQUIRE(form.page.status == 200u, form.page);
  BOOST_TEST(form.page.header("Content-Type").starts_with("text/html"), form.page);
  BOOST_TEST(form.page.header("X-Frame-Options") == "DENY", form.page);
  BOOST_TEST(form.page.header("Content-Security-Policy").find("frame-ancestors 'none'") != std::string::npos,
             form.page);
  BOOST_TEST(form.page.header("Location").empty(), form.page);
  BOOST_TEST(form.state == state, form.page);
  BOOST_TEST_REQUIRE(!form.csrf.empty(), form.page);
  // It names the installation (the template's url), the gateway user and the AS.
  BOOST_TEST(form.page.body.find(withas.url("/mcp")) != std::string::npos, form.page);
  BOOST_TEST(form.page.body.find("alice") != std::string::npos, form.page);
  BOOST_TEST(form.page.body.find(withas.base_url()) != std::string::npos, form.page);
  BOOST_TEST(form.page.body.find(form.csrf) != std::string::npos, form.page);
  const std::string set_cookie = form.page.header("Set-Cookie");
  BOOST_TEST(set_cookie.find("HttpOnly") != std::string::npos, set_cookie);
  BOOST_TEST(set_cookie.find("SameSite=Lax") != std::string::npos, set_cookie);
  BOOST_TEST_REQUIRE(form.cookie.find('=') != std::string::npos, set_cookie);
  // The same browser may load it again (no new cookie); the token is the same.
  const reply again = browser.send("GET", start_target, "", {{"Cookie", form.cookie}});
  BOOST_TEST_REQUIRE(again.status == 200u, again);
  BOOST_TEST(again.header("Set-Cookie").empty(), again);
  BOOST_TEST(form_input(again.body, "csrf") == form.csrf, again);

  // A second browser cannot open it.
  auto other_browser = anonymous();
  const reply second = other_browser.get(start_target);
  BOOST_TEST(detail_of(second) == "Invalid or expired OAuth state", second);
  BOOST_TEST(second.header("Set-Cookie").empty(), second);

  // Before the user confirms, the callback is refused even with the
  // browser's cookie (an attacker who sends the browser past the page
  // straight to the AS gains nothing), and the flow stays usable.
  const reply unconfirmed =
      browser.send("GET", "/api/mcp_store/oauth_redirect/?state=" + state + "&code=c", "", {{"Cookie", form.cookie}});
  BOOST_TEST(detail_of(unconfirmed) == "Invalid or expired OAuth state", unconfirmed);

  // The confirmation is refused without the cookie (another site's form: a
  // SameSite=Lax cookie is not sent), with a wrong token, from another origin.
  const std::string origin = base_url();
  const reply no_cookie = post_confirm(other_browser, state, form.csrf, "", origin);
  BOOST_TEST(no_cookie.status == 403u, no_cookie);
  const reply wrong_token = post_confirm(browser, state, std::string(64, 'a'), form.cookie, origin);
  BOOST_TEST(wrong_token.status == 403u, wrong_token);
  const reply cross_site = post_confirm(browser, state, form.csrf, form.cookie, "http://evil.example");
  BOOST_TEST(cross_site.status == 403u, cross_site);
  for (const reply* r : {&no_cookie, &wrong_token, &cross_site}) BOOST_TEST(r->header("Location").empty(), *r);

  // The page's own form: 303 on to the AS with PKCE S256, the resource and
  // the gateway's redirect_uri.
  const reply to_as = post_confirm(browser, state, form.csrf, form.cookie, origin);
  BOOST_TEST_REQUIRE(to_as.status == 303u, to_as);
  const std::string as_url = to_as.header("Location");
  BOOST_TEST(as_url.starts_with(withas.base_url() + "/authorize?"), as_url);
  BOOST_TEST(query_param(as_url, "response_type") == "code", as_url);
  BOOST_TEST(query_param(as_url, "client_id") == "dyn-client", as_url);
  BOOST_TEST(query_param(as_url, "code_challenge_method") == "S256", as_url);
  BOOST_TEST(query_param(as_url, "code_challenge").size() == 43u, as_url);
  BOOST_TEST(query_param(as_url, "state") == state, as_url);
  BOOST_TEST(!query_param(as_url, "resource").empty(), as_url);
  BOOST_TEST(query_param(as_url, "redirect_uri").find("oauth_redirect") != std::string::npos, as_url);
  // Without an Origin header (some tools), or with "Origin: null" (a browser
  // that names no origin), the cookie and the token are enough.
  BOOST_TEST(post_confirm(browser, state, form.csrf, form.cookie, "").status == 303u);
  BOOST_TEST(post_confirm(browser, state, form.csrf, form.cookie, "null").status == 303u);
  // The page lets the form's POST name its origin (no-referrer would make
  // browsers send "Origin: null").
  BOOST_TEST(form.page.header("Referrer-Policy") == "same-origin", form.page);

  // The callback without the cookie (another browser) is refused...
  const std::string callback = "/api/mcp_store/oauth_redirect/?state=" + state + "&error=access_denied";
  const reply refused = other_browser.get(callback);
  BOOST_TEST(detail_of(refused) == "Invalid or expired OAuth state", refused);
  // ...and so is one with a wrong cookie value.
  const std::string wrong_cookie = form.cookie.substr(0, form.cookie.find('=') + 1) + "forged";
  const reply forged = other_browser.send("GET", callback, "", {{"Cookie", wrong_cookie}});
  BOOST_TEST(detail_of(forged) == "Invalid or expired OAuth state", forged);
  // Nothing of this went to the token endpoint.
  BOOST_TEST(!contains(targets_of(withas), "POST /token"));
}

BOOST_AUTO_TEST_CASE(a_cancelled_flow_goes_back_to_the_callback_url_once) {
  const reply started = alice.get(
      authorize("template_id=withas&install_source=posthog-code&posthog_code_callback_url=posthog-code%3A%2F%2Fcb"));
  BOOST_TEST_REQUIRE(started.status == 302u, started);
  const std::string start_url = started.header("Location");
  const std::string state = query_param(start_url, "state");
  auto browser = anonymous();
  const confirm_form form = open_start_page(browser, start_url.substr(start_url.find("/api/mcp_store/")));
  BOOST_TEST_REQUIRE(form.page.status == 200u, form.page);
  const reply to_as = post_confirm(browser, form.state, form.csrf, form.cookie, base_url());
  BOOST_TEST_REQUIRE(to_as.status == 303u, to_as);
  const std::string cookie = form.cookie;

  // The user says no at the AS: back to posthog-code with status=error, the
  // cookie cleared, and no token asked for.
  const std::string callback = "/api/mcp_store/oauth_redirect/?state=" + state + "&error=access_denied";
  const reply done = browser.send("GET", callback, "", {{"Cookie", cookie}});
  BOOST_TEST_REQUIRE(done.status == 302u, done);
  BOOST_TEST(done.header("Location") == "posthog-code://cb?status=error&error=cancelled", done);
  BOOST_TEST(done.header("Set-Cookie").find("Max-Age=0") != std::string::npos, done);
  BOOST_TEST(!contains(targets_of(withas), "POST /token"));
  // The state was used: a replay is refused, and so is its page.
  const reply replay = browser.send("GET", callback, "", {{"Cookie", cookie}});
  BOOST_TEST(detail_of(replay) == "Invalid or expired OAuth state", replay);
  const reply page_again =
      browser.send("GET", start_url.substr(start_url.find("/api/mcp_store/")), "", {{"Cookie", cookie}});
  BOOST_TEST(detail_of(page_again) == "Invalid or expired OAuth state", page_again);
  // The installation stays pending.
  const reply listed = alice.get(p1);
  BOOST_TEST_REQUIRE(listed.status == 200u, listed);
  BOOST_TEST(listed.json().at("results").at(0).at("pending_oauth") == true, listed);
}

BOOST_AUTO_TEST_CASE(without_an_api_key_authorize_is_401) {
  auto nobody = anonymous();
  BOOST_TEST(is_error(nobody.get(authorize("template_id=plain")), 401, "authentication_error", "not_authenticated"));
  const reply post = alice.post(authorize(""), json::object{});
  BOOST_TEST(is_error(post, 405, "invalid_request", "method_not_allowed"));
  BOOST_TEST(post.header("Allow") == "GET", post);
}

BOOST_AUTO_TEST_SUITE_END()

// 4. install_custom with auth_type oauth ----------------------------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_install_custom, template_fixture)

BOOST_AUTO_TEST_CASE(a_callback_url_elsewhere_is_400_and_creates_nothing) {
  fake_upstream upstream;
  upstream.on_request(answer_404);
  const reply r = alice.post(p1 + "/install_custom/",
                             json::object{{"name", "O"},
                                          {"url", upstream.url("/mcp")},
                                          {"auth_type", "oauth"},
                                          {"install_source", "posthog-code"},
                                          {"posthog_code_callback_url", "https://evil.example/cb"}});
  BOOST_TEST(is_validation_error(r, "invalid", "posthog_code_callback_url"));
  BOOST_TEST(count_of(alice, p1) == 0);
  BOOST_TEST(installation_rows(data_dir()) == 0);
  BOOST_TEST(upstream.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(a_client_secret_needs_its_client_id) {
  fake_upstream upstream;
  upstream.on_request(answer_404);
  for (const json::object& extra :
       {json::object{{"client_secret", "s3cret"}}, json::object{{"client_secret", "s3cret"}, {"client_id", ""}}}) {
    json::object body{{"url", upstream.url("/mcp")}, {"auth_type", "oauth"}};
    for (const auto& kv : extra) body[kv.key()] = kv.value();
    const reply r = alice.post(p1 + "/install_custom/", body);
    BOOST_TEST(is_validation_error(r, "required", "client_id"), json::serialize(body));
    BOOST_TEST(r.body.find("s3cret") == std::string::npos, r);
  }
  BOOST_TEST(count_of(alice, p1) == 0);
  BOOST_TEST(upstream.request_count() == 0u);
  BOOST_TEST(not_on_disk(data_dir(), "s3cret"));
}

BOOST_AUTO_TEST_CASE(an_upstream_with_no_oauth_metadata_is_400_and_leaves_nothing_behind) {
  // Two kinds of upstream that offer no OAuth metadata at all: 404 to
  // everything, and 401 without a challenge to the MCP probe (404 to the rest).
  fake_upstream not_found;
  not_found.on_request(answer_404);
  fake_upstream no_challenge;
  no_challenge.on_request([](fake_exchange& ex) {
    if (ex.request().method == "POST") {
      ex.respond(401, {{"Content-Type", "application/json"}}, R"({"error":"unauthorized"})");
    } else {
      answer_404(ex);
    }
  });
  for (fake_upstream* upstream : {&not_found, &no_challenge}) {
    const reply r =
        alice.post(p1 + "/install_custom/",
                   json::object{{"name", "Meta-less"}, {"url", upstream->url("/a/mcp")}, {"auth_type", "oauth"}});
    BOOST_TEST(is_400_detail_prefix(r, "OAuth discovery failed"), upstream->url("/a/mcp"));
    BOOST_TEST(r.header("Location").empty(), r);
    BOOST_TEST(count_of(alice, p1) == 0);
    BOOST_TEST(installation_rows(data_dir()) == 0);

    // It looked where the spec says (RFC 9728 with and without the path,
    // then the origin as the authorization server), with no credential.
    const std::vector<std::string> asked = targets_of(*upstream);
    for (const std::string expected :
         {"GET /.well-known/oauth-protected-resource/a/mcp", "GET /.well-known/oauth-protected-resource",
          "GET /.well-known/oauth-authorization-server", "GET /.well-known/openid-configuration"}) {
      BOOST_TEST(contains(asked, expected), expected << " not requested of " << upstream->url("/a/mcp"));
    }
    for (const auto& req : upstream->requests()) BOOST_TEST(req.header_count("Authorization") == 0u, req);
  }
  // The same url can still be installed afterwards (no half-made row in the way).
  const reply after = alice.post(p1 + "/install_custom/",
                                 json::object{{"url", not_found.url("/a/mcp")}, {"auth_type", "none"}});
  BOOST_TEST(after.status == 201u, after);
}

BOOST_AUTO_TEST_CASE(metadata_for_another_resource_is_refused_before_anything_is_registered) {
  // RFC 9728 section 3.3: the metadata names https://evil.example.com/mcp for
  // a server at another URL; the same server otherwise as serve_metadata_only.
  fake_upstream upstream;
  upstream.on_request([base = upstream.base_url()](fake_exchange& ex) {
    const std::string& target = ex.request().target;
    if (ex.request().method == "GET" && target.starts_with("/.well-known/oauth-protected-resource")) {
      ex.respond_json(200, json::serialize(json::object{{"resource", "https://evil.example.com/mcp"},
                                                        {"authorization_servers", json::array{json::value(base)}}}));
      return;
    }
    serve_metadata_only(ex, base);
  });
  const reply r =
      alice.post(p1 + "/install_custom/",
                 json::object{{"name", "Elsewhere"}, {"url", upstream.url("/mcp")}, {"auth_type", "oauth"}});
  BOOST_TEST(is_400_detail_prefix(r, "OAuth discovery failed: the protected resource metadata at "), r);
  BOOST_TEST(r.body.find("https://evil.example.com/mcp") != std::string::npos, r);
  BOOST_TEST(count_of(alice, p1) == 0);
  BOOST_TEST(installation_rows(data_dir()) == 0);
  // Nothing registered, no authorization server asked.
  for (const auto& target : targets_of(upstream)) {
    BOOST_TEST(target.find("/register") == std::string::npos, target);
    BOOST_TEST(target.find("oauth-authorization-server") == std::string::npos, target);
  }
}

BOOST_AUTO_TEST_CASE(a_url_already_installed_with_an_api_key_is_400) {
  fake_upstream upstream;
  upstream.on_request(answer_404);
  const std::string url = upstream.url("/mcp");
  const reply keyed_install =
      alice.post(p1 + "/install_custom/", json::object{{"url", url}, {"auth_type", "api_key"}, {"api_key", "k"}});
  BOOST_TEST_REQUIRE(keyed_install.status == 201u, keyed_install);
  upstream.clear_records();
  const reply r = alice.post(p1 + "/install_custom/", json::object{{"url", url}, {"auth_type", "oauth"}});
  BOOST_TEST(is_validation_error(r, "unique", "url"));
  BOOST_TEST(detail_of(r) == "This server URL is already installed.", r);
  BOOST_TEST(count_of(alice, p1) == 1);
  // The api_key installation is untouched: still api_key, still its key.
  const reply kept = alice.get(item_of(p1, id_of(keyed_install.object())));
  BOOST_TEST_REQUIRE(kept.status == 200u, kept);
  BOOST_TEST(string_of(kept.json(), "auth_type") == "api_key");
  BOOST_TEST(opened_api_key(data_dir(), id_of(keyed_install.object())).value_or("") == "k");
  BOOST_TEST(upstream.request_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// 5. The browser routes ---------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_browser_routes, default_gateway)

BOOST_AUTO_TEST_CASE(the_callback_without_state_is_400_missing_state) {
  auto browser = anonymous();
  for (const std::string target :
       {"/api/mcp_store/oauth_redirect/", "/api/mcp_store/oauth_redirect", "/api/mcp_store/oauth_redirect/?code=abc",
        "/api/mcp_store/oauth_redirect/?state="}) {
    const reply r = browser.get(target);
    BOOST_TEST(json_error_body(r, 400).index() == 0u, target << ": " << r);
    BOOST_TEST(detail_of(r) == "Missing state parameter", target << ": " << r);
    BOOST_TEST(r.header("Set-Cookie").empty(), r);
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_state_is_400_invalid_or_expired) {
  auto browser = anonymous();
  for (const std::string target :
       {"/api/mcp_store/oauth_redirect/?state=unknown", "/api/mcp_store/oauth_redirect/?state=unknown&code=abc",
        "/api/mcp_store/oauth_redirect/?state=unknown&error=access_denied", "/api/mcp_store/oauth_start/?state=unknown",
        "/api/mcp_store/oauth_start?state=x"}) {
    const reply r = browser.get(target);
    BOOST_TEST(json_error_body(r, 400).index() == 0u, target << ": " << r);
    BOOST_TEST(detail_of(r) == "Invalid or expired OAuth state", target << ": " << r);
    BOOST_TEST(r.header("Location").empty(), r);
    BOOST_TEST(r.header("Set-Cookie").empty(), r);
  }
  // With an API key it is no different: the state is what counts.
  auto alice = client(create_key("alice", "*"));
  BOOST_TEST(detail_of(alice.get("/api/mcp_store/oauth_redirect/?state=unknown&code=abc")) ==
             "Invalid or expired OAuth state");
}

BOOST_AUTO_TEST_CASE(the_result_page_says_connected_and_never_echoes_its_input) {
  auto browser = anonymous();
  const reply ok = browser.get("/api/mcp_store/oauth_result/?status=success");
  BOOST_TEST_REQUIRE(ok.status == 200u, ok);
  BOOST_TEST(ok.header("Content-Type").starts_with("text/html"), ok);
  BOOST_TEST(ok.body.find("connected") != std::string::npos, ok);

  const std::string evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
  for (const std::string& target :
       std::vector<std::string>{"/api/mcp_store/oauth_result/?status=error&error=" + evil,
                                "/api/mcp_store/oauth_result/?status=error&error=cancelled&installation_id=" + evil,
                                "/api/mcp_store/oauth_result/?status=" + evil}) {
    const reply r = browser.get(target);
    BOOST_TEST(r.header("Content-Type").starts_with("text/html"), target << ": " << r);
    BOOST_TEST(r.body.find("<script") == std::string::npos, target << ": " << r);
    BOOST_TEST(r.body.find("alert(1)") == std::string::npos, target << ": " << r);
    BOOST_TEST(r.body != ok.body, target << ": " << r);  // not the success page
  }
}

BOOST_AUTO_TEST_CASE(the_browser_routes_take_get_only_but_the_start_page_takes_its_form) {
  auto browser = anonymous();
  for (const std::string target : {"/api/mcp_store/oauth_redirect/", "/api/mcp_store/oauth_start/?state=x",
                                   "/api/mcp_store/oauth_result/?status=success", "/oauth/client-metadata.json"}) {
    const bool start = target.starts_with("/api/mcp_store/oauth_start/");
    for (const std::string method : {"POST", "PUT", "DELETE", "PATCH"}) {
      if (start && method == "POST") continue;
      const reply r = browser.send(method, target, method == "POST" ? "{}" : "");
      BOOST_TEST(is_error(r, 405, "invalid_request", "method_not_allowed"), method << " " << target);
      BOOST_TEST(r.header("Allow") == (start ? "GET, POST" : "GET"), method << " " << target << ": " << r);
    }
  }
  // The start page's form with an unknown state: no cookie, refused; with
  // one, the state is still unknown.
  const reply unbound = post_confirm(browser, "unknown", "x", "", "");
  BOOST_TEST(unbound.status == 403u, unbound);
  BOOST_TEST(unbound.header("Location").empty(), unbound);
  const reply missing = browser.send("POST", "/api/mcp_store/oauth_start/", "csrf=x",
                                     {{"Content-Type", "application/x-www-form-urlencoded"}});
  BOOST_TEST(detail_of(missing) == "Missing state parameter", missing);
  // Other paths below /api/mcp_store/ are no routes.
  BOOST_TEST(is_error(browser.get("/api/mcp_store/oauth_other/"), 404, "invalid_request", "not_found"));
}

BOOST_AUTO_TEST_SUITE_END()

// 6. The proxy on an oauth installation never authorized ---------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_proxy_unauthorized, proxy_gateway)

BOOST_AUTO_TEST_CASE(a_json_rpc_request_gets_minus_32003_with_the_authorize_url) {
  fake_upstream upstream;
  auto alice = client(create_key("alice", "*"));
  const json::object inst = create_installation(alice, p1, body_with_url(upstream.url("/mcp")));
  BOOST_TEST_REQUIRE(string_of(inst, "auth_type") == "oauth");
  BOOST_TEST(inst.at("pending_oauth") == true);
  const std::string id = id_of(inst);
  const std::string proxy_url = string_of(inst, "proxy_url");
  const std::string public_url = proxy_url.substr(0, proxy_url.find("/api/"));
  BOOST_TEST_REQUIRE(!public_url.empty(), proxy_url);

  for (const auto& collection : {e1, p1}) {
    const reply r = alice.send("POST", proxy_path(collection, id),
                               R"({"jsonrpc":"2.0","id":"x1","method":"tools/list"})", json_headers);
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    BOOST_TEST(r.header("Content-Type").starts_with("application/json"), r);
    BOOST_TEST(r.header("WWW-Authenticate").empty(), r);
    const json::value v = r.json();
    BOOST_TEST(string_of(v, "jsonrpc") == "2.0", r);
    BOOST_TEST(string_of(v, "id") == "x1", r);
    const auto* error = v.as_object().if_contains("error");
    BOOST_TEST_REQUIRE((error && error->is_object()), r);
    BOOST_TEST(error->at("code") == json::value(-32003), r);
    const auto* data = error->as_object().if_contains("data");
    BOOST_TEST_REQUIRE((data && data->is_object()), r);
    BOOST_TEST(string_of(*data, "authorize_url") ==
                   public_url + "/api/environments/1/mcp_server_installations/authorize/?installation_id=" + id,
               r);
    BOOST_TEST(!string_of(*data, "reason").empty(), r);
  }
  // A batch: one answer per request.
  const reply batch = alice.send(
      "POST", proxy_path(e1, id),
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":2,"method":"tools/list"}])",
      json_headers);
  BOOST_TEST_REQUIRE(batch.status == 200u, batch);
  const json::value answers = batch.json();
  BOOST_TEST_REQUIRE(answers.is_array(), batch);
  BOOST_TEST_REQUIRE(answers.as_array().size() == 2u, batch);
  for (const auto& a : answers.as_array()) BOOST_TEST(a.at("error").at("code") == json::value(-32003), batch);
  // Notifications only: 409, never 401.
  const reply note = alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
                                json_headers);
  BOOST_TEST(is_proxy_error(note, 409, "Installation needs re-authentication", true));

  // Nothing reached the upstream.
  BOOST_TEST(upstream.request_count() == 0u);

  // The authorize_url's path is a route of the API: with the key it starts a
  // flow (here: discovery against an upstream with no metadata: 400), and the
  // installation stays.
  upstream.on_request(answer_404);
  const reply authorize = alice.get("/api/environments/1/mcp_server_installations/authorize/?installation_id=" + id);
  BOOST_TEST(is_400_detail_prefix(authorize, "OAuth discovery failed"));
  BOOST_TEST(alice.get(item_of(p1, id)).status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()
