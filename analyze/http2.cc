// HTTP/2 client-side reader (RFC 9113 §3.4 preface, §4 frames, §6.2 HEADERS,
// §6.10 CONTINUATION, §8.3 request pseudo-header fields) and the HPACK decoder
// (RFC 7541: §2.3 tables, §4 dynamic table management, §5 integer and string
// representations, §6 field representations, Appendix A static table,
// Appendix B Huffman code).
#include "analyze/http2.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "common/byte_reader.h"

namespace provaudit::analyze {
namespace {

// ---- RFC 7541 Appendix B: the Huffman code, {code (aligned to its least
// significant bit), length in bits} for symbols 0-255 and EOS (256). ----
struct HuffmanCode {
  std::uint32_t code;
  std::uint8_t bits;
};
constexpr std::size_t HUFFMAN_SYMBOLS = 257;
constexpr std::uint16_t HUFFMAN_EOS = 256;
constexpr std::array<HuffmanCode, HUFFMAN_SYMBOLS> HUFFMAN_CODES = {{
    {0x1ff8, 13}, {0x7fffd8, 23}, {0xfffffe2, 28}, {0xfffffe3, 28},  // 0-3
    {0xfffffe4, 28}, {0xfffffe5, 28}, {0xfffffe6, 28}, {0xfffffe7, 28},  // 4-7
    {0xfffffe8, 28}, {0xffffea, 24}, {0x3ffffffc, 30}, {0xfffffe9, 28},  // 8-11
    {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28}, {0xfffffec, 28},  // 12-15
    {0xfffffed, 28}, {0xfffffee, 28}, {0xfffffef, 28}, {0xffffff0, 28},  // 16-19
    {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28},  // 20-23
    {0xffffff4, 28}, {0xffffff5, 28}, {0xffffff6, 28}, {0xffffff7, 28},  // 24-27
    {0xffffff8, 28}, {0xffffff9, 28}, {0xffffffa, 28}, {0xffffffb, 28},  // 28-31
    {0x14, 6}, {0x3f8, 10}, {0x3f9, 10}, {0xffa, 12},  // 32-35
    {0x1ff9, 13}, {0x15, 6}, {0xf8, 8}, {0x7fa, 11},  // 36-39
    {0x3fa, 10}, {0x3fb, 10}, {0xf9, 8}, {0x7fb, 11},  // 40-43
    {0xfa, 8}, {0x16, 6}, {0x17, 6}, {0x18, 6},  // 44-47
    {0x0, 5}, {0x1, 5}, {0x2, 5}, {0x19, 6},  // 48-51
    {0x1a, 6}, {0x1b, 6}, {0x1c, 6}, {0x1d, 6},  // 52-55
    {0x1e, 6}, {0x1f, 6}, {0x5c, 7}, {0xfb, 8},  // 56-59
    {0x7ffc, 15}, {0x20, 6}, {0xffb, 12}, {0x3fc, 10},  // 60-63
    {0x1ffa, 13}, {0x21, 6}, {0x5d, 7}, {0x5e, 7},  // 64-67
    {0x5f, 7}, {0x60, 7}, {0x61, 7}, {0x62, 7},  // 68-71
    {0x63, 7}, {0x64, 7}, {0x65, 7}, {0x66, 7},  // 72-75
    {0x67, 7}, {0x68, 7}, {0x69, 7}, {0x6a, 7},  // 76-79
    {0x6b, 7}, {0x6c, 7}, {0x6d, 7}, {0x6e, 7},  // 80-83
    {0x6f, 7}, {0x70, 7}, {0x71, 7}, {0x72, 7},  // 84-87
    {0xfc, 8}, {0x73, 7}, {0xfd, 8}, {0x1ffb, 13},  // 88-91
    {0x7fff0, 19}, {0x1ffc, 13}, {0x3ffc, 14}, {0x22, 6},  // 92-95
    {0x7ffd, 15}, {0x3, 5}, {0x23, 6}, {0x4, 5},  // 96-99
    {0x24, 6}, {0x5, 5}, {0x25, 6}, {0x26, 6},  // 100-103
    {0x27, 6}, {0x6, 5}, {0x74, 7}, {0x75, 7},  // 104-107
    {0x28, 6}, {0x29, 6}, {0x2a, 6}, {0x7, 5},  // 108-111
    {0x2b, 6}, {0x76, 7}, {0x2c, 6}, {0x8, 5},  // 112-115
    {0x9, 5}, {0x2d, 6}, {0x77, 7}, {0x78, 7},  // 116-119
    {0x79, 7}, {0x7a, 7}, {0x7b, 7}, {0x7ffe, 15},  // 120-123
    {0x7fc, 11}, {0x3ffd, 14}, {0x1ffd, 13}, {0xffffffc, 28},  // 124-127
    {0xfffe6, 20}, {0x3fffd2, 22}, {0xfffe7, 20}, {0xfffe8, 20},  // 128-131
    {0x3fffd3, 22}, {0x3fffd4, 22}, {0x3fffd5, 22}, {0x7fffd9, 23},  // 132-135
    {0x3fffd6, 22}, {0x7fffda, 23}, {0x7fffdb, 23}, {0x7fffdc, 23},  // 136-139
    {0x7fffdd, 23}, {0x7fffde, 23}, {0xffffeb, 24}, {0x7fffdf, 23},  // 140-143
    {0xffffec, 24}, {0xffffed, 24}, {0x3fffd7, 22}, {0x7fffe0, 23},  // 144-147
    {0xffffee, 24}, {0x7fffe1, 23}, {0x7fffe2, 23}, {0x7fffe3, 23},  // 148-151
    {0x7fffe4, 23}, {0x1fffdc, 21}, {0x3fffd8, 22}, {0x7fffe5, 23},  // 152-155
    {0x3fffd9, 22}, {0x7fffe6, 23}, {0x7fffe7, 23}, {0xffffef, 24},  // 156-159
    {0x3fffda, 22}, {0x1fffdd, 21}, {0xfffe9, 20}, {0x3fffdb, 22},  // 160-163
    {0x3fffdc, 22}, {0x7fffe8, 23}, {0x7fffe9, 23}, {0x1fffde, 21},  // 164-167
    {0x7fffea, 23}, {0x3fffdd, 22}, {0x3fffde, 22}, {0xfffff0, 24},  // 168-171
    {0x1fffdf, 21}, {0x3fffdf, 22}, {0x7fffeb, 23}, {0x7fffec, 23},  // 172-175
    {0x1fffe0, 21}, {0x1fffe1, 21}, {0x3fffe0, 22}, {0x1fffe2, 21},  // 176-179
    {0x7fffed, 23}, {0x3fffe1, 22}, {0x7fffee, 23}, {0x7fffef, 23},  // 180-183
    {0xfffea, 20}, {0x3fffe2, 22}, {0x3fffe3, 22}, {0x3fffe4, 22},  // 184-187
    {0x7ffff0, 23}, {0x3fffe5, 22}, {0x3fffe6, 22}, {0x7ffff1, 23},  // 188-191
    {0x3ffffe0, 26}, {0x3ffffe1, 26}, {0xfffeb, 20}, {0x7fff1, 19},  // 192-195
    {0x3fffe7, 22}, {0x7ffff2, 23}, {0x3fffe8, 22}, {0x1ffffec, 25},  // 196-199
    {0x3ffffe2, 26}, {0x3ffffe3, 26}, {0x3ffffe4, 26}, {0x7ffffde, 27},  // 200-203
    {0x7ffffdf, 27}, {0x3ffffe5, 26}, {0xfffff1, 24}, {0x1ffffed, 25},  // 204-207
    {0x7fff2, 19}, {0x1fffe3, 21}, {0x3ffffe6, 26}, {0x7ffffe0, 27},  // 208-211
    {0x7ffffe1, 27}, {0x3ffffe7, 26}, {0x7ffffe2, 27}, {0xfffff2, 24},  // 212-215
    {0x1fffe4, 21}, {0x1fffe5, 21}, {0x3ffffe8, 26}, {0x3ffffe9, 26},  // 216-219
    {0xffffffd, 28}, {0x7ffffe3, 27}, {0x7ffffe4, 27}, {0x7ffffe5, 27},  // 220-223
    {0xfffec, 20}, {0xfffff3, 24}, {0xfffed, 20}, {0x1fffe6, 21},  // 224-227
    {0x3fffe9, 22}, {0x1fffe7, 21}, {0x1fffe8, 21}, {0x7ffff3, 23},  // 228-231
    {0x3fffea, 22}, {0x3fffeb, 22}, {0x1ffffee, 25}, {0x1ffffef, 25},  // 232-235
    {0xfffff4, 24}, {0xfffff5, 24}, {0x3ffffea, 26}, {0x7ffff4, 23},  // 236-239
    {0x3ffffeb, 26}, {0x7ffffe6, 27}, {0x3ffffec, 26}, {0x3ffffed, 26},  // 240-243
    {0x7ffffe7, 27}, {0x7ffffe8, 27}, {0x7ffffe9, 27}, {0x7ffffea, 27},  // 244-247
    {0x7ffffeb, 27}, {0xffffffe, 28}, {0x7ffffec, 27}, {0x7ffffed, 27},  // 248-251
    {0x7ffffee, 27}, {0x7ffffef, 27}, {0x7fffff0, 27}, {0x3ffffee, 26},  // 252-255
    {0x3fffffff, 30},  // 256-256
}};

// The code as a binary tree, built once: a node's children by the next bit;
// a leaf holds its symbol. A complete prefix code of 257 leaves has 256
// inner nodes.
class HuffmanTree {
 public:
  static constexpr std::int16_t NONE = -1;
  struct Node {
    std::int16_t next[2] = {NONE, NONE};
    std::int16_t symbol = NONE;
  };

  HuffmanTree() {
    nodes_.emplace_back();
    for (std::size_t sym = 0; sym < HUFFMAN_CODES.size(); ++sym) {
      const HuffmanCode c = HUFFMAN_CODES[sym];
      std::size_t at = 0;
      for (int bit = c.bits - 1; bit >= 0; --bit) {
        const int b = static_cast<int>((c.code >> bit) & 1U);
        if (nodes_[at].next[b] == NONE) {
          nodes_[at].next[b] = static_cast<std::int16_t>(nodes_.size());
          nodes_.emplace_back();
        }
        at = static_cast<std::size_t>(nodes_[at].next[b]);
      }
      nodes_[at].symbol = static_cast<std::int16_t>(sym);
    }
  }
  [[nodiscard]] const Node& node(std::size_t i) const { return nodes_[i]; }

 private:
  std::vector<Node> nodes_;
};

const HuffmanTree& huffmanTree() {
  static const HuffmanTree tree;
  return tree;
}

// ---- RFC 7541 Appendix A: the static table, indices 1-61. ----
struct StaticField {
  std::string_view name;
  std::string_view value;
};
constexpr std::array<StaticField, 61> STATIC_TABLE = {{
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
}};

constexpr std::size_t HPACK_ENTRY_OVERHEAD = 32;  // RFC 7541 §4.1
// RFC 7541 §5.1: an integer past its prefix takes 7 bits an octet; five
// continuation octets (35 bits) are more than any bound here admits.
constexpr int HPACK_MAX_INTEGER_SHIFT = 28;

// RFC 7541 §5.1: an integer whose N-bit prefix is in `first`.
bool readInteger(ByteReader& r, std::uint8_t first, int prefix_bits, std::uint64_t& out) {
  const std::uint64_t max_prefix = (1U << prefix_bits) - 1;
  std::uint64_t value = first & max_prefix;
  if (value < max_prefix) {
    out = value;
    return true;
  }
  for (int shift = 0;; shift += 7) {
    std::uint8_t b = 0;
    if (shift > HPACK_MAX_INTEGER_SHIFT || !r.readU8(b)) return false;
    value += static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) break;
  }
  out = value;
  return true;
}

// RFC 7541 §5.2: a string literal, Huffman-coded or not.
bool readString(ByteReader& r, std::string& out) {
  std::uint8_t first = 0;
  std::uint64_t length = 0;
  Bytes raw;
  if (!r.readU8(first) || !readInteger(r, first, 7, length) || length > r.remaining() ||
      !r.readBytes(static_cast<std::size_t>(length), raw)) {
    return false;
  }
  out.clear();
  if ((first & 0x80) != 0) return hpackHuffmanDecode(raw, out);
  out.assign(raw.begin(), raw.end());
  return true;
}

// RFC 9113 §6: frame types and flags read here.
constexpr std::uint8_t FRAME_DATA = 0x0;
constexpr std::uint8_t FRAME_HEADERS = 0x1;
constexpr std::uint8_t FRAME_SETTINGS = 0x4;
constexpr std::uint8_t FRAME_PUSH_PROMISE = 0x5;
constexpr std::uint8_t FRAME_CONTINUATION = 0x9;
constexpr std::uint8_t FLAG_ACK = 0x1;          // SETTINGS
constexpr std::uint8_t FLAG_END_HEADERS = 0x4;  // HEADERS, CONTINUATION
constexpr std::uint8_t FLAG_PADDED = 0x8;       // DATA, HEADERS
constexpr std::uint8_t FLAG_PRIORITY = 0x20;    // HEADERS
constexpr std::size_t PRIORITY_FIELDS = 5;      // RFC 9113 §6.2: Exclusive + Stream Dependency, Weight
constexpr std::size_t SETTING_SIZE = 6;         // RFC 9113 §6.5.1
// A HEADERS frame's payload past its header block: Pad Length, priority, padding.
constexpr std::size_t HEADERS_FRAME_EXTRA = 1 + PRIORITY_FIELDS + 255;
// A header block buffer grown past this by a large block is freed once it is decoded.
constexpr std::size_t BLOCK_KEPT_CAPACITY = 16 * 1024;

}  // namespace

bool hpackHuffmanDecode(std::span<const std::uint8_t> in, std::string& out) {
  const HuffmanTree& tree = huffmanTree();
  std::size_t at = 0;
  std::size_t depth = 0;  // bits since the last symbol
  bool ones = true;       // and all of them 1
  for (const std::uint8_t byte : in) {
    for (int bit = 7; bit >= 0; --bit) {
      const int b = (byte >> bit) & 1;
      const std::int16_t next = tree.node(at).next[b];
      if (next == HuffmanTree::NONE) return false;  // a complete code: never
      at = static_cast<std::size_t>(next);
      ++depth;
      ones = ones && b == 1;
      const std::int16_t symbol = tree.node(at).symbol;
      if (symbol == HuffmanTree::NONE) continue;
      // RFC 7541 §5.2: a string that contains EOS is a decoding error.
      if (symbol == HUFFMAN_EOS) return false;
      out.push_back(static_cast<char>(symbol));
      at = 0;
      depth = 0;
      ones = true;
    }
  }
  // RFC 7541 §5.2: padding is fewer than 8 bits, the most significant bits of EOS.
  return depth < 8 && ones;
}

// ---- HpackDecoder ----

std::size_t HpackDecoder::heldBytes() const {
  std::size_t n = 0;
  for (const Field& f : table_) n += sizeof f + f.first.capacity() + f.second.capacity();
  return n;
}

// RFC 7541 §2.3.3: index 1-61 is the static table, 62 on the dynamic one, newest first.
bool HpackDecoder::field(std::size_t index, const Field*& out) const {
  out = nullptr;
  if (index == 0) return false;
  if (index <= STATIC_TABLE.size()) return true;  // the caller reads STATIC_TABLE
  const std::size_t dynamic = index - STATIC_TABLE.size() - 1;
  if (dynamic >= table_.size()) return false;
  out = &table_[dynamic];
  return true;
}

void HpackDecoder::evictTo(std::size_t size) {
  while (size_ > size && !table_.empty()) {
    size_ -= table_.back().first.size() + table_.back().second.size() + HPACK_ENTRY_OVERHEAD;
    table_.pop_back();
  }
}

// RFC 7541 §4.4: entries are evicted from the end to make room; an entry
// larger than the table empties it and is not added.
void HpackDecoder::insert(std::string name, std::string value) {
  const std::size_t size = name.size() + value.size() + HPACK_ENTRY_OVERHEAD;
  if (size > max_size_) {
    evictTo(0);
    return;
  }
  evictTo(max_size_ - size);
  size_ += size;
  table_.emplace_front(std::move(name), std::move(value));
}

HpackDecoder::Result HpackDecoder::decode(std::span<const std::uint8_t> block, std::vector<Field>& out,
                                          std::size_t keep_bytes, bool& cut) {
  ByteReader r(block);
  std::size_t kept = 0;
  std::size_t copied = 0;
  bool field_seen = false;
  const auto keep = [&](std::string_view name, std::string_view value) {
    const std::size_t size = name.size() + value.size() + HPACK_ENTRY_OVERHEAD;
    if (kept + size > keep_bytes) {
      cut = true;
      return;
    }
    kept += size;
    copied += name.size() + value.size();
    out.emplace_back(std::string(name), std::string(value));
  };
  cut = false;
  while (!r.empty()) {
    std::uint8_t first = 0;
    if (!r.readU8(first)) return Result::Error;
    std::uint64_t index = 0;
    if ((first & 0x80) != 0) {
      // §6.1 Indexed Header Field.
      const Field* f = nullptr;
      if (!readInteger(r, first, 7, index) || !field(static_cast<std::size_t>(index), f)) return Result::Error;
      if (f != nullptr) {
        keep(f->first, f->second);
      } else {
        keep(STATIC_TABLE[index - 1].name, STATIC_TABLE[index - 1].value);
      }
      field_seen = true;
    } else if ((first & 0xe0) == 0x20) {
      // §6.3 Dynamic Table Size Update: only before the block's first field
      // (§4.2), never above the limit the decoder allows.
      std::uint64_t size = 0;
      if (field_seen || !readInteger(r, first, 5, size)) return Result::Error;
      if (size > HPACK_MAX_TABLE_SIZE) return Result::TableTooLarge;
      max_size_ = static_cast<std::size_t>(size);
      evictTo(max_size_);
    } else {
      // §6.2 Literal Header Field: with incremental indexing (01, 6-bit
      // index), without indexing (0000, 4-bit) or never indexed (0001, 4-bit).
      const bool indexing = (first & 0xc0) == 0x40;
      if (!readInteger(r, first, indexing ? 6 : 4, index)) return Result::Error;
      std::string name;
      std::string value;
      if (index == 0) {
        if (!readString(r, name)) return Result::Error;
      } else {
        const Field* f = nullptr;
        if (!field(static_cast<std::size_t>(index), f)) return Result::Error;
        name = f != nullptr ? f->first : std::string(STATIC_TABLE[index - 1].name);
      }
      if (!readString(r, value)) return Result::Error;
      copied += name.size() + value.size();
      keep(name, value);
      if (indexing) insert(std::move(name), std::move(value));
      field_seen = true;
    }
    if (copied > HPACK_MAX_COPY_PER_BLOCK) return Result::Error;
  }
  return Result::Ok;
}

// ---- Http2RequestReader ----

bool Http2RequestReader::looksLikePreface(std::span<const std::uint8_t> first_bytes) {
  const std::size_t n = std::min(first_bytes.size(), HTTP2_PREFACE.size());
  return n > 0 && std::equal(first_bytes.begin(), first_bytes.begin() + static_cast<std::ptrdiff_t>(n),
                             HTTP2_PREFACE.begin());
}

std::size_t Http2RequestReader::heldBytes() const {
  return payload_.capacity() + block_.capacity() + hpack_.heldBytes();
}

void Http2RequestReader::fail(AnomalyId why) {
  if (phase_ == Phase::Failed) return;
  anomalies_.inc(why);
  phase_ = Phase::Failed;
  std::vector<std::uint8_t>().swap(payload_);
  std::vector<std::uint8_t>().swap(block_);
  hpack_ = HpackDecoder{};
}

void Http2RequestReader::gap(std::uint64_t missing) {
  if (missing == 0) return;
  offset_ += missing;
  fail(PA_ANOMALY("http2_gap"));
}

void Http2RequestReader::finish() {
  if (phase_ == Phase::Failed) return;
  if (block_open_ || (phase_ == Phase::Payload && type_ == FRAME_HEADERS)) {
    anomalies_.inc(PA_ANOMALY("http2_request_incomplete"));
  }
  block_open_ = false;
}

Http2RequestReader::State Http2RequestReader::feed(std::span<const std::uint8_t> bytes, std::vector<HttpRequest>& out) {
  std::size_t at = 0;
  while (at < bytes.size() && phase_ != Phase::Failed) {
    const std::span<const std::uint8_t> rest = bytes.subspan(at);
    std::size_t n = 0;
    switch (phase_) {
      case Phase::Preface:
        n = std::min(rest.size(), HTTP2_PREFACE.size() - preface_seen_);
        if (!std::equal(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(n),
                        HTTP2_PREFACE.begin() + static_cast<std::ptrdiff_t>(preface_seen_))) {
          fail(PA_ANOMALY("http2_malformed"));
          break;
        }
        preface_seen_ += n;
        if (preface_seen_ == HTTP2_PREFACE.size()) phase_ = Phase::FrameHeader;
        break;
      case Phase::FrameHeader:
        n = std::min(rest.size(), FRAME_HEADER - header_len_);
        std::copy_n(rest.begin(), n, header_ + header_len_);
        header_len_ += n;
        break;
      case Phase::Payload:
        n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), remaining_));
        payload_.insert(payload_.end(), rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(n));
        remaining_ -= n;
        break;
      case Phase::Skip:
        n = static_cast<std::size_t>(std::min<std::uint64_t>(rest.size(), remaining_));
        remaining_ -= n;
        if (type_ == FRAME_DATA) body_bytes_ += n;
        break;
      case Phase::Failed:
        break;
    }
    at += n;
    offset_ += n;
    if (phase_ == Phase::FrameHeader && header_len_ == FRAME_HEADER) {
      header_len_ = 0;
      onFrameHeader();
    }
    if ((phase_ == Phase::Payload || phase_ == Phase::Skip) && remaining_ == 0) endFrame(out);
  }
  return phase_ == Phase::Failed ? State::Error : State::NeedMore;
}

void Http2RequestReader::onFrameHeader() {
  // RFC 9113 §4.1: Length (24), Type (8), Flags (8), Reserved (1), Stream Identifier (31).
  length_ = (static_cast<std::uint32_t>(header_[0]) << 16) | (static_cast<std::uint32_t>(header_[1]) << 8) | header_[2];
  type_ = header_[3];
  flags_ = header_[4];
  stream_ = ((static_cast<std::uint32_t>(header_[5]) << 24) | (static_cast<std::uint32_t>(header_[6]) << 16) |
             (static_cast<std::uint32_t>(header_[7]) << 8) | header_[8]) &
            0x7fffffffU;
  frame_offset_ = offset_ - FRAME_HEADER;
  remaining_ = length_;
  payload_.clear();
  // RFC 9113 §6.10: a header block's frames follow each other, on its stream.
  if (block_open_ && (type_ != FRAME_CONTINUATION || stream_ != block_stream_)) {
    fail(PA_ANOMALY("http2_malformed"));
    return;
  }
  switch (type_) {
    case FRAME_HEADERS:
      if (stream_ == 0) {
        fail(PA_ANOMALY("http2_malformed"));
      } else if (length_ > HTTP2_MAX_HEADER_BLOCK + HEADERS_FRAME_EXTRA) {
        fail(PA_ANOMALY("http2_header_block_too_large"));
      } else {
        phase_ = Phase::Payload;
      }
      return;
    case FRAME_CONTINUATION:
      if (!block_open_) {
        fail(PA_ANOMALY("http2_malformed"));
      } else if (block_.size() + length_ > HTTP2_MAX_HEADER_BLOCK) {
        fail(PA_ANOMALY("http2_header_block_too_large"));
      } else {
        phase_ = Phase::Payload;
      }
      return;
    case FRAME_SETTINGS:
      // RFC 9113 §6.5: on stream 0, six bytes a setting, none in an ACK.
      // The client's settings (its SETTINGS_HEADER_TABLE_SIZE included)
      // bound the server's encoder, not its own: nothing here to keep.
      if (stream_ != 0 || length_ % SETTING_SIZE != 0 || ((flags_ & FLAG_ACK) != 0 && length_ != 0)) {
        fail(PA_ANOMALY("http2_malformed"));
        return;
      }
      phase_ = Phase::Skip;
      return;
    case FRAME_PUSH_PROMISE:
      fail(PA_ANOMALY("http2_malformed"));  // RFC 9113 §8.4: a client never pushes
      return;
    case FRAME_DATA:
      if (stream_ == 0) {
        fail(PA_ANOMALY("http2_malformed"));
        return;
      }
      phase_ = Phase::Skip;
      return;
    default:
      phase_ = Phase::Skip;  // PRIORITY, RST_STREAM, PING, GOAWAY, WINDOW_UPDATE, extensions (§5.5)
      return;
  }
}

void Http2RequestReader::endFrame(std::vector<HttpRequest>& out) {
  if (phase_ == Phase::Payload) {
    phase_ = Phase::FrameHeader;
    onPayload(out);
    return;
  }
  phase_ = Phase::FrameHeader;
}

void Http2RequestReader::onPayload(std::vector<HttpRequest>& out) {
  if (type_ == FRAME_CONTINUATION) {
    block_.insert(block_.end(), payload_.begin(), payload_.end());
  } else {
    onHeaders(payload_, out);
    if (phase_ == Phase::Failed || !block_open_) return;
  }
  if ((flags_ & FLAG_END_HEADERS) != 0) onBlockComplete(out);
}

// RFC 9113 §6.2: [Pad Length], [Exclusive, Stream Dependency, Weight], Field Block Fragment, Padding.
void Http2RequestReader::onHeaders(std::span<const std::uint8_t> payload, std::vector<HttpRequest>& /*out*/) {
  ByteReader r(payload);
  std::uint8_t pad = 0;
  if (((flags_ & FLAG_PADDED) != 0 && !r.readU8(pad)) || ((flags_ & FLAG_PRIORITY) != 0 && !r.skip(PRIORITY_FIELDS)) ||
      pad > r.remaining()) {
    fail(PA_ANOMALY("http2_malformed"));  // padding as long as the payload or longer: PROTOCOL_ERROR
    return;
  }
  const Bytes fragment = r.rest().first(r.remaining() - pad);
  if (fragment.size() > HTTP2_MAX_HEADER_BLOCK) {
    fail(PA_ANOMALY("http2_header_block_too_large"));
    return;
  }
  block_.assign(fragment.begin(), fragment.end());
  block_open_ = true;
  block_stream_ = stream_;
  block_offset_ = frame_offset_;
}

void Http2RequestReader::onBlockComplete(std::vector<HttpRequest>& out) {
  block_open_ = false;
  std::vector<HpackDecoder::Field> fields;
  bool cut = false;
  switch (hpack_.decode(block_, fields, HTTP2_MAX_HEADER_LIST, cut)) {
    case HpackDecoder::Result::Ok:
      break;
    case HpackDecoder::Result::TableTooLarge:
      fail(PA_ANOMALY("http2_table_size_over_limit"));
      return;
    case HpackDecoder::Result::Error:
      fail(PA_ANOMALY("http2_hpack_error"));
      return;
  }
  if (block_.capacity() > BLOCK_KEPT_CAPACITY) {
    std::vector<std::uint8_t>().swap(block_);
  } else {
    block_.clear();
  }
  if (cut) anomalies_.inc(PA_ANOMALY("http2_header_list_too_large"));
  if (block_stream_ <= last_stream_) return;  // trailers of a request read before
  if (block_stream_ % 2 == 0) {
    fail(PA_ANOMALY("http2_malformed"));  // RFC 9113 §5.1.1: a client's streams are odd
    return;
  }
  last_stream_ = block_stream_;
  // RFC 9113 §8.3.1: the request's pseudo-header fields, before the others.
  HttpRequest req;
  req.version = "HTTP/2";
  req.stream_offset = block_offset_;
  req.headers_truncated = cut;
  std::string authority;
  bool regular_seen = false;
  bool misplaced = false;
  for (auto& [name, value] : fields) {
    if (!name.empty() && name.front() == ':') {
      misplaced = misplaced || regular_seen;
      if (name == ":method") {
        req.method = std::move(value);
      } else if (name == ":path") {
        req.uri = std::move(value);
      } else if (name == ":authority") {
        authority = std::move(value);
      }
      continue;
    }
    regular_seen = true;
    if (name == "user-agent" && req.user_agent.empty()) req.user_agent = value;
    if (name == "host" && req.host.empty()) req.host = value;
    if (req.headers.size() < HTTP_MAX_HEADERS) req.headers.emplace_back(std::move(name), std::move(value));
  }
  // §8.3.1: :authority stands for Host; §8.5: CONNECT names its target there, without :path.
  if (!authority.empty()) req.host = authority;
  if (req.method == "CONNECT" && req.uri.empty()) req.uri = authority;
  if (req.method.empty() || req.uri.empty() || misplaced) {
    anomalies_.inc(PA_ANOMALY("http2_request_malformed"));
    return;
  }
  out.push_back(std::move(req));
}

}  // namespace provaudit::analyze
