// Byte-level tests of the streaming HTTP/1.x request parser (analyze/http_request.h).
// Each request is spelled out part by part; each malformed length or limit has its own test.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "analyze/http_request.h"
#include "common/anomaly.h"

using provaudit::AnomalyCounters;
using provaudit::analyze::HTTP_MAX_BODY_KEPT;
using provaudit::analyze::HTTP_MAX_HEADER_BYTES;
using provaudit::analyze::HTTP_MAX_HEADERS;
using provaudit::analyze::HTTP_MAX_RESYNC_BYTES;
using provaudit::analyze::HttpRequest;
using provaudit::analyze::HttpRequestParser;

namespace {

std::span<const std::uint8_t> bytesOf(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds `wire` in one call and returns what came out.
std::vector<HttpRequest> parseAll(const std::string& wire, AnomalyCounters& anomalies) {
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf(wire), out);
  return out;
}

void requireSame(const HttpRequest& a, const HttpRequest& b) {
  CHECK(a.method == b.method);
  CHECK(a.uri == b.uri);
  CHECK(a.version == b.version);
  CHECK(a.headers == b.headers);
  CHECK(a.host == b.host);
  CHECK(a.user_agent == b.user_agent);
  CHECK(a.body == b.body);
  CHECK(a.body_length == b.body_length);
  CHECK(a.body_truncated == b.body_truncated);
  CHECK(a.stream_offset == b.stream_offset);
}

// A SPA resync, as in LSYS-PG: GET of /spa<mac>.cfg with the User-Agent carrying the serial.
const std::string SPA_GET =
    "GET /spa000e08aabbcc.cfg HTTP/1.1\r\n"                        // request line
    "Host: prov.example.net\r\n"                                   // Host
    "User-Agent: Linksys/SPA-2102-2.0.5 (88012BA01234)\r\n"       // UA with serial
    "\r\n";                                                        // end of headers, no body

}  // namespace

TEST_CASE("http: one GET request, every part") {
  AnomalyCounters anomalies;
  const auto out = parseAll(SPA_GET, anomalies);
  REQUIRE(out.size() == 1);
  const HttpRequest& r = out[0];
  CHECK(r.method == "GET");
  CHECK(r.uri == "/spa000e08aabbcc.cfg");
  CHECK(r.version == "HTTP/1.1");
  REQUIRE(r.headers.size() == 2);
  CHECK(r.headers[0] == std::pair<std::string, std::string>{"Host", "prov.example.net"});
  CHECK(r.host == "prov.example.net");
  CHECK(r.user_agent == "Linksys/SPA-2102-2.0.5 (88012BA01234)");
  CHECK(r.body.empty());
  CHECK(r.body_length == 0);
  CHECK_FALSE(r.body_truncated);
  CHECK(r.stream_offset == 0);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http: bare LF line ends are tolerated") {
  AnomalyCounters anomalies;
  const auto out = parseAll("GET /a.cfg HTTP/1.0\n"  // request line ended by LF only
                            "Host: h\n"               // header, LF only
                            "\n",                     // end of headers
                            anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].version == "HTTP/1.0");
  CHECK(out[0].host == "h");
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http: header names are case-insensitive, values trimmed, obs-fold joined") {
  AnomalyCounters anomalies;
  const auto out = parseAll(
      "GET / HTTP/1.1\r\n"
      "hOsT: \t prov.example.net \t\r\n"  // odd case, OWS around the value
      "user-AGENT: Yealink SIP-T46G\r\n"  // value starts here...
      "  28.72.0.1 00:15:65:4a:a9:37\r\n"   // ...and continues on an obs-fold line (RFC 9112 §5.2)
      "\r\n",
      anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].host == "prov.example.net");
  CHECK(out[0].user_agent == "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37");
  CHECK(out[0].headers[0].first == "hOsT");  // names kept as sent
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http: a header line without a colon is skipped and counted") {
  AnomalyCounters anomalies;
  const auto out = parseAll("GET / HTTP/1.1\r\nnot a header\r\nHost: h\r\n\r\n", anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].host == "h");
  CHECK(anomalies.get("http_header_malformed") == 1);
}

TEST_CASE("http: User-Agent control bytes and invalid UTF-8 are kept byte for byte") {
  AnomalyCounters anomalies;
  const std::string ua = std::string("AVAYA/SIP12x0\x17/04.00.04.00 \xff\xfe\xc3", 30);  // 0x17, then invalid UTF-8
  const auto out = parseAll("GET /SIP0004F2000001.cfg HTTP/1.1\r\nUser-Agent: " + ua + "\r\n\r\n", anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_agent == ua);
  CHECK(out[0].user_agent.size() == 30);
  CHECK(out[0].user_agent[13] == '\x17');
}

TEST_CASE("http: pipelined requests on one connection, with offsets") {
  AnomalyCounters anomalies;
  const std::string second = "GET /spa000e08aabbcc.xml HTTP/1.1\r\nHost: h\r\n\r\n";
  const auto out = parseAll(SPA_GET + second, anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[0].uri == "/spa000e08aabbcc.cfg");
  CHECK(out[1].uri == "/spa000e08aabbcc.xml");
  CHECK(out[1].stream_offset == SPA_GET.size());
}

TEST_CASE("http: empty lines between requests are ignored (RFC 9112 §2.2)") {
  AnomalyCounters anomalies;
  const auto out = parseAll(SPA_GET + "\r\n\r\n" + SPA_GET, anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[1].stream_offset == SPA_GET.size() + 4);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http: a 2-request stream split at every byte boundary parses the same") {
  const std::string wire =
      "POST /prov HTTP/1.1\r\n"                 // request 1: POST with a Content-Length body
      "Host: h\r\n"
      "Content-Length: 11\r\n"
      "\r\n"
      "Product=SPA"                             // 11 body bytes
      "GET /a.cfg?mac=000e08aabbcc HTTP/1.1\r\n"  // request 2: chunked body
      "Transfer-Encoding: chunked\r\n"
      "User-Agent: x\r\n"
      "\r\n"
      "3;ext=1\r\nabc\r\n"                      // chunk of 3 with an extension
      "0\r\n"                                   // last chunk
      "X-Trailer: t\r\n"                        // a trailer field
      "\r\n";
  AnomalyCounters ref_anomalies;
  const auto expected = parseAll(wire, ref_anomalies);
  REQUIRE(expected.size() == 2);
  CHECK(expected[0].body == "Product=SPA");
  CHECK(expected[1].body == "abc");
  CHECK(expected[1].body_length == 3);
  CHECK(ref_anomalies.total() == 0);

  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    CAPTURE(cut);
    AnomalyCounters anomalies;
    HttpRequestParser parser(anomalies);
    std::vector<HttpRequest> out;
    parser.feed(bytesOf(wire.substr(0, cut)), out);
    parser.feed(bytesOf(wire.substr(cut)), out);
    REQUIRE(out.size() == 2);
    requireSame(out[0], expected[0]);
    requireSame(out[1], expected[1]);
    CHECK(anomalies.total() == 0);
  }
  // And one byte at a time.
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  for (char c : wire) parser.feed(bytesOf(std::string(1, c)), out);
  REQUIRE(out.size() == 2);
  requireSame(out[0], expected[0]);
  requireSame(out[1], expected[1]);
}

TEST_CASE("http: POST body is kept whole when small") {
  AnomalyCounters anomalies;
  const std::string body = R"x(Product = "SPA2102"; MAC_Addr = "000e08aabbcc"; Ser_Num = "88012BA01234"; SW_Ver = "2.0.6(b)";)x";
  const auto out = parseAll("POST /prov HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                            anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].method == "POST");
  CHECK(out[0].body == body);
  CHECK(out[0].body_length == body.size());
  CHECK_FALSE(out[0].body_truncated);
}

TEST_CASE("http: POST body beyond HTTP_MAX_BODY_KEPT is counted, not kept") {
  AnomalyCounters anomalies;
  const std::string body(HTTP_MAX_BODY_KEPT + 100, 'b');
  const auto out = parseAll("POST /up HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body +
                                SPA_GET,  // the next request still parses
                            anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[0].body.size() == HTTP_MAX_BODY_KEPT);
  CHECK(out[0].body_length == body.size());
  CHECK(out[0].body_truncated);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
}

TEST_CASE("http: chunked body beyond HTTP_MAX_BODY_KEPT is counted, not kept") {
  AnomalyCounters anomalies;
  const std::string chunk(HTTP_MAX_BODY_KEPT, 'c');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
  const auto out = parseAll("POST /up HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + std::string(size_line) +
                                chunk + "\r\n" + "5\r\nextra\r\n0\r\n\r\n" + SPA_GET,
                            anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[0].body.size() == HTTP_MAX_BODY_KEPT);
  CHECK(out[0].body_length == HTTP_MAX_BODY_KEPT + 5);
  CHECK(out[0].body_truncated);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
}

TEST_CASE("http: Expect: 100-continue changes nothing for a passive parser") {
  AnomalyCounters anomalies;
  const auto out = parseAll("PUT /log HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].body == "ok");
}

// --- limits --------------------------------------------------------------------------------

TEST_CASE("http: a header crossing HTTP_MAX_HEADER_BYTES is cut there, the request kept, the next one parsed") {
  AnomalyCounters anomalies;
  const std::string head = "GET /big HTTP/1.1\r\nHost: prov\r\nX-Pad: ";
  const std::string big = head + std::string(HTTP_MAX_HEADER_BYTES, 'p') + "\r\nAccept: */*\r\n\r\n";
  const auto out = parseAll(big + SPA_GET, anomalies);
  REQUIRE(out.size() == 2);
  // The request line and the headers before the limit are kept; the long value up to the limit.
  CHECK(out[0].method == "GET");
  CHECK(out[0].uri == "/big");
  CHECK(out[0].host == "prov");
  CHECK(out[0].headers_truncated);
  REQUIRE(out[0].headers.size() == 2);
  CHECK(out[0].headers[1].first == "X-Pad");
  CHECK(out[0].headers[1].second == std::string(HTTP_MAX_HEADER_BYTES - head.size(), 'p'));
  CHECK_FALSE(out[1].headers_truncated);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
  CHECK(out[1].stream_offset == big.size());
  CHECK(anomalies.get("http_header_too_large") == 1);
}

TEST_CASE("http: a 30,000-byte User-Agent keeps the request with the User-Agent cut, in any segmentation") {
  const std::string head = "GET /cfgc074ad2bd859.xml HTTP/1.1\r\nHost: 10.77.0.2\r\nUser-Agent: ";
  const std::string ua = "Grandstream Model HW GXP1628 SW 1.0.4.138 DevId c074ad2bd859 " + std::string(30000, 'a');
  const std::string wire = head + ua + "\r\nAccept: */*\r\n\r\n" + SPA_GET;
  for (const std::size_t piece : {wire.size(), std::size_t{1448}, std::size_t{1}}) {
    INFO("pieces of " << piece);
    AnomalyCounters anomalies;
    HttpRequestParser parser(anomalies);
    std::vector<HttpRequest> out;
    for (std::size_t at = 0; at < wire.size(); at += piece) {
      CHECK(parser.feed(bytesOf(wire.substr(at, piece)), out) == HttpRequestParser::State::NeedMore);
    }
    parser.finish(out);
    REQUIRE(out.size() == 2);
    CHECK(out[0].uri == "/cfgc074ad2bd859.xml");
    CHECK(out[0].host == "10.77.0.2");
    CHECK(out[0].headers_truncated);
    CHECK(out[0].user_agent == ua.substr(0, HTTP_MAX_HEADER_BYTES - head.size()));
    CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
    CHECK(anomalies.get("http_header_too_large") == 1);
    CHECK(parser.heldBytes() < 2 * HTTP_MAX_HEADER_BYTES);
  }
}

TEST_CASE("http: a header cut right after its CR keeps no CR") {
  AnomalyCounters anomalies;
  const std::string head = "GET /c HTTP/1.1\r\nUser-Agent: ";
  // The CR of the long line is its last byte within the limit; its LF is past it.
  const std::string ua(HTTP_MAX_HEADER_BYTES - head.size() - 1, 'u');
  const auto out = parseAll(head + ua + "\r\n\r\n", anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].headers_truncated);
  CHECK(out[0].user_agent == ua);
}

TEST_CASE("http: a request line longer than HTTP_MAX_HEADER_BYTES is dropped") {
  AnomalyCounters anomalies;
  const std::string line = "GET /" + std::string(HTTP_MAX_HEADER_BYTES + 10, 'a') + " HTTP/1.1\r\n\r\n";
  const auto out = parseAll(line + SPA_GET, anomalies);
  REQUIRE(out.size() == 1);
  CHECK(anomalies.get("http_header_too_large") == 1);
}

TEST_CASE("http: more than HTTP_MAX_HEADERS header lines is http_too_many_headers") {
  AnomalyCounters anomalies;
  std::string many = "GET /many HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= HTTP_MAX_HEADERS; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  const auto out = parseAll(many + SPA_GET, anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].uri == "/spa000e08aabbcc.cfg");
  CHECK(anomalies.get("http_too_many_headers") == 1);
}

TEST_CASE("http: exactly HTTP_MAX_HEADERS header lines is accepted") {
  AnomalyCounters anomalies;
  std::string many = "GET /many HTTP/1.1\r\n";
  for (std::size_t i = 0; i < HTTP_MAX_HEADERS; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  const auto out = parseAll(many + "\r\n", anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].headers.size() == HTTP_MAX_HEADERS);
  CHECK(anomalies.total() == 0);
}

// --- malformed lengths ---------------------------------------------------------------------

TEST_CASE("http: Content-Length that is not a number keeps the headers and resyncs") {
  AnomalyCounters anomalies;
  const auto out = parseAll("POST /p HTTP/1.1\r\nUser-Agent: ua\r\nContent-Length: twelve\r\n\r\nbody bytes\r\n" + SPA_GET,
                            anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[0].user_agent == "ua");  // the headers are still evidence
  CHECK(out[0].body_length == 0);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");  // "body bytes" line skipped by resync
  CHECK(anomalies.get("http_bad_content_length") == 1);
}

TEST_CASE("http: negative Content-Length is http_bad_content_length") {
  AnomalyCounters anomalies;
  const auto out = parseAll("POST /p HTTP/1.1\r\nContent-Length: -5\r\n\r\n" + SPA_GET, anomalies);
  REQUIRE(out.size() == 2);
  CHECK(anomalies.get("http_bad_content_length") == 1);
}

TEST_CASE("http: Content-Length beyond 64 bits is http_bad_content_length") {
  AnomalyCounters anomalies;
  const auto out = parseAll("POST /p HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n" + SPA_GET, anomalies);
  REQUIRE(out.size() == 2);
  CHECK(anomalies.get("http_bad_content_length") == 1);
}

TEST_CASE("http: two different Content-Length values are http_bad_content_length") {
  AnomalyCounters anomalies;
  const auto out = parseAll("POST /p HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc\r\n" + SPA_GET,
                            anomalies);
  CHECK(anomalies.get("http_bad_content_length") == 1);
  REQUIRE(out.size() == 2);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
}

TEST_CASE("http: a huge but valid Content-Length is counted as the body arrives") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf("PUT /fw HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\nabc"), out);
  CHECK(out.empty());  // 10 GB to go
  parser.finish(out);  // connection closed early
  REQUIRE(out.size() == 1);
  CHECK(out[0].body == "abc");
  CHECK(out[0].body_length == 10000000000ULL);
  CHECK(out[0].body_truncated);
  CHECK(anomalies.get("http_body_incomplete") == 1);
}

TEST_CASE("http: a chunk size that is not hex is http_bad_chunk_size") {
  AnomalyCounters anomalies;
  const auto out = parseAll(
      "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nab\r\n"       // a good chunk
      "zz\r\n"            // not hex
      "junk\r\n" + SPA_GET,
      anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[0].body == "ab");
  CHECK(out[0].body_truncated);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
  CHECK(anomalies.get("http_bad_chunk_size") == 1);
}

TEST_CASE("http: a chunk size beyond 64 bits is http_bad_chunk_size") {
  AnomalyCounters anomalies;
  const auto out = parseAll("POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n" + SPA_GET,
                            anomalies);
  REQUIRE(out.size() == 2);
  CHECK(anomalies.get("http_bad_chunk_size") == 1);
}

TEST_CASE("http: chunk data not followed by CRLF is http_chunk_malformed") {
  AnomalyCounters anomalies;
  const auto out = parseAll("POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n" + SPA_GET,
                            anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[0].body == "ab");
  CHECK(anomalies.get("http_chunk_malformed") == 1);
}

TEST_CASE("http: truncated chunked body is handed out on finish() as truncated") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf("POST /p HTTP/1.1\r\nUser-Agent: ua\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "20\r\n0123456789"),  // 0x20 = 32 bytes announced, 10 sent
              out);
  CHECK(out.empty());
  parser.finish(out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_agent == "ua");
  CHECK(out[0].body == "0123456789");
  CHECK(out[0].body_length == 10);
  CHECK(out[0].body_truncated);
  CHECK(anomalies.get("http_body_incomplete") == 1);
}

TEST_CASE("http: a request cut in its headers is dropped on finish()") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf("GET /a HTTP/1.1\r\nHost: h"), out);
  parser.finish(out);
  CHECK(out.empty());
  CHECK(anomalies.get("http_request_incomplete") == 1);
}

TEST_CASE("http: Transfer-Encoding whose last coding is not chunked cannot be framed") {
  AnomalyCounters anomalies;
  const auto out = parseAll("POST /p HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxx\r\n" + SPA_GET, anomalies);
  REQUIRE(out.size() == 2);
  CHECK(anomalies.get("http_bad_transfer_encoding") == 1);
}

TEST_CASE("http: Transfer-Encoding with Content-Length: chunked wins and it is counted") {
  AnomalyCounters anomalies;
  const auto out = parseAll(
      "POST /p HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n" + SPA_GET,
      anomalies);
  REQUIRE(out.size() == 2);
  CHECK(out[0].body == "z");
  CHECK(anomalies.get("http_te_and_content_length") == 1);
}

// --- malformed request lines and resync ------------------------------------------------------

TEST_CASE("http: request line without version is malformed; resync to the next request line") {
  AnomalyCounters anomalies;
  const auto out = parseAll("GET /spa$MA.cfg\r\n"   // HTTP/0.9-style: no version
                            "Host: h\r\n"            // skipped: not a request line
                            "\r\n" + SPA_GET,
                            anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].uri == "/spa000e08aabbcc.cfg");
  CHECK(anomalies.get("http_request_malformed") == 1);
}

TEST_CASE("http: request line with a bad version or a control byte in the target is malformed") {
  AnomalyCounters anomalies;
  const auto out = parseAll("GET / HTTP/2.0\r\n\r\nGET /a\x01 HTTP/1.1\r\n\r\n" + SPA_GET, anomalies);
  REQUIRE(out.size() == 1);
  CHECK(anomalies.get("http_request_malformed") == 2);
}

TEST_CASE("http: resync finds a request line after binary garbage") {
  AnomalyCounters anomalies;
  const std::string garbage("\x16\x03\x01\x00\x05GETX\nPOS\nGET", 17);  // TLS-ish bytes, near-miss methods
  const auto out = parseAll("garbage line\r\n" + garbage + "\n" + SPA_GET, anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].uri == "/spa000e08aabbcc.cfg");
  CHECK(anomalies.get("http_request_malformed") == 1);
}

TEST_CASE("http: resync gives up after HTTP_MAX_RESYNC_BYTES and reports Error") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  std::string junk = "junk\r\n";
  while (junk.size() <= HTTP_MAX_RESYNC_BYTES + 16) junk += "more junk that is no request\n";
  CHECK(parser.feed(bytesOf(junk), out) == HttpRequestParser::State::Error);
  CHECK(parser.feed(bytesOf(SPA_GET), out) == HttpRequestParser::State::Error);  // sticky
  CHECK(out.empty());
  CHECK(anomalies.get("http_resync_failed") == 1);
}

TEST_CASE("http: gap in the headers drops the request and resyncs on the next one") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf("GET /lost HTTP/1.1\r\nHost: h"), out);
  parser.gap(40);                                          // the rest of request 1 and part of a body
  parser.feed(bytesOf("tail of something\r\n" + SPA_GET), out);  // resync skips the tail line
  REQUIRE(out.size() == 1);
  CHECK(out[0].uri == "/spa000e08aabbcc.cfg");
  CHECK(out[0].stream_offset == 27 + 40 + 19);  // fed bytes + gap + skipped line
  CHECK(anomalies.get("http_gap_in_request") == 1);
}

TEST_CASE("http: gap inside a Content-Length body keeps the request with a truncated body") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf("POST /p HTTP/1.1\r\nUser-Agent: ua\r\nContent-Length: 10\r\n\r\nabc"), out);
  parser.gap(4);                      // 4 of the 7 missing body bytes lost
  parser.feed(bytesOf("xyz" + SPA_GET), out);  // the last 3 body bytes, then the next request
  REQUIRE(out.size() == 2);
  CHECK(out[0].user_agent == "ua");
  CHECK(out[0].body == "abc");        // nothing kept after the hole
  CHECK(out[0].body_length == 10);
  CHECK(out[0].body_truncated);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
  CHECK(anomalies.get("http_gap_in_body") == 1);
}

TEST_CASE("http: gap running past the end of a body hands the request out on the next feed") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf("POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"), out);
  parser.gap(100);                    // body end and whatever followed
  CHECK(out.empty());
  parser.feed(bytesOf("ers\r\n" + SPA_GET), out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].uri == "/p");
  CHECK(out[0].body_truncated);
  CHECK(out[1].uri == "/spa000e08aabbcc.cfg");
}

TEST_CASE("http: looksLikeRequest and looksLikeResponse on first bytes") {
  CHECK(HttpRequestParser::looksLikeRequest(bytesOf("GET / HTTP/1.1\r\n")));
  CHECK(HttpRequestParser::looksLikeRequest(bytesOf("OPTIONS * HTTP/1.1")));
  CHECK(HttpRequestParser::looksLikeRequest(bytesOf("PATCH ")));
  CHECK_FALSE(HttpRequestParser::looksLikeRequest(bytesOf("GET")));      // method without SP: cannot tell yet
  CHECK_FALSE(HttpRequestParser::looksLikeRequest(bytesOf("get / HTTP/1.1")));  // methods are case-sensitive
  CHECK_FALSE(HttpRequestParser::looksLikeRequest(bytesOf("\x16\x03\x01\x02\x00")));  // TLS ClientHello record
  CHECK_FALSE(HttpRequestParser::looksLikeRequest(bytesOf("")));
  CHECK(HttpRequestParser::looksLikeResponse(bytesOf("HTTP/1.1 200 OK\r\n")));
  CHECK_FALSE(HttpRequestParser::looksLikeResponse(bytesOf("HTTP/2 200")));
  CHECK_FALSE(HttpRequestParser::looksLikeResponse(bytesOf("GET / HTTP/1.1")));
}

TEST_CASE("http: a 64 KiB stream of control bytes and parentheses never crashes") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  std::string hostile;
  for (std::size_t i = 0; i < 64 * 1024; ++i) hostile.push_back(static_cast<char>(i % 7 == 0 ? '(' : i % 32));
  parser.feed(bytesOf("GET / HTTP/1.1\r\nUser-Agent: " + hostile.substr(0, 1000) + "\r\n\r\n"), out);
  parser.feed(bytesOf(hostile), out);
  SUCCEED();
}

TEST_CASE("http: mutated streams fed in random pieces parse as when fed whole") {
  // Deterministic pseudo-fuzzing: flip, drop and duplicate bytes of a valid
  // 3-request stream; whatever the bytes, the split must not change the outcome.
  const std::string base = SPA_GET +
                           "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n" +
                           "PUT /q HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
  std::mt19937 rng(20260101);
  for (int round = 0; round < 500; ++round) {
    std::string wire = base;
    const int edits = static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !wire.empty(); ++e) {
      const std::size_t at = rng() % wire.size();
      switch (rng() % 3) {
        case 0: wire[at] = static_cast<char>(rng() % 256); break;
        case 1: wire.erase(at, 1); break;
        default: wire.insert(at, 1, wire[at]); break;
      }
    }
    CAPTURE(round, wire);
    AnomalyCounters whole_anomalies;
    const auto whole = parseAll(wire, whole_anomalies);
    AnomalyCounters anomalies;
    HttpRequestParser parser(anomalies);
    std::vector<HttpRequest> pieces;
    for (std::size_t at = 0; at < wire.size();) {
      const std::size_t n = 1 + rng() % 9;
      parser.feed(bytesOf(wire.substr(at, n)), pieces);
      at += n;
    }
    REQUIRE(pieces.size() == whole.size());
    for (std::size_t i = 0; i < whole.size(); ++i) requireSame(pieces[i], whole[i]);
    CHECK(anomalies.total() == whole_anomalies.total());
  }
}

TEST_CASE("a CONNECT request ends the HTTP: the tunnel's bytes that follow it are left unread") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  const std::string connect = "CONNECT prov.example.test:443 HTTP/1.1\r\nHost: prov.example.test:443\r\n\r\n";
  // The tunnel's first bytes (a TLS record header) come in the same segment,
  // and more of them in the next: none is taken for a request.
  const std::string tunnel = "\x16\x03\x01\x00\x05hello";
  std::vector<HttpRequest> out;
  CHECK(parser.feed(bytesOf(connect + tunnel), out) == HttpRequestParser::State::NeedMore);
  REQUIRE(out.size() == 1);
  CHECK(out[0].method == "CONNECT");
  CHECK(out[0].uri == "prov.example.test:443");
  CHECK(out[0].host == "prov.example.test:443");
  CHECK(parser.unconsumed() == tunnel.size());
  CHECK(parser.feed(bytesOf("GET / HTTP/1.1\r\n\r\n"), out) == HttpRequestParser::State::NeedMore);
  CHECK(out.size() == 1);
  CHECK(parser.unconsumed() == 18);
  parser.gap(100);
  parser.finish(out);
  CHECK(out.size() == 1);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("the HTTP/2 preface after an upgraded request hands the rest of the stream over, as h2c_upgrade.pcap") {
  // curl --http2 on http://: GET with Upgrade: h2c, the server's 101, then
  // the client's preface and frames. The preface's first line is no request
  // (it was http_request_malformed, and the HTTP/2 requests after it lost).
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  const std::string upgrade = "GET /805ec0aabb02.cfg HTTP/1.1\r\nHost: 10.232.0.2:8080\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n";
  const std::string after_line = std::string("\r\nSM\r\n\r\n") + std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  std::vector<HttpRequest> out;
  // The preface's first line split over two feeds, as TCP may cut it.
  CHECK(parser.feed(bytesOf(upgrade + "PRI * HT"), out) == HttpRequestParser::State::NeedMore);
  REQUIRE(out.size() == 1);
  CHECK(out[0].uri == "/805ec0aabb02.cfg");
  CHECK_FALSE(parser.switchedToHttp2());
  CHECK(parser.feed(bytesOf("TP/2.0\r\n" + after_line), out) == HttpRequestParser::State::NeedMore);
  CHECK(parser.switchedToHttp2());
  CHECK(parser.unconsumed() == after_line.size());
  CHECK(out.size() == 1);
  parser.gap(10);
  parser.finish(out);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("a CONNECT request alone leaves nothing unread; another method never stops the parser") {
  AnomalyCounters anomalies;
  HttpRequestParser parser(anomalies);
  std::vector<HttpRequest> out;
  parser.feed(bytesOf("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nxx"), out);
  CHECK(out.size() == 2);
  CHECK(parser.unconsumed() == 0);
  parser.feed(bytesOf("\r\nXCONNECT h:443 HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"), out);
  REQUIRE(out.size() == 3);  // "xx" is no request line, nor is XCONNECT a method: no tunnel
  CHECK(out[2].uri == "/c");
  CHECK(parser.unconsumed() == 0);
  parser.feed(bytesOf("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), out);
  REQUIRE(out.size() == 4);
  CHECK(out[3].method == "CONNECT");
  CHECK(out[3].host == "h:443");
  CHECK(parser.unconsumed() == 0);
}
