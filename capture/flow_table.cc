#include "capture/flow_table.h"

#include "capture/flow_hash.h"
#include "common/saturating.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

namespace provaudit::capture {
namespace {

constexpr std::uint32_t NO_FLOW = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint32_t EMPTY_SLOT = NO_FLOW;
constexpr std::size_t MIN_SLOTS = 16;
constexpr std::size_t INITIAL_SLOTS = 4096;

IpAddr ipFrom(std::uint8_t family, const std::array<std::uint8_t, 16>& b) {
  IpAddr a;
  a.family = family;
  a.b = b;
  return a;
}

}  // namespace

FlowLimits FlowLimits::shareFor(std::size_t tables) const {
  FlowLimits part = *this;
  part.max_flows = limitShare(max_flows, tables);
  part.max_buffered_total = limitShare(max_buffered_total, tables);
  part.max_handler_bytes_total = limitShare(max_handler_bytes_total, tables);
  return part;
}

FlowTable::FlowTable(StreamHandlerFactory& factory, AnomalyCounters& anomalies, FlowLimits limits)
    : factory_(factory), anomalies_(anomalies), limits_(limits) {
  if (limits_.max_flows == 0) limits_.max_flows = 1;
  // The index starts small and doubles with the flow count (load factor <= 1/2,
  // up to max_flows): a few thousand flows then probe a cache-sized array.
  std::size_t slots = MIN_SLOTS;
  while (slots < limits_.max_flows * 2) slots <<= 1;
  max_slots_ = slots;
  slots_.assign(std::min(slots, INITIAL_SLOTS), Slot{EMPTY_SLOT, 0});
  mask_ = slots_.size() - 1;
  // Reserved once (virtual memory; pages are touched as flows arrive) so that
  // Flow references stay valid while handlers run.
  flows_.reserve(limits_.max_flows);
  live_ = {NO_FLOW, NO_FLOW};
  closed_ = {NO_FLOW, NO_FLOW};
  held_.fill({NO_FLOW, NO_FLOW});
}

FlowTable::~FlowTable() = default;

// ---- flow table ----------------------------------------------------------

bool FlowTable::makeKey(const DecodedPacket& pkt, FlowKey& key) {
  const int cmp = std::memcmp(pkt.src.b.data(), pkt.dst.b.data(), pkt.src.b.size());
  const bool src_is_lo = cmp < 0 || (cmp == 0 && pkt.sport <= pkt.dport);
  key.family = pkt.src.family;
  if (src_is_lo) {
    key.ip_lo = pkt.src.b;
    key.ip_hi = pkt.dst.b;
    key.port_lo = pkt.sport;
    key.port_hi = pkt.dport;
  } else {
    key.ip_lo = pkt.dst.b;
    key.ip_hi = pkt.src.b;
    key.port_lo = pkt.dport;
    key.port_hi = pkt.sport;
  }
  return src_is_lo;
}

// The key is canonical (lo endpoint first), so the hash is symmetric: both
// directions of a connection land in the same bucket.
std::uint64_t FlowTable::hashKey(const FlowKey& key) {
  // The same splitmix64 mixing as the worker hash (flow_hash.h): full
  // avalanche, so linear probing on the low bits stays short.
  using detail::load64;
  using detail::mixFlowBits;
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ key.family;
  h = mixFlowBits(h ^ load64(key.ip_lo.data()));
  h = mixFlowBits(h ^ load64(key.ip_lo.data() + 8));
  h = mixFlowBits(h ^ load64(key.ip_hi.data()));
  h = mixFlowBits(h ^ load64(key.ip_hi.data() + 8));
  return mixFlowBits(h ^ ((std::uint64_t{key.port_lo} << 16) | key.port_hi));
}

std::uint32_t FlowTable::find(const FlowKey& key, std::uint64_t hash) const {
  const auto tag = static_cast<std::uint32_t>(hash);
  for (std::size_t i = tag & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (s.flow == EMPTY_SLOT) return NO_FLOW;
    if (s.tag == tag && flows_[s.flow].key == key) return s.flow;
  }
}

void FlowTable::growIndex() {
  std::vector<Slot> old(slots_.size() * 2, Slot{EMPTY_SLOT, 0});
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.flow == EMPTY_SLOT) continue;
    std::size_t i = s.tag & mask_;
    while (slots_[i].flow != EMPTY_SLOT) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

std::uint32_t FlowTable::create(const FlowKey& key, std::uint64_t hash, const DecodedPacket& pkt, bool from_lo) {
  if (flow_count_ >= limits_.max_flows) evictOne();
  if ((flow_count_ + 1) * 2 > slots_.size() && slots_.size() < max_slots_) growIndex();
  std::uint32_t idx = 0;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
  } else {
    idx = static_cast<std::uint32_t>(flows_.size());
    flows_.emplace_back();  // within the reserved capacity: no reallocation
  }
  Flow& f = flows_[idx];
  f.key = key;
  f.hash = hash;
  f.info = FlowInfo{};
  f.info.first = pkt.ref;
  f.info.vlan = pkt.vlan;
  f.swapped = false;
  f.state = State::Active;
  f.last = pkt.ref;
  assignSides(f, pkt, from_lo);

  const auto tag = static_cast<std::uint32_t>(hash);
  std::size_t i = tag & mask_;
  while (slots_[i].flow != EMPTY_SLOT) i = (i + 1) & mask_;
  slots_[i] = Slot{idx, tag};
  listPushFront(idx, List::Live);
  ++flow_count_;
  ++stats_.flows_created;
  return idx;
}

// The SYN sender is the client, the SYN+ACK sender the server. Without either,
// guess the endpoint with the higher (ephemeral) port as the client (ties: the
// sender of the first packet); the handler may correct it once with SwapSides.
void FlowTable::assignSides(Flow& f, const DecodedPacket& pkt, bool from_lo) {
  const bool syn = (pkt.tcp_flags & TCP_SYN) != 0;
  const bool ack = (pkt.tcp_flags & TCP_ACK) != 0;
  bool sender_is_client = true;
  if (syn) {
    sender_is_client = !ack;
    f.info.syn_seen = true;
  } else if (pkt.sport != pkt.dport) {
    sender_is_client = pkt.sport > pkt.dport;
  }
  f.client_is_lo = sender_is_client == from_lo;
  const Endpoint lo{ipFrom(f.key.family, f.key.ip_lo), f.key.port_lo};
  const Endpoint hi{ipFrom(f.key.family, f.key.ip_hi), f.key.port_hi};
  f.info.client = f.client_is_lo ? lo : hi;
  f.info.server = f.client_is_lo ? hi : lo;
}

void FlowTable::removeFlow(std::uint32_t idx) {
  Flow& f = flows_[idx];
  const auto tag = static_cast<std::uint32_t>(f.hash);
  std::size_t i = tag & mask_;
  while (slots_[i].flow != idx) i = (i + 1) & mask_;
  // Backward-shift deletion: pull later entries of the probe run into the hole
  // when their home bucket allows it, so that lookups never meet tombstones.
  for (std::size_t j = (i + 1) & mask_; slots_[j].flow != EMPTY_SLOT; j = (j + 1) & mask_) {
    const std::size_t home = slots_[j].tag & mask_;
    if (((j - home) & mask_) >= ((j - i) & mask_)) {
      slots_[i] = slots_[j];
      i = j;
    }
  }
  slots_[i] = Slot{EMPTY_SLOT, 0};
  listUnlink(idx);
  dropHandler(f);
  releaseBuffers(f);
  f.dir = {};
  f.state = State::Free;
  free_.push_back(idx);
  --flow_count_;
}

void FlowTable::evictOne() {
  if (closed_.tail != NO_FLOW) {  // a lingering closed flow costs nothing to forget
    endFlow(closed_.tail, CloseReason::Evicted);
    return;
  }
  anomalies_.inc(PA_ANOMALY("flow_table_full_evict"));
  ++stats_.flows_evicted;
  endFlow(live_.tail, CloseReason::Evicted);
}

void FlowTable::endFlow(std::uint32_t idx, CloseReason why) {
  Flow& f = flows_[idx];
  finish(f, f.state == State::Reset ? CloseReason::Rst : why, f.last);
  removeFlow(idx);
}

void FlowTable::listUnlink(std::uint32_t idx) {
  Flow& f = flows_[idx];
  if (f.list == List::None) return;
  LruList& l = lruOf(f.list);
  if (f.prev != NO_FLOW) flows_[f.prev].next = f.next;
  else l.head = f.next;
  if (f.next != NO_FLOW) flows_[f.next].prev = f.prev;
  else l.tail = f.prev;
  f.list = List::None;
}

void FlowTable::listPushFront(std::uint32_t idx, List which) {
  Flow& f = flows_[idx];
  LruList& l = lruOf(which);
  f.prev = NO_FLOW;
  f.next = l.head;
  if (l.head != NO_FLOW) flows_[l.head].prev = idx;
  else l.tail = idx;
  l.head = idx;
  f.list = which;
}

void FlowTable::touch(std::uint32_t idx) {
  if (live_.head == idx) return;
  listUnlink(idx);
  listPushFront(idx, List::Live);
}

void FlowTable::moveToClosed(std::uint32_t idx, State as) {
  listUnlink(idx);
  flows_[idx].state = as;
  listPushFront(idx, List::Closed);
  ++stats_.flows_closed;
}

void FlowTable::expire(std::int64_t now_ns) {
  while (live_.tail != NO_FLOW) {
    const std::uint32_t idx = live_.tail;
    Flow& f = flows_[idx];
    if (saturatingSub(now_ns, f.last.ts_ns) <= limits_.idle_timeout_ns) break;
    ++stats_.flows_timed_out;
    endFlow(idx, CloseReason::IdleTimeout);
  }
  while (closed_.tail != NO_FLOW && saturatingSub(now_ns, flows_[closed_.tail].last.ts_ns) > limits_.closed_linger_ns) {
    endFlow(closed_.tail, CloseReason::IdleTimeout);
  }
}

void FlowTable::closeAll(const PacketRef& at) {
  while (live_.tail != NO_FLOW) {
    const std::uint32_t idx = live_.tail;
    finish(flows_[idx], CloseReason::EndOfInput, at);
    removeFlow(idx);
  }
  while (closed_.tail != NO_FLOW) endFlow(closed_.tail, CloseReason::EndOfInput);
}

// ---- per packet ------------------------------------------------------------

void FlowTable::process(const DecodedPacket& pkt) {
  ++stats_.tcp_packets;
  FlowKey key;
  const bool from_lo = makeKey(pkt, key);
  const std::uint64_t hash = hashKey(key);
  const std::size_t d = from_lo ? 0 : 1;
  std::uint32_t idx = find(key, hash);
  if (idx != NO_FLOW) {
    const Flow& f = flows_[idx];
    // A SYN without ACK opens a connection (RFC 9293 §3.5). On a closed flow's
    // 4-tuple it is a new one, unless its ISN is the closed connection's own;
    // on a live flow's, it is one when its ISN is not the flow's own (a device
    // rebooted without FIN or RST and reused its source port): the old flow
    // ends there, what it held handed on.
    const bool bare_syn = (pkt.tcp_flags & TCP_SYN) != 0 && (pkt.tcp_flags & TCP_ACK) == 0;
    // The connection's own SYN after it ended: a second copy of the same
    // segments (a router's two interfaces captured together, a SPAN of both
    // sides of a router: the link layer differs, the TCP bytes do not), read
    // after the first copy in file order. Its packets are late copies, as
    // byte-identical duplicates are; counted once per connection.
    const bool copy_of_ended = bare_syn && (f.state == State::Closed || f.state == State::Reset) &&
                               isOwnSyn(f, d, pkt.seq);
    if (copy_of_ended) anomalies_.inc(PA_ANOMALY("tcp_connection_captured_twice"));
    if (bare_syn && !copy_of_ended && (f.state == State::Closed || opensNewConnection(f, d, pkt.seq))) {
      if (f.state != State::Closed) ++stats_.flows_reused;
      endFlow(idx, CloseReason::Reused);
      idx = NO_FLOW;
    } else if (f.state == State::Bypassed) {
      handleBypassed(idx, d, pkt);
      return;
    } else if (f.state == State::Reset) {
      handleReset(idx, d, pkt);
      return;
    } else if (f.state == State::Closed) {
      if (!pkt.payload.empty()) ++stats_.retransmitted_segments;  // late copy of a closed connection's data
      return;
    }
  }
  if (idx == NO_FLOW) {
    // A bare RST of a connection we never saw leaves nothing to follow.
    if ((pkt.tcp_flags & TCP_RST) != 0 && pkt.payload.empty()) return;
    idx = create(key, hash, pkt, from_lo);
  } else {
    touch(idx);
    flows_[idx].last = pkt.ref;
  }
  handleSegment(idx, d, pkt);
}

bool FlowTable::opensNewConnection(const Flow& f, std::size_t d, std::uint32_t seq) const {
  const Direction& sender = f.dir[d];
  const Direction& receiver = f.dir[1 - d];
  // The SYN takes one sequence number: the stream starts at seq + 1. Seen
  // nothing of this side yet, the other side's ACK of it (a SYN+ACK) tells.
  if (sender.started) return sender.baseSeq() != seq + 1;
  if (receiver.ack_seen && f.info.syn_seen) return receiver.ack != seq + 1;
  // A SYN arriving after the first packets (capture reordering) that
  // nothing contradicts: this connection's own.
  return f.state == State::Bypassed;
}

bool FlowTable::isOwnSyn(const Flow& f, std::size_t d, std::uint32_t seq) const {
  const Direction& sender = f.dir[d];
  const Direction& receiver = f.dir[1 - d];
  if (sender.started) return sender.baseSeq() == seq + 1;
  return receiver.ack_seen && f.info.syn_seen && receiver.ack == seq + 1;
}

bool FlowTable::inWindow(const Flow& f, std::size_t d, std::uint32_t seq) const {
  const Direction& sender = f.dir[d];
  const Direction& receiver = f.dir[1 - d];
  if (!sender.started && !receiver.ack_seen) return true;
  // Signed 32-bit distance: correct across the 2^32 wrap.
  const auto within = [seq](std::uint32_t from, std::int64_t above) {
    const std::int64_t dist = static_cast<std::int32_t>(seq - from);
    return dist >= -SEQ_WINDOW_TOLERANCE && dist <= above + SEQ_WINDOW_TOLERANCE;
  };
  // What the sender was seen to send, or what the receiver acknowledged and
  // offered beyond it (RCV.NXT, RCV.WND).
  return (sender.started && within(sender.next_seq, 0)) || (receiver.ack_seen && within(receiver.ack, receiver.window));
}

void FlowTable::handleBypassed(std::uint32_t idx, std::size_t d, const DecodedPacket& pkt) {
  Flow& f = flows_[idx];
  ++stats_.bypassed_packets;
  f.last = pkt.ref;
  if ((pkt.tcp_flags & TCP_FIN) != 0) f.dir[d].fin_seen = true;
  if ((pkt.tcp_flags & TCP_RST) != 0 || (f.dir[0].fin_seen && f.dir[1].fin_seen)) {
    moveToClosed(idx);
  } else {
    touch(idx);
  }
}

// After an in-window RST: a segment whose sequence numbers continue the stream
// (within the window, as a RST's must) was sent before the RST and reordered
// behind it by the mirror, or sent by a side that had not yet received it; its
// bytes are the connection's either way and are delivered, until the closed
// linger ends. Anything else is a late copy.
void FlowTable::handleReset(std::uint32_t idx, std::size_t d, const DecodedPacket& pkt) {
  Flow& f = flows_[idx];
  if (pkt.payload.empty() && pkt.payload_missing == 0) return;
  if ((pkt.tcp_flags & (TCP_SYN | TCP_RST)) != 0 || !f.dir[d].started || !inWindow(f, d, pkt.seq)) {
    ++stats_.retransmitted_segments;
    return;
  }
  deliverSegment(f, d, pkt.seq, pkt.payload, pkt.payload_missing, pkt.ref);
}

void FlowTable::handleSegment(std::uint32_t idx, std::size_t d, const DecodedPacket& pkt) {
  Flow& f = flows_[idx];
  const bool syn = (pkt.tcp_flags & TCP_SYN) != 0;
  // A SYN seen after the flow was picked up mid-stream (capture reordering)
  // still names the sides, as long as nothing was delivered under the guess.
  if (syn && !f.info.syn_seen && !f.handler) {
    const bool sender_is_client = (pkt.tcp_flags & TCP_ACK) == 0;
    if ((sideOf(f, d) == Side::Client) != sender_is_client) swapSides(f);
    f.info.syn_seen = true;
  }
  if (pkt.src_mac) {
    // Copies of one connection captured on both sides of a router carry the
    // sender's own MAC on its side and the router's on the other (a router's
    // MAC, shared by every address behind it, names no device). The copy with
    // the higher TTL was captured nearer the sender: its MAC is the one kept.
    std::optional<MacAddr>& mac = sideOf(f, d) == Side::Client ? f.info.client_mac : f.info.server_mac;
    if (!mac || pkt.ttl > f.dir[d].mac_ttl) {
      mac = pkt.src_mac;
      f.dir[d].mac_ttl = pkt.ttl;
    }
  }
  if ((pkt.tcp_flags & TCP_RST) != 0) {
    // RFC 9293 §3.10.7.4: a RST outside the receiver's window is not
    // accepted (a stray or blind one); it ends nothing.
    if (!inWindow(f, d, pkt.seq)) {
      anomalies_.inc(PA_ANOMALY("tcp_rst_out_of_window"));
      return;
    }
    moveToClosed(idx, State::Reset);
    return;
  }
  Direction& dir = f.dir[d];
  if ((pkt.tcp_flags & TCP_ACK) != 0) {
    dir.ack_seen = true;
    dir.ack = pkt.ack;
    dir.window = pkt.window;
  }
  std::uint32_t seq = pkt.seq;
  if (syn) {
    // The SYN sets the sequence base (again, if nothing was delivered yet) and
    // takes one sequence number (RFC 9293 §3.4); data on a SYN (TFO) follows it.
    if (!dir.started || (dir.next_off == 0 && dir.ooo.empty())) {
      dir.started = true;
      dir.next_seq = seq + 1;
    }
    seq += 1;
  }
  if (!dir.started) {  // picked up mid-stream: this direction starts here
    dir.started = true;
    dir.next_seq = seq;
  }
  if (!pkt.payload.empty() || pkt.payload_missing != 0) {
    if (!deliverSegment(f, d, seq, pkt.payload, pkt.payload_missing, pkt.ref)) {
      // Bypassed by the handler: the tombstone still follows FIN/RST to close.
      if (f.state == State::Bypassed && (pkt.tcp_flags & TCP_FIN) != 0) {
        dir.fin_seen = true;
        if (f.dir[0].fin_seen && f.dir[1].fin_seen) moveToClosed(idx);
      }
      return;
    }
  }
  if ((pkt.tcp_flags & TCP_FIN) != 0 && !dir.fin_seen) {
    dir.fin_seen = true;
    const std::uint32_t fin_seq = seq + static_cast<std::uint32_t>(pkt.payload.size()) + pkt.payload_missing;
    const std::int64_t fin_off = static_cast<std::int64_t>(dir.next_off) + static_cast<std::int32_t>(fin_seq - dir.next_seq);
    dir.fin_off = fin_off < 0 ? 0 : static_cast<std::uint64_t>(fin_off);
  }
  if (f.dir[0].fin_seen && f.dir[1].fin_seen) {
    finish(f, CloseReason::Fin, pkt.ref);
    moveToClosed(idx);
  }
}

bool FlowTable::deliverSegment(Flow& f, std::size_t d, std::uint32_t seq, Bytes data, std::uint32_t missing,
                               const PacketRef& ref) {
  Direction& dir = f.dir[d];
  // Signed 32-bit distance from the next expected byte: correct across the 2^32 wrap.
  const std::int64_t next = static_cast<std::int64_t>(dir.next_off);
  std::int64_t start = next + static_cast<std::int32_t>(seq - dir.next_seq);
  const std::int64_t end = start + static_cast<std::int64_t>(data.size());
  // Bytes already delivered are not compared with a new copy of them
  // (tcp_overlap_conflict counts only differences with bytes still held out
  // of order): in-order bytes go to the handler straight from the packet and
  // no copy is kept, which would cost every in-order segment a copy and every
  // flow a buffer. A conflicting retransmission of delivered bytes is counted
  // as a retransmission or an overlap only; the first copy wins.
  if (end + static_cast<std::int64_t>(missing) <= next) {
    ++stats_.retransmitted_segments;
    return true;
  }
  if (start < next) {
    ++stats_.overlapping_segments;
    if (end <= next) {  // only the cut-off tail is new
      missing -= static_cast<std::uint32_t>(next - end);
      data = {};
    } else {
      data = data.subspan(static_cast<std::size_t>(next - start));
    }
    start = next;
  }
  if (start == next && dir.ooo.empty()) {
    // Fast path: in order, nothing buffered; delivered straight from the packet.
    if (!emitData(f, d, data, ref)) return false;
    advance(dir, data.size());
    if (missing != 0) {
      if (!emitGap(f, d, missing, ref)) return false;
      advance(dir, missing);
    }
    return true;
  }
  // Out of order (or filling a hole): the captured bytes are buffered; a
  // snap-length cut tail becomes a hole like any other lost data.
  if (!data.empty()) insertOutOfOrder(dir, static_cast<std::uint64_t>(start), data, ref);
  if (!drain(f, d)) return false;
  return enforceLimits(f, d, ref);
}

// First arrival wins: only bytes not yet held are stored; bytes that overlap
// held ones are compared and a difference is an anomaly (tcp_overlap_conflict),
// the signature of evasion attempts or of a broken mirror.
void FlowTable::insertOutOfOrder(Direction& dir, std::uint64_t start, Bytes data, const PacketRef& ref) {
  const std::uint64_t end = start + data.size();
  auto first = std::partition_point(dir.ooo.begin(), dir.ooo.end(), [&](const Segment& s) { return s.end() <= start; });
  auto i = static_cast<std::size_t>(first - dir.ooo.begin());
  std::uint64_t cursor = start;
  std::size_t added = 0;
  bool overlapped = false;
  bool conflict = false;
  auto addPiece = [&](std::uint64_t from, std::uint64_t to) {
    Segment piece;
    piece.offset = from;
    piece.ref = ref;
    piece.bytes = takeBuffer();
    const Bytes src = data.subspan(static_cast<std::size_t>(from - start), static_cast<std::size_t>(to - from));
    piece.bytes.assign(src.begin(), src.end());
    dir.ooo.insert(dir.ooo.begin() + static_cast<std::ptrdiff_t>(i), std::move(piece));
    ++i;
    added += static_cast<std::size_t>(to - from);
  };
  while (cursor < end) {
    if (i >= dir.ooo.size() || dir.ooo[i].offset >= end) {
      addPiece(cursor, end);
      break;
    }
    const std::uint64_t held_begin = dir.ooo[i].offset;
    if (held_begin > cursor) {
      addPiece(cursor, held_begin);
      cursor = held_begin;
      continue;
    }
    const Segment& held = dir.ooo[i];
    const std::uint64_t overlap_end = std::min(end, held.end());
    overlapped = true;
    if (std::memcmp(data.data() + (cursor - start), held.bytes.data() + (cursor - held.offset),
                    static_cast<std::size_t>(overlap_end - cursor)) != 0) {
      conflict = true;
    }
    cursor = overlap_end;
    ++i;
  }
  dir.buffered += added;
  stats_.buffered_bytes += added;
  stats_.buffered_bytes_peak = std::max(stats_.buffered_bytes_peak, stats_.buffered_bytes);
  if (added == 0) {
    ++stats_.retransmitted_segments;
  } else if (overlapped) {
    ++stats_.overlapping_segments;
  }
  if (conflict) anomalies_.inc(PA_ANOMALY("tcp_overlap_conflict"));
}

// Held bytes are delivered with the packet that carried them (a handshake's
// evidence names that frame and time, not the one that filled the hole).
bool FlowTable::drain(Flow& f, std::size_t d) {
  Direction& dir = f.dir[d];
  while (!dir.ooo.empty() && dir.ooo.front().offset <= dir.next_off) {
    Segment seg = std::move(dir.ooo.front());
    dir.ooo.erase(dir.ooo.begin());
    dir.buffered -= seg.bytes.size();
    stats_.buffered_bytes -= seg.bytes.size();
    const std::uint64_t skip = dir.next_off - seg.offset;
    bool alive = true;
    if (skip < seg.bytes.size()) {
      const Bytes part = Bytes(seg.bytes).subspan(static_cast<std::size_t>(skip));
      alive = emitData(f, d, part, seg.ref);
      advance(dir, part.size());
    }
    giveBuffer(std::move(seg.bytes));
    if (!alive) return false;
  }
  return true;
}

bool FlowTable::enforceLimits(Flow& f, std::size_t d, const PacketRef& ref) {
  Direction& dir = f.dir[d];
  for (;;) {
    const bool over_bytes = dir.buffered > limits_.max_buffered_per_direction;
    const bool over_segments = dir.ooo.size() > limits_.max_out_of_order_segments;
    // All flows together: the direction that just added bytes gives up its
    // holes, so the total stays within the cap plus one direction's share.
    const bool over_total = stats_.buffered_bytes > limits_.max_buffered_total;
    if (dir.ooo.empty() || (!over_bytes && !over_segments && !over_total)) return true;
    // Stop waiting for the first hole: report it as a gap and go on after it.
    if (over_bytes) anomalies_.inc(PA_ANOMALY("tcp_buffer_limit"));
    else if (over_segments) anomalies_.inc(PA_ANOMALY("tcp_out_of_order_limit"));
    else anomalies_.inc(PA_ANOMALY("tcp_buffer_total_limit"));
    const std::uint64_t missing = dir.ooo.front().offset - dir.next_off;
    if (!emitGap(f, d, missing, ref)) return false;
    advance(dir, missing);
    if (!drain(f, d)) return false;
  }
}

bool FlowTable::flushDirection(Flow& f, std::size_t d, const PacketRef& ref) {
  Direction& dir = f.dir[d];
  while (!dir.ooo.empty()) {
    const std::uint64_t missing = dir.ooo.front().offset - dir.next_off;
    if (!emitGap(f, d, missing, ref)) return false;
    advance(dir, missing);
    if (!drain(f, d)) return false;
  }
  if (dir.fin_seen && dir.fin_off > dir.next_off) {
    const std::uint64_t missing = dir.fin_off - dir.next_off;
    if (!emitGap(f, d, missing, ref)) return false;
    advance(dir, missing);
  }
  return true;
}

void FlowTable::finish(Flow& f, CloseReason why, const PacketRef& at) {
  if (f.state == State::Active || f.state == State::Reset) {
    const bool alive = flushDirection(f, dirOf(f, Side::Client), at) && flushDirection(f, dirOf(f, Side::Server), at);
    if (alive && f.handler) f.handler->onClose(f.info, why, at);
  }
  dropHandler(f);
  releaseBuffers(f);
}

// ---- handler seam ------------------------------------------------------------

bool FlowTable::emitData(Flow& f, std::size_t d, Bytes data, const PacketRef& ref) {
  if (data.empty()) return true;
  if (!ensureHandler(f)) return false;
  stats_.bytes_delivered += data.size();
  return applyVerdict(f, f.handler->onData(f.info, sideOf(f, d), data, ref)) && noteHeld(f);
}

bool FlowTable::emitGap(Flow& f, std::size_t d, std::uint64_t missing, const PacketRef& ref) {
  if (missing == 0) return true;
  ++stats_.gaps;
  stats_.gap_bytes += missing;
  if (!ensureHandler(f)) return false;
  return applyVerdict(f, f.handler->onGap(f.info, sideOf(f, d), missing, ref)) && noteHeld(f);
}

bool FlowTable::applyVerdict(Flow& f, StreamVerdict v) {
  switch (v) {
    case StreamVerdict::Continue:
      return true;
    case StreamVerdict::SwapSides:
      // Only a guess may be corrected, and only once: a SYN is proof.
      if (!f.info.syn_seen && !f.swapped) {
        swapSides(f);
        f.swapped = true;
      } else {
        anomalies_.inc(PA_ANOMALY("tcp_swap_sides_ignored"));
      }
      return true;
    case StreamVerdict::Bypass:
      bypass(f);
      return false;
  }
  return true;
}

bool FlowTable::ensureHandler(Flow& f) {
  if (f.handler) return true;
  if (f.state != State::Active && f.state != State::Reset) return false;
  f.handler = factory_.create(f.info);
  if (!f.handler) {
    bypass(f);
    return false;
  }
  return true;
}

void FlowTable::bypass(Flow& f) {
  stopFollowing(f);
  ++stats_.flows_bypassed;
}

void FlowTable::stopFollowing(Flow& f) {
  dropHandler(f);
  releaseBuffers(f);
  f.state = f.state == State::Reset ? State::Closed : State::Bypassed;
}

// ---- what the handlers hold ----------------------------------------------------

bool FlowTable::noteHeld(Flow& f) {
  const auto idx = static_cast<std::uint32_t>(&f - flows_.data());
  const std::size_t now = std::min<std::size_t>(f.handler->heldBytes(), std::numeric_limits<std::uint32_t>::max());
  if (now != f.held) {
    heldUnlink(idx);
    stats_.handler_bytes = stats_.handler_bytes - f.held + now;
    stats_.handler_bytes_peak = std::max(stats_.handler_bytes_peak, stats_.handler_bytes);
    f.held = static_cast<std::uint32_t>(now);
    if (now != 0) {
      f.held_class = static_cast<std::uint8_t>(std::bit_width(now));
      LruList& l = held_[f.held_class];
      f.held_prev = NO_FLOW;
      f.held_next = l.head;
      if (l.head != NO_FLOW) flows_[l.head].held_prev = idx;
      else l.tail = idx;
      l.head = idx;
    }
  }
  bool alive = true;
  // The largest holders go first: a handshake that never ends holds far more
  // than a device's (whose chains stay under 16 KiB), and among equals the
  // one that changed longest ago.
  for (std::size_t c = held_.size() - 1; stats_.handler_bytes > limits_.max_handler_bytes_total && c > 0;) {
    if (held_[c].tail == NO_FLOW) {
      --c;
      continue;
    }
    const std::uint32_t victim = held_[c].tail;
    if (victim == idx) alive = false;
    cut(victim);
  }
  return alive;
}

void FlowTable::heldUnlink(std::uint32_t idx) {
  Flow& f = flows_[idx];
  if (f.held_class == 0) return;
  LruList& l = held_[f.held_class];
  if (f.held_prev != NO_FLOW) flows_[f.held_prev].held_next = f.held_next;
  else l.head = f.held_next;
  if (f.held_next != NO_FLOW) flows_[f.held_next].held_prev = f.held_prev;
  else l.tail = f.held_prev;
  f.held_class = 0;
}

void FlowTable::dropHandler(Flow& f) {
  heldUnlink(static_cast<std::uint32_t>(&f - flows_.data()));
  stats_.handler_bytes -= f.held;
  f.held = 0;
  f.handler.reset();
}

void FlowTable::cut(std::uint32_t idx) {
  Flow& f = flows_[idx];
  anomalies_.inc(PA_ANOMALY("flow_handler_memory_limit"));
  ++stats_.flows_cut;
  // What it parsed so far is handed on (onClose), its buffers freed; later
  // packets of the flow cost one lookup, as a bypassed flow's do.
  f.handler->onClose(f.info, CloseReason::Limit, f.last);
  stopFollowing(f);
}

void FlowTable::swapSides(Flow& f) {
  f.client_is_lo = !f.client_is_lo;
  std::swap(f.info.client, f.info.server);
  std::swap(f.info.client_mac, f.info.server_mac);
}

void FlowTable::releaseBuffers(Flow& f) {
  for (Direction& dir : f.dir) {
    for (Segment& s : dir.ooo) giveBuffer(std::move(s.bytes));
    dir.ooo.clear();
    stats_.buffered_bytes -= dir.buffered;
    dir.buffered = 0;
  }
}

std::vector<std::uint8_t> FlowTable::takeBuffer() {
  if (spare_.empty()) return {};
  std::vector<std::uint8_t> buf = std::move(spare_.back());
  spare_.pop_back();
  return buf;
}

void FlowTable::giveBuffer(std::vector<std::uint8_t>&& buf) {
  if (spare_.size() >= MAX_SPARE_SEGMENT_BUFFERS || buf.capacity() == 0 || buf.capacity() > MAX_SPARE_SEGMENT_CAPACITY) {
    return;  // freed with `buf`
  }
  buf.clear();
  spare_.push_back(std::move(buf));
}

}  // namespace provaudit::capture
