// Whole OAuth flows against a scripted authorization server that is also the
// MCP server (issue 17; spec: oauth.md): the browser's confirm step, the
// callback's RFC 9207 `iss` check, offline_access and grants without a
// refresh token, Client ID Metadata Documents, and scope step-up on the
// proxy path. The Node interop suite runs the same points against
// oidc-provider and the official conformance scenarios; here every answer
// of the far side is chosen by the test, and every case checks what the
// agent got, what the authorization server and the MCP server received and
// what the installation shows.
#include "fake_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <functional>
#include <map>
#include <mutex>

using namespace mcpgate::it;

namespace {

// How the scripted server behaves; set before a flow starts.
struct as_script {
  bool iss_supported = false;            // authorization_response_iss_parameter_supported
  bool metadata_documents = false;       // client_id_metadata_document_supported
  std::vector<std::string> scopes{};     // the AS's scopes_supported ("" list: none given)
  std::string challenge_scope = "read";  // the 401 challenge's scope
  std::string callback_iss = "right";    // what /authorize sends back: "right", "wrong" or "none"
  bool refresh_tokens = true;            // the token endpoint issues refresh tokens
  int expires_in = 3600;
};

// The query parameter `name` of a URL, percent-decoded (+ is a space).
std::string decoded_param(const std::string& url, const std::string& name) {
  std::string raw = query_param(url, name), out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size()) {
      out.push_back(static_cast<char>(std::stoi(raw.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(raw[i] == '+' ? ' ' : raw[i]);
    }
  }
  return out;
}

bool has_word(const std::string& scope, const std::string& word) {
  return (" " + scope + " ").find(" " + word + " ") != std::string::npos;
}

// An MCP server at /mcp that is its own authorization server (issuer = its
// origin). Tools "read" (any token) and "write" (a token with scope
// "write": else 403 insufficient_scope asking for "read write").
class scripted_server {
 public:
  scripted_server() {
    server_.on_request([this](fake_exchange& ex) { serve(ex); });
  }
  void script(const as_script& s) {
    std::lock_guard lock(mu_);
    script_ = s;
  }
  fake_upstream& server() { return server_; }
  std::string base() const { return server_.base_url(); }
  std::string mcp_url() const { return server_.url("/mcp"); }
  // The authorization requests the browser brought, in order.
  std::vector<std::string> authorizations() const {
    std::lock_guard lock(mu_);
    return authorizations_;
  }
  // Grant types asked of the token endpoint, in order.
  std::vector<std::string> token_grants() const {
    std::lock_guard lock(mu_);
    return grants_;
  }
  // tools/call of `tool` that reached the MCP server with a token allowed to.
  int calls_served(const std::string& tool) const {
    std::lock_guard lock(mu_);
    auto it = served_.find(tool);
    return it == served_.end() ? 0 : it->second;
  }

 private:
  void serve(fake_exchange& ex) {
    const recorded_request& r = ex.request();
    std::lock_guard lock(mu_);
    const std::string b = server_.base_url();
    const std::string path = r.target.substr(0, r.target.find('?'));
    if (r.method == "GET" &&
        (path == "/.well-known/oauth-protected-resource/mcp" || path == "/.well-known/oauth-protected-resource")) {
      ex.respond_json(200, json::serialize(json::object{{"resource", b + "/mcp"},
                                                        {"authorization_servers", json::array{json::value(b)}}}));
    } else if (r.method == "GET" && path == "/.well-known/oauth-authorization-server") {
      json::object m{{"issuer", b},
                     {"authorization_endpoint", b + "/authorize"},
                     {"token_endpoint", b + "/token"},
                     {"registration_endpoint", b + "/register"},
                     {"response_types_supported", json::array{"code"}},
                     {"code_challenge_methods_supported", json::array{"S256"}}};
      if (script_.iss_supported) m["authorization_response_iss_parameter_supported"] = true;
      if (script_.metadata_documents) m["client_id_metadata_document_supported"] = true;
      if (!script_.scopes.empty()) {
        json::array scopes;
        for (const auto& s : script_.scopes) scopes.emplace_back(s);
        m["scopes_supported"] = std::move(scopes);
      }
      ex.respond_json(200, json::serialize(m));
    } else if (r.method == "POST" && path == "/register") {
      ex.respond_json(201, R"({"client_id":"dyn-client","token_endpoint_auth_method":"none"})");
    } else if (r.method == "GET" && path == "/authorize") {
      authorizations_.push_back(r.target);
      const std::string code = "code-" + std::to_string(codes_.size() + 1);
      codes_[code] = decoded_param(r.target, "scope");
      std::string back = decoded_param(r.target, "redirect_uri") + "?code=" + code +
                         "&state=" + query_param(r.target, "state");
      if (script_.callback_iss == "right") back += "&iss=" + b;
      if (script_.callback_iss == "wrong") back += "&iss=http://127.0.0.1:9/other";
      ex.respond(302, {{"Location", back}}, "");
    } else if (r.method == "POST" && path == "/token") {
      serve_token(ex);
    } else if (path == "/mcp") {
      serve_mcp(ex);
    } else {
      ex.respond(404, {{"Content-Type", "text/plain"}}, "not found");
    }
  }

  void serve_token(fake_exchange& ex) {
    const std::string form = "?" + ex.request().body;
    const std::string grant = decoded_param(form, "grant_type");
    grants_.push_back(grant);
    std::string scope;
    if (grant == "authorization_code") {
      auto it = codes_.find(decoded_param(form, "code"));
      if (it == codes_.end()) {
        ex.respond_json(400, R"({"error":"invalid_grant"})");
        return;
      }
      scope = it->second;
      codes_.erase(it);
    } else {
      auto it = refresh_.find(decoded_param(form, "refresh_token"));
      if (it == refresh_.end()) {
        ex.respond_json(400, R"({"error":"invalid_grant"})");
        return;
      }
      scope = it->second;
    }
    const std::string access = "at-" + std::to_string(tokens_.size() + 1);
    tokens_[access] = scope;
    json::object answer{{"access_token", access},
                        {"token_type", "Bearer"},
                        {"expires_in", script_.expires_in},
                        {"scope", scope}};
    if (script_.refresh_tokens) {
      const std::string refresh = "rt-" + std::to_string(tokens_.size());
      refresh_[refresh] = scope;
      answer["refresh_token"] = refresh;
    }
    ex.respond_json(200, json::serialize(answer));
  }

  void serve_mcp(fake_exchange& ex) {
    const recorded_request& r = ex.request();
    const std::string b = server_.base_url();
    const std::string authorization = r.header("Authorization").value_or("");
    const auto token = tokens_.find(authorization.starts_with("Bearer ") ? authorization.substr(7) : "");
    if (token == tokens_.end()) {
      ex.respond(401,
                 {{"Content-Type", "application/json"},
                  {"WWW-Authenticate",
                   "Bearer resource_metadata=\"" + b + "/.well-known/oauth-protected-resource/mcp\", scope=\"" +
                       script_.challenge_scope + "\""}},
                 R"({"error":"invalid_token"})");
      return;
    }
    if (r.method == "GET" && !has_word(token->second, "write")) {
      // The event stream wants the wider scope too (a made-up rule, for a
      // step-up on a request that is no JSON-RPC request).
      ex.respond(403,
                 {{"Content-Type", "application/json"},
                  {"WWW-Authenticate", "Bearer error=\"insufficient_scope\", scope=\"read write\""}},
                 R"({"error":"insufficient_scope"})");
      return;
    }
    if (r.method != "POST") {
      ex.respond(405, {{"Allow", "POST"}}, "");
      return;
    }
    boost::system::error_code ec;
    const json::value body = json::parse(r.body, ec);
    if (ec || !body.is_object()) {
      ex.respond_json(400, R"({"error":"not JSON-RPC"})");
      return;
    }
    const std::string method = string_of(body, "method");
    const json::value id = body.as_object().contains("id") ? body.at("id") : json::value(nullptr);
    if (!body.as_object().contains("id")) {
      ex.respond(202, {}, "");
      return;
    }
    json::object result;
    if (method == "initialize") {
      result = json::object{{"protocolVersion", "2025-06-18"},
                            {"capabilities", json::object{{"tools", json::object{}}}},
                            {"serverInfo", json::object{{"name", "scripted"}, {"version", "1"}}}};
    } else if (method == "tools/list") {
      json::array tools;
      for (const char* name : {"read", "write"}) {
        tools.push_back(json::object{{"name", name}, {"inputSchema", json::object{{"type", "object"}}}});
      }
      result = json::object{{"tools", std::move(tools)}};
    } else if (method == "tools/call") {
      const std::string tool = string_of(body.at("params"), "name");
      if (tool == "write" && !has_word(token->second, "write")) {
        ex.respond(403,
                   {{"Content-Type", "application/json"},
                    {"WWW-Authenticate",
                     "Bearer error=\"insufficient_scope\", scope=\"read write\", "
                     "resource_metadata=\"" +
                         b + "/.well-known/oauth-protected-resource/mcp\""}},
                   R"({"error":"insufficient_scope"})");
        return;
      }
      ++served_[tool];
      result = json::object{{"content", json::array{json::object{{"type", "text"}, {"text", "done: " + tool}}}}};
    } else {
      ex.respond_json(
          200,
          json::serialize(json::object{{"jsonrpc", "2.0"},
                                       {"id", id},
                                       {"error", json::object{{"code", -32601}, {"message", "Method not found"}}}}));
      return;
    }
    ex.respond_json(200, json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", result}}));
  }

  fake_upstream server_;
  mutable std::mutex mu_;
  as_script script_;                            // guarded by mu_
  std::vector<std::string> authorizations_;     // guarded by mu_
  std::vector<std::string> grants_;             // guarded by mu_
  std::map<std::string, std::string> codes_;    // code -> scope, guarded by mu_
  std::map<std::string, std::string> tokens_;   // access token -> scope, guarded by mu_
  std::map<std::string, std::string> refresh_;  // refresh token -> scope, guarded by mu_
  std::map<std::string, int> served_;           // guarded by mu_
};

gateway_options flow_options(const std::string& public_url = "", const std::string& templates = "") {
  gateway_options o = proxy_options();  // loopback upstreams (and http endpoints) allowed
  o.public_url = public_url;
  o.extra_yaml = templates;
  return o;
}

// The gateway with one scripted server, and alice. `configure` makes the
// gateway's options once the scripted server listens (a template names it).
struct flow_fixture : scripted_server, gateway {
  using configurator = std::function<gateway_options(const scripted_server&)>;
  explicit flow_fixture(const configurator& configure = [](const scripted_server&) { return flow_options(); })
      : scripted_server(), gateway(configure(*this)), alice(client(create_key("alice", "*"))) {}

  // install_custom (oauth) of the scripted server: the start URL's target.
  std::string install() {
    const reply r = alice.post(p1 + "/install_custom/",
                               json::object{{"url", mcp_url()}, {"name", "Scripted"}, {"auth_type", "oauth"}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    const std::string start = string_of(r.json(), "redirect_url");
    BOOST_TEST_REQUIRE(start.find("/api/mcp_store/oauth_start/?state=") != std::string::npos, r);
    installation_id = only_installation();
    return start.substr(start.find("/api/mcp_store/"));
  }
  std::string only_installation() {
    const reply listed = alice.get(p1);
    BOOST_TEST_REQUIRE(listed.json().at("count") == json::value(1), listed);
    return string_of(listed.json().at("results").at(0), "id");
  }
  // The browser from a start URL through the confirm page to the AS's
  // authorization endpoint; returns the AS's redirect back to the gateway.
  std::string to_authorization_server(api_client& browser, const std::string& start_target, std::string& cookie) {
    const confirm_form form = open_start_page(browser, start_target);
    BOOST_TEST_REQUIRE(form.page.status == 200u, form.page);
    cookie = form.cookie;
    const reply to_as = post_confirm(browser, form.state, form.csrf, form.cookie, base_url());
    BOOST_TEST_REQUIRE(to_as.status == 303u, to_as);
    const std::string as_url = to_as.header("Location");
    BOOST_TEST_REQUIRE(as_url.starts_with(base() + "/authorize?"), as_url);
    // The browser at the AS (which signs in and consents at once).
    auto at_as = api_client(server().port());
    const reply back = at_as.get(as_url.substr(base().size()));
    BOOST_TEST_REQUIRE(back.status == 302u, back);
    return back.header("Location");
  }
  // The whole flow; the callback's answer.
  reply complete_flow(const std::string& start_target) {
    auto browser = anonymous();
    std::string cookie;
    const std::string callback = to_authorization_server(browser, start_target, cookie);
    BOOST_TEST_REQUIRE(callback.starts_with(base_url() + "/api/mcp_store/oauth_redirect/?"), callback);
    return browser.send("GET", callback.substr(base_url().size()), "", {{"Cookie", cookie}});
  }
  json::object installation() { return alice.get(item_of(p1, installation_id)).object(); }
  void approve(const std::string& tool) {
    const reply r = alice.patch(item_of(p1, installation_id) + "/tools/" + tool,
                                json::object{{"approval_state", "approved"}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }
  reply call(const std::string& tool, int id = 1) {
    return alice.send("POST", proxy_path(p1, installation_id),
                      R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
                          R"(,"method":"tools/call","params":{"name":")" + tool + R"(","arguments":{}}})",
                      json_headers);
  }

  api_client alice;
  std::string installation_id;
};

bool connected(const reply& callback) {
  return callback.status == 302u && callback.header("Location").find("status=success") != std::string::npos;
}

}  // namespace

// 1. Offline access, and a grant that cannot be refreshed ----------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_flow_offline_access, flow_fixture)

BOOST_AUTO_TEST_CASE(offline_access_is_asked_for_when_the_server_lists_it_and_the_grant_refreshes) {
  script({.scopes = {"read", "write", "offline_access"}, .expires_in = 0});
  const std::string start = install();
  BOOST_TEST_REQUIRE(connected(complete_flow(start)));
  const std::string asked = authorizations().at(0);
  BOOST_TEST(has_word(decoded_param(asked, "scope"), "offline_access"), asked);
  BOOST_TEST(has_word(decoded_param(asked, "scope"), "read"), asked);  // the challenge's scope
  BOOST_TEST(decoded_param(asked, "prompt") == "consent", asked);
  // The token lived no time at all, and a refresh token came with it: the
  // installation is fine, and a call refreshes on the way.
  const json::object inst = installation();
  BOOST_TEST(inst.at("needs_reauth") == false, inst);
  BOOST_TEST(inst.at("needs_reauth_reason").is_null(), inst);
  approve("read");
  const reply r = call("read");
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.json().as_object().contains("result"), r);
  const std::vector<std::string> grants = token_grants();
  BOOST_TEST(std::count(grants.begin(), grants.end(), "refresh_token") >= 1);
}

BOOST_AUTO_TEST_CASE(nothing_extra_is_asked_when_the_server_does_not_list_it) {
  script({.scopes = {"read", "write"}});
  BOOST_TEST_REQUIRE(connected(complete_flow(install())));
  const std::string asked = authorizations().at(0);
  BOOST_TEST(!has_word(decoded_param(asked, "scope"), "offline_access"), asked);
  BOOST_TEST(query_param(asked, "prompt").empty(), asked);
}

BOOST_AUTO_TEST_CASE(a_grant_without_a_refresh_token_needs_reauth_once_its_token_expires) {
  script({.scopes = {"read"}, .refresh_tokens = false, .expires_in = 0});
  BOOST_TEST_REQUIRE(connected(complete_flow(install())));
  // Expired at once, and nothing to refresh it with: the installation says
  // so, with a reason, without anyone having called it.
  const json::object inst = installation();
  BOOST_TEST(inst.at("pending_oauth") == false, inst);
  BOOST_TEST(inst.at("needs_reauth") == true, inst);
  const std::string reason = string_of(inst, "needs_reauth_reason");
  BOOST_TEST(reason.find("no refresh token") != std::string::npos, inst);
  // The proxy answers -32003 with the same reason, and asks no one.
  approve("read");
  server().clear_records();
  const reply r = call("read");
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  const json::value error = r.json().at("error");
  BOOST_TEST(error.at("code") == json::value(-32003), r);
  BOOST_TEST(string_of(error.at("data"), "reason") == reason, r);
  BOOST_TEST(server().request_count() == 0u);
  const std::vector<std::string> grants = token_grants();
  BOOST_TEST(std::count(grants.begin(), grants.end(), "refresh_token") == 0);
}

BOOST_AUTO_TEST_SUITE_END()

// A template that says offline_access: false.
struct no_offline_fixture : flow_fixture {
  no_offline_fixture()
      : flow_fixture([](const scripted_server& s) {
          return flow_options("", "templates:\n  - id: nooffline\n    name: No Offline\n    url: \"" + s.mcp_url() +
                                      "\"\n    auth_type: oauth\n    offline_access: false\n");
        }) {}
};

BOOST_FIXTURE_TEST_SUITE(oauth_flow_template_without_offline_access, no_offline_fixture)

BOOST_AUTO_TEST_CASE(a_template_can_say_no_to_offline_access) {
  script({.scopes = {"read", "offline_access"}});
  const reply r = alice.post(p1 + "/install_template/", json::object{{"template_id", "nooffline"}});
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  const std::string start = string_of(r.json(), "redirect_url");
  installation_id = only_installation();
  BOOST_TEST_REQUIRE(connected(complete_flow(start.substr(start.find("/api/mcp_store/")))));
  const std::string asked = authorizations().at(0);
  BOOST_TEST(!has_word(decoded_param(asked, "scope"), "offline_access"), asked);
  // Nor through a step-up link that names it.
  const reply again =
      alice.get(e1 + "/authorize/?installation_id=" + installation_id + "&scope=write%20offline_access");
  BOOST_TEST_REQUIRE(again.status == 302u, again);
  auto browser = anonymous();
  std::string cookie;
  const std::string l = again.header("Location");
  to_authorization_server(browser, l.substr(l.find("/api/mcp_store/")), cookie);
  const std::string stepped = authorizations().at(1);
  BOOST_TEST(has_word(decoded_param(stepped, "scope"), "write"), stepped);
  BOOST_TEST(!has_word(decoded_param(stepped, "scope"), "offline_access"), stepped);
}

BOOST_AUTO_TEST_SUITE_END()

// 2. RFC 9207: the callback's iss -------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_flow_iss, flow_fixture)

BOOST_AUTO_TEST_CASE(a_server_that_sends_iss_must_send_its_own) {
  for (const std::string mode : {"wrong", "none"}) {
    BOOST_TEST_CONTEXT("iss " << mode) {
      script({.iss_supported = true, .callback_iss = mode});
      const std::string start = installation_id.empty() ? install() : [&] {
        const reply again = alice.get(e1 + "/authorize/?installation_id=" + installation_id);
        BOOST_TEST_REQUIRE(again.status == 302u, again);
        const std::string l = again.header("Location");
        return l.substr(l.find("/api/mcp_store/"));
      }();
      const reply callback = complete_flow(start);
      BOOST_TEST(callback.status == 400u, callback);
      BOOST_TEST(callback.header("Content-Type").starts_with("text/html"), callback);
      BOOST_TEST(callback.body.find("RFC 9207") != std::string::npos, callback);
      // Nothing was exchanged or stored.
      BOOST_TEST(token_grants().empty());
      BOOST_TEST(installation().at("pending_oauth") == true);
    }
  }
  // The right issuer: connected.
  script({.iss_supported = true, .callback_iss = "right"});
  const reply again = alice.get(e1 + "/authorize/?installation_id=" + installation_id);
  BOOST_TEST_REQUIRE(again.status == 302u, again);
  const std::string l = again.header("Location");
  BOOST_TEST(connected(complete_flow(l.substr(l.find("/api/mcp_store/")))));
  BOOST_TEST(installation().at("pending_oauth") == false);
}

BOOST_AUTO_TEST_CASE(a_reconnect_learns_what_the_server_says_of_itself_now) {
  // Connected while the server did not advertise iss, nor list offline_access.
  script({.iss_supported = false, .callback_iss = "none"});
  BOOST_TEST_REQUIRE(connected(complete_flow(install())));
  // The server now sends iss and offers offline access: a reconnect with the
  // cached client asks for offline_access and requires iss.
  script({.iss_supported = true, .scopes = {"read", "offline_access"}, .callback_iss = "none"});
  const reply again = alice.get(e1 + "/authorize/?installation_id=" + installation_id);
  BOOST_TEST_REQUIRE(again.status == 302u, again);
  const std::string l = again.header("Location");
  const reply callback = complete_flow(l.substr(l.find("/api/mcp_store/")));
  BOOST_TEST(callback.status == 400u, callback);  // no iss: refused
  const std::string asked = authorizations().at(1);
  BOOST_TEST(has_word(decoded_param(asked, "scope"), "offline_access"), asked);
  BOOST_TEST(query_param(asked, "client_id") == "dyn-client", asked);  // the same client
  std::size_t registrations = 0;
  for (const auto& req : server().requests()) registrations += req.target == "/register" ? 1 : 0;
  BOOST_TEST(registrations == 1u);
}

BOOST_AUTO_TEST_CASE(an_iss_that_is_sent_is_checked_even_when_not_advertised) {
  script({.iss_supported = false, .callback_iss = "wrong"});
  const reply callback = complete_flow(install());
  BOOST_TEST(callback.status == 400u, callback);
  BOOST_TEST(installation().at("pending_oauth") == true);
  // And a server that neither advertises nor sends it is fine.
  script({.iss_supported = false, .callback_iss = "none"});
  const reply again = alice.get(e1 + "/authorize/?installation_id=" + installation_id);
  const std::string l = again.header("Location");
  BOOST_TEST(connected(complete_flow(l.substr(l.find("/api/mcp_store/")))));
}

BOOST_AUTO_TEST_SUITE_END()

// 3. Client ID Metadata Documents -----------------------------------------------

// The gateway behind a TLS-terminating proxy: its public URL is https (the
// test's browser plays the proxy: it sends what is meant for that origin to
// the gateway's plain listener).
struct https_public_fixture : flow_fixture {
  https_public_fixture()
      : flow_fixture([](const scripted_server&) { return flow_options("https://gateway.example"); }) {}
};

BOOST_FIXTURE_TEST_SUITE(oauth_flow_metadata_documents, https_public_fixture)

BOOST_AUTO_TEST_CASE(an_https_gateway_uses_its_metadata_document_instead_of_registering) {
  script({.metadata_documents = true});
  const reply r = alice.post(p1 + "/install_custom/",
                             json::object{{"url", mcp_url()}, {"name", "Scripted"}, {"auth_type", "oauth"}});
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  const std::string start = string_of(r.json(), "redirect_url");
  BOOST_TEST_REQUIRE(start.starts_with("https://gateway.example/api/mcp_store/oauth_start/?state="), start);
  installation_id = only_installation();
  auto browser = anonymous();
  const confirm_form form = open_start_page(browser, start.substr(std::string("https://gateway.example").size()));
  BOOST_TEST_REQUIRE(form.page.status == 200u, form.page);
  BOOST_TEST(form.page.body.find("action=\"https://gateway.example/api/mcp_store/oauth_start/\"") != std::string::npos,
             form.page);
  BOOST_TEST(form.page.header("Set-Cookie").find("Secure") != std::string::npos, form.page);
  const reply to_as = post_confirm(browser, form.state, form.csrf, form.cookie, "https://gateway.example");
  BOOST_TEST_REQUIRE(to_as.status == 303u, to_as);
  const std::string as_url = to_as.header("Location");
  BOOST_TEST(decoded_param(as_url, "client_id") == "https://gateway.example/oauth/client-metadata.json", as_url);
  // Nothing was registered.
  for (const auto& req : server().requests()) BOOST_TEST(req.target != "/register", req);

  // The document an authorization server fetches.
  const reply doc = browser.get("/oauth/client-metadata.json");
  BOOST_TEST_REQUIRE(doc.status == 200u, doc);
  BOOST_TEST(doc.header("Content-Type").starts_with("application/json"), doc);
  const json::value d = doc.json();
  BOOST_TEST(string_of(d, "client_id") == "https://gateway.example/oauth/client-metadata.json", doc);
  BOOST_TEST(string_of(d, "client_name") == "mcpgate", doc);
  BOOST_TEST(d.at("redirect_uris") == json::parse(R"(["https://gateway.example/api/mcp_store/oauth_redirect/"])"), doc);
  BOOST_TEST(d.at("grant_types") == json::parse(R"(["authorization_code","refresh_token"])"), doc);
  BOOST_TEST(d.at("response_types") == json::parse(R"(["code"])"), doc);
  BOOST_TEST(string_of(d, "token_endpoint_auth_method") == "none", doc);
}

BOOST_AUTO_TEST_CASE(without_the_servers_support_the_gateway_registers) {
  script({.metadata_documents = false});
  install();
  bool registered = false;
  for (const auto& req : server().requests()) registered = registered || req.target == "/register";
  BOOST_TEST(registered);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(oauth_flow_metadata_documents_over_http, flow_fixture)

BOOST_AUTO_TEST_CASE(an_http_gateway_registers_and_serves_no_document) {
  script({.metadata_documents = true});
  auto browser = anonymous();
  std::string cookie;
  const std::string back = to_authorization_server(browser, install(), cookie);
  BOOST_TEST(query_param(authorizations().at(0), "client_id") == "dyn-client");
  BOOST_TEST(is_error(browser.get("/oauth/client-metadata.json"), 404, "invalid_request", "not_found"));
  BOOST_TEST(!back.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// 4. Scope step-up on the proxy path ---------------------------------------------

BOOST_FIXTURE_TEST_SUITE(oauth_flow_step_up, flow_fixture)

BOOST_AUTO_TEST_CASE(an_upstreams_insufficient_scope_becomes_a_link_to_a_wider_grant) {
  script({.scopes = {"read", "write"}});
  BOOST_TEST_REQUIRE(connected(complete_flow(install())));
  BOOST_TEST(decoded_param(authorizations().at(0), "scope") == "read");  // the challenge's
  approve("read");
  approve("write");

  // "write" needs more than the grant has: -32003 insufficient_scope, HTTP
  // 200, no WWW-Authenticate.
  const reply refused = call("write", 7);
  BOOST_TEST_REQUIRE(refused.status == 200u, refused);
  BOOST_TEST(refused.header("WWW-Authenticate").empty(), refused);
  const json::value v = refused.json();
  BOOST_TEST(v.at("id") == json::value(7), refused);
  const json::value& error = v.at("error");
  BOOST_TEST(error.at("code") == json::value(-32003), refused);
  BOOST_TEST(string_of(error.at("data"), "reason") == "insufficient_scope", refused);
  BOOST_TEST(string_of(error.at("data"), "required_scope") == "read write", refused);
  const std::string authorize_url = string_of(error.at("data"), "authorize_url");
  BOOST_TEST(authorize_url == base_url() + "/api/environments/1/mcp_server_installations/authorize/?installation_id=" +
                                  installation_id + "&scope=read%20write",
             refused);
  // Anything but a JSON-RPC request (here the GET stream, which the
  // upstream wants the wider scope for too): 409, never the upstream's 403.
  const reply stream = alice.send("GET", proxy_path(p1, installation_id), "", sse_headers);
  BOOST_TEST(is_proxy_error(stream, 409, "The upstream MCP server needs a wider authorization", true), stream);
  BOOST_TEST(stream.header("WWW-Authenticate").empty(), stream);
  // The grant keeps working for what it covers.
  const reply read = call("read", 8);
  BOOST_TEST_REQUIRE(read.status == 200u, read);
  BOOST_TEST(read.json().as_object().contains("result"), read);
  BOOST_TEST(calls_served("read") == 1);
  BOOST_TEST(calls_served("write") == 0);

  // The link, with the agent's key: a new flow that asks for both.
  const reply again = alice.get(authorize_url.substr(base_url().size()));
  BOOST_TEST_REQUIRE(again.status == 302u, again);
  const std::string l = again.header("Location");
  BOOST_TEST_REQUIRE(connected(complete_flow(l.substr(l.find("/api/mcp_store/")))));
  BOOST_TEST(decoded_param(authorizations().at(1), "scope") == "read write");
  const reply written = call("write", 9);
  BOOST_TEST_REQUIRE(written.status == 200u, written);
  BOOST_TEST(written.json().as_object().contains("result"), written);
  BOOST_TEST(calls_served("write") == 1);
  // The wider scope is the installation's now: a plain re-authorization asks for it.
  const reply plain = alice.get(e1 + "/authorize/?installation_id=" + installation_id);
  auto browser = anonymous();
  std::string cookie;
  to_authorization_server(browser, plain.header("Location").substr(plain.header("Location").find("/api/mcp_store/")),
                          cookie);
  BOOST_TEST(decoded_param(authorizations().at(2), "scope") == "read write");
}

BOOST_AUTO_TEST_CASE(a_scope_that_is_no_scope_is_400) {
  script({});
  install();
  const reply r = alice.get(e1 + "/authorize/?installation_id=" + installation_id + "&scope=a%22b");
  BOOST_TEST(json_error_body(r, 400).index() == 0u, r);
  BOOST_TEST(r.header("Location").empty(), r);
}

BOOST_AUTO_TEST_SUITE_END()
