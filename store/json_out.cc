#include "store/json_out.h"

#include <cstring>

#include "common/text.h"

namespace provaudit::store {

namespace {

// Whether any of the eight bytes at `p` is below 0x20, '"' or '\\' (the
// classic tests for a zero byte and for a byte below n <= 128, on a word).
bool needsEscape8(const char* p) {
  constexpr std::uint64_t ONES = 0x0101010101010101ULL, HIGHS = 0x8080808080808080ULL;
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  const auto zeroByte = [](std::uint64_t v) { return (v - ONES) & ~v & HIGHS; };
  return (((w - ONES * 0x20) & ~w & HIGHS) | zeroByte(w ^ (ONES * '"')) | zeroByte(w ^ (ONES * '\\'))) != 0;
}

}  // namespace

void JsonOut::separate() {
  if (out_.size() == start_) return;
  const char last = out_.back();
  if (last != '{' && last != '[' && last != ':') out_ += ',';
}

JsonOut& JsonOut::open(char c) {
  separate();
  out_ += c;
  return *this;
}

JsonOut& JsonOut::close(char c) {
  out_ += c;
  return *this;
}

JsonOut& JsonOut::key(Key k) {
  separate();
  out_ += '"';
  out_.append(k.text());
  out_.append("\":", 2);
  return *this;
}

JsonOut& JsonOut::str(std::string_view s) {
  // RFC 8259 §7, as boost::json writes it: the two-character escapes where
  // there is one, \u00xx (lowercase) for the other control characters.
  static constexpr char HEX[] = "0123456789abcdef";
  separate();
  out_ += '"';
  std::size_t plain = 0;  // start of the run not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    // Eight bytes at a time while none needs escaping (most text).
    while (i + 8 <= s.size() && !needsEscape8(s.data() + i)) i += 8;
    if (i == s.size()) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out_.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\b':
        out_ += "\\b";
        break;
      case '\t':
        out_ += "\\t";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\f':
        out_ += "\\f";
        break;
      case '\r':
        out_ += "\\r";
        break;
      default:
        out_ += "\\u00";
        out_ += HEX[c >> 4];
        out_ += HEX[c & 15];
    }
  }
  out_.append(s.data() + plain, s.size() - plain);
  out_ += '"';
  return *this;
}

JsonOut& JsonOut::str(const std::optional<std::string>& s) { return s ? str(std::string_view(*s)) : null(); }

JsonOut& JsonOut::num(std::uint64_t v) {
  separate();
  appendDecimal(out_, v);
  return *this;
}

JsonOut& JsonOut::num(std::int64_t v) {
  separate();
  if (v < 0) {
    out_ += '-';
    appendDecimal(out_, static_cast<std::uint64_t>(-(v + 1)) + 1);  // the magnitude, INT64_MIN's too
  } else {
    appendDecimal(out_, static_cast<std::uint64_t>(v));
  }
  return *this;
}

JsonOut& JsonOut::boolean(bool v) {
  separate();
  out_ += v ? "true" : "false";
  return *this;
}

JsonOut& JsonOut::null() {
  separate();
  out_ += "null";
  return *this;
}

JsonOut& JsonOut::strArray(const std::vector<std::string>& v) {
  beginArray();
  for (const auto& s : v) str(std::string_view(s));
  return endArray();
}

}  // namespace provaudit::store
