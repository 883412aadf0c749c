// REST handlers for /mcp_server_installations, /mcp_server_installations/{id}
// and /mcp_server_installations/install_custom (api_key and none installs).
//
// REQUIRES: the caller is authenticated, may access the environment and holds
// the endpoint's scope (daemon/rest.cpp checks that before dispatching), and
// the method is one the resource answers. Thread-safety: stateless; runs on
// the connection's strand and hops to the store thread for data.
#pragma once

#include "common/error.hpp"
#include "daemon/api/context.hpp"
#include "daemon/http_types.hpp"
#include "registry/store.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

namespace mcpgate::daemon::api {

boost::asio::awaitable<http_response> handle_installations(const api_context& ctx, const caller& who,
                                                           const route& r, const http_request& req);

// The installation object as the API shows it; never includes secrets.
// The installation object; name and icon_key fall back to its template's.
boost::json::object installation_json(const registry::installation& inst, const api_context& ctx);

// What find_or_insert_installation() did.
struct found_or_inserted {
  result<registry::installation> row = errc::not_found;
  bool inserted = false;
};

// On the store thread: the user's installation of `fresh.url` when there is
// one, handed to `adopt` (which may update it in the store, or refuse it with
// an error that becomes the row's); else `fresh`, inserted.
template <typename Adopt>
found_or_inserted find_or_insert_installation(registry::store& s, const registry::installation& fresh,
                                              Adopt&& adopt) {
  found_or_inserted out;
  out.row = s.find_installation_by_url(fresh.environment_id, fresh.user_id, fresh.url);
  if (out.row) {
    if (result<void> adopted = adopt(s, *out.row); !adopted) out.row = adopted.error();
    return out;
  }
  if (out.row.error() != errc::not_found) return out;
  if (auto kept = s.insert_installation(fresh); !kept) {
    out.row = kept.error();
    return out;
  }
  out.row = fresh;
  out.inserted = true;
  return out;
}

}  // namespace mcpgate::daemon::api
