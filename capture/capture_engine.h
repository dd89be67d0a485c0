#pragma once
// The capture stage in one object: decode each raw packet, feed TCP segments to
// the flow table, expire idle flows every second of packet time.
#include <cstdint>
#include <vector>

#include "capture/decoder.h"
#include "capture/flow_table.h"
#include "capture/packet_source.h"

namespace provaudit::capture {

// Idle flows are looked for once per this much packet time.
inline constexpr std::int64_t EXPIRE_INTERVAL_NS = 1'000'000'000;

class CaptureEngine {
 public:
  CaptureEngine(StreamHandlerFactory& factory, AnomalyCounters& anomalies, FlowLimits limits = {});

  void onPacket(const RawPacket& raw);
  // End of input: every flow is flushed and closed with EndOfInput at `last`;
  // fragmented datagrams still incomplete are counted and dropped.
  void finish(const PacketRef& last);

  [[nodiscard]] const FlowStats& stats() const { return table_.stats(); }
  [[nodiscard]] const FlowLimits& limits() const { return table_.limits(); }
  // Packets decode() refused: non-TCP traffic plus malformed packets (those also count an anomaly).
  [[nodiscard]] std::uint64_t decodeFailures() const { return decode_failures_; }
  [[nodiscard]] std::size_t activeFlows() const { return table_.activeFlows(); }

 private:
  // Packet time for closing idle flows (see the .cc: pasts ignored, a lone leap too).
  [[nodiscard]] bool leapsAhead(std::int64_t now) const;
  void releaseHeld(bool believed);
  void advanceClock(std::int64_t now);
  void analyse(const RawPacket& raw);

  AnomalyCounters& anomalies_;
  Decoder decoder_;
  FlowTable table_;
  DecodedPacket decoded_;  // reused: no per-packet construction of spans and optionals elsewhere
  std::uint64_t decode_failures_ = 0;
  std::int64_t next_expire_ns_ = 0;
  std::int64_t clock_ns_ = 0;  // the latest packet time believed
  bool clock_started_ = false;
  // A packet dated far ahead of the clock, until the next one confirms or belies it.
  bool held_ = false;
  RawPacket held_packet_;
  std::vector<std::uint8_t> held_data_;
};

}  // namespace provaudit::capture
