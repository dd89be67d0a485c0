#pragma once
// HTTP/2 requests of one client->server byte stream (RFC 9113), plain (h2c
// with prior knowledge) or inside decrypted TLS (ALPN h2): the connection
// preface, the frames, and the HPACK header blocks (RFC 7541) the requests'
// fields are compressed in. Only the client's direction is read: its header
// blocks are decoded with the client's own encoder state (the server's HPACK
// state is separate and carries nothing we audit). Each request comes out as
// the HttpRequest the HTTP/1.x parser gives. Never throws on stream data;
// every input it cannot read is a counted anomaly (http2_*), and everything
// that grows with the stream has a named bound.
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "analyze/http_request.h"
#include "common/anomaly.h"

namespace provaudit::analyze {

// RFC 9113 §3.4: the client connection preface.
inline constexpr std::string_view HTTP2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// One header block as sent (HEADERS and its CONTINUATION fragments, padding
// and priority removed). Past it the block is not decoded, and since the
// encoder's dynamic table then cannot be followed, neither is the rest of
// the connection (http2_header_block_too_large).
inline constexpr std::size_t HTTP2_MAX_HEADER_BLOCK = 64 * 1024;
// RFC 9113 §6.5.2: SETTINGS_HEADER_TABLE_SIZE starts at 4096 bytes; the
// encoder's dynamic table is that large until it signals another size.
inline constexpr std::size_t HPACK_DEFAULT_TABLE_SIZE = 4096;
// The largest dynamic table a client's size update may ask for. The limit is
// the server's SETTINGS_HEADER_TABLE_SIZE, which is not read (inside TLS the
// server's records are not decrypted): this cap stands for it. Larger is
// http2_table_size_over_limit (the connection not read further).
inline constexpr std::size_t HPACK_MAX_TABLE_SIZE = 64 * 1024;
// Decoded fields of one header block kept for the request (names and values,
// RFC 7541 §4.1 sizes): past it the block is still decoded, to keep the
// dynamic table, but its further fields are not kept (headers_truncated;
// http2_header_list_too_large).
inline constexpr std::size_t HTTP2_MAX_HEADER_LIST = 16 * 1024;
// Bytes of strings one header block may make the decoder copy (fields kept,
// entries inserted in the dynamic table, their names taken from an entry):
// the bound on the work of a block that names one large entry over and over.
// Past it the block is http2_hpack_error.
inline constexpr std::size_t HPACK_MAX_COPY_PER_BLOCK = 1024 * 1024;

// RFC 7541 §5.2 and Appendix B: the Huffman-coded string `in`, appended to
// `out`. False on a code for EOS, padding longer than 7 bits or padding that
// is not the most significant bits of EOS (all ones).
bool hpackHuffmanDecode(std::span<const std::uint8_t> in, std::string& out);

// RFC 7541: the decoder of one direction's header blocks.
class HpackDecoder {
 public:
  using Field = std::pair<std::string, std::string>;
  // TableTooLarge: a size update above HPACK_MAX_TABLE_SIZE (a peer allowed
  // it, provaudit does not follow it); Error: anything else that breaks the block.
  enum class Result : std::uint8_t { Ok, Error, TableTooLarge };

  // Decodes one whole header block. Fields go to `out` while their sizes
  // (RFC 7541 §4.1: name + value + 32) stay within `keep_bytes`; `cut` says
  // whether some were not kept. On Error the decoder's table can no longer
  // be trusted: RFC 7541 §2.3.3 / RFC 9113 §4.3 make it a connection error.
  Result decode(std::span<const std::uint8_t> block, std::vector<Field>& out, std::size_t keep_bytes, bool& cut);

  [[nodiscard]] std::size_t tableSize() const { return size_; }        // RFC 7541 §4.1
  [[nodiscard]] std::size_t maxTableSize() const { return max_size_; }
  [[nodiscard]] std::size_t entries() const { return table_.size(); }
  [[nodiscard]] std::size_t heldBytes() const;

 private:
  bool field(std::size_t index, const Field*& out) const;
  void insert(std::string name, std::string value);
  void evictTo(std::size_t size);

  std::deque<Field> table_;  // dynamic table, newest first (RFC 7541 §2.3.3 index 62 is table_[0])
  std::size_t size_ = 0;
  std::size_t max_size_ = HPACK_DEFAULT_TABLE_SIZE;
};

class Http2RequestReader {
 public:
  explicit Http2RequestReader(AnomalyCounters& anomalies) : anomalies_(anomalies) {}

  enum class State : std::uint8_t { NeedMore, Error };
  // The next bytes of the client's stream (from its first, the preface);
  // each request whose header block completes in them goes to `out`.
  State feed(std::span<const std::uint8_t> bytes, std::vector<HttpRequest>& out);
  // Bytes lost: frame boundaries and the HPACK table with them. Nothing
  // more of the connection is read (http2_gap).
  void gap(std::uint64_t missing);
  // The stream ended: a header block still open is dropped.
  void finish();
  // DATA payload read past so far (request bodies).
  [[nodiscard]] std::uint64_t bodyBytes() const { return body_bytes_; }
  [[nodiscard]] std::size_t heldBytes() const;
  [[nodiscard]] const HpackDecoder& hpack() const { return hpack_; }

  // True when the first bytes are (the start of) the connection preface;
  // `first_bytes` holds at least a few.
  static bool looksLikePreface(std::span<const std::uint8_t> first_bytes);

 private:
  enum class Phase : std::uint8_t { Preface, FrameHeader, Payload, Skip, Failed };
  static constexpr std::size_t FRAME_HEADER = 9;  // RFC 9113 §4.1

  void fail(AnomalyId why);
  void onFrameHeader();
  void onPayload(std::vector<HttpRequest>& out);
  void onHeaders(std::span<const std::uint8_t> payload, std::vector<HttpRequest>& out);
  void onBlockComplete(std::vector<HttpRequest>& out);
  void endFrame(std::vector<HttpRequest>& out);

  AnomalyCounters& anomalies_;
  HpackDecoder hpack_;
  Phase phase_ = Phase::Preface;
  std::size_t preface_seen_ = 0;
  std::uint8_t header_[FRAME_HEADER] = {};
  std::size_t header_len_ = 0;
  // The frame being read.
  std::uint32_t length_ = 0;
  std::uint8_t type_ = 0;
  std::uint8_t flags_ = 0;
  std::uint32_t stream_ = 0;
  std::uint64_t frame_offset_ = 0;  // its header's offset in the stream
  std::uint64_t remaining_ = 0;     // of its payload, to read or to skip
  std::vector<std::uint8_t> payload_;
  // The header block being assembled (HEADERS, then CONTINUATIONs).
  bool block_open_ = false;
  std::uint32_t block_stream_ = 0;
  std::uint64_t block_offset_ = 0;
  std::vector<std::uint8_t> block_;
  // RFC 9113 §5.1.1: a client opens streams with odd, increasing ids; a
  // HEADERS frame on a stream at or below the last one opened is trailers.
  // Nothing is kept per stream: the number of streams needs no bound.
  std::uint32_t last_stream_ = 0;
  std::uint64_t offset_ = 0;  // stream offset of the next byte
  std::uint64_t body_bytes_ = 0;
};

}  // namespace provaudit::analyze
