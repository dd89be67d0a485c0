#pragma once
// Chooses the packets of provisioning flows for the evidence file (-w). It sits
// between the flow table and the analyzers as a StreamHandlerFactory wrapper:
// every handler it creates forwards to the analyzer's and watches what happens.
// The analyzers say nothing about protocols to capture/ (it knows nothing of
// TLS), so the tap asks a DetectionProbe: when the analyzers' count of TLS or
// HTTP flows grows during one of this flow's callbacks, the flow was just
// recognised as provisioning traffic.
//
// Per flow (both directions, by canonical 5-tuple):
//   Pending: packets are held (SYN, handshake start), up to a small limit;
//   Keep:    recognised; held packets and every later one go to the file (for
//            plain HTTP only the client's packets and payload-less ones: the
//            requests, never the profiles the server sends back);
//   Drop:    bypassed by the analyzer (handshake over, or not provisioning) or closed.
// Entries idle for EVIDENCE_IDLE_NS of packet time are forgotten.
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "capture/decoder.h"
#include "capture/evidence_writer.h"
#include "capture/flow_hash.h"
#include "common/anomaly.h"
#include "common/stream.h"

namespace provaudit::capture {

// Flows tracked at once; beyond, new flows are not saved (evidence_flows_untracked).
// This and MAX_EVIDENCE_HELD_BYTES are the capture's: each worker's tap has a share.
inline constexpr std::size_t MAX_EVIDENCE_FLOWS = 1 << 16;
// Packets held per flow before it is recognised (SYN, SYN-ACK, ACK and the first segments suffice).
inline constexpr std::size_t MAX_EVIDENCE_HELD_FRAMES = 8;
// Bytes held for all pending flows together; beyond, packets are not held (evidence_frames_not_held).
inline constexpr std::size_t MAX_EVIDENCE_HELD_BYTES = 16 << 20;
// A flow with no packet for this long (packet time) is forgotten.
inline constexpr std::int64_t EVIDENCE_IDLE_NS = 60'000'000'000;

struct DetectionCounts {
  std::uint64_t tls = 0;   // flows recognised as TLS so far
  std::uint64_t http = 0;  // flows recognised as plain HTTP so far
};
using DetectionProbe = std::function<DetectionCounts()>;

class EvidenceTap final : public StreamHandlerFactory {
 public:
  // `inner` creates the analyzers; `probe` reads their detection counters
  // (same thread). `taps`: how many taps (one per worker) share the limits;
  // this one tracks MAX_EVIDENCE_FLOWS / taps flows and holds
  // MAX_EVIDENCE_HELD_BYTES / taps (rounded up).
  EvidenceTap(StreamHandlerFactory& inner, PcapngWriter& writer, DetectionProbe probe, AnomalyCounters& anomalies,
              std::size_t taps = 1);
  ~EvidenceTap() override;

  std::unique_ptr<StreamHandler> create(const FlowInfo& flow) override;

  // Before the flow table sees `pkt`: hold it, write it or ignore it according
  // to its flow's state. `frame` is the raw frame as captured on `pkt.ref.source`.
  void onPacket(const DecodedPacket& pkt, std::span<const std::uint8_t> frame, std::uint32_t orig_len);
  // Forgets flows idle longer than EVIDENCE_IDLE_NS at packet time `now_ns`.
  void expire(std::int64_t now_ns);

  [[nodiscard]] std::size_t trackedFlows() const { return flows_.size(); }
  [[nodiscard]] std::uint64_t packetsSaved() const { return saved_; }
  [[nodiscard]] std::size_t maxFlows() const { return max_flows_; }
  [[nodiscard]] std::size_t maxHeldBytes() const { return max_held_bytes_; }

 private:
  class TapHandler;
  friend class TapHandler;
  enum class State : std::uint8_t { Pending, Keep, Drop };
  struct Held {
    std::vector<std::uint8_t> frame;
    std::uint32_t source = 0;
    std::uint32_t orig_len = 0;
    std::int64_t ts_ns = 0;
    bool from_lo = false;
    bool payload = false;
  };
  struct Entry {
    State state = State::Pending;
    bool http = false;           // plain HTTP: keep only the client's packets and payload-less ones
    bool client_is_lo = false;
    std::int64_t last_ns = 0;
    std::vector<Held> held;
  };

  void afterCallback(const CanonicalFlowKey& key, const FlowInfo& flow, DetectionCounts before, StreamVerdict v);
  void drop(Entry& e);
  void save(const Entry& e, bool from_lo, bool payload, std::uint32_t source, std::int64_t ts_ns,
            std::span<const std::uint8_t> frame, std::uint32_t orig_len);

  StreamHandlerFactory& inner_;
  PcapngWriter& writer_;
  DetectionProbe probe_;
  AnomalyCounters& anomalies_;
  std::unordered_map<CanonicalFlowKey, Entry, CanonicalFlowKeyHasher> flows_;
  std::size_t max_flows_;
  std::size_t max_held_bytes_;
  std::size_t held_bytes_ = 0;
  std::uint64_t saved_ = 0;
};

}  // namespace provaudit::capture
