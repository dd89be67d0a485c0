#include <catch2/catch.hpp>

#include <cstdint>
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
  // Another flow's packets from 31 s later: the first flow has been idle too
  // long. A leap past the idle timeout is believed once a second packet
  // confirms it (one record's time alone may be corrupt: see below).
  const Frame other = ethernet(0x0800, ipv4(PROTO_TCP, tcp(40001, 443, 1, TCP_ACK), 3, 2));
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, other, 131 * SECOND + 1));
  CHECK(r.closes(CloseReason::IdleTimeout) == 0);
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, other, 131 * SECOND + 2));
  CHECK(r.closes(CloseReason::IdleTimeout) == 1);
  CHECK(engine.stats().flows_timed_out == 1);
  CHECK(engine.activeFlows() == 1);
  CHECK(a.total() == 0);
  // Quiet again, then time passes packet by packet (each within the timeout of
  // the last): the second flow closes as usual, without a leap.
  for (std::int64_t t = 140; t <= 200; t += 10) {
    engine.onPacket(rawPacket(LINKTYPE_ETHERNET, ethernet(0x0806, Frame().u16(1)), t * SECOND));
  }
  CHECK(engine.stats().flows_timed_out == 2);
  CHECK(engine.activeFlows() == 0);
  CHECK(a.get("packet_time_leap_ignored") == 0);
}

TEST_CASE("CaptureEngine: one packet whose time leaps ahead closes no flow") {
  // A corrupt record time (or a clock stepped for one packet) far ahead of the
  // capture's: believed, every open flow would have been idle too long, and
  // the handshakes in progress lost without a word.
  constexpr std::int64_t START = 1'700'000'000 * SECOND;
  for (const std::int64_t leap : {START + 400 * SECOND, std::int64_t{0xFFFFFFFF} * SECOND, INT64_MAX}) {
    INFO(leap);
    Recorder r;
    AnomalyCounters a;
    CaptureEngine engine(r, a);  // idle timeout 300 s
    std::int64_t ts = START;
    engine.onPacket(rawPacket(LINKTYPE_ETHERNET, toServer(100, TCP_SYN), ts += 1000));
    engine.onPacket(rawPacket(LINKTYPE_ETHERNET, toClient(900, TCP_SYN | TCP_ACK), ts += 1000));
    engine.onPacket(rawPacket(LINKTYPE_ETHERNET, ethernet(0x0806, Frame().u16(1)), leap));
    engine.onPacket(
        rawPacket(LINKTYPE_ETHERNET, toServer(101, TCP_ACK | TCP_PSH, "GET / HTTP/1.1\r\n\r\n"), ts += 1000));
    engine.onPacket(
        rawPacket(LINKTYPE_ETHERNET, toClient(901, TCP_ACK | TCP_PSH, "HTTP/1.1 200 OK\r\n\r\n"), ts += 1000));
    engine.finish(PacketRef{ts, 5, 0});
    CHECK(r.closes(CloseReason::IdleTimeout) == 0);
    CHECK(r.stream(Side::Client) == "GET / HTTP/1.1\r\n\r\n");
    CHECK(r.stream(Side::Server) == "HTTP/1.1 200 OK\r\n\r\n");
    CHECK(a.get("packet_time_leap_ignored") == 1);
  }
}

TEST_CASE("CaptureEngine: after the end of a capture, the next one's first packet is no leap, however late") {
  // A replay of two files a day apart calls finish() between them.
  Recorder r;
  AnomalyCounters a;
  CaptureEngine engine(r, a);
  const std::int64_t ts = 1'700'000'000 * SECOND;
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, toServer(101, TCP_ACK | TCP_PSH, "GET / HTTP/1.1\r\n\r\n"), ts));
  engine.finish(PacketRef{ts, 1, 0});
  const std::int64_t day_later = ts + 86'400 * SECOND;
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, toServer(200, TCP_ACK | TCP_PSH, "GET /b HTTP/1.1\r\n\r\n"), day_later));
  CHECK(engine.activeFlows() == 1);  // read at once, not held
  engine.finish(PacketRef{day_later, 2, 0});
  CHECK(a.get("packet_time_leap_ignored") == 0);
}

TEST_CASE("CaptureEngine: a leap confirmed by the next packet is a pause in the capture") {
  Recorder r;
  AnomalyCounters a;
  CaptureEngine engine(r, a);
  std::int64_t ts = 1'700'000'000 * SECOND;
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, toServer(101, TCP_ACK | TCP_PSH, "GET / HTTP/1.1\r\n\r\n"), ts));
  // Two leaps that disagree with each other (the first lone), then the capture
  // resumes an hour later for good.
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, ethernet(0x0806, Frame().u16(1)), ts + 86'400 * SECOND));
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, ethernet(0x0806, Frame().u16(1)), ts + 3'600 * SECOND));
  CHECK(r.closes(CloseReason::IdleTimeout) == 0);
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, ethernet(0x0806, Frame().u16(1)), ts + 3'601 * SECOND));
  CHECK(r.closes(CloseReason::IdleTimeout) == 1);
  CHECK(a.get("packet_time_leap_ignored") == 1);
}

TEST_CASE("CaptureEngine: a datagram missing a fragment is counted when packet time passes its timeout, or at the end") {
  Recorder r;
  AnomalyCounters a;
  CaptureEngine engine(r, a);
  // The first fragment of a segment to the server (MF set); the rest never comes.
  const Frame first = ethernet(0x0800, ipv4(PROTO_TCP, Frame().zeros(16), 1, 2, -1, 0x2000, 7), MAC_DEVICE, MAC_ROUTER);
  engine.onPacket(rawPacket(LINKTYPE_ETHERNET, first, 10 * SECOND));
  SECTION("other packets carry the time past the fragment timeout") {
    std::int64_t ts = 10 * SECOND;
    for (std::uint32_t seq = 100; ts <= 10 * SECOND + FRAGMENT_TIMEOUT_NS + 2 * EXPIRE_INTERVAL_NS; seq += 1) {
      engine.onPacket(rawPacket(LINKTYPE_ETHERNET, toServer(seq, TCP_ACK), ts += SECOND));
    }
    CHECK(a.get("ipv4_fragment_timeout") == 1);
    engine.finish(PacketRef{ts, 0, 0});
    CHECK(a.get("ipv4_fragment_incomplete_at_end") == 0);
  }
  SECTION("the capture ends first") {
    engine.finish(PacketRef{10 * SECOND, 1, 0});
    CHECK(a.get("ipv4_fragment_incomplete_at_end") == 1);
    CHECK(a.get("ipv4_fragment_timeout") == 0);
  }
}
