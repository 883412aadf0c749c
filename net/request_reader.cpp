#include "net/request_reader.hpp"

#include "common/text.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace mcpgate::net {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

request_reader::request_reader(http_request& req, request_storage& storage, const request_limits& limits)
    : req_(req), storage_(storage), limits_(limits) {
  storage_.text.clear();
  storage_.fields.clear();
  req_.headers.clear();
  req_.body.clear();
  req_.method = req_.target = {};
  header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_bytes, UINT32_MAX)));
  // The body limit is applied after the header (start_body()), so that the
  // refusal knows the target (each route family has its own error body).
  body_limit(boost::none);
}

// obs-fold: a line break followed by a space or tab, in the header part of
// `input` (up to its blank line). Beast joins folded lines into one value, so
// the raw bytes are looked at; it consumes a field only once it has seen the
// byte after the field's line break, so every fold is inside the input of
// some put() while the header is read.
bool request_reader::has_obs_fold(std::string_view input) {
  const std::size_t end = input.find("\r\n\r\n");
  const std::string_view head = input.substr(0, end == std::string_view::npos ? input.size() : end + 2);
  for (std::size_t at = head.find('\n'); at != std::string_view::npos; at = head.find('\n', at + 1)) {
    if (at + 1 < head.size() && (head[at + 1] == ' ' || head[at + 1] == '\t')) return true;
  }
  return false;
}

std::size_t request_reader::parse(std::string_view buffered, bool whole_message, error_code& ec) {
  const auto done = [&] { return whole_message ? is_done() : is_header_done(); };
  std::size_t used = 0;
  ec = {};
  while (used < buffered.size()) {
    const std::string_view rest = buffered.substr(used);
    if (!is_header_done() && has_obs_fold(rest)) {
      ec = http::error::bad_value;
      return used;
    }
    const std::size_t n = put(boost::asio::const_buffer(rest.data(), rest.size()), ec);
    used += n;
    if (ec == http::error::need_more) break;
    if (ec || done()) return used;
    if (n == 0) break;
  }
  if (done()) {
    ec = {};
    return used;
  }
  // The parser wants more bytes. Past the header, what it has not consumed
  // is an unfinished chunk-size line or trailer section (body bytes are
  // consumed as they come): capped like a header.
  if (is_header_done() && buffered.size() - used >= limits_.max_header_bytes) {
    ec = http::error::header_limit;
    return used;
  }
  ec = http::error::need_more;
  return used;
}

error_code request_reader::start_body() {
  body_limit(limits_.max_body_bytes);
  eager(true);
  const auto length = content_length();
  if (length && *length > limits_.max_body_bytes) return http::error::body_limit;
  return {};
}

error_code request_reader::finish_at_eof() {
  error_code ec;
  put_eof(ec);
  if (ec) return ec;
  return is_done() ? error_code{} : error_code(http::error::partial_message);
}

std::uint32_t request_reader::add(std::string_view s) {
  const auto at = static_cast<std::uint32_t>(storage_.text.size());
  storage_.text.append(s);
  return at;
}

std::string_view request_reader::view(std::uint32_t at, std::uint32_t size) const {
  return {storage_.text.data() + at, size};
}

void request_reader::on_request_impl(http::verb, beast::string_view method, beast::string_view target, int version,
                                     error_code&) {
  method_ = add(method);
  method_size_ = static_cast<std::uint32_t>(method.size());
  target_ = add(target);
  target_size_ = static_cast<std::uint32_t>(target.size());
  version_ = static_cast<unsigned>(version);
}

void request_reader::on_field_impl(http::field f, beast::string_view name, beast::string_view value, error_code& ec) {
  if (header_complete_) return;  // a trailer field: parsed, not kept
  switch (f) {
    case http::field::host:
      if (++hosts_ > 1) ec = http::error::bad_field;
      break;
    case http::field::origin:
      if (++origins_ > 1) ec = http::error::bad_field;
      break;
    case http::field::transfer_encoding: {
      // Exactly one field, exactly "chunked": nothing else has a meaning
      // this server implements.
      std::string_view v(value.data(), value.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      if (++transfer_encodings_ > 1 || !ascii_iequals(v, "chunked")) ec = http::error::bad_transfer_encoding;
      break;
    }
    default: break;
  }
  if (ec) return;
  const std::uint32_t n = add(name);
  const std::uint32_t v = add(value);
  storage_.fields.push_back({n, static_cast<std::uint32_t>(name.size()), v, static_cast<std::uint32_t>(value.size())});
}

void request_reader::on_header_impl(error_code& ec) {
  header_complete_ = true;
  if (version_ >= 11 && hosts_ == 0) {
    ec = http::error::bad_field;
    return;
  }
  // `text` has stopped growing (trailer fields are not kept): the views can
  // be taken now.
  req_.method = view(method_, method_size_);
  req_.target = view(target_, target_size_);
  for (const auto& f : storage_.fields) req_.headers.emplace_back(view(f[0], f[1]), view(f[2], f[3]));
}

void request_reader::on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) {
  if (length) req_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, limits_.max_body_bytes)));
}

std::size_t request_reader::on_body_impl(beast::string_view body, error_code&) {
  req_.body.append(body.data(), body.size());
  return body.size();
}

void request_reader::on_chunk_header_impl(std::uint64_t, beast::string_view extensions, error_code& ec) {
  extension_bytes_ += extensions.size();
  if (extension_bytes_ > limits_.max_header_bytes) ec = http::error::header_limit;
}

std::size_t request_reader::on_chunk_body_impl(std::uint64_t, beast::string_view body, error_code&) {
  req_.body.append(body.data(), body.size());
  return body.size();
}

}  // namespace mcpgate::net
