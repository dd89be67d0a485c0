// NullRecordReader: the content of a NULL-encryption suite's application data
// records, field by field (samples/null_cipher.pcap is the real traffic).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "analyze/tls_null_records.h"

namespace pa = provaudit::analyze;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes record(std::uint8_t type, const Bytes& fragment) {
  Bytes r = {type, 3, 3, static_cast<std::uint8_t>(fragment.size() >> 8), static_cast<std::uint8_t>(fragment.size())};
  r.insert(r.end(), fragment.begin(), fragment.end());
  return r;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes withMac(const std::string& content, std::size_t mac) {
  Bytes b = text(content);
  b.insert(b.end(), mac, 0xAA);
  return b;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

constexpr std::uint16_t ECDHE_RSA_NULL_SHA = 0xc010;

}  // namespace

TEST_CASE("NULL-encryption suites: their MAC lengths, and no other suite") {
  CHECK(pa::nullEncryptionMacLength(0x0001) == 16);  // TLS_RSA_WITH_NULL_MD5
  CHECK(pa::nullEncryptionMacLength(0x0002) == 20);  // TLS_RSA_WITH_NULL_SHA
  CHECK(pa::nullEncryptionMacLength(0x003b) == 32);  // TLS_RSA_WITH_NULL_SHA256
  CHECK(pa::nullEncryptionMacLength(0xc010) == 20);
  CHECK(pa::nullEncryptionMacLength(0xc03b) == 48);  // TLS_ECDHE_PSK_WITH_NULL_SHA384
  CHECK(pa::nullEncryptionMacLength(0x0005) == 0);   // RC4: encrypted, however weakly
  CHECK(pa::nullEncryptionMacLength(0xc02f) == 0);
  CHECK(pa::nullEncryptionMacLength(0xc0b4) == 0);   // TLS 1.3 integrity-only: another record format
  const std::vector<std::uint16_t> offer = {0xc02f, 0xc010};
  CHECK(pa::offersNullEncryption(offer));
  const std::vector<std::uint16_t> modern = {0x1301, 0xc02f, 0x00ff};
  CHECK_FALSE(pa::offersNullEncryption(modern));
}

TEST_CASE("NullRecordReader: application data after the client's ChangeCipherSpec, without the MAC") {
  const Bytes stream = cat({record(22, text("client hello")), record(22, text("client key exchange")),
                            record(20, {1}), record(22, withMac("finished", 20)),
                            record(23, withMac("GET /a HTTP/1.1\r\n", 20)), record(23, withMac("\r\n", 20))});
  const std::string want = "GET /a HTTP/1.1\r\n\r\n";
  SECTION("in one piece") {
    pa::NullRecordReader r;
    Bytes plain;
    CHECK(r.feed(stream, ECDHE_RSA_NULL_SHA, plain));
    CHECK(std::string(plain.begin(), plain.end()) == want);
  }
  SECTION("a byte at a time, the suite known only from the ChangeCipherSpec on") {
    pa::NullRecordReader r;
    Bytes plain;
    bool ccs = false;
    for (std::size_t i = 0; i < stream.size(); ++i) {
      ccs = ccs || stream[i] == 20;
      CHECK(r.feed({&stream[i], 1}, ccs ? ECDHE_RSA_NULL_SHA : 0, plain));
    }
    CHECK(std::string(plain.begin(), plain.end()) == want);
  }
  SECTION("nothing before the ChangeCipherSpec is taken for application data") {
    pa::NullRecordReader r;
    Bytes plain;
    CHECK(r.feed(record(23, withMac("early", 20)), ECDHE_RSA_NULL_SHA, plain));
    CHECK(plain.empty());
  }
}

TEST_CASE("NullRecordReader stops where it cannot read") {
  pa::NullRecordReader r;
  Bytes plain;
  SECTION("an encrypting suite was negotiated") {
    CHECK_FALSE(r.feed(cat({record(20, {1}), record(23, withMac("secret", 20))}), 0xc02f, plain));
    CHECK(plain.empty());
  }
  SECTION("bytes that are not TLS records") {
    CHECK_FALSE(r.feed(text("GET / HTTP/1.1\r\n"), ECDHE_RSA_NULL_SHA, plain));
    CHECK(r.stopped());
  }
  SECTION("a record longer than TLS allows") {
    CHECK_FALSE(r.feed(Bytes{23, 3, 3, 0xff, 0xff}, ECDHE_RSA_NULL_SHA, plain));
  }
  SECTION("a gap in the client's bytes") {
    r.gap();
    CHECK_FALSE(r.feed(cat({record(20, {1}), record(23, withMac("late", 20))}), ECDHE_RSA_NULL_SHA, plain));
    CHECK(plain.empty());
  }
  SECTION("a record shorter than its MAC gives nothing, and the stream goes on") {
    CHECK(r.feed(cat({record(20, {1}), record(23, Bytes(5, 0)), record(23, withMac("ok", 20))}), ECDHE_RSA_NULL_SHA,
                 plain));
    CHECK(std::string(plain.begin(), plain.end()) == "ok");
  }
  SECTION("past NULL_RECORDS_MAX_BYTES") {
    const Bytes big = record(23, withMac(std::string(16000, 'x'), 20));
    CHECK(r.feed(record(20, {1}), ECDHE_RSA_NULL_SHA, plain));
    while (r.feed(big, ECDHE_RSA_NULL_SHA, plain)) {
    }
    CHECK(plain.size() == pa::NULL_RECORDS_MAX_BYTES);
  }
}
