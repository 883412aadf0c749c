// The request reader driven as the server drives it: bytes arrive in pieces
// cut anywhere, what the parser used is dropped and the rest moved before
// the next read (as flat_buffer does), and the gateway's own rules hold
// whatever the cut: Transfer-Encoding exactly "chunked", one Host and one
// Origin, no obs-fold, chunk lines and trailers capped at the header limit.
#include "net/request_reader.hpp"

#include <boost/beast/http/error.hpp>
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace mcpgate::net;
namespace net = mcpgate::net;
namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

struct read_outcome {
  error_code ec;
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::size_t most_held = 0;  // the most bytes held unconsumed at once
};

// Feeds `wire` in pieces of `piece` bytes. Unconsumed bytes live in a fresh
// allocation after every parse(), so a reader that kept a pointer into an
// earlier one reads freed memory (AddressSanitizer says so).
read_outcome read(std::string_view wire, std::size_t piece, request_limits limits = {2048, 4096}) {
  read_outcome out;
  net::http_request req;
  request_storage storage;
  request_reader reader(req, storage, limits);
  auto held = std::make_unique<std::string>();
  std::size_t at = 0;
  bool header = true;
  for (;;) {
    const std::size_t used = reader.parse(*held, !header, out.ec);
    held = std::make_unique<std::string>(held->substr(used));
    out.most_held = std::max(out.most_held, held->size());
    if (!out.ec && header) {
      header = false;
      out.ec = reader.start_body();
      if (out.ec) break;
      if (reader.is_done()) break;
      continue;
    }
    if (out.ec != http::error::need_more) break;
    if (at >= wire.size()) {
      out.ec = reader.finish_at_eof();
      break;
    }
    held->append(wire.substr(at, piece));
    at += piece;
  }
  out.method = std::string(req.method);
  out.target = std::string(req.target);
  for (const auto& [name, value] : req.headers) out.headers.emplace_back(name, value);
  out.body = req.body;
  return out;
}

const std::string get_healthz = "GET /healthz HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nX-Two: two\r\n\r\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(request_reader_rules)

// The header in many reads, the buffer moved in between (found by
// tests/fuzz: the obs-fold check read through a stale pointer).
BOOST_AUTO_TEST_CASE(a_header_in_many_reads_is_read_whole) {
  for (std::size_t piece = 1; piece <= get_healthz.size(); ++piece) {
    const read_outcome o = read(get_healthz, piece);
    BOOST_TEST_CONTEXT("pieces of " << piece) {
      BOOST_TEST(!o.ec, o.ec.message());
      BOOST_TEST(o.method == "GET");
      BOOST_TEST(o.target == "/healthz");
      BOOST_TEST_REQUIRE(o.headers.size() == 3u);
      BOOST_TEST(o.headers[2].second == "two");
    }
  }
}

BOOST_AUTO_TEST_CASE(obs_fold_is_refused_however_it_is_cut) {
  const std::string folded = "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n";
  for (std::size_t piece = 1; piece <= folded.size(); ++piece) {
    BOOST_TEST((read(folded, piece).ec == http::error::bad_value), piece);
  }
  BOOST_TEST((read("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\tb\r\n\r\n", 7).ec == http::error::bad_value));
}

BOOST_AUTO_TEST_CASE(transfer_encoding_must_be_exactly_chunked) {
  for (const char* te : {"xchunked", "identity", "chunked, identity", "gzip, chunked", "chunked;x"}) {
    const std::string wire = std::string("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ") + te +
                             "\r\n\r\n0\r\n\r\n";
    BOOST_TEST((read(wire, 5).ec == http::error::bad_transfer_encoding), te);
  }
  const std::string twice =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  BOOST_TEST((read(twice, 5).ec == http::error::bad_transfer_encoding));
  const read_outcome ok =
      read("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED \r\n\r\n3\r\nabc\r\n0\r\n\r\n", 4);
  BOOST_TEST(!ok.ec, ok.ec.message());
  BOOST_TEST(ok.body == "abc");
}

BOOST_AUTO_TEST_CASE(one_host_one_origin_and_a_host_on_http_1_1) {
  BOOST_TEST((read("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 3).ec == http::error::bad_field));
  BOOST_TEST((read("GET / HTTP/1.1\r\nHost: a\r\nOrigin: x\r\norigin: y\r\n\r\n", 3).ec == http::error::bad_field));
  BOOST_TEST((read("GET / HTTP/1.1\r\n\r\n", 3).ec == http::error::bad_field));
  BOOST_TEST(!read("GET / HTTP/1.0\r\n\r\n", 3).ec);
}

BOOST_AUTO_TEST_CASE(chunk_extensions_and_trailers_are_capped_at_the_header_limit) {
  // One chunk-size line that never ends.
  const std::string endless = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;" +
                              std::string(10000, 'e');
  const read_outcome line = read(endless, 512);
  BOOST_TEST((line.ec == http::error::header_limit), line.ec.message());
  BOOST_TEST(line.most_held <= 2048u + 512u);
  // Many chunks, each with a short extension: counted over the whole body.
  std::string many = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 200; ++i) many += "1;ext=" + std::string(20, 'x') + "\r\nz\r\n";
  many += "0\r\n\r\n";
  BOOST_TEST((read(many, 256).ec == http::error::header_limit));
  // A trailer section that never ends.
  std::string trailer = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n";
  for (int i = 0; i < 500; ++i) trailer += "T" + std::to_string(i) + ": v\r\n";
  const read_outcome t = read(trailer, 300);
  BOOST_TEST((t.ec == http::error::header_limit), t.ec.message());
  BOOST_TEST(t.most_held <= 2048u + 300u);
  // A short trailer is read and dropped.
  const read_outcome fine =
      read("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nT: v\r\n\r\n", 3);
  BOOST_TEST(!fine.ec, fine.ec.message());
  BOOST_TEST(fine.body == "z");
  BOOST_TEST(fine.headers.size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_declared_body_over_the_limit_is_refused_before_it_is_read) {
  const read_outcome o = read("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 64);
  BOOST_TEST((o.ec == http::error::body_limit));
  BOOST_TEST(o.body.capacity() <= 4096u);
}

BOOST_AUTO_TEST_SUITE_END()
