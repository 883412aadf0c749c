// Awaiting a callback-style operation from a coroutine.
//
//   auto op = await_callback<error_code, std::string_view>(
//       [&](auto done) { source.async_next(std::move(done)); });
//   auto [ec, bytes] = co_await std::move(op);
//
// `start(done)` begins the operation; `done` may be called on any thread,
// exactly once; the coroutine resumes on its own executor with the arguments
// as a tuple. Name the awaitable before co_await (GCC 12 destroys temporaries
// in a co_await expression twice).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>
#include <utility>

namespace mcpgate::net {

template <class... Args, class Start>
auto await_callback(Start start) {
  constexpr auto token = boost::asio::as_tuple(boost::asio::use_awaitable);
  return boost::asio::async_initiate<decltype(token), void(Args...)>(
      [start = std::move(start)](auto handler) mutable {
        auto ex = boost::asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start([shared, ex](Args... args) {
          boost::asio::dispatch(ex, [shared, ... args = std::move(args)]() mutable {
            std::move (*shared)(std::move(args)...);
          });
        });
      },
      token);
}

}  // namespace mcpgate::net
