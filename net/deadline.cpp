#include "net/deadline.hpp"

namespace mcpgate::net {

struct deadline::state {
  explicit state(boost::asio::any_io_executor ex, std::function<void()> f)
      : timer(std::move(ex)), on_expire(std::move(f)) {}

  boost::asio::steady_timer timer;
  std::function<void()> on_expire;
  clock::time_point at = clock::time_point::max();             // the deadline in force
  clock::time_point waiting_until = clock::time_point::max();  // the pending wait's expiry; max: none
  bool expired = false;
  bool gone = false;  // the owner was destroyed
};

deadline::deadline(boost::asio::any_io_executor ex, std::function<void()> on_expire)
    : state_(std::make_shared<state>(std::move(ex), std::move(on_expire))) {}

deadline::~deadline() {
  state_->gone = true;
  state_->on_expire = nullptr;
  state_->timer.cancel();
}

void deadline::expires_after(clock::duration d) { expires_at(clock::now() + d); }

void deadline::expires_at(clock::time_point at) {
  state& s = *state_;
  s.at = at;
  s.expired = false;
  // A pending wait that ends before `at` re-arms itself when it fires; only
  // a deadline earlier than the pending wait needs the timer now.
  if (at < s.waiting_until) wait(state_, at);
}

void deadline::expires_never() {
  // A pending wait stays: it finds nothing to enforce when it fires (cheaper
  // than cancelling it when the next request will want it again).
  state_->at = clock::time_point::max();
  state_->expired = false;
}

void deadline::stop() {
  state& s = *state_;
  s.at = clock::time_point::max();
  s.expired = false;
  if (s.waiting_until != clock::time_point::max()) {
    s.waiting_until = clock::time_point::max();
    s.timer.cancel();
  }
}

bool deadline::expired() const { return state_->expired; }

void deadline::wait(const std::shared_ptr<state>& s, clock::time_point at) {
  // Changing the expiry cancels a pending wait; its handler sees
  // operation_aborted and leaves the new wait in charge.
  s->waiting_until = at;
  s->timer.expires_at(at);
  s->timer.async_wait([s](const boost::system::error_code& ec) {
    if (ec || s->gone) return;  // replaced by a newer wait, or the owner left
    s->waiting_until = clock::time_point::max();
    if (s->at == clock::time_point::max()) return;    // nothing to enforce: idle timer
    if (clock::now() < s->at) return wait(s, s->at);  // pushed forward meanwhile
    s->expired = true;
    s->at = clock::time_point::max();
    if (s->on_expire) s->on_expire();
  });
}

}  // namespace mcpgate::net
