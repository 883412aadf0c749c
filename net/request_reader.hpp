// The HTTP/1.1 request reader: Beast's parser, writing one request straight
// into a connection's reusable storage, under the server's limits.
//
// Beast does the parsing. On top of it this reader refuses what Beast lets
// through but a gateway must not (RFC 9112):
//   - a Transfer-Encoding other than exactly "chunked" (section 6.3: a
//     request whose framing the server does not understand is 400, never
//     "no body", or its body would be read as the next request);
//   - more than one Host or Origin, a missing Host on HTTP/1.1 (section 3.2),
//     and header lines folded with obs-fold (section 5.2);
//   - chunk extensions or a trailer section that never end: the bytes the
//     parser holds without consuming them (a chunk-size line, a trailer) are
//     capped at max_header_bytes, and chunk extensions are counted against
//     the same limit, so memory stays bounded without a key (Beast applies
//     neither its header nor its body limit to them).
// Trailer fields are parsed and dropped.
//
// Thread-safety: one reader per request, used by one thread.
#pragma once

#include "net/http_types.hpp"

#include <boost/beast/http/basic_parser.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::net {

struct request_limits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;
};

// What a connection keeps from one request to the next, so that a request
// on a warm connection costs no allocation (Beast's basic_fields allocates
// per field): header names and values appended to one string, and where each
// one is in it.
struct request_storage {
  std::string text;
  std::vector<std::array<std::uint32_t, 4>> fields;
};

class request_reader final : public boost::beast::http::basic_parser<true> {
 public:
  // `req` and `storage` are cleared and reused; `req` is filled once the
  // header is complete (views into `storage.text`), its body as it arrives.
  request_reader(http_request& req, request_storage& storage, const request_limits& limits);

  // Parses what `buffered` holds and returns how many bytes it used (the
  // caller drops those). Stops when the header (or, with `whole_message`,
  // the whole request) is complete, or when it needs more bytes: then `ec`
  // is http::error::need_more. Any other error: the request is refused.
  // The body limit applies once the header is complete (see start_body()).
  std::size_t parse(std::string_view buffered, bool whole_message, boost::system::error_code& ec);

  // After the header: applies the body limit. body_limit when the declared
  // Content-Length is over it already (answered without reading the body).
  boost::system::error_code start_body();

  // The peer closed the connection: the request is complete only if it
  // needs no more bytes.
  boost::system::error_code finish_at_eof();

  unsigned version() const { return version_; }

 private:
  static bool has_obs_fold(std::string_view input);
  std::uint32_t add(std::string_view s);
  std::string_view view(std::uint32_t at, std::uint32_t size) const;

  void on_request_impl(boost::beast::http::verb, boost::beast::string_view method, boost::beast::string_view target,
                       int version, boost::system::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::system::error_code&) override {}
  void on_field_impl(boost::beast::http::field f, boost::beast::string_view name, boost::beast::string_view value,
                     boost::system::error_code& ec) override;
  void on_header_impl(boost::system::error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, boost::system::error_code&) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::system::error_code&) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view extensions,
                            boost::system::error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, boost::system::error_code&) override;
  void on_finish_impl(boost::system::error_code&) override {}

  http_request& req_;
  request_storage& storage_;
  const request_limits limits_;
  std::uint32_t method_ = 0, method_size_ = 0, target_ = 0, target_size_ = 0;
  unsigned version_ = 11;
  unsigned hosts_ = 0;
  unsigned origins_ = 0;
  unsigned transfer_encodings_ = 0;
  std::size_t extension_bytes_ = 0;
  bool header_complete_ = false;
};

}  // namespace mcpgate::net
