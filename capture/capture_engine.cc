#include "capture/capture_engine.h"

namespace provaudit::capture {

CaptureEngine::CaptureEngine(StreamHandlerFactory& factory, AnomalyCounters& anomalies, FlowLimits limits)
    : decoder_(anomalies), table_(factory, anomalies, limits) {}

void CaptureEngine::onPacket(const RawPacket& raw) {
  table_.countRawPacket(raw.orig_len);
  const std::int64_t now = raw.ref.ts_ns;
  if (!clock_started_) {
    clock_started_ = true;
    next_expire_ns_ = now + EXPIRE_INTERVAL_NS;
  } else if (now >= next_expire_ns_) {
    // Packet time only moves forward here: a packet from the past (merged or
    // reordered captures) neither expires flows nor rewinds the clock.
    table_.expire(now);
    next_expire_ns_ = now + EXPIRE_INTERVAL_NS;
  }
  if (!decoder_.decode(raw, decoded_)) {
    ++decode_failures_;
    return;
  }
  table_.process(decoded_);
}

void CaptureEngine::finish(const PacketRef& last) { table_.closeAll(last); }

}  // namespace provaudit::capture
