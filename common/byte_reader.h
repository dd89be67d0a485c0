#pragma once
// One bounded reader over packet bytes. Every read checks the remaining length
// and returns false instead of reading past the end; nothing here throws and
// nothing reinterprets packet bytes as structs.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace provaudit {

using Bytes = std::span<const std::uint8_t>;

class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(Bytes data) : data_(data) {}

  [[nodiscard]] std::size_t remaining() const { return data_.size() - pos_; }
  [[nodiscard]] bool empty() const { return remaining() == 0; }
  [[nodiscard]] std::size_t offset() const { return pos_; }
  [[nodiscard]] Bytes rest() const { return data_.subspan(pos_); }

  bool skip(std::size_t n) {
    if (n > remaining()) return false;
    pos_ += n;
    return true;
  }
  bool readU8(std::uint8_t& out) {
    if (remaining() < 1) return false;
    out = data_[pos_++];
    return true;
  }
  // Network byte order (big-endian) unless the name says otherwise.
  bool readU16(std::uint16_t& out) { return readBe(out, 2); }
  bool readU24(std::uint32_t& out) { return readBe(out, 3); }
  bool readU32(std::uint32_t& out) { return readBe(out, 4); }
  bool readU64(std::uint64_t& out) { return readBe(out, 8); }
  bool readU16Le(std::uint16_t& out) { return readLe(out, 2); }
  bool readU32Le(std::uint32_t& out) { return readLe(out, 4); }

  bool readBytes(std::size_t n, Bytes& out) {
    if (n > remaining()) return false;
    out = data_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  // Reads a length-prefixed vector (RFC 8446 §3.4 notation <0..2^8-1> etc.)
  // into a sub-reader that cannot see past the vector's end.
  bool readPrefixed8(ByteReader& out) { return readPrefixed(1, out); }
  bool readPrefixed16(ByteReader& out) { return readPrefixed(2, out); }
  bool readPrefixed24(ByteReader& out) { return readPrefixed(3, out); }

  bool peekU8(std::uint8_t& out) const {
    if (remaining() < 1) return false;
    out = data_[pos_];
    return true;
  }

 private:
  template <typename T>
  bool readBe(T& out, std::size_t n) {
    if (remaining() < n) return false;
    T v = 0;
    for (std::size_t i = 0; i < n; ++i) v = static_cast<T>((v << 8) | data_[pos_ + i]);
    pos_ += n;
    out = v;
    return true;
  }
  template <typename T>
  bool readLe(T& out, std::size_t n) {
    if (remaining() < n) return false;
    T v = 0;
    for (std::size_t i = n; i-- > 0;) v = static_cast<T>((v << 8) | data_[pos_ + i]);
    pos_ += n;
    out = v;
    return true;
  }
  bool readPrefixed(std::size_t width, ByteReader& out) {
    std::uint32_t len = 0;
    if (!readBe(len, width)) return false;
    Bytes body;
    if (!readBytes(len, body)) return false;
    out = ByteReader(body);
    return true;
  }

  Bytes data_{};
  std::size_t pos_ = 0;
};

inline std::string_view asText(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};  // bytes -> chars, same object representation
}

}  // namespace provaudit
