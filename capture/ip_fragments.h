#pragma once
// Bounded IP fragment reassembly shared by IPv4 (RFC 791 §3.2) and IPv6
// (RFC 8200 §4.5). Overlapping fragments are resolved first-arrival-wins: bytes
// already held are never overwritten (the policy of most end hosts since the
// "teardrop" era; RFC 5722 forbids overlaps in IPv6 outright), and counted.
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/anomaly.h"
#include "common/byte_reader.h"

namespace provaudit::capture {

// Concurrent datagrams under reassembly; beyond: the oldest is dropped (ipv4/ipv6_fragment_limit).
inline constexpr std::size_t MAX_FRAGMENTED_DATAGRAMS = 256;
// The IPv4 total length field and the IPv6 payload length field are 16 bits (no jumbograms).
inline constexpr std::size_t MAX_REASSEMBLED_BYTES = 65535;
// A 64 KiB datagram at the 576-byte minimum IPv4 MTU takes ~120 fragments; more is an attack.
inline constexpr std::size_t MAX_FRAGMENTS_PER_DATAGRAM = 128;
// Linux net.ipv4.ipfrag_time defaults to 30 s; packet time, not wall clock.
inline constexpr std::int64_t FRAGMENT_TIMEOUT_NS = 30'000'000'000;
// Datagrams completed lately whose payload is kept, so that a copy of one of
// their fragments arriving after them (a second capture point, a duplicate on
// the path) is known as a duplicate rather than the start of a datagram that
// never completes: at most this many, each for FRAGMENT_TIMEOUT_NS of packet
// time (at most 16 x 64 KiB held).
inline constexpr std::size_t RECENTLY_COMPLETED_DATAGRAMS = 16;

struct FragmentKey {
  std::uint8_t family = 0;  // 4 or 6
  std::uint8_t proto = 0;   // IPv4 protocol / IPv6 next header after the fragment header
  std::uint32_t id = 0;     // identification (16 bits in IPv4, 32 in IPv6)
  std::array<std::uint8_t, 16> src{};
  std::array<std::uint8_t, 16> dst{};
  bool operator==(const FragmentKey&) const = default;
};

class FragmentReassembler {
 public:
  explicit FragmentReassembler(AnomalyCounters& anomalies);

  // Adds a fragment holding `data` at byte `offset` of the datagram's payload;
  // `more` is the More Fragments flag. Returns the whole payload once every byte
  // arrived; the span stays valid until the next add().
  std::optional<Bytes> add(const FragmentKey& key, std::size_t offset, bool more, Bytes data, std::int64_t ts_ns);

  [[nodiscard]] std::size_t pending() const;
  // Gives up the datagrams whose first fragment came more than
  // FRAGMENT_TIMEOUT_NS before `now_ns` (packet time), each counted as
  // ipv4/ipv6_fragment_timeout: packets of any kind move the time on, not
  // only the next fragment.
  void expire(std::int64_t now_ns);
  // The capture ended: every datagram still missing fragments is given up and
  // counted (ipv4/ipv6_fragment_incomplete_at_end); none is lost uncounted.
  void abandonAll();

 private:
  struct Range {
    std::size_t begin = 0;
    std::size_t end = 0;
  };
  struct Datagram {
    bool in_use = false;
    FragmentKey key;
    std::int64_t first_ts = 0;
    std::size_t total = 0;  // payload length, known once the last fragment (MF=0) arrived
    bool total_known = false;
    std::size_t fragments = 0;
    std::vector<Range> have;  // sorted, disjoint, merged
    std::vector<std::uint8_t> bytes;
  };

  Datagram* find(const FragmentKey& key, std::int64_t ts_ns);
  Datagram& allocate(const FragmentKey& key, std::int64_t ts_ns);
  void release(Datagram& d);
  void count(std::uint8_t family, AnomalyId v4, AnomalyId v6) { anomalies_.inc(family == 4 ? v4 : v6); }
  // Whether a fragment's bytes were held already, and if so whether the same.
  enum class Overlap { None, Same, Differs };
  // Copies the parts of [offset, offset + data.size()) not held yet (the
  // first arrival wins); says whether any byte was already held, and how.
  static Overlap insert(Datagram& d, std::size_t offset, Bytes data);

  // A datagram completed lately (RECENTLY_COMPLETED_DATAGRAMS), and its payload.
  struct Completed {
    FragmentKey key;
    std::int64_t ts = 0;  // when it completed; unused when `bytes` is empty
    std::vector<std::uint8_t> bytes;
  };
  // Whether a fragment with no datagram under reassembly repeats, byte for
  // byte, part of one completed within FRAGMENT_TIMEOUT_NS (a new datagram
  // reusing the identification carries other bytes).
  [[nodiscard]] bool repeatsCompleted(const FragmentKey& key, std::size_t offset, bool more, Bytes data,
                                      std::int64_t ts_ns) const;
  void rememberCompleted(const FragmentKey& key, Bytes payload, std::int64_t ts_ns);

  AnomalyCounters& anomalies_;
  std::vector<Datagram> slots_;
  std::vector<std::uint8_t> completed_;  // the last reassembled payload handed out
  std::vector<Completed> recent_;        // a ring of RECENTLY_COMPLETED_DATAGRAMS
  std::size_t recent_next_ = 0;
};

}  // namespace provaudit::capture
