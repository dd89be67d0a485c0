#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "capture/capture_engine.h"
#include "packet_builder.h"
#include "recording_handler.h"

using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;

namespace {

constexpr std::uint8_t PROTO_TCP = 6;
constexpr std::uint8_t PROTO_UDP = 17;
constexpr std::int64_t SECOND = 1'000'000'000;

// Client 10.0.0.1:40000 (device MAC) <-> server 10.0.0.2:443 (router MAC), Ethernet.
Frame toServer(std::uint32_t seq, std::uint8_t flags, const std::string& data = "") {
  return ethernet(0x0800, ipv4(PROTO_TCP, tcp(40000, 443, seq, flags, data), 1, 2), MAC_DEVICE, MAC_ROUTER);
}
Frame toClient(std::uint32_t seq, std::uint8_t flags, const std::string& data = "") {
  return ethernet(0x0800, ipv4(PROTO_TCP, tcp(443, 40000, seq, flags, data), 2, 1), MAC_ROUTER, MAC_DEVICE);
}

}  // namespace

TEST_CASE("CaptureEngine: decode, reassemble, count non-TCP, close at the end") {
  Recorder r;
  AnomalyCounters a;
  CaptureEngine engine(r, a);
  const std::vector<Frame> frames = {
      toServer(100, TCP_SYN),
      toClient(900, TCP_SYN | TCP_ACK),
      toServer(101, TCP_ACK),
      toServer(101, TCP_ACK | TCP_PSH, "GET /spa000e08abcdef.cfg HTTP/1.1\r\n\r\n"),
      ethernet(0x0800, ipv4(PROTO_UDP, Frame().u16(53).u16(53).u16(8).u16(0))),  // DNS-ish: not TCP
      toClient(901, TCP_ACK | TCP_PSH, "HTTP/1.1 200 OK\r\n\r\n"),
  };
  std::int64_t ts = 10 * SECOND;
  for (const Frame& f : frames) engine.onPacket(rawPacket(LINKTYPE_ETHERNET, f, ts += 1000));
  engine.finish(PacketRef{ts, 6, 0});
  CHECK(r.stream(Side::Client) == "GET /spa000e08abcdef.cfg HTTP/1.1\r\n\r\n");
  CHECK(r.stream(Side::Server) == "HTTP/1.1 200 OK\r\n\r\n");
  CHECK(r.closes(CloseReason::EndOfInput) == 1);
  CHECK(r.events.front().info.client_mac->str() == "00:0e:08:ab:cd:ef");
  CHECK(engine.decodeFailures() == 1);
  CHECK(engine.stats().packets == 6);
  CHECK(engine.stats().tcp_packets == 5);
  CHECK(a.total() == 0);
}

TEST_CASE("CaptureEngine expires idle flows as packet time passes") {
  Recorder r;
  AnomalyCounters a;
  FlowLimits limits;
  limits.idle_timeout_ns = 30 * SECOND;
  CaptureEngine engine(r, a, limits);
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, toServer(1, TCP_ACK, "x"), 100 * SECOND));
  CHECK(engine.activeFlows() == 1);
  // Another flow's packet 31 s later: the first flow has been idle too long.
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET,
                            ethernet(0x0800, ipv4(PROTO_TCP, tcp(40001, 443, 1, TCP_ACK), 3, 2)), 131 * SECOND + 1));
  CHECK(r.closes(CloseReason::IdleTimeout) == 1);
  CHECK(engine.stats().flows_timed_out == 1);
  CHECK(engine.activeFlows() == 1);
}
