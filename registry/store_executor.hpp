// The hand-off between event-loop threads and the store.
//
// The store is not thread-safe and its calls block (disk, fsync, busy waits),
// so it lives on one dedicated thread. A coroutine on an event-loop thread
// names the work, then awaits it:
//   const auto lookup = [id](store& s) { return s.get_...(id); };
//   auto row = co_await db.run(lookup);
// The function runs on the store thread and the coroutine resumes on its own
// executor with the result. No event-loop thread ever waits for the database.
// Work nobody needs to wait for (an audit record on the proxy path) goes
// through run_detached() instead. Work runs one item at a time, in the order
// it was handed over.
//
// Thread-safety: run() may be called from any thread. stop() drains queued
// work, then joins the store thread; call it after the event loop has stopped.
// REQUIRES: stop() has returned before any io_context whose coroutines called
// run() is destroyed: the store thread holds copies of their executors until
// it is joined.
#pragma once

#include "registry/store.hpp"

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace mcpgate::registry {

class store_executor {
 public:
  explicit store_executor(std::unique_ptr<store> backend) : store_(std::move(backend)), pool_(1) {}
  ~store_executor() { stop(); }
  store_executor(const store_executor&) = delete;
  store_executor& operator=(const store_executor&) = delete;

  // Runs fn(store&) on the store thread. An exception thrown by fn is
  // rethrown in the awaiting coroutine. REQUIRES: the result type is
  // default-constructible (every store result is).
  //
  // Pass a named function object, never a temporary lambda: GCC 12 destroys
  // temporaries with destructors inside a co_await expression twice.
  template <class F>
  auto run(const F& fn) -> boost::asio::awaitable<std::invoke_result_t<F&, store&>> {
    using R = std::invoke_result_t<F&, store&>;
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(std::exception_ptr, R)>(
        [this](auto handler, F f) {
          auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
          boost::asio::post(pool_, [s = store_.get(), h = std::move(handler), f = std::move(f),
                                    work = std::move(work)]() mutable {
            std::exception_ptr error;
            R value{};
            try {
              value = f(*s);
            } catch (...) {
              error = std::current_exception();
            }
            auto executor = work.get_executor();
            boost::asio::dispatch(executor, [h = std::move(h), error, value = std::move(value)]() mutable {
              std::move(h)(error, std::move(value));
            });
            work.reset();
          });
        },
        boost::asio::use_awaitable, F(fn));
  }

  // Queues fn(store&) for the store thread and returns at once: nobody waits
  // for it and its result is dropped, so fn reports its own failures (an
  // exception it throws is swallowed). Anything run() or run_detached()
  // queues afterwards sees what fn did. Work queued after stop() never runs.
  template <class F>
  void run_detached(F fn) {
    boost::asio::post(pool_, [s = store_.get(), f = std::move(fn)]() mutable {
      try {
        (void)f(*s);
      } catch (...) {
      }
    });
  }

  void stop() { pool_.join(); }

 private:
  std::unique_ptr<store> store_;
  boost::asio::thread_pool pool_;
};

}  // namespace mcpgate::registry
