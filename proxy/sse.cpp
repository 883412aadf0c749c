#include "proxy/sse.hpp"

#include <utility>

namespace mcpgate::proxy {

sse_splitter::sse_splitter(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

void sse_splitter::feed(std::string_view piece) {
  if (overflowed_ || piece.empty()) return;
  // Drop what was handed out already; what moves is the tail not yet taken.
  if (head_ > 0) {
    buffer_.erase(0, head_);
    cut_ -= head_;
    scanned_ -= head_;
    for (std::size_t& end : ends_) end -= head_;
    head_ = 0;
  }
  buffer_.append(piece);
  scan();
}

void sse_splitter::scan() {
  const std::size_t size = buffer_.size();
  for (std::size_t i = scanned_; i < size && !overflowed_; ++i) {
    const char c = buffer_[i];
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n') continue;  // the second half of a "\r\n"
    }
    if (c != '\r' && c != '\n') {
      if (!in_event_) {
        // A field or comment line starts: blank lines before it leave alone.
        if (i > cut_) push_unit(i);
        in_event_ = true;
      }
      line_empty_ = false;
      continue;
    }
    if (c == '\r') after_cr_ = true;
    if (!line_empty_) {
      line_empty_ = true;  // a line ended
      continue;
    }
    if (!in_event_) continue;  // a blank line before any field
    // The blank line that ends the event.
    std::size_t end = i + 1;
    if (c == '\r' && end < size && buffer_[end] == '\n') {
      ++end;
      ++i;
      after_cr_ = false;
    }
    in_event_ = false;
    push_unit(end);
  }
  if (overflowed_) return;
  scanned_ = size;
  if (!in_event_) {
    if (size > cut_) push_unit(size);  // blank lines: nothing is held back
  } else if (size - cut_ > max_event_bytes_) {
    overflow();
  }
}

void sse_splitter::push_unit(std::size_t end) {
  if (end - cut_ > max_event_bytes_) {
    overflow();
    return;
  }
  ends_.push_back(end);
  cut_ = end;
}

void sse_splitter::overflow() {
  overflowed_ = true;
  std::string().swap(buffer_);
  ends_.clear();
  head_ = cut_ = scanned_ = 0;
}

std::optional<std::string> sse_splitter::next_event() {
  if (ends_.empty()) return std::nullopt;
  const std::size_t end = ends_.front();
  ends_.pop_front();
  std::string event = buffer_.substr(head_, end - head_);
  head_ = end;
  if (head_ == buffer_.size()) {  // all taken: start over without moving bytes
    buffer_.clear();
    head_ = cut_ = scanned_ = 0;
  }
  return event;
}

std::string sse_splitter::take_remainder() {
  std::string rest = buffer_.substr(head_);
  buffer_.clear();
  ends_.clear();
  head_ = cut_ = scanned_ = 0;
  in_event_ = false;
  line_empty_ = true;
  after_cr_ = false;
  return rest;
}

namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// One line of an event: its text and its line end ("" for a last line
// without one).
struct line {
  std::string_view text;
  std::string_view end;
};

// Reads the lines of `raw` one by one.
class line_reader {
 public:
  explicit line_reader(std::string_view raw) : raw_(raw) {}

  std::optional<line> next() {
    if (pos_ >= raw_.size()) return std::nullopt;
    const std::size_t stop = raw_.find_first_of("\r\n", pos_);
    if (stop == std::string_view::npos) {
      line l{raw_.substr(pos_), {}};
      pos_ = raw_.size();
      return l;
    }
    const std::size_t end_size = (raw_[stop] == '\r' && stop + 1 < raw_.size() && raw_[stop + 1] == '\n') ? 2 : 1;
    line l{raw_.substr(pos_, stop - pos_), raw_.substr(stop, end_size)};
    pos_ = stop + end_size;
    return l;
  }

 private:
  std::string_view raw_;
  std::size_t pos_ = 0;
};

struct field {
  std::string_view name;
  std::string_view value;
};

// A non-empty, non-comment line's field.
field parse_field(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return {text, {}};
  std::string_view value = text.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  return {text.substr(0, colon), value};
}

bool is_data_line(std::string_view text) {
  return !text.empty() && text.front() != ':' && parse_field(text).name == "data";
}

std::string_view without_bom(std::string_view raw) {
  if (raw.starts_with(utf8_bom)) raw.remove_prefix(utf8_bom.size());
  return raw;
}

void append_data_lines(std::string& out, std::string_view data, std::string_view eol) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t stop = data.find_first_of("\r\n", pos);
    const std::string_view part =
        data.substr(pos, stop == std::string_view::npos ? std::string_view::npos : stop - pos);
    out.append(part.empty() ? "data:" : "data: ");
    out.append(part);
    out.append(eol);
    if (stop == std::string_view::npos) return;
    pos = stop + ((data[stop] == '\r' && stop + 1 < data.size() && data[stop + 1] == '\n') ? 2 : 1);
  }
}

}  // namespace

std::string event_data(std::string_view raw_event) {
  std::string data;
  bool any = false;
  line_reader lines(without_bom(raw_event));
  while (const auto l = lines.next()) {
    if (!is_data_line(l->text)) continue;
    if (any) data.push_back('\n');
    data.append(parse_field(l->text).value);
    any = true;
  }
  return data;
}

std::string replace_event_data(std::string_view raw_event, std::string_view new_data) {
  std::string out;
  out.reserve(raw_event.size() + new_data.size() + 16);
  const std::string_view body = without_bom(raw_event);
  out.append(raw_event.substr(0, raw_event.size() - body.size()));

  // The line end the new lines use: the first data line's, else the event's
  // first one, else "\n".
  std::string_view eol;
  {
    line_reader lines(body);
    std::string_view first;
    while (const auto l = lines.next()) {
      if (first.empty()) first = l->end;
      if (is_data_line(l->text) && !l->end.empty()) {
        eol = l->end;
        break;
      }
    }
    if (eol.empty()) eol = first.empty() ? std::string_view("\n") : first;
  }

  bool inserted = false;
  bool seen_field = false;
  line_reader lines(body);
  while (const auto l = lines.next()) {
    if (is_data_line(l->text)) {
      if (!inserted) append_data_lines(out, new_data, eol);
      inserted = true;
      continue;
    }
    if (l->text.empty() && seen_field && !inserted) {
      // The blank line ending an event that had no data: the data goes first.
      append_data_lines(out, new_data, eol);
      inserted = true;
    }
    if (!l->text.empty()) seen_field = true;
    out.append(l->text);
    out.append(l->end);
  }
  if (!inserted) {
    if (!out.empty() && out.back() != '\n' && out.back() != '\r') out.append(eol);
    append_data_lines(out, new_data, eol);
  }
  return out;
}

}  // namespace mcpgate::proxy
