#pragma once
// What bare_read (libpcap's loop) and read_floor (provaudit's reader) share:
// the monotonic clock they time with and the one line bench/run reads.
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace bench {

inline double nowSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// "packets N bytes B wire_bytes W seconds S"
inline void printFloorLine(std::uint64_t packets, std::uint64_t bytes, std::uint64_t wire, double seconds) {
  std::printf("packets %llu bytes %llu wire_bytes %llu seconds %.6f\n", static_cast<unsigned long long>(packets),
              static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(wire), seconds);
}

}  // namespace bench
