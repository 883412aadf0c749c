#include "proxy/relay.hpp"

#include "common/metrics.hpp"

#include "common/mcp_names.hpp"
#include "net/upstream_exchange.hpp"
#include "proxy/sse.hpp"
#include "proxy/tools_filter.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>

namespace mcpgate::proxy {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using piece = std::pair<error_code, std::string_view>;

// True when `data` may hold a "tools" key: written plainly, or behind an
// escape ("\u0074ools"), which a plain search cannot rule out.
bool may_list_tools(std::string_view data) {
  return data.find("\"tools\"") != std::string_view::npos || data.find('\\') != std::string_view::npos;
}

// The filter's view of one message's JSON text, shared by both framings:
// an answer to tools/list loses its hidden tools (the JSON to put in its
// place); one that may answer tools/list but cannot be read becomes
// hooks.uninspectable (never forwarded unfiltered); nullopt keeps the
// message as it is. The hooks hear about unseen tools.
std::optional<std::string> filtered_json(std::string_view json, const relay_hooks& hooks) {
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos || !may_list_tools(json)) return std::nullopt;
  auto answer = proxy::filter_tools_list(json, hooks.hidden, hooks.private_ttl_ms);
  if (answer.verdict == proxy::tools_list_verdict::unreadable) return hooks.uninspectable;
  if (hooks.unseen_tool &&
      std::any_of(answer.names.begin(), answer.names.end(), [&](const std::string& n) { return !hooks.known(n); })) {
    hooks.unseen_tool();
  }
  return std::move(answer.filtered);
}

// One event of a stream the relay cuts into events, judged by
// filtered_json; every event is scanned for the upstream's list_changed.
std::string inspect_event(std::string event, const relay_hooks& hooks, bool filter, list_changed_scanner& scanner) {
  if (scanner.feed(event) && hooks.list_changed) hooks.list_changed();
  if (!filter) return event;
  auto json = filtered_json(proxy::event_data(event), hooks);
  return json ? proxy::replace_event_data(event, *json) : event;
}

// One line of a stream of JSON messages, one per line (a chunked
// application/json answer such as subscriptions/listen), judged the same
// way. Blank lines (keep-alives) pass.
std::string inspect_line(std::string line, const relay_hooks& hooks, list_changed_scanner& scanner) {
  if (scanner.feed(line) && hooks.list_changed) hooks.list_changed();
  auto json = filtered_json(line, hooks);
  return json ? *json + "\n" : line;
}

// Cuts a stream into lines ('\n' included), like sse_splitter cuts events.
class line_splitter {
 public:
  explicit line_splitter(std::size_t max_line_bytes) : max_(max_line_bytes) {}

  void feed(std::string_view bytes) {
    if (overflowed_) return;
    buffer_.append(bytes);
  }

  std::optional<std::string> next_line() {
    if (overflowed_) return std::nullopt;
    const auto end = buffer_.find('\n', start_);
    if (end == std::string::npos) {
      buffer_.erase(0, start_);
      start_ = 0;
      if (buffer_.size() > max_) {
        overflowed_ = true;
        std::string().swap(buffer_);
      }
      return std::nullopt;
    }
    std::string line = buffer_.substr(start_, end + 1 - start_);
    start_ = end + 1;
    return line;
  }

  bool overflowed() const { return overflowed_; }

  std::string take_remainder() {
    std::string rest = buffer_.substr(start_);
    buffer_.clear();
    start_ = 0;
    return rest;
  }

 private:
  std::size_t max_;
  std::string buffer_;
  std::size_t start_ = 0;  // where the next line begins in buffer_
  bool overflowed_ = false;
};

// The messages of a listen stream: SSE events, or JSON lines.
class message_splitter {
 public:
  explicit message_splitter(bool lines)
      : lines_(lines), events_(proxy::sse_default_max_event_bytes), rows_(proxy::sse_default_max_event_bytes) {}

  void feed(std::string_view bytes) { lines_ ? rows_.feed(bytes) : events_.feed(bytes); }
  std::optional<std::string> next() { return lines_ ? rows_.next_line() : events_.next_event(); }
  bool overflowed() const { return lines_ ? rows_.overflowed() : events_.overflowed(); }
  std::string take_remainder() { return lines_ ? rows_.take_remainder() : events_.take_remainder(); }

  std::string inspect(std::string message, const relay_hooks& hooks, list_changed_scanner& scanner) const {
    return lines_ ? inspect_line(std::move(message), hooks, scanner)
                  : inspect_event(std::move(message), hooks, true, scanner);
  }

  // The JSON-RPC message text inside one message.
  std::string json_of(std::string_view message) const {
    return lines_ ? std::string(message) : proxy::event_data(message);
  }

  // One JSON-RPC message framed as this stream frames them.
  std::string frame(std::string_view json) const {
    if (lines_) return std::string(json) + "\n";
    return "event: message\ndata: " + std::string(json) + "\n\n";
  }

 private:
  bool lines_;
  proxy::sse_splitter events_;
  line_splitter rows_;
};

// The gateway's notifications/tools/list_changed for a subscription stream:
// _meta names the subscription (its id as JSON text).
std::string subscription_notice(std::string_view subscription_id_json) {
  return R"({"jsonrpc":")" + std::string(jsonrpc_version) + R"(","method":")" +
         std::string(notification_tools_list_changed) + R"(","params":{"_meta":{")" +
         std::string(meta_subscription_id) + R"(":)" + std::string(subscription_id_json) + "}}}";
}

// The subscription id an upstream's notifications/subscriptions/acknowledged
// names in its _meta (as JSON text); nullopt for any other message.
std::optional<std::string> acknowledged_subscription(std::string_view json) {
  if (json.find("notifications/subscriptions/acknowledged") == std::string_view::npos) return std::nullopt;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto* params = v.as_object().if_contains("params");
  const auto* meta = params != nullptr && params->is_object() ? params->as_object().if_contains("_meta") : nullptr;
  const auto* id = meta != nullptr && meta->is_object() ? meta->as_object().if_contains(meta_subscription_id) : nullptr;
  if (id == nullptr || !(id->is_string() || id->is_number())) return std::nullopt;
  return boost::json::serialize(*id);
}

// Counts a relayed stream in mcpgate_proxy_open_streams while it lives.
struct counted_stream {
  counted_stream() { metrics::stream_opened(); }
  ~counted_stream() { metrics::stream_closed(); }
  counted_stream(const counted_stream&) = delete;
  counted_stream& operator=(const counted_stream&) = delete;
};

class relay_body final : public net::body_source {
 public:
  relay_body(std::shared_ptr<net::upstream_exchange> exchange, stream_slots::slot slot, relay_hooks hooks, bool filter,
             std::string prefix)
      : exchange_(std::move(exchange)),
        slot_(std::move(slot)),
        hooks_(std::move(hooks)),
        filter_(filter),
        splitter_(proxy::sse_default_max_event_bytes),
        current_(std::move(prefix)),
        prefix_pending_(!current_.empty()) {}

  asio::awaitable<piece> next() override {
    if (prefix_pending_) {  // what was read before the stream began
      prefix_pending_ = false;
      if (scanner_.feed(current_) && hooks_.list_changed) hooks_.list_changed();
      co_return piece{{}, current_};
    }
    if (!filter_) {
      auto reading = exchange_->read_some();
      auto got = co_await std::move(reading);
      if (!got.first && scanner_.feed(got.second) && hooks_.list_changed) hooks_.list_changed();
      co_return got;
    }
    for (;;) {
      if (!ready_.empty()) {
        current_ = std::move(ready_.front());
        ready_.pop_front();
        co_return piece{{}, current_};
      }
      if (ended_) co_return piece{};
      auto reading = exchange_->read_some();
      const auto [ec, bytes] = co_await std::move(reading);
      if (ec) co_return piece{ec, {}};
      if (bytes.empty()) {
        ended_ = true;
        // An event the upstream ended without its blank line is judged like
        // any other: a tools/list answer in it is filtered, never passed raw.
        if (std::string rest = splitter_.take_remainder(); !rest.empty()) {
          ready_.push_back(inspect_event(std::move(rest), hooks_, true, scanner_));
        }
        continue;
      }
      splitter_.feed(bytes);
      while (auto event = splitter_.next_event()) {
        ready_.push_back(inspect_event(std::move(*event), hooks_, true, scanner_));
      }
      if (splitter_.overflowed()) {
        exchange_->cancel();
        co_return piece{asio::error::message_size, {}};
      }
    }
  }

  void cancel() override { exchange_->cancel(); }

 private:
  counted_stream counted_;
  const std::shared_ptr<net::upstream_exchange> exchange_;
  const stream_slots::slot slot_;  // held while the stream is open
  const relay_hooks hooks_;
  const bool filter_;
  list_changed_scanner scanner_;
  proxy::sse_splitter splitter_;
  std::deque<std::string> ready_;
  std::string current_;
  bool prefix_pending_;
  bool ended_ = false;
};

}  // namespace

// A GET stream, or a 2026-07-28 subscriptions/listen answer. A pump reads
// the upstream into whole messages (one batch at a time: it reads again only
// once the agent has taken them); next() hands out those messages and,
// between two of them, the gateway's list_changed. A subscription stream's
// first message is the upstream's acknowledgement: nothing of the gateway's
// goes before it, and the subscription id it names goes into the notices.
class listen_body final : public net::body_source, public std::enable_shared_from_this<listen_body> {
 public:
  listen_body(std::shared_ptr<net::upstream_exchange> exchange, stream_slots::slot slot, relay_hooks hooks,
              const asio::any_io_executor& shard, const listen_framing& framing, std::string_view prefix)
      : exchange_(std::move(exchange)),
        slot_(std::move(slot)),
        hooks_(std::move(hooks)),
        shard_(shard),
        splitter_(framing.lines),
        subscription_(framing.subscription_id.has_value()),
        notice_(subscription_ ? splitter_.frame(subscription_notice(*framing.subscription_id)) : list_changed_event()),
        notices_open_(!subscription_),
        wake_(shard, asio::steady_timer::time_point::max()),
        drained_(shard, asio::steady_timer::time_point::max()) {
    take(prefix);  // what was read before the stream began
  }

  asio::awaitable<piece> next() override {
    if (!pumping_) {
      pumping_ = true;
      asio::co_spawn(shard_, pump(shared_from_this()), asio::detached);
    }
    for (;;) {
      if (!ready_.empty()) {
        current_ = std::move(ready_.front());
        ready_.pop_front();
        if (ready_.empty()) drained_.cancel();
        co_return piece{{}, current_};
      }
      if (inject_ && notices_open_) {
        inject_ = false;
        co_return piece{{}, notice_};
      }
      if (ended_) co_return piece{end_, {}};
      wake_.expires_at(asio::steady_timer::time_point::max());
      error_code ignored;
      auto waiting = wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      co_await std::move(waiting);
    }
  }

  void cancel() override {
    cancelled_ = true;
    exchange_->cancel();
    wake_.cancel();
    drained_.cancel();
  }

  // On the shard: list_changed_event goes out before the next upstream event.
  void inject() {
    if (ended_ || cancelled_) return;
    inject_ = true;
    wake_.cancel();
  }

  const asio::any_io_executor& shard() const { return shard_; }

 private:
  counted_stream counted_;
  static asio::awaitable<void> pump(std::shared_ptr<listen_body> self) {
    for (;;) {
      auto reading = self->exchange_->read_some();
      const auto [ec, bytes] = co_await std::move(reading);
      if (ec || bytes.empty() || self->cancelled_) {
        if (std::string rest = self->splitter_.take_remainder(); !rest.empty() && !ec) {
          self->ready_.push_back(self->splitter_.inspect(std::move(rest), self->hooks_, self->scanner_));
        }
        self->end_ = ec;
        self->ended_ = true;
        self->wake_.cancel();
        co_return;
      }
      self->take(bytes);
      if (self->splitter_.overflowed()) {
        self->exchange_->cancel();
        self->end_ = asio::error::message_size;
        self->ended_ = true;
        self->wake_.cancel();
        co_return;
      }
      if (self->ready_.empty()) continue;  // half an event so far
      self->wake_.cancel();
      // Backpressure: the next read waits until the agent took these events.
      while (!self->ready_.empty() && !self->cancelled_) {
        self->drained_.expires_at(asio::steady_timer::time_point::max());
        error_code ignored;
        auto waiting = self->drained_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        co_await std::move(waiting);
      }
    }
  }

  // Cuts `bytes` into messages, ready for next().
  void take(std::string_view bytes) {
    splitter_.feed(bytes);
    while (auto message = splitter_.next()) {
      learn_subscription(*message);
      ready_.push_back(splitter_.inspect(std::move(*message), hooks_, scanner_));
    }
  }

  // The first message of a subscription stream (keep-alives aside) opens it
  // to notices, with the id its acknowledgement names (else the listen
  // request's id).
  void learn_subscription(std::string_view message) {
    if (notices_open_) return;
    const std::string json = splitter_.json_of(message);
    if (json.find_first_not_of(" \t\r\n") == std::string::npos) return;  // a keep-alive
    if (auto id = acknowledged_subscription(json)) {
      notice_ = splitter_.frame(subscription_notice(*id));
    }
    notices_open_ = true;
  }

  const std::shared_ptr<net::upstream_exchange> exchange_;
  const stream_slots::slot slot_;
  const relay_hooks hooks_;
  const asio::any_io_executor shard_;
  list_changed_scanner scanner_;
  message_splitter splitter_;
  const bool subscription_;
  std::string notice_;          // what an approval change slips in
  bool notices_open_;           // false until a subscription stream's first message
  asio::steady_timer wake_;     // next() waits here for events, an injection or the end
  asio::steady_timer drained_;  // the pump waits here for next() to take its events
  std::deque<std::string> ready_;
  std::string current_;
  error_code end_;
  bool pumping_ = false;
  bool inject_ = false;
  bool ended_ = false;
  bool cancelled_ = false;
};

const std::string& list_changed_event() {
  static const std::string event = "event: message\ndata: {\"jsonrpc\":\"" + std::string(jsonrpc_version) +
                                   "\",\"method\":\"" + std::string(notification_tools_list_changed) + "\"}\n\n";
  return event;
}

bool list_changed_scanner::feed(std::string_view piece) {
  constexpr std::size_t keep = notification_tools_list_changed.size() - 1;
  bool found = false;
  if (!tail_.empty()) {
    // Only the straddling part: the tail plus the first bytes of the piece.
    std::string joint = tail_;
    joint.append(piece.substr(0, keep));
    found = joint.find(notification_tools_list_changed) != std::string::npos;
  }
  found = found || piece.find(notification_tools_list_changed) != std::string_view::npos;
  if (piece.size() >= keep) {
    tail_.assign(piece.substr(piece.size() - keep));
  } else {
    tail_.append(piece);
    if (tail_.size() > keep) tail_.erase(0, tail_.size() - keep);
  }
  return found;
}

void open_streams::add(const std::string& installation_id, const std::shared_ptr<listen_body>& stream) {
  std::lock_guard lock(mu_);
  auto& list = streams_[installation_id];
  std::erase_if(list, [](const std::weak_ptr<listen_body>& w) { return w.expired(); });
  list.push_back(stream);
}

void open_streams::tools_changed(const std::string& installation_id) {
  std::vector<std::shared_ptr<listen_body>> open;
  {
    std::lock_guard lock(mu_);
    const auto it = streams_.find(installation_id);
    if (it == streams_.end()) return;
    for (const auto& w : it->second) {
      if (auto s = w.lock()) open.push_back(std::move(s));
    }
    if (open.empty()) streams_.erase(it);
  }
  for (auto& s : open) {
    const auto shard = s->shard();
    asio::post(shard, [s = std::move(s)] { s->inject(); });
  }
}

std::shared_ptr<net::body_source> make_relay_body(std::shared_ptr<net::upstream_exchange> exchange,
                                                  stream_slots::slot slot, relay_hooks hooks, bool filter,
                                                  std::string prefix) {
  return std::make_shared<relay_body>(std::move(exchange), std::move(slot), std::move(hooks), filter,
                                      std::move(prefix));
}

std::shared_ptr<net::body_source> make_listen_body(
    std::shared_ptr<net::upstream_exchange> exchange, stream_slots::slot slot, relay_hooks hooks,
    const asio::any_io_executor& shard, open_streams& streams, const std::string& installation_id,
    const listen_framing& framing, std::string_view prefix) {
  auto body =
      std::make_shared<listen_body>(std::move(exchange), std::move(slot), std::move(hooks), shard, framing, prefix);
  streams.add(installation_id, body);
  return body;
}

}  // namespace mcpgate::proxy
