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
  std::uint64_t stream_offset = 0;  // offset of the request line in the client stream
};

class HttpRequestParser {
 public:
  explicit HttpRequestParser(AnomalyCounters& anomalies) : anomalies_(anomalies) {}

  enum class State : std::uint8_t { NeedMore, Error };
  // Appends bytes; every request completed by them is appended to `out`.
  State feed(std::span<const std::uint8_t> bytes, std::vector<HttpRequest>& out);
  // Bytes lost: drop the partial request and resynchronise on the next request line.
  void gap(std::uint64_t missing);

  // True when the first bytes look like an HTTP/1.x request line ("GET / HTTP/1.1").
  static bool looksLikeRequest(std::span<const std::uint8_t> first_bytes);
  // True when they look like a response ("HTTP/1.1 200").
  static bool looksLikeResponse(std::span<const std::uint8_t> first_bytes);

 private:
  AnomalyCounters& anomalies_;
  // (implementation state)
};

}  // namespace provaudit::analyze
