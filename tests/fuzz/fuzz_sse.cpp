// Fuzz target: SSE framing (proxy/sse.hpp): sse_splitter, event_data,
// replace_event_data.
//
// Input: byte 0 picks the splitter's max_event_bytes, byte 1 how the rest is
// cut into pieces (0: one piece; n: pieces of 1..n*8 bytes from a PRNG seeded
// with the whole input's hash), the rest is the stream. Oracles:
//   - lossless: the events next_event() returns, then take_remainder(), put
//     together are the stream byte for byte (unless overflowed());
//   - every unit is non-empty and at most max_event_bytes; a unit holding a
//     field or comment line ends with a line end;
//   - overflowed() only once a unit really was over the limit;
//   - replace_event_data(e, event_data(e)) keeps event_data the same, and
//     replace_event_data(e, d) carries d (line breaks as "\n") for any d.
#include "proxy/sse.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace proxy = mcpgate::proxy;

// `data` with "\r\n" and "\r" as "\n": what survives a trip through SSE
// data lines.
std::string lines_joined(std::string_view data) {
  std::string out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
    } else {
      out.push_back(data[i]);
    }
  }
  return out;
}

void check_event_rewrite(std::string_view raw, std::string_view other_data) {
  const std::string data = proxy::event_data(raw);
  FUZZ_CHECK(proxy::event_data(proxy::replace_event_data(raw, data)) == data);
  FUZZ_CHECK(proxy::event_data(proxy::replace_event_data(raw, other_data)) == lines_joined(other_data));
}

bool is_line_end(char c) { return c == '\r' || c == '\n'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static constexpr std::size_t limits[] = {1, 2, 7, 16, 64, 256, 4096, proxy::sse_default_max_event_bytes};
  const std::size_t max_event = limits[data[0] % std::size(limits)];
  const unsigned piece_scale = data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  proxy::sse_splitter splitter(max_event);
  mcpgate::fuzz::splitmix pieces(mcpgate::fuzz::fnv1a(stream, piece_scale));
  std::string out;
  std::vector<std::string> units;
  std::size_t fed = 0;
  while (fed < stream.size() && !splitter.overflowed()) {
    std::size_t n = stream.size() - fed;
    if (piece_scale != 0) n = std::min<std::size_t>(n, 1 + pieces.next() % (piece_scale * 8u));
    splitter.feed(stream.substr(fed, n));
    fed += n;
    while (auto event = splitter.next_event()) {
      FUZZ_CHECK(!event->empty());
      FUZZ_CHECK(event->size() <= max_event);
      out += *event;
      units.push_back(std::move(*event));
    }
  }
  if (splitter.overflowed()) {
    // Only an input with more than max_event bytes can overflow it.
    FUZZ_CHECK(stream.size() > max_event);
    FUZZ_CHECK(!splitter.next_event().has_value());
    return 0;
  }
  const std::string rest = splitter.take_remainder();
  FUZZ_CHECK(out.size() + rest.size() == stream.size());
  FUZZ_CHECK(out + rest == stream);

  for (const std::string& unit : units) {
    const bool has_field = unit.find_first_not_of("\r\n") != std::string::npos;
    if (has_field) FUZZ_CHECK(is_line_end(unit.back()));
    check_event_rewrite(unit, stream.substr(0, std::min<std::size_t>(stream.size(), 64)));
  }
  if (!rest.empty()) check_event_rewrite(rest, "a\r\nb\rc\n\nd");
  return 0;
}
