#pragma once
// Streaming HTTP/1.x request parser for one client->server byte stream
// (plain, or later decrypted TLS). Several requests per connection, headers
// split across segments, bodies by Content-Length or chunked, kept up to a limit.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/anomaly.h"

namespace provaudit::analyze {

inline constexpr std::size_t HTTP_MAX_HEADER_BYTES = 16 * 1024;  // request line + headers
inline constexpr std::size_t HTTP_MAX_BODY_KEPT = 8 * 1024;       // POST bodies kept for $MA/$SN-style claims
inline constexpr std::size_t HTTP_MAX_HEADERS = 100;
// A chunk-size line (hex size plus chunk extensions, RFC 9112 §7.1.1) longer than this is http_bad_chunk_size.
inline constexpr std::size_t HTTP_MAX_CHUNK_LINE = 1024;
// A line buffer grown past this by a long line is freed once the line is read.
inline constexpr std::size_t HTTP_LINE_KEPT_CAPACITY = 1024;
// Bytes skipped while looking for the next request line before the stream is given up (http_resync_failed).
inline constexpr std::size_t HTTP_MAX_RESYNC_BYTES = 64 * 1024;

struct HttpRequest {
  std::string method;
  std::string uri;      // request-target as sent (origin-form or absolute-form)
  std::string version;  // "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent, values trimmed
  std::string host;
  std::string user_agent;
  std::string body;          // first HTTP_MAX_BODY_KEPT bytes of the body
  std::uint64_t body_length = 0;  // declared or counted length
  bool body_truncated = false;
  // The request line and headers outgrew HTTP_MAX_HEADER_BYTES: the header
  // that crossed the limit is kept cut at it (its value's first bytes), the
  // headers after it are not read, and the body (if any) is not framed.
  bool headers_truncated = false;
  std::uint64_t stream_offset = 0;  // offset of the request line in the client stream
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(AnomalyCounters& anomalies) : anomalies_(anomalies) {}

  enum class State : std::uint8_t { NeedMore, Error };
  // Appends bytes; every request completed by them is appended to `out`.
  // After a CONNECT request the bytes are the tunnel's, not HTTP: the parser
  // reads no further (unconsumed()).
  State feed(std::span<const std::uint8_t> bytes, std::vector<HttpRequest>& out);
  // How many bytes at the end of the last feed() were not read: those after a
  // CONNECT request (its tunnel's first bytes, sent before the proxy's answer).
  [[nodiscard]] std::size_t unconsumed() const { return unconsumed_; }
  // The stream switched to HTTP/2 at a request boundary: a request line
  // "PRI * HTTP/2.0", the preface's first line (RFC 9113 §3.2: after an
  // Upgrade: h2c answered 101, the client sends the preface). unconsumed()
  // bytes of the last feed() follow that line.
  [[nodiscard]] bool switchedToHttp2() const { return phase_ == Phase::Http2; }
  // Bytes of request bodies read so far (all of them, kept or not).
  [[nodiscard]] std::uint64_t bodyBytes() const { return body_bytes_; }
  // Bytes lost: drop the partial request and resynchronise on the next request line.
  // A gap inside a body whose length is known only punches a hole in the body:
  // the request is kept (body_truncated) and handed out by the next feed()/finish().
  void gap(std::uint64_t missing);
  // The stream ended: hands out a request whose headers were complete but whose
  // body was cut short (body_truncated); a request still in its headers is dropped.
  void finish(std::vector<HttpRequest>& out);
  // What the parser holds: the line being assembled, the request so far
  // (its request line and headers, its body's first bytes).
  [[nodiscard]] std::size_t heldBytes() const;

  // True when the first bytes look like an HTTP/1.x request line ("GET / HTTP/1.1").
  static bool looksLikeRequest(std::span<const std::uint8_t> first_bytes);
  // True when they look like a response ("HTTP/1.1 200").
  static bool looksLikeResponse(std::span<const std::uint8_t> first_bytes);

 private:
  // Where the parser is in the stream. Line-based phases assemble one line in line_.
  enum class Phase : std::uint8_t {
    LineStart,     // between requests: empty lines are skipped (RFC 9112 §2.2)
    RequestLine,   // assembling the request line
    Headers,       // assembling header lines until the empty line
    Body,          // Content-Length body, body_remaining_ bytes to go
    ChunkSize,     // chunk-size [; ext] line
    ChunkData,     // body_remaining_ bytes of chunk data
    ChunkDataEnd,  // the CRLF after chunk data
    Trailers,      // trailer section after the last chunk
    Resync,        // at a line start, looking for "METHOD " of a known method
    SkipLine,      // discarding up to the next LF, then Resync
    Failed,        // gave up on this stream (http_resync_failed)
    Tunnel,        // after a CONNECT request: the rest of the stream is not HTTP
    Http2,         // after the HTTP/2 preface's first line: the rest is HTTP/2 frames
  };
  enum class LineResult : std::uint8_t { Partial, Complete, TooLong };

  LineResult takeLine(const std::uint8_t*& p, const std::uint8_t* end, std::size_t max_len);
  bool parseRequestLine();
  bool addHeaderLine();
  void onHeadersComplete(std::vector<HttpRequest>& out);
  void emitCutHeaders(const std::uint8_t*& p, const std::uint8_t* end, std::vector<HttpRequest>& out);
  bool onChunkSizeLine();
  void appendBody(const std::uint8_t* p, std::size_t n);
  void emit(std::vector<HttpRequest>& out);
  void dropAndResync(bool mid_line);
  void skipped(std::size_t n);

  AnomalyCounters& anomalies_;
  Phase phase_ = Phase::LineStart;
  std::string line_;                   // line being assembled, without its LF
  std::size_t head_bytes_ = 0;         // request line + header (or trailer) bytes so far
  HttpRequest req_;                    // request being assembled
  std::uint64_t body_remaining_ = 0;   // of the Content-Length body or of the current chunk
  std::uint64_t body_bytes_ = 0;       // bodyBytes()
  bool body_hole_ = false;             // a gap hit the body: keep no more body bytes
  std::uint64_t offset_ = 0;           // stream offset of the next byte (gaps included)
  std::uint64_t resync_skipped_ = 0;   // bytes discarded since the last request line was found
  std::vector<HttpRequest> pending_;   // completed by gap(), handed out by the next feed()/finish()
  std::size_t unconsumed_ = 0;         // of the last feed(): the tunnel's bytes after a CONNECT
};

}  // namespace provaudit::analyze
