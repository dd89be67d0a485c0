#include <catch2/catch.hpp>

#include <array>

#include "common/anomaly.h"
#include "common/byte_reader.h"
#include "common/net_types.h"

using provaudit::ByteReader;

TEST_CASE("ByteReader reads big-endian integers and stops at the end") {
  const std::array<std::uint8_t, 7> b{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
  ByteReader r(b);
  std::uint16_t u16 = 0;
  std::uint32_t u24 = 0;
  REQUIRE(r.readU16(u16));
  CHECK(u16 == 0x0102);
  REQUIRE(r.readU24(u24));
  CHECK(u24 == 0x030405);
  std::uint32_t u32 = 0;
  CHECK_FALSE(r.readU32(u32));  // only 2 bytes left
  CHECK(r.remaining() == 2);
}

TEST_CASE("ByteReader length-prefixed vector longer than the data is refused") {
  const std::array<std::uint8_t, 4> b{0x00, 0x05, 0xaa, 0xbb};  // claims 5, has 2
  ByteReader r(b);
  ByteReader sub;
  CHECK_FALSE(r.readPrefixed16(sub));
}

TEST_CASE("ByteReader sub-reader cannot see past its vector") {
  const std::array<std::uint8_t, 5> b{0x02, 0xaa, 0xbb, 0xcc, 0xdd};
  ByteReader r(b);
  ByteReader sub;
  REQUIRE(r.readPrefixed8(sub));
  CHECK(sub.remaining() == 2);
  CHECK(r.remaining() == 2);
}

TEST_CASE("MacAddr parses separators and case, refuses wrong lengths") {
  CHECK(provaudit::MacAddr::parse("00:0E:08:ab:cd:ef")->str() == "00:0e:08:ab:cd:ef");
  CHECK(provaudit::MacAddr::parse("000e08abcdef")->str() == "00:0e:08:ab:cd:ef");
  CHECK(provaudit::MacAddr::parse("00-08-5D-23-74-29")->str() == "00:08:5d:23:74:29");
  CHECK(provaudit::MacAddr::parse("0056.2B04.3616")->str() == "00:56:2b:04:36:16");  // Cisco's dotted notation
  CHECK_FALSE(provaudit::MacAddr::parse("000e08abcde").has_value());
  CHECK_FALSE(provaudit::MacAddr::parse("000e08abcdef0").has_value());
  CHECK_FALSE(provaudit::MacAddr::parse("ciscogeneric").has_value());
}

TEST_CASE("Anomaly counters are keyed by stable names") {
  provaudit::AnomalyCounters a;
  a.inc(PA_ANOMALY("test_anomaly_x"));
  a.inc(PA_ANOMALY("test_anomaly_x"), 2);
  CHECK(a.get("test_anomaly_x") == 3);
  CHECK(a.get("test_anomaly_never") == 0);
}

TEST_CASE("Anomaly counters add what another set counted since an earlier copy of it") {
  provaudit::AnomalyCounters run, mine;
  run.inc(PA_ANOMALY("test_since_a"), 5);
  const provaudit::AnomalyCounters before = run;
  run.inc(PA_ANOMALY("test_since_a"), 2);
  run.inc(PA_ANOMALY("test_since_b"));  // registered after the copy: beyond its counters
  mine.inc(PA_ANOMALY("test_since_a"));
  mine.mergeSince(run, before);
  CHECK(mine.get("test_since_a") == 3);
  CHECK(mine.get("test_since_b") == 1);
  mine.mergeSince(run, run);  // nothing since
  CHECK(mine.total() == 4);
}

TEST_CASE("isoTime formats packet time in UTC") {
  CHECK(provaudit::isoTime(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(provaudit::isoTime(1700000000123456789) == "2023-11-14T22:13:20.123456Z");
}
