#include "daemon/router.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>

using mcpgate::daemon::match_route;
using mcpgate::daemon::resource;
using mcpgate::daemon::route_family;

BOOST_AUTO_TEST_SUITE(router)

BOOST_AUTO_TEST_CASE(matches_both_route_families_with_and_without_trailing_slash) {
  for (const char* target : {"/api/projects/7/mcp_server_installations", "/api/projects/7/mcp_server_installations/"}) {
    const auto r = match_route(target);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST((r->family == route_family::projects));
    BOOST_TEST(r->scope_id == 7);
    BOOST_TEST((r->resource == resource::installations));
  }
  const auto r = match_route("/api/environments/3/mcp_server_installations/abc-1/");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((r->family == route_family::environments));
  BOOST_TEST(r->scope_id == 3);
  BOOST_TEST((r->resource == resource::installation));
  BOOST_TEST(r->installation_id == "abc-1");
}

BOOST_AUTO_TEST_CASE(decodes_query_parameters_and_installation_id) {
  const auto r = match_route("/api/projects/1/mcp_server_installations/a%2Db?limit=5&offset=1%30&x");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->installation_id == "a-b");
  BOOST_TEST(r->path == "/api/projects/1/mcp_server_installations/a%2Db");
  BOOST_TEST_REQUIRE(r->params.size() == 3u);
  BOOST_TEST(r->params[0].first == "limit");
  BOOST_TEST(r->params[0].second == "5");
  BOOST_TEST(r->params[1].second == "10");
  BOOST_TEST(r->params[2].first == "x");
}

BOOST_AUTO_TEST_CASE(rejects_unknown_or_malformed_targets) {
  for (const char* target :
       {"/", "/api", "/api/projects/1", "/api/teams/1/mcp_server_installations",
        "/api/projects/0/mcp_server_installations", "/api/projects/-1/mcp_server_installations",
        "/api/projects/1x/mcp_server_installations", "/api/projects//mcp_server_installations", "/api/projects/1/other",
        "/api/projects/1/mcp_server_installations/a/b/c", "/api/projects/1//mcp_server_installations",
        "http://example.com/api/projects/1/mcp_server_installations",
        "/api/projects/99999999999999999999/mcp_server_installations"}) {
    BOOST_TEST(!match_route(target).has_value(), target);
  }
}

BOOST_AUTO_TEST_CASE(install_custom_is_its_own_route) {
  const auto r = match_route("/api/environments/3/mcp_server_installations/install_custom/");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((r->resource == resource::install_custom));
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::install_custom) == "POST");
}

BOOST_AUTO_TEST_CASE(names_allowed_methods_per_resource) {
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::installations) == "GET, POST");
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::installation) == "GET, PATCH, DELETE");
}

BOOST_AUTO_TEST_SUITE_END()

// The proxy route (issue 3): .../mcp_server_installations/{id}/proxy.
BOOST_AUTO_TEST_SUITE(router)

BOOST_AUTO_TEST_CASE(proxy_route_on_both_families_with_and_without_trailing_slash) {
  for (const char* target :
       {"/api/environments/3/mcp_server_installations/abc-1/proxy",
        "/api/environments/3/mcp_server_installations/abc-1/proxy/",
        "/api/projects/3/mcp_server_installations/abc-1/proxy",
        "/api/projects/3/mcp_server_installations/abc-1/proxy/"}) {
    const auto r = match_route(target);
    BOOST_TEST_REQUIRE(r.has_value(), target);
    BOOST_TEST((r->resource == resource::proxy), target);
    BOOST_TEST(r->scope_id == 3, target);
    BOOST_TEST(r->installation_id == "abc-1", target);
  }
  BOOST_TEST((match_route("/api/environments/3/mcp_server_installations/x/proxy")->family ==
              route_family::environments));
  BOOST_TEST((match_route("/api/projects/3/mcp_server_installations/x/proxy")->family == route_family::projects));
}

BOOST_AUTO_TEST_CASE(proxy_route_decodes_the_installation_id_and_keeps_the_query) {
  const auto r = match_route("/api/environments/1/mcp_server_installations/a%2Db%20c/proxy?session=1");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((r->resource == resource::proxy));
  BOOST_TEST(r->installation_id == "a-b c");
  BOOST_TEST(r->path == "/api/environments/1/mcp_server_installations/a%2Db%20c/proxy");
  BOOST_TEST_REQUIRE(r->params.size() == 1u);
  BOOST_TEST(r->params[0].first == "session");
}

BOOST_AUTO_TEST_CASE(proxy_answers_get_post_delete) {
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::proxy) == "GET, POST, DELETE");
}

BOOST_AUTO_TEST_CASE(nothing_below_proxy_is_a_route) {
  for (const char* target :
       {"/api/environments/3/mcp_server_installations/abc/proxy/extra",
        "/api/projects/3/mcp_server_installations/abc/proxy/extra/",
        "/api/environments/3/mcp_server_installations/abc/proxy//",
        "/api/environments/3/mcp_server_installations/abc/other",
        "/api/environments/3/mcp_server_installations/install_custom/proxy",
        "/api/environments/3/mcp_server_installations//proxy",
        "/api/environments/0/mcp_server_installations/abc/proxy"}) {
    BOOST_TEST(!match_route(target).has_value(), target);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// Targets without percent-encoding or a query take a fast path that does not
// use the URL parser; it must agree with the full parser.
BOOST_AUTO_TEST_SUITE(router)

BOOST_AUTO_TEST_CASE(plain_and_encoded_spellings_of_a_target_match_alike) {
  const auto plain = match_route("/api/environments/3/mcp_server_installations/abc-1/proxy");
  const auto encoded = match_route("/api/environments/3/mcp_server_installations/abc%2D1/proxy");
  BOOST_TEST_REQUIRE(plain.has_value());
  BOOST_TEST_REQUIRE(encoded.has_value());
  BOOST_TEST((plain->resource == encoded->resource));
  BOOST_TEST(plain->installation_id == encoded->installation_id);
  BOOST_TEST(plain->scope_id == encoded->scope_id);
  BOOST_TEST(plain->path == "/api/environments/3/mcp_server_installations/abc-1/proxy");
  BOOST_TEST(plain->params.empty());
}

BOOST_AUTO_TEST_CASE(characters_outside_a_url_path_are_no_route) {
  for (const char* target :
       {"/api/environments/3/mcp_server_installations/a<b/proxy", "/api/environments/3/mcp_server_installations/a\"b",
        "/api/environments/3/mcp_server_installations/a b/proxy",
        "/api/environments/3/mcp_server_installations/a%zz/proxy", "api/environments/3/mcp_server_installations"}) {
    BOOST_TEST(!match_route(target).has_value(), target);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// The tools routes below an installation: the list, one tool by (decoded)
// name, and refresh.
BOOST_AUTO_TEST_SUITE(router_tools)

BOOST_AUTO_TEST_CASE(tools_list_on_both_families) {
  for (const char* target : {"/api/environments/3/mcp_server_installations/abc/tools",
                             "/api/projects/3/mcp_server_installations/abc/tools/?include_removed=1"}) {
    const auto r = match_route(target);
    BOOST_TEST_REQUIRE(r.has_value(), target);
    BOOST_TEST((r->resource == resource::tools));
    BOOST_TEST(r->installation_id == "abc");
    BOOST_TEST(r->tool_name.empty());
  }
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::tools) == "GET");
}

BOOST_AUTO_TEST_CASE(tool_names_are_decoded_whatever_their_spelling) {
  const std::pair<const char*, const char*> cases[] = {
      {"/api/environments/3/mcp_server_installations/abc/tools/get.user-info_v2", "get.user-info_v2"},
      {"/api/environments/3/mcp_server_installations/abc/tools/get.user-info_v2/", "get.user-info_v2"},
      {"/api/environments/3/mcp_server_installations/abc/tools/a%20b%2Fc", "a b/c"},
      {"/api/environments/3/mcp_server_installations/abc/tools/%C3%A9t%C3%A9", "\xC3\xA9t\xC3\xA9"},
      {"/api/environments/3/mcp_server_installations/abc/tools/x%3Fy?z=1", "x?y"},
  };
  for (const auto& [target, name] : cases) {
    const auto r = match_route(target);
    BOOST_TEST_REQUIRE(r.has_value(), target);
    BOOST_TEST((r->resource == resource::tool), target);
    BOOST_TEST(r->tool_name == name);
    BOOST_TEST(r->installation_id == "abc");
  }
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::tool) == "PATCH");
}

BOOST_AUTO_TEST_CASE(refresh_is_a_route_that_also_names_a_tool_called_refresh) {
  for (const char* target : {"/api/environments/3/mcp_server_installations/abc/tools/refresh",
                             "/api/projects/3/mcp_server_installations/abc/tools/refresh/",
                             "/api/projects/3/mcp_server_installations/abc/tools/%72efresh"}) {
    const auto r = match_route(target);
    BOOST_TEST_REQUIRE(r.has_value(), target);
    BOOST_TEST((r->resource == resource::tools_refresh));
    BOOST_TEST(r->tool_name == "refresh");
  }
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::tools_refresh) == "POST, PATCH");
}

BOOST_AUTO_TEST_CASE(nothing_else_below_tools_is_a_route) {
  for (const char* target :
       {"/api/environments/3/mcp_server_installations/abc/tools/a/b",
        "/api/environments/3/mcp_server_installations/abc/tools//",
        "/api/environments/3/mcp_server_installations/abc/tool",
        "/api/environments/3/mcp_server_installations/abc/proxy/x",
        "/api/environments/3/mcp_server_installations/install_custom/tools",
        "/api/environments/3/mcp_server_installations/install_custom/tools/x",
        "/api/environments/3/mcp_server_installations/abc/tools/a%zz"}) {
    BOOST_TEST(!match_route(target).has_value(), target);
  }
}

BOOST_AUTO_TEST_CASE(install_template_and_authorize_are_collection_routes) {
  for (const char* family : {"/api/projects/4", "/api/environments/4"}) {
    const std::string base = std::string(family) + "/mcp_server_installations/";
    for (const auto& [name, expected] :
         {std::pair{"install_template", resource::install_template}, std::pair{"authorize", resource::authorize},
          std::pair{"install_custom", resource::install_custom}}) {
      for (const std::string& target : {base + name, base + name + "/", base + name + "/?template_id=linear"}) {
        const auto r = match_route(target);
        BOOST_TEST_REQUIRE(r.has_value(), target);
        BOOST_TEST((r->resource == expected), target);
        BOOST_TEST(r->scope_id == 4);
        BOOST_TEST(r->installation_id.empty());
      }
      BOOST_TEST(!match_route(base + name + "/proxy").has_value());
    }
  }
  const auto r = match_route(
      "/api/environments/4/mcp_server_installations/authorize?installation_id=a%2Db&install_source=posthog-code");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST_REQUIRE(r->params.size() == 2u);
  BOOST_TEST(r->params[0].second == "a-b");
}

BOOST_AUTO_TEST_CASE(template_catalog_route) {
  for (const char* target : {"/api/projects/2/mcp_servers", "/api/environments/2/mcp_servers/"}) {
    const auto r = match_route(target);
    BOOST_TEST_REQUIRE(r.has_value(), target);
    BOOST_TEST((r->resource == resource::templates));
    BOOST_TEST(r->scope_id == 2);
  }
  BOOST_TEST(!match_route("/api/projects/2/mcp_servers/x").has_value());
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::templates) == "GET");
}

BOOST_AUTO_TEST_CASE(oauth_browser_routes_live_outside_projects) {
  const auto start = match_route("/api/mcp_store/oauth_start/?state=abc");
  BOOST_TEST_REQUIRE(start.has_value());
  BOOST_TEST((start->resource == resource::oauth_start));
  BOOST_TEST(mcpgate::daemon::is_oauth_browser_route(start->resource));
  BOOST_TEST_REQUIRE(start->params.size() == 1u);
  BOOST_TEST(start->params[0].second == "abc");
  const auto callback = match_route("/api/mcp_store/oauth_redirect?code=c%2B1&state=s");
  BOOST_TEST_REQUIRE(callback.has_value());
  BOOST_TEST((callback->resource == resource::oauth_callback));
  BOOST_TEST_REQUIRE(callback->params.size() == 2u);
  BOOST_TEST(callback->params[0].second == "c+1");
  const auto result = match_route("/api/mcp_store/oauth_result/");
  BOOST_TEST_REQUIRE(result.has_value());
  BOOST_TEST((result->resource == resource::oauth_result));
  for (const char* target :
       {"/api/mcp_store", "/api/mcp_store/other", "/api/mcp_store/oauth_start/x", "/api/x/oauth_start",
        "/oauth/client-metadata", "/oauth/client-metadata.json/x", "/oauth"}) {
    BOOST_TEST(!match_route(target).has_value(), target);
  }
  BOOST_TEST(!mcpgate::daemon::is_oauth_browser_route(resource::installations));
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::oauth_start) == "GET, POST");  // the confirm form
  // The Client ID Metadata Document, fetched by authorization servers.
  const auto document = match_route("/oauth/client-metadata.json");
  BOOST_TEST_REQUIRE(document.has_value());
  BOOST_TEST((document->resource == resource::client_metadata));
  BOOST_TEST(mcpgate::daemon::is_oauth_browser_route(document->resource));
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::client_metadata) == "GET");
}

BOOST_AUTO_TEST_SUITE_END()

// The audit trail (issue 6): .../mcp_audit_events, a collection of its own.
BOOST_AUTO_TEST_SUITE(router)

BOOST_AUTO_TEST_CASE(audit_events_route_on_both_families_with_and_without_trailing_slash) {
  for (const auto& [target, family] :
       {std::pair{"/api/projects/5/mcp_audit_events", route_family::projects},
        std::pair{"/api/projects/5/mcp_audit_events/", route_family::projects},
        std::pair{"/api/environments/5/mcp_audit_events", route_family::environments},
        std::pair{"/api/environments/5/mcp_audit_events/", route_family::environments}}) {
    const auto r = match_route(target);
    BOOST_TEST_REQUIRE(r.has_value(), target);
    BOOST_TEST((r->resource == resource::audit_events), target);
    BOOST_TEST((r->family == family), target);
    BOOST_TEST(r->scope_id == 5, target);
    BOOST_TEST(r->installation_id.empty(), target);
    BOOST_TEST(r->path == target);
    BOOST_TEST(r->params.empty(), target);
  }
  BOOST_TEST(mcpgate::daemon::allowed_methods(resource::audit_events) == "GET");
}

BOOST_AUTO_TEST_CASE(audit_events_route_decodes_its_filters_and_keeps_the_path_as_sent) {
  const auto r = match_route(
      "/api/environments/3/mcp_audit_events/?limit=2&offset=4&installation_id=a%2Db&event_type=tool_call_blocked");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((r->resource == resource::audit_events));
  BOOST_TEST(r->path == "/api/environments/3/mcp_audit_events/");
  BOOST_TEST_REQUIRE(r->params.size() == 4u);
  BOOST_TEST(r->params[0].first == "limit");
  BOOST_TEST(r->params[1].second == "4");
  BOOST_TEST(r->params[2].first == "installation_id");
  BOOST_TEST(r->params[2].second == "a-b");
  BOOST_TEST(r->params[3].second == "tool_call_blocked");
  // An encoded spelling of the collection's name is the same route.
  const auto encoded = match_route("/api/projects/3/mcp%5Faudit%5Fevents");
  BOOST_TEST_REQUIRE(encoded.has_value());
  BOOST_TEST((encoded->resource == resource::audit_events));
}

BOOST_AUTO_TEST_CASE(nothing_below_or_beside_audit_events_is_a_route) {
  for (const char* target :
       {"/api/projects/5/mcp_audit_events/x", "/api/environments/5/mcp_audit_events/x/",
        "/api/projects/5/mcp_audit_events//", "/api/projects/0/mcp_audit_events", "/api/teams/5/mcp_audit_events",
        "/api/mcp_audit_events", "/api/projects/5/mcp_server_installations/mcp_audit_events/x",
        "/api/projects/5/mcp_audit_event", "/api/projects/5/MCP_AUDIT_EVENTS"}) {
    BOOST_TEST(!match_route(target).has_value(), target);
  }
  // Below an installation, "mcp_audit_events" is only an installation id.
  const auto r = match_route("/api/projects/5/mcp_server_installations/mcp_audit_events");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST((r->resource == resource::installation));
}

BOOST_AUTO_TEST_SUITE_END()
