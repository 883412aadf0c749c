// An upstream connection pool for unit tests whose upstream is the scripted
// one on 127.0.0.1: private addresses allowed, one thread, 5 s to connect.
#pragma once

#include "net/upstream_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>

namespace mcpgate::test {

inline std::shared_ptr<net::upstream_pool> loopback_pool(boost::asio::io_context& io) {
  net::client_options options;
  options.policy.allow_private_networks = true;
  options.connect_timeout = std::chrono::seconds(5);
  options.single_thread = true;
  auto pool = net::upstream_pool::create(io.get_executor(), options);
  BOOST_TEST_REQUIRE(pool.has_value());
  return *pool;
}

}  // namespace mcpgate::test
