// JA3 and JA4 against the published vectors.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "analyze/tls_connection.h"
#include "tls_builders.h"

using provaudit::analyze::ClientHello;
using provaudit::analyze::ja3Hash;
using provaudit::analyze::ja3String;
using provaudit::analyze::ja4;

namespace {

// The example of FoxIO-LLC/ja4 technical_details/JA4.md ("JA4_ro" line), with
// GREASE values added that the fingerprint must ignore:
// JA4 = t13d1516h2_8daaf6152771_e5627efa2ab1.
ClientHello foxioExample() {
  ClientHello ch;
  ch.legacy_version = 0x0303;
  ch.supported_versions = {0x2a2a, 0x0304, 0x0303};
  ch.cipher_suites = {0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9,
                      0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
  ch.extensions = {0x1a1a, 0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d,
                   0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015, 0xfafa};
  ch.signature_algorithms = {0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601};
  ch.alpn = {"h2", "http/1.1"};
  ch.sni = "example.com";
  return ch;
}

}  // namespace

TEST_CASE("ja4: FoxIO README example") {
  CHECK(ja4(foxioExample()) == "t13d1516h2_8daaf6152771_e5627efa2ab1");
  CHECK(ja4(foxioExample(), true) == "q13d1516h2_8daaf6152771_e5627efa2ab1");
}

TEST_CASE("ja4: without signature algorithms the string ends without '_' (JA4.md)") {
  ClientHello ch = foxioExample();
  ch.signature_algorithms.clear();
  CHECK(ja4(ch) == "t13d1516h2_8daaf6152771_6d807ffa2a79");
}

TEST_CASE("ja4: empty lists hash to twelve zeros") {
  ClientHello ch;
  ch.legacy_version = 0x0301;
  CHECK(ja4(ch) == "t10i000000_000000000000_000000000000");
  ch.extensions = {0x0000, 0x0010};  // only SNI and ALPN: the sorted list is empty
  CHECK(ja4(ch) == "t10d000200_000000000000_000000000000");
}

TEST_CASE("ja4: version from legacy_version when supported_versions is absent") {
  ClientHello ch = foxioExample();
  ch.supported_versions.clear();
  CHECK(ja4(ch).substr(0, 3) == "t12");
  ch.legacy_version = 0x0300;
  CHECK(ja4(ch).substr(0, 3) == "ts3");
  ch.legacy_version = 0x0002;
  CHECK(ja4(ch).substr(0, 3) == "ts2");
  ch.legacy_version = 0x1234;
  CHECK(ja4(ch).substr(0, 3) == "t00");
}

TEST_CASE("ja4: ALPN first and last characters") {
  ClientHello ch = foxioExample();
  const auto alpn = [&](std::string first) {
    ch.alpn = {std::move(first)};
    return ja4(ch).substr(8, 2);
  };
  CHECK(alpn("http/1.1") == "h1");
  CHECK(alpn("x") == "xx");
  CHECK(alpn("") == "00");
  // Non-alphanumeric first or last byte: first and last hex digit (JA4.md examples).
  CHECK(alpn("\xab") == "ab");
  CHECK(alpn("\xab\xcd") == "ad");
  CHECK(alpn("0\xab") == "3b");
  CHECK(alpn("01\xab\xcd") == "3d");
  CHECK(alpn("0\xab\xcd" "1") == "01");
  ch.alpn.clear();
  CHECK(ja4(ch).substr(8, 2) == "00");
}

TEST_CASE("ja4: counts are capped at 99") {
  ClientHello ch;
  ch.legacy_version = 0x0303;
  for (std::uint16_t i = 1; i <= 120; ++i) {
    ch.cipher_suites.push_back(i);
    ch.extensions.push_back(static_cast<std::uint16_t>(0x1000 + i));
  }
  CHECK(ja4(ch).substr(0, 10) == "t12i999900");
}

TEST_CASE("ja3: salesforce/ja3 README examples") {
  ClientHello ch;
  ch.legacy_version = 769;
  ch.cipher_suites = {47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4};
  ch.extensions = {0, 10, 11};
  ch.supported_groups = {23, 24, 25};
  ch.ec_point_formats = {0};
  CHECK(ja3String(ch) == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0");
  CHECK(ja3Hash(ch) == "ada70206e40642a3e4461f35503241d5");

  ClientHello bare;
  bare.legacy_version = 769;
  bare.cipher_suites = {4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99};
  CHECK(ja3String(bare) == "769,4-5-10-9-100-98-3-6-19-18-99,,,");
  CHECK(ja3Hash(bare) == "de350869b8c85de67a350c8d186f11e6");
}

TEST_CASE("ja3: GREASE is dropped from ciphers, extensions and groups, wire order kept") {
  ClientHello ch;
  ch.legacy_version = 0x0303;
  ch.cipher_suites = {0x3a3a, 0x1301, 0x002f};
  ch.extensions = {0x4a4a, 0x0000, 0x000a, 0x5a5a};
  ch.supported_groups = {0x6a6a, 0x001d};
  ch.ec_point_formats = {0, 1};
  CHECK(ja3String(ch) == "771,4865-47,0-10,29,0-1");
}

TEST_CASE("ja3/ja4: from a parsed ClientHello") {
  using namespace provaudit::tlstest;
  Feeder f;
  f.client(ClientHelloParts{}.record());
  REQUIRE(f.summary().client_hello);
  const ClientHello& ch = *f.summary().client_hello;
  CHECK(ja3String(ch) == "771,49199-47-255,0-10-11-13-16-35-43,29-23,0");
  CHECK(ja4(ch).substr(0, 11) == "t12d0307h1_");
}

// The flow analyzer keeps fingerprints by fingerprintKey() (a fleet sends a
// few distinct ClientHellos): equal keys must mean equal fingerprints, and
// every field a fingerprint reads must change the key.
TEST_CASE("fingerprints: computed together they equal each alone") {
  const ClientHello ch = foxioExample();
  const provaudit::analyze::ClientFingerprints f = provaudit::analyze::clientFingerprints(ch);
  CHECK(f.ja3 == ja3Hash(ch));
  CHECK(f.ja3_string == ja3String(ch));
  CHECK(f.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1");
}

TEST_CASE("fingerprints: the key ignores what no fingerprint reads, and changes with all they do") {
  using provaudit::analyze::fingerprintKey;
  const ClientHello base = foxioExample();
  const std::string key = fingerprintKey(base);
  ClientHello same = base;
  same.sni = "other.example";
  same.random[0] ^= 1;
  same.session_id = {1, 2, 3};
  same.session_ticket = {4};
  same.alpn.back() = "spdy/3";  // only the first ALPN value counts
  same.record_version = 0x0301;
  CHECK(fingerprintKey(same) == key);
  CHECK(ja4(same) == ja4(base));
  CHECK(ja3Hash(same) == ja3Hash(base));

  const std::vector<std::pair<const char*, void (*)(ClientHello&)>> changes = {
      {"legacy_version", [](ClientHello& c) { c.legacy_version = 0x0302; }},
      {"a cipher suite", [](ClientHello& c) { c.cipher_suites.back() = 0x000a; }},
      {"cipher order", [](ClientHello& c) { std::swap(c.cipher_suites[1], c.cipher_suites[2]); }},
      {"an extension", [](ClientHello& c) { c.extensions.push_back(0x0029); }},
      {"a group", [](ClientHello& c) { c.supported_groups.push_back(0x001d); }},
      {"a signature algorithm", [](ClientHello& c) { c.signature_algorithms.pop_back(); }},
      {"supported_versions", [](ClientHello& c) { c.supported_versions = {0x0303}; }},
      {"a point format", [](ClientHello& c) { c.ec_point_formats.push_back(0); }},
      {"the first ALPN value", [](ClientHello& c) { c.alpn.front() = "h3"; }},
      {"no ALPN", [](ClientHello& c) { c.alpn.clear(); }},
  };
  for (const auto& [what, change] : changes) {
    INFO(what);
    ClientHello other = base;
    change(other);
    CHECK(fingerprintKey(other) != key);
  }
}

TEST_CASE("fingerprints: equal keys give equal fingerprints over many random ClientHellos") {
  using provaudit::analyze::fingerprintKey;
  // Small domains, so that keys collide often and list boundaries move: a
  // cipher list [1, 2] with extensions [3] against [1] with [2, 3].
  std::uint32_t seed = 12345;
  const auto next = [&](std::uint32_t n) {
    seed = seed * 1664525u + 1013904223u;
    return (seed >> 8) % n;
  };
  const auto list = [&] {
    std::vector<std::uint16_t> v(next(3));
    for (auto& x : v) x = static_cast<std::uint16_t>(next(3) == 0 ? 0x0a0a : next(3));
    return v;
  };
  std::map<std::string, provaudit::analyze::ClientFingerprints> seen;
  int collisions = 0;
  for (int i = 0; i < 40000; ++i) {
    ClientHello ch;
    ch.legacy_version = static_cast<std::uint16_t>(0x0302 + next(2));
    ch.cipher_suites = list();
    ch.extensions = list();
    ch.supported_groups = list();
    ch.signature_algorithms = list();
    ch.supported_versions = list();
    ch.ec_point_formats.assign(next(2), 0);
    if (next(2) == 0) ch.alpn = {next(2) == 0 ? "h2" : "2h"};
    const auto f = provaudit::analyze::clientFingerprints(ch);
    auto [it, fresh] = seen.emplace(fingerprintKey(ch), f);
    if (fresh) continue;
    ++collisions;
    INFO("ja3 string " << f.ja3_string);
    REQUIRE(it->second.ja3 == f.ja3);
    REQUIRE(it->second.ja3_string == f.ja3_string);
    REQUIRE(it->second.ja4 == f.ja4);
  }
  CHECK(collisions > 1000);  // the property was tested, not just stated
}
