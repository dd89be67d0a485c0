#include "common/text.h"

namespace provaudit {
namespace {

void appendEscapedByte(std::string& out, unsigned char c) {
  static constexpr char DIGITS[] = "0123456789abcdef";
  out += "\\x";
  out.push_back(DIGITS[c >> 4]);
  out.push_back(DIGITS[c & 0x0f]);
}

}  // namespace

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629 §4:
// no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
std::size_t utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

// Valid UTF-8 is kept as is; every byte that does not start a valid
// sequence becomes \xNN.
std::string visibleUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8SequenceLength(s, i);
    if (n == 0) {
      appendEscapedByte(out, static_cast<unsigned char>(s[i]));
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string terminalText(std::string_view s) {
  constexpr unsigned char DEL = 0x7f;
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = utf8SequenceLength(s, i);
    if (n == 0 || c < ' ' || c == DEL) {
      appendEscapedByte(out, c);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

namespace {
constexpr char HEX_DIGITS[] = "0123456789abcdef";
constexpr unsigned NIBBLE_BITS = 4;
constexpr unsigned NIBBLE_MASK = 0xF;
}  // namespace

void appendHexLower(std::string& out, std::span<const std::uint8_t> bytes) {
  for (const std::uint8_t b : bytes) {
    out.push_back(HEX_DIGITS[b >> NIBBLE_BITS]);
    out.push_back(HEX_DIGITS[b & NIBBLE_MASK]);
  }
}

std::string hexLower(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  appendHexLower(out, bytes);
  return out;
}

void appendHexLower(std::string& out, std::uint64_t v, int digits) {
  for (int i = digits - 1; i >= 0; --i) out.push_back(HEX_DIGITS[(v >> (NIBBLE_BITS * static_cast<unsigned>(i))) & NIBBLE_MASK]);
}

void appendDecimal(std::string& out, std::uint64_t v, int width) {
  char digits[20];  // UINT64_MAX has 20
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (int i = n; i < width; ++i) out += '0';
  while (n > 0) out += digits[--n];
}

std::string hex32(std::uint32_t v) {
  constexpr int DIGITS_32 = 8;
  std::string s = "0x";
  appendHexLower(s, v, DIGITS_32);
  return s;
}

std::string counted(std::uint64_t n, std::string_view one, std::string_view many) {
  std::string out;
  appendDecimal(out, n);
  out += ' ';
  out += n == 1 ? one : many;
  return out;
}

}  // namespace provaudit
