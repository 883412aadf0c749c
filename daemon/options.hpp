// The composition root's first half: the validated config turned into each
// module's options (leveldb's include/leveldb/options.h is the model). Every
// function here is pure: serve.cpp builds the modules from what they return,
// at start and again at each reload.
//
// Thread-safety: pure functions.
#pragma once

#include "config/config.hpp"
#include "daemon/http_server.hpp"
#include "net/upstream_client.hpp"
#include "proxy/context.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <string>
#include <vector>

namespace mcpgate::daemon {

// The addresses server.listen names ("localhost" as 127.0.0.1).
std::vector<boost::asio::ip::tcp::endpoint> endpoints_of(const config::config& cfg);

// The HTTP server's listeners, limits and timeouts.
server_options make_server_options(const config::config& cfg);

// The outbound client every shard's upstream pool is made with.
net::client_options make_client_options(const config::config& cfg);

// The proxy route's settings. The Host values and origins it answers to
// (DNS-rebinding defence): the public URL's, each listener's (and
// localhost's for a loopback or wildcard listener), and the configured extras.
proxy::options make_proxy_options(const config::config& cfg, const std::string& public_url,
                                  const std::vector<boost::asio::ip::tcp::endpoint>& bound);

// The settings the REST API and the proxy read per request (see
// proxy::live_settings), from a config and the listeners it got.
std::shared_ptr<const proxy::live_settings> make_live_settings(
    std::shared_ptr<const config::config> cfg, const std::string& public_url,
    const std::vector<boost::asio::ip::tcp::endpoint>& bound);

// What a reload leaves as it was (a restart applies it): named in a warning.
std::vector<std::string> restart_only_changes(const config::config& was, const config::config& now);

}  // namespace mcpgate::daemon
