#pragma once
// Small value types shared by every stage: MAC and IP addresses, endpoints,
// client/server sides and the reference to the packet something came from.
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace provaudit {

struct MacAddr {
  std::array<std::uint8_t, 6> b{};

  // "aa:bb:cc:dd:ee:ff", lowercase (the report contract's form).
  [[nodiscard]] std::string str() const;
  // Accepts 12 hex digits with or without ':' '-' '.' separators, any case.
  static std::optional<MacAddr> parse(std::string_view text);
  [[nodiscard]] bool isZero() const;
  [[nodiscard]] bool isMulticast() const { return (b[0] & 0x01) != 0; }
  [[nodiscard]] std::uint32_t oui() const { return (std::uint32_t{b[0]} << 16) | (std::uint32_t{b[1]} << 8) | b[2]; }
  auto operator<=>(const MacAddr&) const = default;
};

struct IpAddr {
  std::uint8_t family = 0;  // 4 or 6; 0 = unset
  std::array<std::uint8_t, 16> b{};  // IPv4 uses the first 4 bytes

  static IpAddr v4(const std::uint8_t* p);
  static IpAddr v6(const std::uint8_t* p);
  static std::optional<IpAddr> parse(std::string_view text);
  [[nodiscard]] std::string str() const;
  auto operator<=>(const IpAddr&) const = default;
};

struct Endpoint {
  IpAddr ip;
  std::uint16_t port = 0;
  [[nodiscard]] std::string str() const;  // "1.2.3.4:443" or "[::1]:443"
  auto operator<=>(const Endpoint&) const = default;
};

// Sides of a connection: the client is who sent the SYN or, when the SYN was not
// captured, who sent the ClientHello / the HTTP request. Never "first seen".
enum class Side : std::uint8_t { Client = 0, Server = 1 };
inline Side otherSide(Side s) { return s == Side::Client ? Side::Server : Side::Client; }

// Where a piece of evidence came from: the capture source (file or interface,
// an index into the run's source list), the 1-based frame number within it and
// the packet timestamp in nanoseconds since the Unix epoch (never wall clock).
struct PacketRef {
  std::int64_t ts_ns = 0;
  std::uint64_t frame = 0;
  std::uint32_t source = 0;
};

std::string isoTime(std::int64_t ts_ns);  // "2026-11-26T20:04:04.123456Z"
// Whole seconds, for dates past int64 nanoseconds' end in 2262 (a certificate
// valid to 9999-12-31, RFC 5280's "no well-defined expiration date").
std::string isoTimeSeconds(std::int64_t secs);
// `frac` nanoseconds past `secs` (0 <= frac < 1e9).
std::string isoTimeOf(std::int64_t secs, std::int64_t frac);

// Whether a packet time is one: a pcapng Simple Packet Block has none (read as
// 0, or the packet before's), and a record time at or before 1970 is no time a
// device fetched its profile at. Certificates are not judged against it.
inline constexpr bool packetTimeKnown(std::int64_t ts_ns) { return ts_ns > 0; }

}  // namespace provaudit
