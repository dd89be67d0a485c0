// Fuzz target: TCP reassembly (capture::FlowTable) driven by a sequence of
// synthetic segments on four flows, with small limits so that eviction, idle
// timeouts, out-of-order limits, gaps and flows cut for what their handlers
// hold are all reachable.
//
// Input: u32 initial sequence number (shared by all directions, so wrap-around
// is one mutation away), then segments of 6 bytes each:
//   u8  b0: bits 0-1 flow, bit 2 direction (1 = server to client),
//           bit 3 snap-cut (half the payload "missing"), bits 4-5 verdict for the
//           handler's next answer (0/3 Continue, 1 Bypass, 2 SwapSides),
//           bit 6 call expire() after this segment, bit 7 RST instead of the flags
//   u8  TCP flags (low 5 bits: FIN SYN RST PSH ACK)
//   u16 sequence offset from the initial sequence number
//   u8  payload length
//   u8  time step (ms)
// Payload bytes are not taken from the input: the byte at sequence number s is
// (s & 0xff). A SYN occupies its own sequence number, so its data starts at seq + 1
// (RFC 9293 §3.4). The handler checks that every byte it is given sits at the stream
// offset it claims (byte - offset is constant per sender, gaps included), that
// nothing arrives after onClose, and that FlowStats::bytes_delivered matches.
// Each handler holds what it was given since its last gap (heldBytes); all of
// them together never hold more than max_handler_bytes_total once a packet is done.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "capture/flow_table.h"
#include "fuzz/fuzz_util.h"

namespace {
using namespace provaudit;
using namespace provaudit::capture;

constexpr std::uint16_t SERVER_PORT = 443;
constexpr std::uint16_t CLIENT_PORT_BASE = 40000;

struct Checker : StreamHandlerFactory {
  StreamVerdict next_verdict = StreamVerdict::Continue;
  std::uint64_t delivered = 0;

  struct SenderState {
    bool base_known = false;
    std::uint8_t base = 0;      // (first byte's sequence number - its offset) & 0xff
    std::uint64_t offset = 0;   // stream offset of the next byte (gaps included)
  };
  struct Handler : StreamHandler {
    Checker& c;
    bool closed = false;
    std::size_t held = 0;
    std::map<std::uint16_t, SenderState> senders;  // by the sender's port: swap-proof
    explicit Handler(Checker& checker) : c(checker) {}

    SenderState& sender(const FlowInfo& flow, Side side) {
      return senders[side == Side::Client ? flow.client.port : flow.server.port];
    }
    StreamVerdict answer() {
      const StreamVerdict v = c.next_verdict;
      c.next_verdict = StreamVerdict::Continue;
      return v;
    }
    StreamVerdict onData(const FlowInfo& flow, Side side, std::span<const std::uint8_t> bytes,
                         const PacketRef&) override {
      if (closed || bytes.empty()) __builtin_trap();  // data after close, or an empty delivery
      const fuzz::HeapChunk copy(bytes);              // reads every byte handed out
      SenderState& s = sender(flow, side);
      for (std::size_t i = 0; i < copy.size(); ++i) {
        const auto expected_base = static_cast<std::uint8_t>(copy.data()[i] - (s.offset + i));
        if (!s.base_known) {
          s.base = expected_base;
          s.base_known = true;
        } else if (expected_base != s.base) {
          __builtin_trap();  // a byte delivered at the wrong stream offset
        }
      }
      s.offset += copy.size();
      c.delivered += copy.size();
      held += copy.size();
      return answer();
    }
    StreamVerdict onGap(const FlowInfo& flow, Side side, std::uint64_t missing, const PacketRef&) override {
      if (closed || missing == 0) __builtin_trap();
      sender(flow, side).offset += missing;
      held = 0;
      return answer();
    }
    void onClose(const FlowInfo&, CloseReason, const PacketRef&) override {
      if (closed) __builtin_trap();  // closed twice
      closed = true;
    }
    std::size_t heldBytes() const override { return held; }
  };
  std::unique_ptr<StreamHandler> create(const FlowInfo&) override { return std::make_unique<Handler>(*this); }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::InputReader in(data, size);
  const std::uint32_t isn = in.u32();
  Checker checker;
  AnomalyCounters anomalies;
  FlowLimits limits;
  limits.max_flows = 3;  // four flows in the input: eviction is reachable
  limits.max_buffered_per_direction = 2048;
  limits.max_out_of_order_segments = 8;
  limits.idle_timeout_ns = 2'000'000'000;
  limits.closed_linger_ns = 500'000'000;
  limits.max_handler_bytes_total = 600;  // two or three payloads: cuts are reachable
  FlowTable table(checker, anomalies, limits);

  const std::array<std::uint8_t, 4> client_ip{10, 0, 0, 1};
  const std::array<std::uint8_t, 4> server_ip{10, 0, 0, 2};
  std::int64_t now = 1'000'000'000;
  PacketRef last;
  for (std::uint64_t frame = 1; in.left() >= 6; ++frame) {
    const std::uint8_t b0 = in.u8();
    const std::uint8_t flags = in.u8();
    const std::uint16_t seq_off = in.u16();
    const std::uint8_t len = in.u8();
    now += static_cast<std::int64_t>(in.u8()) * 1'000'000;

    const bool to_client = (b0 & 0x04) != 0;
    const auto client_port = static_cast<std::uint16_t>(CLIENT_PORT_BASE + (b0 & 0x03));
    const std::uint32_t seq = isn + seq_off;
    const bool cut = (b0 & 0x08) != 0;
    const std::uint8_t tcp_flags = (b0 & 0x80) != 0 ? TCP_RST : static_cast<std::uint8_t>(flags & 0x1f);
    const std::uint32_t first_data_seq = seq + ((tcp_flags & TCP_SYN) != 0 ? 1U : 0U);
    std::vector<std::uint8_t> payload(len);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(first_data_seq + i);
    const std::size_t captured = cut ? payload.size() / 2 : payload.size();
    const fuzz::HeapChunk chunk({payload.data(), captured});

    DecodedPacket pkt;
    pkt.ref = {now, frame, 0};
    pkt.src = IpAddr::v4(to_client ? server_ip.data() : client_ip.data());
    pkt.dst = IpAddr::v4(to_client ? client_ip.data() : server_ip.data());
    pkt.ip_proto = 6;
    pkt.sport = to_client ? SERVER_PORT : client_port;
    pkt.dport = to_client ? client_port : SERVER_PORT;
    pkt.tcp_flags = tcp_flags;
    pkt.seq = seq;
    pkt.payload = chunk.span();
    pkt.payload_missing = static_cast<std::uint32_t>(payload.size() - captured);
    pkt.wire_len = static_cast<std::uint32_t>(54 + payload.size());
    switch ((b0 >> 4) & 0x3) {
      case 1: checker.next_verdict = StreamVerdict::Bypass; break;
      case 2: checker.next_verdict = StreamVerdict::SwapSides; break;
      default: checker.next_verdict = StreamVerdict::Continue; break;
    }
    table.countRawPacket(pkt.wire_len);
    table.process(pkt);
    if ((b0 & 0x40) != 0) table.expire(now);
    if (table.activeFlows() > limits.max_flows) __builtin_trap();
    if (table.stats().handler_bytes > limits.max_handler_bytes_total) __builtin_trap();
    last = pkt.ref;
  }
  table.closeAll(last);
  if (table.activeFlows() != 0) __builtin_trap();
  if (table.stats().bytes_delivered != checker.delivered) __builtin_trap();
  if (table.stats().handler_bytes != 0) __builtin_trap();
  return 0;
}
