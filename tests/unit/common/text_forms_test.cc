// Times and addresses as the documents show them, against the C library's own
// gmtime and inet_ntop (the forms they were written with before) over many values.
#include <arpa/inet.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>

#include "common/net_types.h"
#include "common/text.h"

namespace {

std::string libcIsoTime(std::int64_t ts_ns) {
  std::int64_t secs = ts_ns / 1000000000, frac = ts_ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(frac / 1000));
  return buf;
}

}  // namespace

TEST_CASE("isoTime agrees with gmtime on every day a packet time can name (1970 to 2262) and at random times") {
  constexpr std::int64_t DAY_NS = 86400LL * 1000000000;
  // Each day's first and last microsecond: month ends, leap days, 2000 (leap)
  // and 2100 (not), up to the last whole day of int64 nanoseconds (2262-04-10).
  for (std::int64_t day = 0; day < INT64_MAX / DAY_NS; ++day) {
    for (const std::int64_t ns : {day * DAY_NS, day * DAY_NS + DAY_NS - 1000}) {
      const std::string got = provaudit::isoTime(ns), want = libcIsoTime(ns);
      if (got != want) {
        INFO(ns);
        REQUIRE(got == want);
      }
    }
  }
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> any(0, INT64_MAX / 1000 - 1);  // microseconds
  for (int i = 0; i < 200000; ++i) {
    const std::int64_t ns = any(rng) * 1000 + static_cast<std::int64_t>(rng() % 1000);
    const std::string got = provaudit::isoTime(ns), want = libcIsoTime(ns);
    if (got != want) {
      INFO(ns);
      REQUIRE(got == want);
    }
  }
  CHECK(provaudit::isoTime(951782400000000000) == "2000-02-29T00:00:00.000000Z");
  CHECK(provaudit::isoTime(4107542400000000000) == "2100-03-01T00:00:00.000000Z");
  CHECK(provaudit::isoTime(INT64_MAX) == "2262-04-11T23:47:16.854775Z");
  // Before 1970, the C library's form still.
  CHECK(provaudit::isoTime(-1) == libcIsoTime(-1));
  CHECK(provaudit::isoTime(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK(provaudit::isoTime(INT64_MIN) == libcIsoTime(INT64_MIN));
}

TEST_CASE("an IPv4 address prints as inet_ntop prints it") {
  std::mt19937 rng(11);
  for (int i = 0; i < 100000; ++i) {
    std::array<std::uint8_t, 4> b{};
    const std::uint32_t v = i < 256 ? static_cast<std::uint32_t>(i) * 0x01010101u : static_cast<std::uint32_t>(rng());
    for (int k = 0; k < 4; ++k) b[static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(v >> (8 * k));
    char want[INET_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET, b.data(), want, sizeof want);
    const auto ip = provaudit::IpAddr::parse(want);
    REQUIRE(ip);
    if (ip->str() != want) {
      INFO(want);
      REQUIRE(ip->str() == want);
    }
  }
  CHECK(provaudit::IpAddr::parse("10.0.0.255")->str() == "10.0.0.255");
  CHECK(provaudit::IpAddr::parse("0.0.0.0")->str() == "0.0.0.0");
  CHECK(provaudit::IpAddr::parse("2001:db8::1")->str() == "2001:db8::1");
}

TEST_CASE("a count says its noun in the singular for exactly one") {
  CHECK(provaudit::counted(0, "flow", "flows") == "0 flows");
  CHECK(provaudit::counted(1, "flow", "flows") == "1 flow");
  CHECK(provaudit::counted(2, "anomaly", "anomalies") == "2 anomalies");
  CHECK(provaudit::counted(1, "anomaly", "anomalies") == "1 anomaly");
  CHECK(provaudit::counted(1394566, "packet", "packets") == "1394566 packets");
}
