#pragma once
// The seam between TCP reassembly (capture/) and the analyzers (analyze/).
// Reassembly delivers ordered bytes per side, reports holes it cannot fill and
// tells why a connection ended; an analyzer answers whether it still wants the
// flow. Neither side includes the other's headers.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "common/net_types.h"

namespace provaudit {

struct FlowInfo {
  Endpoint client;  // sides as best known (see Side); may be swapped once, early
  Endpoint server;
  std::optional<MacAddr> client_mac;  // Ethernet source of packets sent by each side
  std::optional<MacAddr> server_mac;
  std::uint16_t vlan = 0;             // innermost 802.1Q VLAN id, 0 if none
  bool syn_seen = false;              // sides come from the SYN, not from a guess
  PacketRef first;                    // first packet of the flow
};

enum class StreamVerdict : std::uint8_t {
  Continue,   // keep delivering
  Bypass,     // nothing more of interest: stop buffering and delivering this flow
  SwapSides,  // the bytes just delivered prove the sides were guessed wrong; swap them
};

// Limit: the handlers of all flows together held more than the reassembly
// allows (capture::FlowLimits::max_handler_bytes_total); this flow, among
// those holding the most, is closed early. Reused: a new connection (a SYN
// with another initial sequence number) took the flow's 4-tuple, no FIN or
// RST seen (a device rebooted and chose the same source port).
enum class CloseReason : std::uint8_t { Fin, Rst, IdleTimeout, Evicted, EndOfInput, Limit, Reused };

class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  // `bytes` are the next in-order bytes sent by `side`; valid only during the call.
  virtual StreamVerdict onData(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes,
                               const PacketRef& pkt) = 0;
  // `missing` bytes sent by `side` were never captured (or were dropped at a limit).
  virtual StreamVerdict onGap(const FlowInfo& flow, Side side, std::uint64_t missing, const PacketRef& pkt) = 0;
  virtual void onClose(const FlowInfo& flow, CloseReason why, const PacketRef& pkt) = 0;
  // Bytes the handler holds between calls: its parsers' buffers and what it
  // parsed but has not handed on. Asked after every onData and onGap; a
  // hostile flow's handshake that never ends is held here, so every flow's
  // counts against one limit.
  [[nodiscard]] virtual std::size_t heldBytes() const { return 0; }
};

class StreamHandlerFactory {
 public:
  virtual ~StreamHandlerFactory() = default;
  // Called once per TCP flow, when its first payload byte is about to be delivered.
  // May return nullptr to bypass the flow from the start.
  virtual std::unique_ptr<StreamHandler> create(const FlowInfo& flow) = 0;
};

}  // namespace provaudit
