// Byte-level tests of the HTTP/2 client-side reader and its HPACK decoder
// (analyze/http2.h). HPACK blocks are RFC 7541 Appendix C's examples where
// one fits; frames are spelled out field by field (RFC 9113 §4.1: length,
// type, flags, stream). Each malformed input has its own test and counter.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "analyze/http2.h"
#include "common/anomaly.h"

using provaudit::AnomalyCounters;
using provaudit::analyze::hpackHuffmanDecode;
using provaudit::analyze::HpackDecoder;
using provaudit::analyze::HPACK_DEFAULT_TABLE_SIZE;
using provaudit::analyze::HPACK_MAX_TABLE_SIZE;
using provaudit::analyze::Http2RequestReader;
using provaudit::analyze::HTTP2_MAX_HEADER_BLOCK;
using provaudit::analyze::HTTP2_MAX_HEADER_LIST;
using provaudit::analyze::HTTP2_PREFACE;
using provaudit::analyze::HttpRequest;

namespace {

using Bytes = std::vector<std::uint8_t>;
using Fields = std::vector<HpackDecoder::Field>;

Bytes hex(const std::string& text) {
  Bytes out;
  std::string digits;
  for (char c : text) {
    if (c != ' ') digits.push_back(c);
  }
  for (std::size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  }
  return out;
}

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// RFC 9113 §4.1: Length (24), Type (8), Flags (8), R + Stream Identifier (31), payload.
Bytes frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream, const Bytes& payload) {
  const auto n = static_cast<std::uint32_t>(payload.size());
  Bytes out = {static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n), type,
               flags, static_cast<std::uint8_t>(stream >> 24), static_cast<std::uint8_t>(stream >> 16),
               static_cast<std::uint8_t>(stream >> 8), static_cast<std::uint8_t>(stream)};
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

constexpr std::uint8_t DATA = 0x0, HEADERS = 0x1, SETTINGS = 0x4, PUSH_PROMISE = 0x5, PING = 0x6, CONTINUATION = 0x9;
constexpr std::uint8_t END_STREAM = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIORITY = 0x20;

// RFC 7541 §5.1: `value` in an integer of `prefix_bits`, behind `first` (the representation's bits).
void putInteger(Bytes& out, std::uint8_t first, int prefix_bits, std::uint64_t value) {
  const std::uint64_t max_prefix = (1U << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<std::uint8_t>(first | value));
    return;
  }
  out.push_back(static_cast<std::uint8_t>(first | max_prefix));
  for (value -= max_prefix; value >= 128; value >>= 7) out.push_back(static_cast<std::uint8_t>((value & 0x7f) | 0x80));
  out.push_back(static_cast<std::uint8_t>(value));
}

// RFC 7541 §6.2.2 literal without indexing, new name, both strings raw (§5.2, H = 0).
Bytes literal(std::string_view name, std::string_view value) {
  Bytes out = {0x00};
  putInteger(out, 0x00, 7, name.size());
  out.insert(out.end(), name.begin(), name.end());
  putInteger(out, 0x00, 7, value.size());
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

// C.4.1: :method GET, :scheme http, :path /, :authority www.example.com (Huffman).
const Bytes C41 = hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff");
// C.4.2: the same, :authority from the dynamic table, cache-control: no-cache.
const Bytes C42 = hex("8286 84be 5886 a8eb 1064 9cbf");
// C.4.3: :scheme https, :path /index.html, custom-key: custom-value.
const Bytes C43 = hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");

const Bytes SETTINGS_FRAME = frame(SETTINGS, 0, 0, hex("0003 0000 0064 0004 0000 ffff"));  // two settings

Bytes preface() { return text(HTTP2_PREFACE); }

std::vector<HttpRequest> readAll(const Bytes& wire, AnomalyCounters& anomalies,
                                 Http2RequestReader::State* state = nullptr) {
  Http2RequestReader reader(anomalies);
  std::vector<HttpRequest> out;
  const auto st = reader.feed(wire, out);
  if (state != nullptr) *state = st;
  return out;
}

Fields decodeOne(HpackDecoder& d, const Bytes& block, HpackDecoder::Result expect = HpackDecoder::Result::Ok) {
  Fields out;
  bool cut = false;
  CHECK(d.decode(block, out, HTTP2_MAX_HEADER_LIST, cut) == expect);
  return out;
}

}  // namespace

// ---- Huffman (RFC 7541 §5.2, Appendix B; strings from Appendix C.4 / C.6) ----

TEST_CASE("hpack huffman: the strings of RFC 7541 Appendix C decode", "[http2][hpack]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com"},
      {"a8eb 1064 9cbf", "no-cache"},
      {"25a8 49e9 5ba9 7d7f", "custom-key"},
      {"25a8 49e9 5bb8 e8b4 bf", "custom-value"},
      {"6402", "302"},
      {"aec3 771a 4b", "private"},
      {"9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com"},
  };
  for (const auto& [coded, plain] : cases) {
    std::string out;
    CHECK(hpackHuffmanDecode(hex(coded), out));
    CHECK(out == plain);
  }
}

TEST_CASE("hpack huffman: the empty string decodes to nothing", "[http2][hpack]") {
  std::string out;
  CHECK(hpackHuffmanDecode({}, out));
  CHECK(out.empty());
}

TEST_CASE("hpack huffman: a string holding EOS is an error", "[http2][hpack]") {
  std::string out;
  // EOS is 30 one bits; then two bits of padding.
  CHECK_FALSE(hpackHuffmanDecode(hex("ffff ffff"), out));
}

TEST_CASE("hpack huffman: padding of 8 bits or more is an error", "[http2][hpack]") {
  std::string out;
  // '0' (00000), then 11 one bits: more than 7 bits of padding.
  CHECK_FALSE(hpackHuffmanDecode(hex("07ff"), out));
}

TEST_CASE("hpack huffman: padding that is not the start of EOS is an error", "[http2][hpack]") {
  std::string out;
  // '0' (00000) then 000: padding must be one bits.
  CHECK_FALSE(hpackHuffmanDecode(hex("00"), out));
  std::string ok;
  CHECK(hpackHuffmanDecode(hex("07"), ok));  // '0' then 111
  CHECK(ok == "0");
}

// ---- HPACK decoder (RFC 7541 §6, Appendix C.2-C.5) ----

TEST_CASE("hpack: C.2.1 literal with indexing enters the dynamic table", "[http2][hpack]") {
  HpackDecoder d;
  const Fields f = decodeOne(d, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  REQUIRE(f.size() == 1);
  CHECK(f[0] == HpackDecoder::Field{"custom-key", "custom-header"});
  CHECK(d.entries() == 1);
  CHECK(d.tableSize() == 55);
}

TEST_CASE("hpack: C.2.2 literal without indexing leaves the table empty", "[http2][hpack]") {
  HpackDecoder d;
  const Fields f = decodeOne(d, hex("040c 2f73 616d 706c 652f 7061 7468"));
  REQUIRE(f.size() == 1);
  CHECK(f[0] == HpackDecoder::Field{":path", "/sample/path"});
  CHECK(d.entries() == 0);
}

TEST_CASE("hpack: C.2.3 literal never indexed leaves the table empty", "[http2][hpack]") {
  HpackDecoder d;
  const Fields f = decodeOne(d, hex("1008 7061 7373 776f 7264 0673 6563 7265 74"));
  REQUIRE(f.size() == 1);
  CHECK(f[0] == HpackDecoder::Field{"password", "secret"});
  CHECK(d.entries() == 0);
}

TEST_CASE("hpack: C.2.4 indexed field from the static table", "[http2][hpack]") {
  HpackDecoder d;
  const Fields f = decodeOne(d, hex("82"));
  REQUIRE(f.size() == 1);
  CHECK(f[0] == HpackDecoder::Field{":method", "GET"});
}

TEST_CASE("hpack: C.3 three requests without Huffman share the dynamic table", "[http2][hpack]") {
  HpackDecoder d;
  Fields f = decodeOne(d, hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
  CHECK(f == Fields{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "www.example.com"}});
  CHECK(d.tableSize() == 57);
  f = decodeOne(d, hex("8286 84be 5808 6e6f 2d63 6163 6865"));
  CHECK(f == Fields{{":method", "GET"},
                    {":scheme", "http"},
                    {":path", "/"},
                    {":authority", "www.example.com"},
                    {"cache-control", "no-cache"}});
  CHECK(d.tableSize() == 110);
  f = decodeOne(d, hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"));
  CHECK(f == Fields{{":method", "GET"},
                    {":scheme", "https"},
                    {":path", "/index.html"},
                    {":authority", "www.example.com"},
                    {"custom-key", "custom-value"}});
  CHECK(d.tableSize() == 164);
  CHECK(d.entries() == 3);
}

TEST_CASE("hpack: C.4 the same requests with Huffman", "[http2][hpack]") {
  HpackDecoder d;
  CHECK(decodeOne(d, C41) ==
        Fields{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "www.example.com"}});
  CHECK(decodeOne(d, C42).back() == HpackDecoder::Field{"cache-control", "no-cache"});
  const Fields f = decodeOne(d, C43);
  CHECK(f.back() == HpackDecoder::Field{"custom-key", "custom-value"});
  CHECK(f[3] == HpackDecoder::Field{":authority", "www.example.com"});
  CHECK(d.tableSize() == 164);
}

TEST_CASE("hpack: a size update evicts the oldest entries (C.5 with a 256-byte table)", "[http2][hpack]") {
  HpackDecoder d;
  // Dynamic table size update to 256 (001 11111, then 225 = 0xe1 0x01), then C.5.1.
  Fields f = decodeOne(d, cat({hex("3fe1 01"),
                               hex("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 "
                                   "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 "
                                   "6c65 2e63 6f6d")}));
  CHECK(d.maxTableSize() == 256);
  CHECK(f == Fields{{":status", "302"},
                    {"cache-control", "private"},
                    {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                    {"location", "https://www.example.com"}});
  CHECK(d.tableSize() == 222);
  // C.5.2: :status 307 enters; :status 302 (the oldest) is evicted.
  f = decodeOne(d, hex("4803 3330 37c1 c0bf"));
  CHECK(f == Fields{{":status", "307"},
                    {"cache-control", "private"},
                    {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                    {"location", "https://www.example.com"}});
  CHECK(d.tableSize() == 222);
  CHECK(d.entries() == 4);
}

TEST_CASE("hpack: an entry larger than the table empties it", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
  REQUIRE(d.entries() == 1);
  // Size update to 40, then a literal with indexing of 55 bytes: not added, table emptied.
  decodeOne(d, cat({hex("3f09"), hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")}));
  CHECK(d.entries() == 0);
  CHECK(d.tableSize() == 0);
}

TEST_CASE("hpack: the table starts at 4096 bytes", "[http2][hpack]") {
  HpackDecoder d;
  CHECK(d.maxTableSize() == HPACK_DEFAULT_TABLE_SIZE);
}

TEST_CASE("hpack malformed: index 0", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("80"), HpackDecoder::Result::Error);
}

TEST_CASE("hpack malformed: an index past the dynamic table", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("be"), HpackDecoder::Result::Error);           // 62, table empty
  HpackDecoder d2;
  decodeOne(d2, hex("7e 03 616263"), HpackDecoder::Result::Error);  // literal naming index 62
}

TEST_CASE("hpack malformed: an integer longer than any bound", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("ff ff ff ff ff ff ff 7f"), HpackDecoder::Result::Error);
}

TEST_CASE("hpack malformed: an integer cut short", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("ff ff"), HpackDecoder::Result::Error);
}

TEST_CASE("hpack malformed: a string longer than the block", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("400a 6375"), HpackDecoder::Result::Error);
}

TEST_CASE("hpack malformed: a size update above the cap", "[http2][hpack]") {
  HpackDecoder d;
  Bytes block;
  putInteger(block, 0x20, 5, HPACK_MAX_TABLE_SIZE + 1);  // §6.3: 001, 5-bit prefix
  decodeOne(d, block, HpackDecoder::Result::TableTooLarge);
}

TEST_CASE("http2: a table larger than provaudit follows is counted as such, not as an HPACK error", "[http2]") {
  // nghttpd --header-table-size=200000 lets a client use a 100,000-byte table:
  // no error of the peers, a limit of ours.
  AnomalyCounters anomalies;
  Http2RequestReader::State st{};
  Bytes block;
  putInteger(block, 0x20, 5, 100000);
  block.push_back(0x82);
  readAll(cat({preface(), frame(HEADERS, END_HEADERS, 1, block)}), anomalies, &st);
  CHECK(st == Http2RequestReader::State::Error);
  CHECK(anomalies.get("http2_table_size_over_limit") == 1);
  CHECK(anomalies.get("http2_hpack_error") == 0);
}

TEST_CASE("hpack malformed: a size update after a field", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("82 20"), HpackDecoder::Result::Error);
}

TEST_CASE("hpack malformed: a Huffman string holding EOS", "[http2][hpack]") {
  HpackDecoder d;
  decodeOne(d, hex("0084 ffff ffff 00"), HpackDecoder::Result::Error);
}

TEST_CASE("hpack: fields past the keep limit are decoded, not kept", "[http2][hpack]") {
  HpackDecoder d;
  Fields out;
  bool cut = false;
  // Three literals with indexing; keep room for the first only (1 + 1 + 32 = 34 bytes).
  const Bytes block = hex("4001 61 0162 4001 63 0164 4001 65 0166");
  CHECK(d.decode(block, out, 40, cut) == HpackDecoder::Result::Ok);
  CHECK(cut);
  CHECK(out == Fields{{"a", "b"}});
  CHECK(d.entries() == 3);  // the table followed all of them
}

TEST_CASE("hpack: a block naming one large entry over and over hits the copy bound", "[http2][hpack]") {
  HpackDecoder d;
  // Size update to the cap, a 60000-byte name entered, then literals with
  // indexing that take that name (index 62) with an empty value: each copies it.
  Bytes block = hex("3fe1 ff03");  // size update: 31 + 65505 = 65536, the cap
  block.push_back(0x40);           // literal with incremental indexing, new name
  putInteger(block, 0x00, 7, 60000);
  block.insert(block.end(), 60000, 'n');
  block.push_back(0x00);  // empty value
  for (int i = 0; i < 100; ++i) {
    block.push_back(0x40 | 0x3e);  // literal with indexing, name of index 62: the newest entry
    block.push_back(0x00);         // empty value
  }
  Fields out;
  bool cut = false;
  CHECK(d.decode(block, out, HTTP2_MAX_HEADER_LIST, cut) == HpackDecoder::Result::Error);
}

// ---- frames (RFC 9113) ----

TEST_CASE("http2: preface, SETTINGS and one HEADERS frame give a request", "[http2]") {
  AnomalyCounters anomalies;
  const Bytes block = cat({C41, literal("user-agent", "Cisco/SPA112-1.4.1 (CCQ1)")});
  const Bytes wire = cat({preface(), SETTINGS_FRAME, frame(HEADERS, END_HEADERS | END_STREAM, 1, block)});
  const auto out = readAll(wire, anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].method == "GET");
  CHECK(out[0].uri == "/");
  CHECK(out[0].host == "www.example.com");
  CHECK(out[0].user_agent == "Cisco/SPA112-1.4.1 (CCQ1)");
  CHECK(out[0].version == "HTTP/2");
  CHECK(out[0].stream_offset == HTTP2_PREFACE.size() + SETTINGS_FRAME.size());
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http2: the same bytes fed one at a time give the same request", "[http2]") {
  AnomalyCounters anomalies;
  const Bytes block = cat({C41, literal("user-agent", "UA/1")});
  const Bytes wire = cat({preface(), SETTINGS_FRAME, frame(HEADERS, END_HEADERS, 1, block)});
  Http2RequestReader reader(anomalies);
  std::vector<HttpRequest> out;
  for (std::uint8_t b : wire) reader.feed(std::span<const std::uint8_t>(&b, 1), out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_agent == "UA/1");
  CHECK(out[0].host == "www.example.com");
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http2: requests on later streams use the dynamic table", "[http2]") {
  AnomalyCounters anomalies;
  const Bytes wire = cat({preface(), frame(HEADERS, END_HEADERS, 1, C41), frame(HEADERS, END_HEADERS, 3, C42),
                          frame(HEADERS, END_HEADERS, 5, C43)});
  const auto out = readAll(wire, anomalies);
  REQUIRE(out.size() == 3);
  CHECK(out[1].host == "www.example.com");  // from the dynamic table
  CHECK(out[2].uri == "/index.html");
  CHECK(out[2].headers.back() == std::pair<std::string, std::string>{"custom-key", "custom-value"});
}

TEST_CASE("http2: a padded HEADERS frame with priority", "[http2]") {
  AnomalyCounters anomalies;
  // Pad Length 3, Exclusive+Stream Dependency 0, Weight 15, the block, 3 bytes of padding.
  const Bytes payload = cat({hex("03 00000000 0f"), C41, hex("000000")});
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS | PADDED | PRIORITY, 1, payload)}), anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].host == "www.example.com");
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http2: a header block in HEADERS and CONTINUATION frames", "[http2]") {
  AnomalyCounters anomalies;
  const Bytes block = cat({C41, literal("user-agent", "Split/2")});
  const Bytes first(block.begin(), block.begin() + 5);
  const Bytes second(block.begin() + 5, block.begin() + 12);
  const Bytes third(block.begin() + 12, block.end());
  const auto out = readAll(cat({preface(), frame(HEADERS, 0, 1, first), frame(CONTINUATION, 0, 1, second),
                                frame(CONTINUATION, END_HEADERS, 1, third)}),
                           anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_agent == "Split/2");
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http2: DATA frames are read past and counted as body bytes", "[http2]") {
  AnomalyCounters anomalies;
  Http2RequestReader reader(anomalies);
  std::vector<HttpRequest> out;
  reader.feed(cat({preface(), frame(HEADERS, END_HEADERS, 1, C41), frame(DATA, END_STREAM, 1, Bytes(1000, 'x')),
                   frame(PING, 0, 0, Bytes(8, 0)), frame(HEADERS, END_HEADERS, 3, C42)}),
              out);
  CHECK(out.size() == 2);
  CHECK(reader.bodyBytes() == 1000);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http2: trailers on a request's stream are no new request", "[http2]") {
  AnomalyCounters anomalies;
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS, 1, C41),
                                frame(HEADERS, END_HEADERS | END_STREAM, 1, literal("x-trailer", "1"))}),
                           anomalies);
  CHECK(out.size() == 1);
  CHECK(anomalies.total() == 0);
}

TEST_CASE("http2 malformed: a stream that does not open with the preface", "[http2]") {
  AnomalyCounters anomalies;
  Http2RequestReader::State st{};
  readAll(text("PRI * HTTP/1.1\r\n\r\n"), anomalies, &st);
  CHECK(st == Http2RequestReader::State::Error);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: CONTINUATION without an open header block", "[http2]") {
  AnomalyCounters anomalies;
  Http2RequestReader::State st{};
  readAll(cat({preface(), frame(CONTINUATION, END_HEADERS, 1, C41)}), anomalies, &st);
  CHECK(st == Http2RequestReader::State::Error);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: another frame inside a header block", "[http2]") {
  AnomalyCounters anomalies;
  const auto out = readAll(cat({preface(), frame(HEADERS, 0, 1, C41), frame(PING, 0, 0, Bytes(8, 0))}), anomalies);
  CHECK(out.empty());
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: CONTINUATION on another stream", "[http2]") {
  AnomalyCounters anomalies;
  readAll(cat({preface(), frame(HEADERS, 0, 1, C41), frame(CONTINUATION, END_HEADERS, 3, hex("82"))}), anomalies);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: padding as long as the payload", "[http2]") {
  AnomalyCounters anomalies;
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS | PADDED, 1, cat({hex("ff"), C41}))}), anomalies);
  CHECK(out.empty());
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: a PRIORITY flag without its five bytes", "[http2]") {
  AnomalyCounters anomalies;
  readAll(cat({preface(), frame(HEADERS, END_HEADERS | PRIORITY, 1, hex("0000"))}), anomalies);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: HEADERS on stream 0", "[http2]") {
  AnomalyCounters anomalies;
  readAll(cat({preface(), frame(HEADERS, END_HEADERS, 0, C41)}), anomalies);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: a request on an even stream", "[http2]") {
  AnomalyCounters anomalies;
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS, 2, C41)}), anomalies);
  CHECK(out.empty());
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: SETTINGS whose length is no multiple of six", "[http2]") {
  AnomalyCounters anomalies;
  readAll(cat({preface(), frame(SETTINGS, 0, 0, hex("0003 0000 00"))}), anomalies);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: a SETTINGS ACK with a payload", "[http2]") {
  AnomalyCounters anomalies;
  readAll(cat({preface(), frame(SETTINGS, 0x1, 0, hex("0003 0000 0064"))}), anomalies);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: a client PUSH_PROMISE", "[http2]") {
  AnomalyCounters anomalies;
  readAll(cat({preface(), frame(PUSH_PROMISE, END_HEADERS, 1, cat({hex("00000002"), C41}))}), anomalies);
  CHECK(anomalies.get("http2_malformed") == 1);
}

TEST_CASE("http2 malformed: a header block too large", "[http2]") {
  AnomalyCounters anomalies;
  Http2RequestReader::State st{};
  const Bytes big(HTTP2_MAX_HEADER_BLOCK / 2 + 1, 0x82);
  readAll(cat({preface(), frame(HEADERS, 0, 1, big), frame(CONTINUATION, END_HEADERS, 1, big)}), anomalies, &st);
  CHECK(st == Http2RequestReader::State::Error);
  CHECK(anomalies.get("http2_header_block_too_large") == 1);
}

TEST_CASE("http2 malformed: an HPACK error stops the connection", "[http2]") {
  AnomalyCounters anomalies;
  Http2RequestReader::State st{};
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS, 1, hex("80")),
                                frame(HEADERS, END_HEADERS, 3, C41)}),
                           anomalies, &st);
  CHECK(out.empty());
  CHECK(st == Http2RequestReader::State::Error);
  CHECK(anomalies.get("http2_hpack_error") == 1);
}

TEST_CASE("http2 malformed: a request without :path", "[http2]") {
  AnomalyCounters anomalies;
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS, 1, hex("82 86")),
                                frame(HEADERS, END_HEADERS, 3, C41)}),
                           anomalies);
  REQUIRE(out.size() == 1);  // the next request is read
  CHECK(out[0].host == "www.example.com");
  CHECK(anomalies.get("http2_request_malformed") == 1);
}

TEST_CASE("http2 malformed: a pseudo-header after a regular field", "[http2]") {
  AnomalyCounters anomalies;
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS, 1, cat({hex("82 86"), literal("a", "b"),
                                                                               hex("84")}))}),
                           anomalies);
  CHECK(out.empty());
  CHECK(anomalies.get("http2_request_malformed") == 1);
}

TEST_CASE("http2: a header list past its limit keeps the fields before", "[http2]") {
  AnomalyCounters anomalies;
  const std::string ua(200, 'u');
  Bytes block = cat({C41, literal("user-agent", ua)});
  for (int i = 0; i < 200; ++i) block = cat({block, literal("x-filler", std::string(100, 'f'))});
  const auto out = readAll(cat({preface(), frame(HEADERS, END_HEADERS, 1, block)}), anomalies);
  REQUIRE(out.size() == 1);
  CHECK(out[0].user_agent == ua);
  CHECK(out[0].headers_truncated);
  CHECK(anomalies.get("http2_header_list_too_large") == 1);
}

TEST_CASE("http2: a gap stops the connection", "[http2]") {
  AnomalyCounters anomalies;
  Http2RequestReader reader(anomalies);
  std::vector<HttpRequest> out;
  reader.feed(cat({preface(), frame(HEADERS, END_HEADERS, 1, C41)}), out);
  reader.gap(100);
  CHECK(reader.feed(frame(HEADERS, END_HEADERS, 3, C42), out) == Http2RequestReader::State::Error);
  CHECK(out.size() == 1);
  CHECK(anomalies.get("http2_gap") == 1);
}

TEST_CASE("http2: a header block cut by the end of the stream is counted", "[http2]") {
  AnomalyCounters anomalies;
  Http2RequestReader reader(anomalies);
  std::vector<HttpRequest> out;
  reader.feed(cat({preface(), frame(HEADERS, 0, 1, C41)}), out);
  reader.finish();
  CHECK(out.empty());
  CHECK(anomalies.get("http2_request_incomplete") == 1);
}

TEST_CASE("http2: the preface is told from request lines by its first bytes", "[http2]") {
  CHECK(Http2RequestReader::looksLikePreface(text("PRI * ")));
  CHECK(Http2RequestReader::looksLikePreface(text(HTTP2_PREFACE)));
  CHECK_FALSE(Http2RequestReader::looksLikePreface(text("GET / HTTP/1.1\r\n")));
  CHECK_FALSE(Http2RequestReader::looksLikePreface(text("PRIX * ")));
}
