// Fuzz target: the HTTP request reader (net/request_reader.hpp) under the
// server's limits, driven exactly as daemon/http_server.cpp's
// connection::run() and read_request() drive it: one connection, requests one
// after another while they keep the connection alive, the bytes arriving in
// pieces into a buffer whose unconsumed tail the driver keeps.
//
// Input: byte 0 says how the rest is cut into pieces (0: one piece; n: pieces
// of 1..n*40 bytes from a PRNG seeded with the input's hash), the rest is
// what the client sends. Oracles:
//   - memory stays bounded: the unconsumed bytes never exceed
//     max_header_bytes plus the largest piece appended, and the body never
//     exceeds max_body_bytes;
//   - an accepted header (read without error) has at most one Host, at most
//     one Origin, a Host when the version is 1.1, no Transfer-Encoding other
//     than one "chunked" (case-insensitive, trimmed), not both
//     Content-Length and Transfer-Encoding, no line break in a name or value;
//   - a request read whole has the body its Content-Length announced.
#include "net/http_types.hpp"
#include "net/request_reader.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/beast/http/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace http = boost::beast::http;
namespace net = mcpgate::net;
using boost::system::error_code;

constexpr net::request_limits limits{2048, 8192};

// The client's bytes, handed out piece by piece.
class client {
 public:
  client(std::string_view bytes, unsigned scale)
      : bytes_(bytes), scale_(scale), prng_(mcpgate::fuzz::fnv1a(bytes, scale)) {}

  // The next piece; nullopt at the end (the client closed).
  std::optional<std::string_view> read_some() {
    if (at_ == bytes_.size()) return std::nullopt;
    std::size_t n = bytes_.size() - at_;
    if (scale_ != 0) n = std::min<std::size_t>(n, 1 + prng_.next() % (scale_ * 40u));
    const std::string_view piece = bytes_.substr(at_, n);
    at_ += n;
    largest_ = std::max(largest_, n);
    return piece;
  }

  std::size_t largest_piece() const { return largest_; }

 private:
  std::string_view bytes_;
  unsigned scale_;
  mcpgate::fuzz::splitmix prng_;
  std::size_t at_ = 0;
  std::size_t largest_ = 0;
};

// The connection's read buffer: the bytes received and not yet used.
class read_buffer {
 public:
  // What the server's flat_buffer does too: bytes the parser used are
  // dropped and the rest moved after every parse().
  explicit read_buffer(std::size_t) {}

  std::string_view data() const { return std::string_view(bytes_).substr(begin_); }
  std::size_t size() const { return bytes_.size() - begin_; }
  bool empty() const { return size() == 0; }
  void append(std::string_view piece) { bytes_.append(piece); }

  // flat_buffer::consume(), then the move prepare() makes before a read.
  void consume(std::size_t n) {
    begin_ += n;
    compact();
  }

  // A request is over: nothing points into its bytes any more.
  void compact() {
    bytes_.erase(0, begin_);
    begin_ = 0;
  }

 private:
  std::string bytes_;
  std::size_t begin_ = 0;
};

std::string_view trimmed(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

void check_bounds(const read_buffer& buffer, const client& peer, const net::http_request& req) {
  FUZZ_CHECK(buffer.size() <= limits.max_header_bytes + peer.largest_piece());
  FUZZ_CHECK(req.body.size() <= limits.max_body_bytes);
}

// connection::read_request(): parse what is buffered, drop what was used,
// read more while the parser needs it; the peer closing ends the message.
error_code read_request(net::request_reader& parser, read_buffer& buffer, client& peer, const net::http_request& req,
                        bool whole_message) {
  error_code ec;
  for (;;) {
    const std::size_t used = parser.parse(buffer.data(), whole_message, ec);
    FUZZ_CHECK(used <= buffer.size());
    buffer.consume(used);
    check_bounds(buffer, peer, req);
    if (ec != http::error::need_more) return ec;
    const auto piece = peer.read_some();
    if (!piece) return parser.finish_at_eof();
    buffer.append(*piece);
    check_bounds(buffer, peer, req);
  }
}

// The header the reader accepted.
void check_header(const net::http_request& req, unsigned version) {
  unsigned hosts = 0, origins = 0, transfer_encodings = 0, content_lengths = 0;
  FUZZ_CHECK(!req.method.empty());
  FUZZ_CHECK(!req.target.empty());
  for (const auto& [name, value] : req.headers) {
    FUZZ_CHECK(!name.empty());
    FUZZ_CHECK(name.find_first_of("\r\n") == std::string_view::npos);
    FUZZ_CHECK(value.find_first_of("\r\n") == std::string_view::npos);
    if (net::iequals(name, "Host")) ++hosts;
    if (net::iequals(name, "Origin")) ++origins;
    if (net::iequals(name, "Content-Length")) ++content_lengths;
    if (net::iequals(name, "Transfer-Encoding")) {
      ++transfer_encodings;
      FUZZ_CHECK(net::iequals(trimmed(value), "chunked"));
    }
  }
  FUZZ_CHECK(hosts <= 1);
  FUZZ_CHECK(origins <= 1);
  FUZZ_CHECK(transfer_encodings <= 1);
  FUZZ_CHECK(transfer_encodings == 0 || content_lengths == 0);  // no smuggling by framing
  if (version == 11) FUZZ_CHECK(hosts == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  client peer(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), data[0]);

  // connection::run(): what a connection keeps from one request to the next.
  read_buffer buffer(size);
  net::http_request req;
  net::request_storage storage;
  for (;;) {
    buffer.compact();
    if (buffer.empty()) {
      const auto piece = peer.read_some();
      if (!piece) break;  // the client closed between requests
      buffer.append(*piece);
    }
    net::request_reader parser(req, storage, limits);
    error_code ec = read_request(parser, buffer, peer, req, false);
    const bool header_accepted = !ec;
    if (header_accepted) {
      FUZZ_CHECK(parser.is_header_done());
      check_header(req, parser.version());
      ec = parser.start_body();  // over the limit by its Content-Length: not read
    }
    // No admit() here: an "Expect: 100-continue" request gets its go-ahead.
    if (!ec && !parser.is_done()) ec = read_request(parser, buffer, peer, req, true);
    if (header_accepted) check_header(req, parser.version());  // the views are still good
    if (ec) break;                                             // refused (or cut short): the connection closes

    FUZZ_CHECK(parser.is_done());
    FUZZ_CHECK(req.body.size() <= limits.max_body_bytes);
    if (const auto length = parser.content_length(); length && !parser.chunked()) {
      FUZZ_CHECK(req.body.size() == *length);
    }
    if (!parser.keep_alive()) break;
  }
  return 0;
}
