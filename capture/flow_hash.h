#pragma once
// Symmetric flow hash: both directions of a TCP connection hash the same, so a
// capture thread can hand every packet of a flow to the same analysis worker
// (live capture spreads flows over workers by this hash; see worker_pool.h).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/net_types.h"

namespace provaudit::capture {

// The 5-tuple with the endpoints in canonical order (the smaller one first),
// so that a packet and its reply make the same key. The protocol is always TCP
// here (only TCP reaches the flow stage), so it is not part of the key.
struct CanonicalFlowKey {
  std::array<std::uint8_t, 16> ip_lo{};
  std::array<std::uint8_t, 16> ip_hi{};
  std::uint16_t port_lo = 0;
  std::uint16_t port_hi = 0;
  std::uint8_t family = 0;
  bool operator==(const CanonicalFlowKey&) const = default;
};

inline CanonicalFlowKey canonicalFlowKey(const IpAddr& a, std::uint16_t port_a, const IpAddr& b, std::uint16_t port_b) {
  CanonicalFlowKey k;
  k.family = a.family;
  // Order by (address, port): the same rule from either side.
  const int cmp = std::memcmp(a.b.data(), b.b.data(), a.b.size());
  const bool a_first = cmp < 0 || (cmp == 0 && port_a <= port_b);
  const IpAddr& lo = a_first ? a : b;
  const IpAddr& hi = a_first ? b : a;
  k.ip_lo = lo.b;
  k.ip_hi = hi.b;
  k.port_lo = a_first ? port_a : port_b;
  k.port_hi = a_first ? port_b : port_a;
  return k;
}

namespace detail {
// splitmix64 finaliser (Steele, Lea, Flood 2014): every input bit reaches every output bit.
inline std::uint64_t mixFlowBits(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}
inline std::uint64_t load64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);  // byte copy, no type punning of packet memory
  return v;
}
}  // namespace detail

inline std::uint64_t flowKeyHash(const CanonicalFlowKey& k) {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ k.family;
  h = detail::mixFlowBits(h ^ detail::load64(k.ip_lo.data()));
  h = detail::mixFlowBits(h ^ detail::load64(k.ip_lo.data() + 8));
  h = detail::mixFlowBits(h ^ detail::load64(k.ip_hi.data()));
  h = detail::mixFlowBits(h ^ detail::load64(k.ip_hi.data() + 8));
  return detail::mixFlowBits(h ^ ((std::uint64_t{k.port_lo} << 16) | k.port_hi));
}

// Same value for (a -> b) and (b -> a).
inline std::uint64_t symmetricFlowHash(const IpAddr& a, std::uint16_t port_a, const IpAddr& b, std::uint16_t port_b) {
  return flowKeyHash(canonicalFlowKey(a, port_a, b, port_b));
}

// Which of `workers` (>= 1) a hash belongs to: the high 32 bits scaled to the
// range (Lemire's multiply-shift), no modulo bias worth the name and no division.
inline std::size_t workerForHash(std::uint64_t hash, std::size_t workers) {
  return static_cast<std::size_t>(((hash >> 32) * static_cast<std::uint64_t>(workers)) >> 32);
}

struct CanonicalFlowKeyHasher {
  std::size_t operator()(const CanonicalFlowKey& k) const { return static_cast<std::size_t>(flowKeyHash(k)); }
};

}  // namespace provaudit::capture
