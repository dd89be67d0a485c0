#include "capture/ip_fragments.h"

#include <algorithm>
#include <cstring>

namespace provaudit::capture {

FragmentReassembler::FragmentReassembler(AnomalyCounters& anomalies) : anomalies_(anomalies) {
  slots_.resize(MAX_FRAGMENTED_DATAGRAMS);
  recent_.resize(RECENTLY_COMPLETED_DATAGRAMS);
}

bool FragmentReassembler::repeatsCompleted(const FragmentKey& key, std::size_t offset, bool more, Bytes data,
                                           std::int64_t ts_ns) const {
  const std::size_t end = offset + data.size();
  for (const Completed& c : recent_) {
    if (c.bytes.empty() || !(c.key == key) || ts_ns - c.ts > FRAGMENT_TIMEOUT_NS) continue;
    // The last fragment ends where the datagram did; any other ends before.
    if (more ? end >= c.bytes.size() : end != c.bytes.size()) continue;
    if (std::memcmp(c.bytes.data() + offset, data.data(), data.size()) == 0) return true;
  }
  return false;
}

void FragmentReassembler::rememberCompleted(const FragmentKey& key, Bytes payload, std::int64_t ts_ns) {
  Completed& c = recent_[recent_next_];
  recent_next_ = (recent_next_ + 1) % recent_.size();
  c.key = key;
  c.ts = ts_ns;
  c.bytes.assign(payload.begin(), payload.end());
}

std::size_t FragmentReassembler::pending() const {
  return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Datagram& d) { return d.in_use; }));
}

void FragmentReassembler::release(Datagram& d) {
  d.in_use = false;
  d.have.clear();  // capacities are kept: a reused slot allocates nothing
  d.bytes.clear();
}

void FragmentReassembler::expire(std::int64_t now_ns) {
  for (Datagram& d : slots_) {
    if (!d.in_use || now_ns - d.first_ts <= FRAGMENT_TIMEOUT_NS) continue;
    count(d.key.family, PA_ANOMALY("ipv4_fragment_timeout"), PA_ANOMALY("ipv6_fragment_timeout"));
    release(d);
  }
}

void FragmentReassembler::abandonAll() {
  for (Datagram& d : slots_) {
    if (!d.in_use) continue;
    count(d.key.family, PA_ANOMALY("ipv4_fragment_incomplete_at_end"), PA_ANOMALY("ipv6_fragment_incomplete_at_end"));
    release(d);
  }
}

// One pass over the (small, fixed) slot array finds the datagram and retires
// those whose first fragment is older than the timeout. Fragments are rare on
// the provisioning traffic we watch, so a scan beats a second index.
FragmentReassembler::Datagram* FragmentReassembler::find(const FragmentKey& key, std::int64_t ts_ns) {
  Datagram* found = nullptr;
  for (Datagram& d : slots_) {
    if (!d.in_use) continue;
    if (ts_ns - d.first_ts > FRAGMENT_TIMEOUT_NS) {
      count(d.key.family, PA_ANOMALY("ipv4_fragment_timeout"), PA_ANOMALY("ipv6_fragment_timeout"));
      release(d);
      continue;
    }
    if (d.key == key) found = &d;
  }
  return found;
}

FragmentReassembler::Datagram& FragmentReassembler::allocate(const FragmentKey& key, std::int64_t ts_ns) {
  Datagram* slot = nullptr;
  Datagram* oldest = nullptr;
  for (Datagram& d : slots_) {
    if (!d.in_use) {
      slot = &d;
      break;
    }
    if (oldest == nullptr || d.first_ts < oldest->first_ts) oldest = &d;
  }
  if (slot == nullptr) {
    // Table full: give up on the oldest datagram to make room.
    count(key.family, PA_ANOMALY("ipv4_fragment_limit"), PA_ANOMALY("ipv6_fragment_limit"));
    release(*oldest);
    slot = oldest;
  }
  slot->in_use = true;
  slot->key = key;
  slot->first_ts = ts_ns;
  slot->total = 0;
  slot->total_known = false;
  slot->fragments = 0;
  return *slot;
}

FragmentReassembler::Overlap FragmentReassembler::insert(Datagram& d, std::size_t offset, Bytes data) {
  const std::size_t end = offset + data.size();
  if (d.bytes.size() < end) d.bytes.resize(end);
  Overlap overlapped = Overlap::None;
  std::size_t cursor = offset;  // first byte of [offset, end) not yet decided
  std::size_t i = 0;
  while (i < d.have.size() && d.have[i].end < offset) ++i;  // ranges wholly before (touching ones merge)
  const std::size_t first = i;
  std::size_t merged_begin = offset;
  std::size_t merged_end = end;
  for (; i < d.have.size() && d.have[i].begin <= end; ++i) {
    const Range& r = d.have[i];
    if (r.begin < end && r.end > offset) {
      // The bytes both hold: the same (a copy of a fragment) or not.
      const std::size_t from = std::max(r.begin, offset), to = std::min(r.end, end);
      const bool same = std::memcmp(d.bytes.data() + from, data.data() + (from - offset), to - from) == 0;
      if (!same) overlapped = Overlap::Differs;
      else if (overlapped == Overlap::None) overlapped = Overlap::Same;
    }
    if (r.begin > cursor) std::memcpy(d.bytes.data() + cursor, data.data() + (cursor - offset), r.begin - cursor);
    cursor = std::max(cursor, std::min(r.end, end));
    merged_begin = std::min(merged_begin, r.begin);
    merged_end = std::max(merged_end, r.end);
  }
  if (cursor < end) std::memcpy(d.bytes.data() + cursor, data.data() + (cursor - offset), end - cursor);
  // Replace ranges [first, i) with their union with the new fragment.
  d.have.erase(d.have.begin() + static_cast<std::ptrdiff_t>(first), d.have.begin() + static_cast<std::ptrdiff_t>(i));
  d.have.insert(d.have.begin() + static_cast<std::ptrdiff_t>(first), Range{merged_begin, merged_end});
  return overlapped;
}

std::optional<Bytes> FragmentReassembler::add(const FragmentKey& key, std::size_t offset, bool more, Bytes data,
                                              std::int64_t ts_ns) {
  Datagram* found = find(key, ts_ns);
  const std::size_t end = offset + data.size();
  if (found == nullptr && !data.empty() && repeatsCompleted(key, offset, more, data, ts_ns)) {
    count(key.family, PA_ANOMALY("ipv4_fragment_duplicate"), PA_ANOMALY("ipv6_fragment_duplicate"));
    return std::nullopt;
  }
  if (end > MAX_REASSEMBLED_BYTES) {
    count(key.family, PA_ANOMALY("ipv4_fragment_too_large"), PA_ANOMALY("ipv6_fragment_too_large"));
    if (found != nullptr) release(*found);
    return std::nullopt;
  }
  Datagram& d = found != nullptr ? *found : allocate(key, ts_ns);
  if (++d.fragments > MAX_FRAGMENTS_PER_DATAGRAM) {
    count(key.family, PA_ANOMALY("ipv4_fragment_too_many"), PA_ANOMALY("ipv6_fragment_too_many"));
    release(d);
    return std::nullopt;
  }
  bool overlap = false;
  if (!more) {
    if (d.total_known && d.total != end) {
      overlap = true;  // a second "last" fragment that disagrees: the first one stands
    } else {
      d.total = end;
      d.total_known = true;
    }
  }
  if (d.total_known && end > d.total) {
    overlap = true;  // bytes past the announced end: first arrival (the end) wins
    data = data.first(offset < d.total ? d.total - offset : 0);
  }
  const Overlap inserted = data.empty() ? Overlap::None : insert(d, offset, data);
  if (inserted == Overlap::Differs) overlap = true;
  if (overlap) {
    count(key.family, PA_ANOMALY("ipv4_fragment_overlap"), PA_ANOMALY("ipv6_fragment_overlap"));
  } else if (inserted == Overlap::Same) {
    // Bytes it already had, the same: a copy (a duplicate on the path, a
    // second capture point), not an overlap that could change what is read.
    count(key.family, PA_ANOMALY("ipv4_fragment_duplicate"), PA_ANOMALY("ipv6_fragment_duplicate"));
  }
  if (!d.total_known || d.have.size() != 1 || d.have[0].begin != 0 || d.have[0].end < d.total) return std::nullopt;
  d.bytes.resize(d.total);
  completed_.swap(d.bytes);  // hand the buffer out; the slot inherits the previous one's capacity
  release(d);
  rememberCompleted(key, Bytes(completed_), ts_ns);
  return Bytes(completed_);
}

}  // namespace provaudit::capture
