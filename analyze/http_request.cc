#include "analyze/http_request.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string_view>

#include "common/byte_reader.h"

namespace provaudit::analyze {
namespace {

// Methods that resynchronisation accepts as the start of a request: RFC 9110 §9
// plus PATCH (RFC 5789). The normal parse accepts any token as a method.
constexpr std::array<std::string_view, 9> KNOWN_METHODS{"GET",    "POST",  "PUT",     "HEAD", "OPTIONS",
                                                        "DELETE", "PATCH", "CONNECT", "TRACE"};

enum class MethodMatch : std::uint8_t { No, Maybe, Yes };

// Compares the start of a line with "<known method> ": Yes when one matches in
// full, Maybe when the bytes so far are a prefix of one, No otherwise.
MethodMatch matchMethodPrefix(std::string_view s) {
  bool maybe = false;
  for (std::string_view m : KNOWN_METHODS) {
    const std::size_t full = m.size() + 1;  // the method and its SP
    const std::size_t n = std::min(s.size(), full);
    bool same = true;
    for (std::size_t i = 0; i < n && same; ++i) same = s[i] == (i < m.size() ? m[i] : ' ');
    if (!same) continue;
    if (s.size() >= full) return MethodMatch::Yes;
    maybe = true;
  }
  return maybe ? MethodMatch::Maybe : MethodMatch::No;
}

bool isOws(char c) { return c == ' ' || c == '\t'; }  // RFC 9110 §5.6.3 OWS: SP / HTAB

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 §5.6.2 tchar.
bool isTchar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool isToken(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), isTchar); }

char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Field names are case-insensitive (RFC 9110 §5.1); ASCII only, whatever the bytes.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  }
  return true;
}

// RFC 9110 §8.6: Content-Length = 1*DIGIT. A comma-separated list of identical
// values (a known proxy artefact) is tolerated; anything else cannot frame the body.
std::optional<std::uint64_t> parseContentLength(const std::vector<std::string_view>& values) {
  std::optional<std::uint64_t> result;
  for (std::string_view all : values) {
    while (true) {
      const std::size_t comma = all.find(',');
      const std::string_view one = trimOws(all.substr(0, comma));
      if (one.empty()) return std::nullopt;
      std::uint64_t v = 0;
      for (char c : one) {
        if (c < '0' || c > '9') return std::nullopt;  // also rejects '-' and '+'
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - digit) / 10) return std::nullopt;  // does not fit 64 bits
        v = v * 10 + digit;
      }
      if (result && *result != v) return std::nullopt;
      result = v;
      if (comma == std::string_view::npos) break;
      all.remove_prefix(comma + 1);
    }
  }
  return result;
}

// RFC 9112 §7.1: chunk-size = 1*HEXDIG, then optional BWS ";" chunk-ext.
std::optional<std::uint64_t> parseChunkSize(std::string_view line) {
  std::uint64_t v = 0;
  std::size_t digits = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    if (d < 0) break;
    if (++digits > 16) return std::nullopt;  // more than 64 bits
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  if (digits == 0) return std::nullopt;
  const std::string_view rest = trimOws(line.substr(i));
  if (!rest.empty() && rest.front() != ';') return std::nullopt;
  return v;
}

// The first Host and User-Agent of the headers read.
void nameHostAndUserAgent(HttpRequest& req) {
  bool have_host = false;
  bool have_ua = false;
  for (const auto& [name, value] : req.headers) {
    if (!have_host && iequals(name, "Host")) {
      req.host = value;
      have_host = true;
    } else if (!have_ua && iequals(name, "User-Agent")) {
      req.user_agent = value;  // kept byte for byte: control bytes and invalid UTF-8 included
      have_ua = true;
    }
  }
}

}  // namespace

bool HttpRequestParser::looksLikeRequest(std::span<const std::uint8_t> first_bytes) {
  return matchMethodPrefix(asText(first_bytes)) == MethodMatch::Yes;
}

bool HttpRequestParser::looksLikeResponse(std::span<const std::uint8_t> first_bytes) {
  return asText(first_bytes).starts_with("HTTP/1.");
}

HttpRequestParser::LineResult HttpRequestParser::takeLine(const std::uint8_t*& p, const std::uint8_t* end,
                                                          std::size_t max_len) {
  const auto avail = static_cast<std::size_t>(end - p);
  const void* lf = std::memchr(p, '\n', avail);
  // Bytes this call would add to the line, its LF included.
  const std::size_t n = lf ? static_cast<std::size_t>(static_cast<const std::uint8_t*>(lf) - p) + 1 : avail;
  if (line_.size() + n > max_len) return LineResult::TooLong;
  line_.append(reinterpret_cast<const char*>(p), lf ? n - 1 : n);  // bytes -> chars, same representation
  p += n;
  return lf ? LineResult::Complete : LineResult::Partial;
}

void HttpRequestParser::skipped(std::size_t n) {
  resync_skipped_ += n;
  if (resync_skipped_ > HTTP_MAX_RESYNC_BYTES) {
    anomalies_.inc(PA_ANOMALY("http_resync_failed"));
    phase_ = Phase::Failed;
  }
}

void HttpRequestParser::dropAndResync(bool mid_line) {
  req_ = HttpRequest{};
  line_.clear();
  body_remaining_ = 0;
  body_hole_ = false;
  phase_ = mid_line ? Phase::SkipLine : Phase::Resync;
}

void HttpRequestParser::emit(std::vector<HttpRequest>& out) {
  if (req_.body.size() < req_.body_length) req_.body_truncated = true;
  out.push_back(std::move(req_));
  req_ = HttpRequest{};
  line_.clear();
  body_remaining_ = 0;
  body_hole_ = false;
}

void HttpRequestParser::appendBody(const std::uint8_t* p, std::size_t n) {
  if (body_hole_) return;  // bytes after a hole would be misplaced
  const std::size_t room = HTTP_MAX_BODY_KEPT - std::min(HTTP_MAX_BODY_KEPT, req_.body.size());
  const std::size_t keep = std::min(room, n);
  req_.body.append(reinterpret_cast<const char*>(p), keep);  // bytes -> chars, same representation
  if (keep < n) req_.body_truncated = true;
}

// RFC 9112 §3: request-line = method SP request-target SP HTTP-version.
bool HttpRequestParser::parseRequestLine() {
  const std::string_view line(line_);
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || !isToken(line.substr(0, sp1))) return false;
  const std::string_view rest = line.substr(sp1 + 1);
  const std::size_t sp2 = rest.find(' ');
  if (sp2 == std::string_view::npos) return false;  // no version: HTTP/0.9 or not HTTP at all
  const std::string_view target = rest.substr(0, sp2);
  if (target.empty()) return false;
  for (char ch : target) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;  // CTLs and SP cannot occur in a request-target
  }
  std::string_view version = rest.substr(sp2 + 1);
  while (!version.empty() && isOws(version.back())) version.remove_suffix(1);
  // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT; only 1.x is parsed here.
  if (version.size() != 8 || !version.starts_with("HTTP/1.") || version[7] < '0' || version[7] > '9') return false;
  req_.method = line.substr(0, sp1);
  req_.uri = target;
  req_.version = version;
  return true;
}

bool HttpRequestParser::addHeaderLine() {
  const std::string_view line(line_);
  if (isOws(line.front())) {
    // RFC 9112 §5.2: obs-fold continues the previous field value; replace it by one SP.
    if (req_.headers.empty()) {
      anomalies_.inc(PA_ANOMALY("http_header_malformed"));
      return true;
    }
    std::string& value = req_.headers.back().second;
    const std::string_view more = trimOws(line);
    if (!more.empty()) {
      if (!value.empty()) value.push_back(' ');
      value.append(more);
    }
    return true;
  }
  const std::size_t colon = line.find(':');
  // RFC 9112 §5.1: no whitespace between field name and colon; a name is a token.
  if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
    anomalies_.inc(PA_ANOMALY("http_header_malformed"));
    return true;  // skip the line, keep the request
  }
  if (req_.headers.size() >= HTTP_MAX_HEADERS) return false;
  req_.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trimOws(line.substr(colon + 1))));
  return true;
}

void HttpRequestParser::onHeadersComplete(std::vector<HttpRequest>& out) {
  nameHostAndUserAgent(req_);
  std::vector<std::string_view> content_length;
  std::string transfer_encoding;
  bool have_te = false;
  for (const auto& [name, value] : req_.headers) {
    if (iequals(name, "Content-Length")) {
      content_length.push_back(value);
    } else if (iequals(name, "Transfer-Encoding")) {
      if (have_te) transfer_encoding.push_back(',');
      transfer_encoding += value;
      have_te = true;
    }
  }
  if (req_.method == "CONNECT") {
    // RFC 9110 §9.3.6: what follows is the tunnel's (a CONNECT's content has no
    // meaning), and a client may send its first bytes before the proxy answers.
    emit(out);
    phase_ = Phase::Tunnel;
    return;
  }
  if (have_te) {
    // RFC 9112 §6.3 (3): Transfer-Encoding overrides Content-Length; both together is a smuggling sign.
    if (!content_length.empty()) anomalies_.inc(PA_ANOMALY("http_te_and_content_length"));
    std::string_view last(transfer_encoding);
    const std::size_t comma = last.rfind(',');
    if (comma != std::string_view::npos) last.remove_prefix(comma + 1);
    if (iequals(trimOws(last), "chunked")) {
      phase_ = Phase::ChunkSize;
      return;
    }
    // RFC 9112 §6.3 (4): a request whose final coding is not chunked cannot be framed.
    anomalies_.inc(PA_ANOMALY("http_bad_transfer_encoding"));
    emit(out);
    phase_ = Phase::Resync;
    return;
  }
  if (!content_length.empty()) {
    const std::optional<std::uint64_t> len = parseContentLength(content_length);
    if (!len) {
      // The headers are good evidence; the body cannot be framed, so look for the next request line.
      anomalies_.inc(PA_ANOMALY("http_bad_content_length"));
      emit(out);
      phase_ = Phase::Resync;
      return;
    }
    if (*len > 0) {
      req_.body_length = *len;
      body_remaining_ = *len;
      phase_ = Phase::Body;
      return;
    }
  }
  // RFC 9112 §6.3 (7): a request with neither header has no body.
  emit(out);
  phase_ = Phase::LineStart;
}

// The request line and the headers before the limit are good evidence
// (design.md: bad input never costs the findings of the part that was good):
// the header that crossed HTTP_MAX_HEADER_BYTES is kept up to the limit, cut
// (headers_truncated), and the request goes out with what was read. Where
// its body would end is not known (a Content-Length may have come later): the
// rest of the line is skipped and the next request line looked for.
void HttpRequestParser::emitCutHeaders(const std::uint8_t*& p, const std::uint8_t* end,
                                       std::vector<HttpRequest>& out) {
  const std::size_t room = HTTP_MAX_HEADER_BYTES - std::min(HTTP_MAX_HEADER_BYTES, head_bytes_ + line_.size());
  const std::size_t take = std::min(room, static_cast<std::size_t>(end - p));
  line_.append(reinterpret_cast<const char*>(p), take);  // bytes -> chars, same representation; no LF among them
  p += take;
  if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  if (!line_.empty() && !addHeaderLine()) anomalies_.inc(PA_ANOMALY("http_too_many_headers"));
  req_.headers_truncated = true;
  nameHostAndUserAgent(req_);
  emit(out);
  dropAndResync(true);
}

bool HttpRequestParser::onChunkSizeLine() {
  const std::optional<std::uint64_t> size = parseChunkSize(line_);
  line_.clear();
  if (!size) return false;
  if (*size == 0) {
    head_bytes_ = 0;  // the trailer section gets its own HTTP_MAX_HEADER_BYTES
    phase_ = Phase::Trailers;
  } else {
    body_remaining_ = *size;
    phase_ = Phase::ChunkData;
  }
  return true;
}

HttpRequestParser::State HttpRequestParser::feed(std::span<const std::uint8_t> bytes, std::vector<HttpRequest>& out) {
  for (HttpRequest& r : pending_) out.push_back(std::move(r));
  pending_.clear();
  unconsumed_ = 0;
  if (bytes.empty()) return phase_ == Phase::Failed ? State::Error : State::NeedMore;

  const std::uint8_t* p = bytes.data();
  const std::uint8_t* const end = p + bytes.size();
  while (p < end && phase_ != Phase::Failed && phase_ != Phase::Tunnel && phase_ != Phase::Http2) {
    const std::uint8_t* const before = p;
    switch (phase_) {
      case Phase::LineStart:
        // RFC 9112 §2.2: empty lines before a request-line are ignored.
        if (*p == '\r' || *p == '\n') {
          ++p;
          break;
        }
        req_ = HttpRequest{};
        req_.stream_offset = offset_;
        head_bytes_ = 0;
        line_.clear();
        phase_ = Phase::RequestLine;
        break;

      case Phase::Resync: {
        // One byte at a time, and at most "OPTIONS " long: either the line starts
        // with a known method and SP, or the rest of it is skipped.
        if (line_.empty()) req_.stream_offset = offset_;
        const char c = static_cast<char>(*p++);
        line_.push_back(c);
        const MethodMatch m = matchMethodPrefix(line_);
        if (m == MethodMatch::Yes) {
          head_bytes_ = 0;
          phase_ = Phase::RequestLine;  // line_ keeps the method prefix
        } else if (m == MethodMatch::No) {
          const std::size_t n = line_.size();
          line_.clear();
          phase_ = c == '\n' ? Phase::Resync : Phase::SkipLine;
          skipped(n);
        }
        break;
      }

      case Phase::SkipLine: {
        const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
        p = lf ? static_cast<const std::uint8_t*>(lf) + 1 : end;
        if (lf) phase_ = Phase::Resync;
        skipped(static_cast<std::size_t>(p - before));
        break;
      }

      case Phase::RequestLine: {
        const LineResult r = takeLine(p, end, HTTP_MAX_HEADER_BYTES);
        if (r == LineResult::Partial) break;
        if (r == LineResult::TooLong) {
          anomalies_.inc(PA_ANOMALY("http_header_too_large"));
          dropAndResync(true);
          break;
        }
        head_bytes_ = line_.size() + 1;
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();  // CRLF, or a bare LF tolerated
        if (line_ == "PRI * HTTP/2.0") {
          phase_ = Phase::Http2;
          break;
        }
        if (!parseRequestLine()) {
          anomalies_.inc(PA_ANOMALY("http_request_malformed"));
          dropAndResync(false);
          break;
        }
        resync_skipped_ = 0;
        line_.clear();
        phase_ = Phase::Headers;
        break;
      }

      case Phase::Headers: {
        const LineResult r = takeLine(p, end, HTTP_MAX_HEADER_BYTES - head_bytes_);
        if (r == LineResult::Partial) break;
        if (r == LineResult::TooLong) {
          anomalies_.inc(PA_ANOMALY("http_header_too_large"));
          emitCutHeaders(p, end, out);
          break;
        }
        head_bytes_ += line_.size() + 1;
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (line_.empty()) {
          onHeadersComplete(out);
        } else if (!addHeaderLine()) {
          anomalies_.inc(PA_ANOMALY("http_too_many_headers"));
          dropAndResync(false);
        }
        line_.clear();
        break;
      }

      case Phase::Body:
      case Phase::ChunkData: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(body_remaining_, end - p));
        appendBody(p, n);
        p += n;
        body_remaining_ -= n;
        body_bytes_ += n;
        if (phase_ == Phase::ChunkData) req_.body_length += n;
        if (body_remaining_ == 0) {
          if (phase_ == Phase::ChunkData) {
            phase_ = Phase::ChunkDataEnd;
          } else {
            emit(out);
            phase_ = Phase::LineStart;
          }
        }
        break;
      }

      case Phase::ChunkSize: {
        const LineResult r = takeLine(p, end, HTTP_MAX_CHUNK_LINE);
        if (r == LineResult::Partial) break;
        if (r != LineResult::TooLong && !line_.empty() && line_.back() == '\r') line_.pop_back();
        if (r == LineResult::TooLong || !onChunkSizeLine()) {
          anomalies_.inc(PA_ANOMALY("http_bad_chunk_size"));
          req_.body_truncated = true;  // what came before is kept; the rest cannot be framed
          emit(out);
          phase_ = r == LineResult::TooLong ? Phase::SkipLine : Phase::Resync;
        }
        break;
      }

      case Phase::ChunkDataEnd: {
        // RFC 9112 §7.1: chunk-data is followed by CRLF (a bare LF tolerated).
        const LineResult r = takeLine(p, end, 2);
        if (r == LineResult::Partial) break;
        if (r == LineResult::Complete && (line_.empty() || line_ == "\r")) {
          line_.clear();
          phase_ = Phase::ChunkSize;
          break;
        }
        anomalies_.inc(PA_ANOMALY("http_chunk_malformed"));
        req_.body_truncated = true;
        emit(out);
        phase_ = r == LineResult::TooLong ? Phase::SkipLine : Phase::Resync;
        break;
      }

      case Phase::Trailers: {
        // RFC 9112 §7.1.2: trailer fields are read and ignored (they carry nothing we claim).
        const LineResult r = takeLine(p, end, HTTP_MAX_HEADER_BYTES - head_bytes_);
        if (r == LineResult::Partial) break;
        if (r == LineResult::TooLong) {
          anomalies_.inc(PA_ANOMALY("http_header_too_large"));
          emit(out);  // the body is complete
          phase_ = Phase::SkipLine;
          break;
        }
        head_bytes_ += line_.size() + 1;
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        const bool last = line_.empty();
        line_.clear();
        if (last) {
          emit(out);
          phase_ = Phase::LineStart;
        }
        break;
      }

      case Phase::Failed:
      case Phase::Tunnel:
      case Phase::Http2:
        break;
    }
    offset_ += static_cast<std::uint64_t>(p - before);
  }
  if (phase_ == Phase::Tunnel || phase_ == Phase::Http2) unconsumed_ = static_cast<std::size_t>(end - p);
  if (phase_ == Phase::Failed) {
    offset_ += static_cast<std::uint64_t>(end - p);
    return State::Error;
  }
  // A long line's buffer is not kept for the rest of the flow (heldBytes).
  if (line_.empty() && line_.capacity() > HTTP_LINE_KEPT_CAPACITY) std::string().swap(line_);
  return State::NeedMore;
}

std::size_t HttpRequestParser::heldBytes() const {
  std::size_t n = line_.capacity() + req_.headers.capacity() * sizeof(req_.headers[0]);
  for (const std::string* s : {&req_.method, &req_.uri, &req_.version, &req_.host, &req_.user_agent, &req_.body}) {
    n += s->capacity();
  }
  for (const auto& [name, value] : req_.headers) n += name.capacity() + value.capacity();
  return n;
}

void HttpRequestParser::gap(std::uint64_t missing) {
  offset_ += missing;
  switch (phase_) {
    case Phase::Failed:
    case Phase::Tunnel:
    case Phase::Http2:
      return;
    case Phase::LineStart:
    case Phase::Resync:
    case Phase::SkipLine:
      dropAndResync(false);  // the byte after the gap may start a request line
      return;
    case Phase::RequestLine:
    case Phase::Headers:
      anomalies_.inc(PA_ANOMALY("http_gap_in_request"));
      dropAndResync(false);
      return;
    case Phase::Body:
    case Phase::ChunkData: {
      // The headers were complete: keep the request, punch a hole in its body.
      anomalies_.inc(PA_ANOMALY("http_gap_in_body"));
      body_hole_ = true;
      req_.body_truncated = true;
      const std::uint64_t in_body = std::min(missing, body_remaining_);
      if (phase_ == Phase::ChunkData) req_.body_length += in_body;
      body_remaining_ -= in_body;
      if (body_remaining_ > 0) return;  // the gap ended inside the body
      if (missing == in_body) {
        // The gap ended exactly where the body (or the chunk) ends.
        if (phase_ == Phase::ChunkData) {
          phase_ = Phase::ChunkDataEnd;
        } else {
          emit(pending_);
          phase_ = Phase::LineStart;
        }
        return;
      }
      emit(pending_);  // the gap ran past the body: where the next request starts is unknown
      dropAndResync(false);
      return;
    }
    case Phase::ChunkSize:
    case Phase::ChunkDataEnd:
    case Phase::Trailers:
      anomalies_.inc(PA_ANOMALY("http_gap_in_body"));
      req_.body_truncated = true;
      emit(pending_);
      dropAndResync(false);
      return;
  }
}

void HttpRequestParser::finish(std::vector<HttpRequest>& out) {
  for (HttpRequest& r : pending_) out.push_back(std::move(r));
  pending_.clear();
  switch (phase_) {
    case Phase::RequestLine:
    case Phase::Headers:
      anomalies_.inc(PA_ANOMALY("http_request_incomplete"));
      break;
    case Phase::Body:
    case Phase::ChunkSize:
    case Phase::ChunkData:
    case Phase::ChunkDataEnd:
      anomalies_.inc(PA_ANOMALY("http_body_incomplete"));
      req_.body_truncated = true;
      emit(out);
      break;
    case Phase::Trailers:
      emit(out);  // the body was complete; only the trailer section is missing
      break;
    case Phase::LineStart:
    case Phase::Resync:
    case Phase::SkipLine:
    case Phase::Failed:
    case Phase::Tunnel:
    case Phase::Http2:
      break;
  }
  if (phase_ != Phase::Failed && phase_ != Phase::Tunnel && phase_ != Phase::Http2) dropAndResync(false);
}

}  // namespace provaudit::analyze
