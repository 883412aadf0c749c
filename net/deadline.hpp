// A deadline for one connection's socket operations, enforced by one timer
// that is touched only when it fires or when a deadline moves earlier than the
// moment it is set to fire.
//
// beast::tcp_stream starts a timer wait for every read and write: a timer
// queue insertion and removal, often a timerfd_settime(2), and a handler per
// operation, several times per proxied request. Here expires_after() only
// stores the new deadline when it is later than the pending wait (the usual
// case: each request pushes it forward); when the timer fires before the
// deadline it is re-armed for the rest. A deadline is never enforced early
// and at most one timer wait per connection is pending at a time.
//
//   deadline d(socket.get_executor(), [&socket] { socket.cancel(); });
//   d.expires_after(30s);   // before each operation
//   ... co_await socket.async_read_some(...) -> operation_aborted on expiry
//   if (d.expired()) ...    // tell a timeout from another cancellation
//
// Thread-safety: like the socket it guards: use it only on that socket's
// executor (strand), which is where on_expire runs. Destroying it (with the
// connection) is safe while a wait is pending: the wait then does nothing.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace mcpgate::net {

class deadline {
 public:
  using clock = std::chrono::steady_clock;

  deadline(boost::asio::any_io_executor ex, std::function<void()> on_expire);
  ~deadline();
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  void expires_after(clock::duration d);
  void expires_at(clock::time_point at);
  void expires_never();
  // expires_never(), and no timer wait left pending either (an io_context
  // with nothing else to do can return).
  void stop();
  // True when the last deadline set has passed (on_expire ran for it).
  bool expired() const;

 private:
  struct state;
  static void wait(const std::shared_ptr<state>& s, clock::time_point at);

  // Shared with the pending wait, which may outlive this object.
  std::shared_ptr<state> state_;
};

}  // namespace mcpgate::net
