#include "proxy/route.hpp"

#include "net/upstream_exchange.hpp"
#include "proxy/steps.hpp"

#include <boost/asio/this_coro.hpp>

namespace mcpgate::proxy {

namespace asio = boost::asio;

asio::awaitable<net::http_response> handle_proxy(const context& ctx, const caller& who,
                                                 const std::string& installation_id, net::http_request& req) {
  proxied_call call(ctx, who, req, co_await asio::this_coro::executor);
  auto finding = find_installation_step(call, installation_id);
  if (auto refused = co_await std::move(finding)) co_return std::move(*refused);
  if (auto refused = admit_installation(call)) co_return std::move(*refused);
  if (auto refused = inspect_request(call)) co_return std::move(*refused);
  auto approving = approve(call);
  if (auto blocked = co_await std::move(approving)) co_return std::move(*blocked);
  auto crediting = ensure_credential(call);
  if (auto refused = co_await std::move(crediting)) co_return std::move(*refused);
  if (auto refused = take_slot(call)) co_return std::move(*refused);
  auto exchanging = exchange(call);
  if (auto failed = co_await std::move(exchanging)) co_return std::move(*failed);
  record_forwarded(call, call.exchange->head().status);
  auto answering = answer(call);
  co_return co_await std::move(answering);
}

}  // namespace mcpgate::proxy
