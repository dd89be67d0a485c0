#include "capture/evidence_tap.h"

#include "capture/flow_table.h"
#include "common/saturating.h"

namespace provaudit::capture {
namespace {

CanonicalFlowKey keyOf(const FlowInfo& flow) {
  return canonicalFlowKey(flow.client.ip, flow.client.port, flow.server.ip, flow.server.port);
}

// True when (ip, port) is the canonical "lo" endpoint of `key`.
bool isLo(const CanonicalFlowKey& key, const IpAddr& ip, std::uint16_t port) {
  return ip.b == key.ip_lo && port == key.port_lo;
}

}  // namespace

// Forwards every callback to the analyzer and reports what it did to the tap.
class EvidenceTap::TapHandler final : public StreamHandler {
 public:
  TapHandler(EvidenceTap& tap, CanonicalFlowKey key, std::unique_ptr<StreamHandler> inner)
      : tap_(tap), key_(key), inner_(std::move(inner)) {}

  StreamVerdict onData(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes,
                       const PacketRef& pkt) override {
    const DetectionCounts before = tap_.probe_();
    const StreamVerdict v = inner_->onData(flow, side, bytes, pkt);
    tap_.afterCallback(key_, flow, before, v);
    return v;
  }
  StreamVerdict onGap(const FlowInfo& flow, Side side, std::uint64_t missing, const PacketRef& pkt) override {
    const DetectionCounts before = tap_.probe_();
    const StreamVerdict v = inner_->onGap(flow, side, missing, pkt);
    tap_.afterCallback(key_, flow, before, v);
    return v;
  }
  void onClose(const FlowInfo& flow, CloseReason why, const PacketRef& pkt) override {
    inner_->onClose(flow, why, pkt);
    auto it = tap_.flows_.find(key_);
    if (it != tap_.flows_.end()) tap_.drop(it->second);
  }

 private:
  EvidenceTap& tap_;
  CanonicalFlowKey key_;
  std::unique_ptr<StreamHandler> inner_;
};

EvidenceTap::EvidenceTap(StreamHandlerFactory& inner, PcapngWriter& writer, DetectionProbe probe,
                         AnomalyCounters& anomalies, std::size_t taps)
    : inner_(inner),
      writer_(writer),
      probe_(std::move(probe)),
      anomalies_(anomalies),
      max_flows_(limitShare(MAX_EVIDENCE_FLOWS, taps)),
      max_held_bytes_(limitShare(MAX_EVIDENCE_HELD_BYTES, taps)) {}

EvidenceTap::~EvidenceTap() = default;

std::unique_ptr<StreamHandler> EvidenceTap::create(const FlowInfo& flow) {
  auto inner = inner_.create(flow);
  const CanonicalFlowKey key = keyOf(flow);
  if (!inner) {
    auto it = flows_.find(key);
    if (it != flows_.end()) drop(it->second);
    return nullptr;
  }
  return std::make_unique<TapHandler>(*this, key, std::move(inner));
}

void EvidenceTap::drop(Entry& e) {
  e.state = State::Drop;
  for (const Held& h : e.held) held_bytes_ -= h.frame.size();
  e.held.clear();
  e.held.shrink_to_fit();
}

void EvidenceTap::save(const Entry& e, bool from_lo, bool payload, std::uint32_t source, std::int64_t ts_ns,
                       std::span<const std::uint8_t> frame, std::uint32_t orig_len) {
  // Plain HTTP: the requests are the evidence; the server's replies (profiles,
  // possibly with credentials) are left out.
  if (e.http && payload && from_lo != e.client_is_lo) return;
  if (writer_.write(source, ts_ns, frame, orig_len)) {
    ++saved_;
  } else {
    anomalies_.inc(PA_ANOMALY("evidence_packet_not_written"));
  }
}

void EvidenceTap::onPacket(const DecodedPacket& pkt, std::span<const std::uint8_t> frame, std::uint32_t orig_len) {
  const CanonicalFlowKey key = canonicalFlowKey(pkt.src, pkt.sport, pkt.dst, pkt.dport);
  auto it = flows_.find(key);
  if (it == flows_.end()) {
    // A bare RST of a flow we do not know carries nothing worth keeping.
    if ((pkt.tcp_flags & TCP_RST) != 0 && pkt.payload.empty()) return;
    if (flows_.size() >= max_flows_) {
      anomalies_.inc(PA_ANOMALY("evidence_flows_untracked"));
      return;
    }
    it = flows_.emplace(key, Entry{}).first;
  }
  Entry& e = it->second;
  e.last_ns = pkt.ref.ts_ns;
  if (e.state == State::Drop && (pkt.tcp_flags & TCP_SYN) != 0 && (pkt.tcp_flags & TCP_ACK) == 0) {
    e = Entry{};  // the 4-tuple is reused by a new connection: judge it afresh
    e.last_ns = pkt.ref.ts_ns;
  }
  const bool from_lo = isLo(key, pkt.src, pkt.sport);
  const bool payload = !pkt.payload.empty() || pkt.payload_missing > 0;
  switch (e.state) {
    case State::Drop:
      return;
    case State::Keep:
      save(e, from_lo, payload, pkt.ref.source, pkt.ref.ts_ns, frame, orig_len);
      return;
    case State::Pending:
      if (e.held.size() >= MAX_EVIDENCE_HELD_FRAMES) return;  // an unrecognised flow: most are never kept
      if (held_bytes_ + frame.size() > max_held_bytes_) {
        anomalies_.inc(PA_ANOMALY("evidence_frames_not_held"));
        return;
      }
      e.held.push_back(Held{std::vector<std::uint8_t>(frame.begin(), frame.end()), pkt.ref.source, orig_len,
                            pkt.ref.ts_ns, from_lo, payload});
      held_bytes_ += frame.size();
      return;
  }
}

void EvidenceTap::afterCallback(const CanonicalFlowKey& key, const FlowInfo& flow, DetectionCounts before,
                                StreamVerdict v) {
  auto it = flows_.find(key);
  if (it == flows_.end()) return;  // forgotten (table full or idle): nothing to save
  Entry& e = it->second;
  const DetectionCounts after = probe_();
  const bool tls = after.tls > before.tls;
  const bool http = after.http > before.http;
  if (e.state == State::Pending && (tls || http)) {
    e.state = State::Keep;
    e.http = http && !tls;
    // The analyzer answers SwapSides when the detecting bytes came from the
    // side we had guessed as server: the real client is `flow.server` then.
    const Endpoint& client = v == StreamVerdict::SwapSides ? flow.server : flow.client;
    e.client_is_lo = isLo(key, client.ip, client.port);
    for (const Held& h : e.held) save(e, h.from_lo, h.payload, h.source, h.ts_ns, h.frame, h.orig_len);
    for (const Held& h : e.held) held_bytes_ -= h.frame.size();
    e.held.clear();
    e.held.shrink_to_fit();
  }
  if (v == StreamVerdict::Bypass) drop(e);
}

void EvidenceTap::expire(std::int64_t now_ns) {
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (saturatingSub(now_ns, it->second.last_ns) > EVIDENCE_IDLE_NS) {
      drop(it->second);
      it = flows_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace provaudit::capture
