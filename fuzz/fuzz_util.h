#pragma once
// Shared helpers for the fuzz targets: a bounded input reader and chunk copies.
//
// Every chunk handed to a parser is copied into its own heap allocation of
// exactly its size (the idea of Zeek's src/fuzzers/FuzzBuffer.cc): a parser
// that reads one byte past the chunk it was given touches a redzone and ASan
// reports it, instead of silently reading the next chunk of the fuzz input.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace provaudit::fuzz {

// Reads the fuzz input front to back; every read is checked, short reads give
// what is left (never more).
class InputReader {
 public:
  InputReader(const std::uint8_t* data, std::size_t size) : p_(data), left_(size) {}

  [[nodiscard]] bool empty() const { return left_ == 0; }
  [[nodiscard]] std::size_t left() const { return left_; }

  std::uint8_t u8(std::uint8_t fallback = 0) {
    if (left_ == 0) return fallback;
    --left_;
    return *p_++;
  }
  std::uint16_t u16() {
    const std::uint16_t hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  std::uint32_t u32() {
    const std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  // Up to n bytes (fewer at the end of the input).
  std::span<const std::uint8_t> take(std::size_t n) {
    if (n > left_) n = left_;
    std::span<const std::uint8_t> s(p_, n);
    p_ += n;
    left_ -= n;
    return s;
  }
  std::span<const std::uint8_t> rest() { return take(left_); }

 private:
  const std::uint8_t* p_;
  std::size_t left_;
};

// One chunk in an allocation of exactly its size (see the header comment).
class HeapChunk {
 public:
  explicit HeapChunk(std::span<const std::uint8_t> bytes)
      : size_(bytes.size()), buf_(new std::uint8_t[bytes.empty() ? 1 : bytes.size()]) {
    if (!bytes.empty()) std::memcpy(buf_.get(), bytes.data(), bytes.size());
  }
  [[nodiscard]] std::span<const std::uint8_t> span() const { return {buf_.get(), size_}; }
  [[nodiscard]] const std::uint8_t* data() const { return buf_.get(); }
  [[nodiscard]] std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::unique_ptr<std::uint8_t[]> buf_;
};

// The stream-chunk format shared by the TLS and FlowAnalyzer targets and by
// their seed extractor (fuzz/extract_corpus.py): repeated
//   u8  control: bit 0 = side (0 client, 1 server), bit 1 = gap instead of bytes
//   u16 length (big-endian): bytes that follow, or the gap size
//   length bytes (data chunks only)
struct StreamChunk {
  bool server = false;
  bool gap = false;
  std::uint16_t length = 0;
  std::span<const std::uint8_t> bytes;
};

inline bool nextStreamChunk(InputReader& in, StreamChunk& out) {
  if (in.left() < 3) return false;
  const std::uint8_t control = in.u8();
  out.server = (control & 0x01) != 0;
  out.gap = (control & 0x02) != 0;
  out.length = in.u16();
  out.bytes = out.gap ? std::span<const std::uint8_t>{} : in.take(out.length);
  return true;
}

// The client-stream format of the HTTP/1.x and HTTP/2 targets: u8 chunking
// seed, u8 gap seed, then the stream. The stream is cut in chunks whose sizes
// come from a small PRNG seeded by the first byte (mostly a few bytes, that
// split tokens, integers and frame headers; sometimes a whole segment); when
// the gap seed is odd, some chunks are reported as gaps instead. `feed(span)`
// returns false to stop; `gap(n)` takes a gap.
template <typename Feed, typename Gap>
void feedClientStream(InputReader& in, Feed feed, Gap gap) {
  std::uint32_t rng = 0x9e3779b9U ^ in.u8();
  const std::uint8_t gap_seed = in.u8();
  while (!in.empty()) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    const std::size_t n = (rng & 0x100) != 0 ? 1 + (rng & 0x7) : 1 + (rng % 1460);
    const HeapChunk chunk(in.take(n));
    if ((gap_seed & 1) != 0 && (rng >> 24) < (gap_seed >> 1)) {
      gap(chunk.size());
      continue;
    }
    if (!feed(chunk.span())) break;
  }
}

}  // namespace provaudit::fuzz
