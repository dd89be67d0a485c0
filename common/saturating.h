#pragma once
// Packet times are signed nanoseconds a capture file sets as it likes (a
// pcapng interface's offset alone reaches ±2^63): sums and differences of two
// of them saturate instead of overflowing (undefined behaviour).
#include <cstdint>
#include <limits>

namespace provaudit {

inline std::int64_t saturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (!__builtin_add_overflow(a, b, &out)) return out;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

// later - earlier.
inline std::int64_t saturatingSub(std::int64_t later, std::int64_t earlier) {
  std::int64_t out = 0;
  if (!__builtin_sub_overflow(later, earlier, &out)) return out;
  return later > earlier ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

}  // namespace provaudit
