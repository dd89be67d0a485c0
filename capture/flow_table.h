#pragma once
// TCP flow table and per-direction reassembly. Turns decoded TCP segments into
// ordered byte streams per side (client/server, house style §10), delivered to a
// StreamHandler created lazily per flow, with gap and close events.
//
// Bounded everywhere: the table holds at most max_flows entries (least recently
// used evicted, counted), each direction holds at most max_buffered_per_direction
// out-of-order bytes in at most max_out_of_order_segments segments (beyond: a gap
// is declared, counted), all flows together hold at most max_buffered_total
// out-of-order bytes (beyond: the flow that adds gives up its holes, counted),
// all flows' handlers together hold at most max_handler_bytes_total (beyond:
// the flows whose handlers hold the most are closed early, counted), and idle
// flows are closed by packet time.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "capture/decoder.h"
#include "common/anomaly.h"
#include "common/stream.h"

namespace provaudit::capture {

// One of `parts` equal shares of a limit meant for them together: rounded
// up, at least 1 (FlowLimits::shareFor, the evidence tap's limits).
[[nodiscard]] inline std::size_t limitShare(std::size_t total, std::size_t parts) {
  if (parts <= 1) return total;
  return total / parts + (total % parts != 0 ? 1 : 0) + (total == 0 ? 1 : 0);
}

struct FlowLimits {
  std::size_t max_flows = 1 << 18;                      // beyond: evict the least recently used flow (counted)
  std::size_t max_buffered_per_direction = 256 * 1024;  // out-of-order bytes held per direction; beyond: a gap (counted)
  std::size_t max_out_of_order_segments = 256;          // out-of-order segments held per direction; beyond: a gap
  std::size_t max_buffered_total = 64 * 1024 * 1024;    // out-of-order bytes held by all flows; beyond: a gap (counted)
  // What all flows' handlers hold between calls (StreamHandler::heldBytes: a
  // handshake message being reassembled, a request's headers). Beyond: the
  // flow holding the most (by power of two; the one that changed longest ago
  // among those) is closed early with CloseReason::Limit, and counted.
  std::size_t max_handler_bytes_total = 64 * 1024 * 1024;
  std::int64_t idle_timeout_ns = 300'000'000'000;       // flows idle this long (packet time) close with IdleTimeout
  std::int64_t closed_linger_ns = 5'000'000'000;        // closed flows stay this long to absorb late packets

  // One table's part of limits meant for `tables` tables together (capture's
  // analysis workers, one table each): the totals (flows, out-of-order bytes,
  // parsers' bytes) divided among them, rounded up, at least 1 each; the
  // limits of one flow, and the times, as they are. Memory then does not grow
  // with --workers.
  [[nodiscard]] FlowLimits shareFor(std::size_t tables) const;
};

struct FlowStats {
  std::uint64_t packets = 0;         // every packet the engine saw (countRawPacket)
  std::uint64_t tcp_packets = 0;     // segments given to process()
  std::uint64_t bytes = 0;           // wire bytes of `packets`
  std::uint64_t flows_created = 0;
  std::uint64_t flows_bypassed = 0;  // handler said Bypass or the factory returned nullptr
  std::uint64_t flows_evicted = 0;   // table full
  std::uint64_t flows_timed_out = 0;
  std::uint64_t flows_closed = 0;    // FIN from both sides or RST
  std::uint64_t flows_reused = 0;    // ended by a new connection on their 4-tuple (SYN with another ISN)
  std::uint64_t bytes_delivered = 0;
  std::uint64_t gaps = 0;
  std::uint64_t gap_bytes = 0;
  std::uint64_t retransmitted_segments = 0;  // nothing new: every byte already delivered or buffered
  std::uint64_t overlapping_segments = 0;    // partly new, partly already delivered or buffered
  std::uint64_t bypassed_packets = 0;        // segments of bypassed flows (one hash lookup each)
  std::uint64_t buffered_bytes = 0;          // out-of-order bytes held now, all flows
  std::uint64_t buffered_bytes_peak = 0;     // the most ever held at once
  std::uint64_t flows_cut = 0;               // closed early: the handlers together held too much
  std::uint64_t handler_bytes = 0;           // held by all handlers now (as each last said)
  std::uint64_t handler_bytes_peak = 0;      // the most they held at once
};

// Buffers kept for reuse by out-of-order segments, so that steady-state
// reordering allocates nothing. Only buffers of typical segment size are kept.
inline constexpr std::size_t MAX_SPARE_SEGMENT_BUFFERS = 1024;
inline constexpr std::size_t MAX_SPARE_SEGMENT_CAPACITY = 16 * 1024;

// How far from what was seen of a connection's sequence numbers a RST (and,
// after an in-window RST, a data segment) may lie and still count as in the
// receiver's window (RFC 9293 §3.10.7.4, RFC 5961 §3.2). A passive observer
// knows the window only roughly: it may have missed packets, and it does not
// read the window-scale option, so the raw window it keeps is the unscaled
// one. One MiB covers both for real stacks (whose RST carries their next
// sequence number); a stray or blind RST further off is ignored and counted
// (tcp_rst_out_of_window).
inline constexpr std::int64_t SEQ_WINDOW_TOLERANCE = 1 << 20;

class FlowTable {
 public:
  FlowTable(StreamHandlerFactory& factory, AnomalyCounters& anomalies, FlowLimits limits = {});
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // One TCP segment (only TCP reaches here).
  void process(const DecodedPacket& pkt);
  // Closes flows idle longer than idle_timeout_ns at packet time `now_ns` and
  // forgets closed flows older than closed_linger_ns. Call every so often.
  // onClose(IdleTimeout) carries the flow's last packet as its PacketRef.
  void expire(std::int64_t now_ns);
  // End of input: delivers what can be delivered (holes become gaps), onClose(EndOfInput), empties the table.
  void closeAll(const PacketRef& at);
  // Counts a packet the engine saw, TCP or not (FlowStats::packets and bytes).
  void countRawPacket(std::uint32_t wire_len) {
    ++stats_.packets;
    stats_.bytes += wire_len;
  }

  [[nodiscard]] const FlowStats& stats() const { return stats_; }
  [[nodiscard]] const FlowLimits& limits() const { return limits_; }
  // Entries in the table: live, bypassed (tombstones) and lingering closed flows.
  [[nodiscard]] std::size_t activeFlows() const { return flow_count_; }

 private:
  struct FlowKey {
    std::array<std::uint8_t, 16> ip_lo{};  // the canonically smaller endpoint
    std::array<std::uint8_t, 16> ip_hi{};
    std::uint16_t port_lo = 0;
    std::uint16_t port_hi = 0;
    std::uint8_t family = 0;
    bool operator==(const FlowKey&) const = default;
  };
  struct Segment {
    std::uint64_t offset = 0;  // stream offset of bytes[0]
    std::vector<std::uint8_t> bytes;
    PacketRef ref;             // the packet that carried them: their evidence, when delivered later
    [[nodiscard]] std::uint64_t end() const { return offset + bytes.size(); }
  };
  struct Direction {
    bool started = false;        // sequence base known (SYN or first segment seen)
    std::uint32_t next_seq = 0;  // sequence number of the next in-order byte
    std::uint64_t next_off = 0;  // its stream offset: bytes delivered plus gap bytes
    bool fin_seen = false;
    std::uint64_t fin_off = 0;   // stream offset of the FIN
    std::vector<Segment> ooo;    // out-of-order segments: sorted, disjoint, all beyond next_off
    std::size_t buffered = 0;    // bytes held in ooo
    bool ack_seen = false;       // this side sent an ACK: `ack` and `window` are its latest
    std::uint16_t window = 0;    // unscaled
    std::uint32_t ack = 0;
    std::uint8_t mac_ttl = 0;    // TTL of the packet whose source MAC the flow took for this sender
    // Sequence number of stream offset 0 (the byte after the SYN, or the
    // first one seen): advance() moves next_seq and next_off together.
    [[nodiscard]] std::uint32_t baseSeq() const { return next_seq - static_cast<std::uint32_t>(next_off); }
  };
  // Reset: an in-window RST was seen. The flow lingers with the closed ones,
  // its handler kept: a SPAN port may deliver a RST ahead of segments sent
  // before it, and those are still delivered when they continue the stream.
  // The handler is closed (CloseReason::Rst, at the RST) when the flow is
  // forgotten: linger over, table full, 4-tuple reused or end of input.
  enum class State : std::uint8_t { Free, Active, Bypassed, Closed, Reset };
  enum class List : std::uint8_t { None, Live, Closed };
  struct Flow {
    FlowKey key;
    std::uint64_t hash = 0;
    FlowInfo info;
    bool client_is_lo = true;  // which canonical endpoint is the client
    bool swapped = false;      // SwapSides already applied once
    State state = State::Free;
    List list = List::None;
    std::array<Direction, 2> dir;  // [0] sent by the lo endpoint, [1] by the hi endpoint
    std::unique_ptr<StreamHandler> handler;
    PacketRef last;  // latest packet of the flow: activity time and the evidence for timeout/eviction
    std::uint32_t prev = 0;  // LRU links (indices into flows_)
    std::uint32_t next = 0;
    std::uint32_t held = 0;        // the handler's heldBytes() after its last call (saturated)
    std::uint8_t held_class = 0;   // its list in held_: bit_width(held); 0 = none
    std::uint32_t held_prev = 0;   // links in that list
    std::uint32_t held_next = 0;
  };
  struct Slot {
    std::uint32_t flow = 0;  // index into flows_, EMPTY_SLOT when free
    std::uint32_t tag = 0;   // low 32 bits of the hash: home bucket and quick reject
  };
  struct LruList {
    std::uint32_t head = 0;  // most recently used; NO_FLOW when empty
    std::uint32_t tail = 0;
  };

  static bool makeKey(const DecodedPacket& pkt, FlowKey& key);  // true: the sender is the lo endpoint
  static std::uint64_t hashKey(const FlowKey& key);
  std::uint32_t find(const FlowKey& key, std::uint64_t hash) const;
  std::uint32_t create(const FlowKey& key, std::uint64_t hash, const DecodedPacket& pkt, bool from_lo);
  void assignSides(Flow& f, const DecodedPacket& pkt, bool from_lo);
  void removeFlow(std::uint32_t idx);
  void growIndex();
  void evictOne();

  void listUnlink(std::uint32_t idx);
  void listPushFront(std::uint32_t idx, List which);
  LruList& lruOf(List which) { return which == List::Live ? live_ : closed_; }

  void touch(std::uint32_t idx);
  void moveToClosed(std::uint32_t idx, State as = State::Closed);
  // Finishes the flow (a Reset one with CloseReason::Rst at its RST, else
  // with `why` at its last packet) and removes it from the table.
  void endFlow(std::uint32_t idx, CloseReason why);
  // A SYN without ACK from direction `d` that is not this connection's own
  // (retransmitted or reordered): its ISN differs from the one seen.
  [[nodiscard]] bool opensNewConnection(const Flow& f, std::size_t d, std::uint32_t seq) const;
  // A SYN without ACK from direction `d` whose ISN is known to be this
  // connection's own: the sender's stream, or the other side's ACK of the SYN, says so.
  [[nodiscard]] bool isOwnSyn(const Flow& f, std::size_t d, std::uint32_t seq) const;
  // `seq`, sent by direction `d`, lies within what the other side would
  // accept (SEQ_WINDOW_TOLERANCE); true when nothing was seen to judge by.
  [[nodiscard]] bool inWindow(const Flow& f, std::size_t d, std::uint32_t seq) const;
  void handleSegment(std::uint32_t idx, std::size_t d, const DecodedPacket& pkt);
  void handleBypassed(std::uint32_t idx, std::size_t d, const DecodedPacket& pkt);
  void handleReset(std::uint32_t idx, std::size_t d, const DecodedPacket& pkt);
  bool deliverSegment(Flow& f, std::size_t d, std::uint32_t seq, Bytes data, std::uint32_t missing, const PacketRef& ref);
  void insertOutOfOrder(Direction& dir, std::uint64_t start, Bytes data, const PacketRef& ref);
  static void advance(Direction& dir, std::uint64_t n) {
    dir.next_off += n;
    dir.next_seq += static_cast<std::uint32_t>(n);  // modulo 2^32: sequence numbers wrap (RFC 9293 §3.4)
  }
  bool drain(Flow& f, std::size_t d);
  bool enforceLimits(Flow& f, std::size_t d, const PacketRef& ref);
  bool flushDirection(Flow& f, std::size_t d, const PacketRef& ref);
  bool emitData(Flow& f, std::size_t d, Bytes data, const PacketRef& ref);
  bool emitGap(Flow& f, std::size_t d, std::uint64_t missing, const PacketRef& ref);
  bool applyVerdict(Flow& f, StreamVerdict v);
  // After a handler call: takes the handler's new heldBytes() and, past
  // max_handler_bytes_total, closes the flows holding the most. False when
  // `f` itself was closed.
  bool noteHeld(Flow& f);
  void heldUnlink(std::uint32_t idx);
  void cut(std::uint32_t idx);   // closes a flow early (CloseReason::Limit), leaving a tombstone
  void dropHandler(Flow& f);     // the handler goes, and what it held with it
  bool ensureHandler(Flow& f);
  void bypass(Flow& f);
  // The handler and buffers go; the flow stays in the table as a tombstone
  // (Bypassed, or Closed when it was Reset) that still follows the packets.
  void stopFollowing(Flow& f);
  void finish(Flow& f, CloseReason why, const PacketRef& at);  // flush, onClose, free buffers
  void releaseBuffers(Flow& f);
  void swapSides(Flow& f);

  static Side sideOf(const Flow& f, std::size_t d) {
    return (d == 0) == f.client_is_lo ? Side::Client : Side::Server;
  }
  static std::size_t dirOf(const Flow& f, Side s) { return (s == Side::Client) == f.client_is_lo ? 0 : 1; }

  std::vector<std::uint8_t> takeBuffer();
  void giveBuffer(std::vector<std::uint8_t>&& buf);

  StreamHandlerFactory& factory_;
  AnomalyCounters& anomalies_;
  FlowLimits limits_;
  FlowStats stats_;
  std::vector<Flow> flows_;            // reserved once: indices and references stay valid
  std::vector<std::uint32_t> free_;    // indices of Free entries in flows_
  std::vector<Slot> slots_;            // open addressing, linear probing, backward-shift deletion
  std::size_t mask_ = 0;
  std::size_t max_slots_ = 0;          // the index never grows beyond this
  std::size_t flow_count_ = 0;
  LruList live_;                       // Active and Bypassed flows, most recent first
  LruList closed_;                     // flows closed by FIN/RST (Closed or Reset), lingering
  // Flows whose handlers hold bytes, by bit_width(held): most recently changed first.
  std::array<LruList, 33> held_{};
  std::vector<std::vector<std::uint8_t>> spare_;
};

}  // namespace provaudit::capture
