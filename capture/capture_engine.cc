#include "capture/capture_engine.h"

#include <algorithm>

#include "common/anomaly.h"
#include "common/saturating.h"

namespace provaudit::capture {

CaptureEngine::CaptureEngine(StreamHandlerFactory& factory, AnomalyCounters& anomalies, FlowLimits limits)
    : anomalies_(anomalies), decoder_(anomalies), table_(factory, anomalies, limits) {}

// A packet dated past the flows' idle timeout beyond the capture's time would
// close every open flow at once: a capture that resumed after a pause, or one
// record's corrupt time. Such a packet is held until the next one says which:
// as far ahead (within the timeout of it), the pause is believed, the idle
// flows close and the held packet is read after them; back in line, the held
// packet is read where it stands, the flows stay open, and it is counted.
void CaptureEngine::onPacket(const RawPacket& raw) {
  table_.countRawPacket(raw.orig_len);
  const std::int64_t now = raw.ref.ts_ns;
  if (!packetTimeKnown(now)) anomalies_.inc(PA_ANOMALY("packet_time_unknown"));
  if (held_) {
    const std::int64_t held_at = held_packet_.ref.ts_ns;
    const std::int64_t apart = std::max(saturatingSub(now, held_at), saturatingSub(held_at, now));
    releaseHeld(leapsAhead(now) && apart <= table_.limits().idle_timeout_ns);
  }
  if (leapsAhead(now)) {
    held_ = true;
    held_data_.assign(raw.data.begin(), raw.data.end());
    held_packet_ = raw;
    held_packet_.data = held_data_;
    return;
  }
  advanceClock(now);
  analyse(raw);
}

bool CaptureEngine::leapsAhead(std::int64_t now) const {
  return clock_started_ && saturatingSub(now, clock_ns_) > table_.limits().idle_timeout_ns;
}

void CaptureEngine::releaseHeld(bool believed) {
  held_ = false;
  if (believed) {
    advanceClock(held_packet_.ref.ts_ns);
  } else {
    anomalies_.inc(PA_ANOMALY("packet_time_leap_ignored"));
  }
  analyse(held_packet_);
}

void CaptureEngine::advanceClock(std::int64_t now) {
  if (!clock_started_) {
    clock_started_ = true;
    clock_ns_ = now;
    next_expire_ns_ = saturatingAdd(now, EXPIRE_INTERVAL_NS);
    return;
  }
  // Packet time only moves forward here: a packet from the past (merged or
  // reordered captures) neither expires flows nor rewinds the clock.
  if (now <= clock_ns_) return;
  clock_ns_ = now;
  if (now >= next_expire_ns_) {
    table_.expire(now);
    decoder_.expireFragments(now);
    next_expire_ns_ = saturatingAdd(now, EXPIRE_INTERVAL_NS);
  }
}

void CaptureEngine::analyse(const RawPacket& raw) {
  if (!decoder_.decode(raw, decoded_)) {
    ++decode_failures_;
    return;
  }
  table_.process(decoded_);
}

void CaptureEngine::finish(const PacketRef& last) {
  if (held_) releaseHeld(false);  // nothing came after it to say it was a pause
  table_.closeAll(last);
  decoder_.finish();  // a datagram still missing fragments will not get them: counted
  // The capture ended: a next one (a later file) starts a clock of its own,
  // its first packet no leap.
  clock_started_ = false;
}

}  // namespace provaudit::capture
