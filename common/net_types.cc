#include "common/net_types.h"

#include <arpa/inet.h>

#include <cstdio>
#include <ctime>
#include <span>

#include "common/text.h"

namespace provaudit {

std::string MacAddr::str() const {
  std::string out;
  out.reserve(3 * b.size());
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i != 0) out.push_back(':');
    appendHexLower(out, std::span(&b[i], 1));
  }
  return out;
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
  MacAddr m;
  int nibbles = 0;
  for (char c : text) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else if (c == ':' || c == '-' || c == '.') continue;
    else return std::nullopt;
    if (nibbles >= 12) return std::nullopt;
    m.b[static_cast<std::size_t>(nibbles / 2)] = static_cast<std::uint8_t>((m.b[static_cast<std::size_t>(nibbles / 2)] << 4) | v);
    ++nibbles;
  }
  if (nibbles != 12) return std::nullopt;
  return m;
}

bool MacAddr::isZero() const {
  for (auto x : b) {
    if (x != 0) return false;
  }
  return true;
}

IpAddr IpAddr::v4(const std::uint8_t* p) {
  IpAddr a;
  a.family = 4;
  for (int i = 0; i < 4; ++i) a.b[static_cast<std::size_t>(i)] = p[i];
  return a;
}

IpAddr IpAddr::v6(const std::uint8_t* p) {
  IpAddr a;
  a.family = 6;
  for (int i = 0; i < 16; ++i) a.b[static_cast<std::size_t>(i)] = p[i];
  return a;
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.b.data()) == 1) {
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.b.data()) == 1) {
    a.family = 6;
    return a;
  }
  return std::nullopt;
}

std::string IpAddr::str() const {
  if (family == 4) {
    std::string out;
    out.reserve(15);
    for (int i = 0; i < 4; ++i) {
      if (i != 0) out += '.';
      appendDecimal(out, b[static_cast<std::size_t>(i)]);
    }
    return out;
  }
  char buf[INET6_ADDRSTRLEN] = {0};
  if (family == 6) inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  else return "";
  return buf;
}

std::string Endpoint::str() const {
  if (ip.family == 6) return "[" + ip.str() + "]:" + std::to_string(port);
  return ip.str() + ":" + std::to_string(port);
}

std::string isoTime(std::int64_t ts_ns) {
  std::int64_t secs = ts_ns / 1000000000;
  std::int64_t frac = ts_ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  return isoTimeOf(secs, frac);
}

std::string isoTimeSeconds(std::int64_t secs) { return isoTimeOf(secs, 0); }

std::string isoTimeOf(std::int64_t secs, std::int64_t frac) {
  // From 1970 on (to year 9999 and past, a certificate's "no expiry"): days to a civil date by
  // the proleptic Gregorian calendar's 400-year era (a year taken to start on
  // March 1, so that the leap day is its last).
  constexpr std::int64_t DAY = 86400;
  if (secs >= 0) {
    const std::int64_t days = secs / DAY, in_day = secs % DAY;
    const std::int64_t z = days + 719468;  // days since 0000-03-01
    const std::int64_t era = z / 146097;
    const std::int64_t doe = z - era * 146097;                                 // [0, 146096]
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);          // [0, 365]
    const std::int64_t mp = (5 * doy + 2) / 153;                               // March = 0
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    std::string out;
    out.reserve(27);
    const auto put = [&out](std::int64_t v, int width, char after) {
      appendDecimal(out, static_cast<std::uint64_t>(v), width);
      if (after != '\0') out += after;
    };
    put(year, 4, '-');
    put(month, 2, '-');
    put(day, 2, 'T');
    put(in_day / 3600, 2, ':');
    put(in_day / 60 % 60, 2, ':');
    put(in_day % 60, 2, '.');
    put(frac / 1000, 6, 'Z');
    return out;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(frac / 1000));
  return buf;
}

}  // namespace provaudit
