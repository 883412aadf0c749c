// Driving a test's io_context without sleeps: run it until an event the
// test names has happened, bounded by a limit that only ends a hang.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace mcpgate::test {

// Runs `io` (restarted first) until done() or until `bound` has passed;
// returns the final done().
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::steady_clock::duration bound = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + bound;
  io.restart();
  while (!done()) {
    if (io.run_one_until(until) == 0 && (io.stopped() || std::chrono::steady_clock::now() >= until)) break;
  }
  return done();
}

}  // namespace mcpgate::test
