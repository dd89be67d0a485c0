#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "capture/flow_table.h"
#include "recording_handler.h"

using namespace provaudit;
using namespace provaudit::capture;
using provaudit::capture::test::Event;
using provaudit::capture::test::Recorder;

namespace {

constexpr std::uint16_t CLIENT_PORT = 40000;
constexpr std::uint16_t SERVER_PORT = 443;

// Holds the payload bytes so that the DecodedPacket's span stays valid.
struct Segment {
  std::string payload;
  DecodedPacket pkt;
};

// One segment between 10.0.0.1:client_port and 10.0.0.2:server_port.
Segment seg(bool from_client, std::uint32_t seq, std::uint8_t flags, std::string payload = "",
            std::int64_t ts_ns = 1'000'000'000, std::uint16_t client_port = CLIENT_PORT,
            std::uint16_t server_port = SERVER_PORT) {
  Segment s;
  s.payload = std::move(payload);
  const std::uint8_t a[4] = {10, 0, 0, 1};
  const std::uint8_t b[4] = {10, 0, 0, 2};
  DecodedPacket& p = s.pkt;
  p.src = IpAddr::v4(from_client ? a : b);
  p.dst = IpAddr::v4(from_client ? b : a);
  p.sport = from_client ? client_port : server_port;
  p.dport = from_client ? server_port : client_port;
  p.ip_proto = 6;
  p.tcp_flags = flags;
  p.seq = seq;
  p.ref.ts_ns = ts_ns;
  p.src_mac = MacAddr{{0, 0x0e, 0x08, 0, 0, static_cast<std::uint8_t>(from_client ? 1 : 2)}};
  return s;
}

void feed(FlowTable& t, const Segment& s) {
  DecodedPacket p = s.pkt;
  p.payload = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.payload.data()), s.payload.size());
  t.process(p);
}

constexpr std::uint32_t CISN = 1000;  // client initial sequence number
constexpr std::uint32_t SISN = 5000;  // server initial sequence number

void handshake(FlowTable& t, std::uint32_t cisn = CISN, std::uint32_t sisn = SISN) {
  feed(t, seg(true, cisn, TCP_SYN));
  feed(t, seg(false, sisn, TCP_SYN | TCP_ACK));
  feed(t, seg(true, cisn + 1, TCP_ACK));
}

// The usual setup: a recorder, its anomaly counters and a table with default limits.
struct DefaultTable {
  Recorder r;
  AnomalyCounters a;
  FlowTable t{r, a};
};

}  // namespace

TEST_CASE_METHOD(DefaultTable, "In-order streams with SYN: sides, MACs, FIN close") {
  handshake(t);
  CHECK(r.created == 0);  // no payload yet, no handler
  feed(t, seg(true, CISN + 1, TCP_ACK | TCP_PSH, "GET / HTTP/1.1\r\n"));
  feed(t, seg(false, SISN + 1, TCP_ACK | TCP_PSH, "HTTP/1.1 200 OK\r\n"));
  feed(t, seg(true, CISN + 17, TCP_ACK | TCP_FIN));
  feed(t, seg(false, SISN + 18, TCP_ACK | TCP_FIN));
  CHECK(r.created == 1);
  CHECK(r.stream(Side::Client) == "GET / HTTP/1.1\r\n");
  CHECK(r.stream(Side::Server) == "HTTP/1.1 200 OK\r\n");
  REQUIRE(r.closes(CloseReason::Fin) == 1);
  const FlowInfo& info = r.events.back().info;
  CHECK(info.syn_seen);
  CHECK(info.client.str() == "10.0.0.1:40000");
  CHECK(info.server.str() == "10.0.0.2:443");
  CHECK(info.client_mac->str() == "00:0e:08:00:00:01");
  CHECK(info.server_mac->str() == "00:0e:08:00:00:02");
  CHECK(t.stats().flows_closed == 1);
  CHECK(t.stats().bytes_delivered == 33);
  CHECK(t.stats().gaps == 0);
}

TEST_CASE_METHOD(DefaultTable, "A flow without payload never creates a handler") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK | TCP_FIN));
  feed(t, seg(false, SISN + 1, TCP_ACK | TCP_FIN));
  CHECK(r.created == 0);
  CHECK(r.events.empty());
  CHECK(t.stats().flows_created == 1);
}

TEST_CASE_METHOD(DefaultTable, "Out-of-order segments are buffered and delivered in order") {
  handshake(t);
  feed(t, seg(true, CISN + 1 + 6, TCP_ACK, "world"));
  feed(t, seg(true, CISN + 1 + 11, TCP_ACK, "!"));
  CHECK(r.events.empty());
  feed(t, seg(true, CISN + 1, TCP_ACK, "hello "));
  CHECK(r.stream(Side::Client) == "hello world!");
}

TEST_CASE_METHOD(DefaultTable, "Held bytes are delivered with the packet that carried them, a hole's own bytes with theirs") {
  handshake(t);
  auto at = [](Segment s, std::uint64_t frame) {
    s.pkt.ref.frame = frame;
    s.pkt.ref.ts_ns = static_cast<std::int64_t>(frame) * 1000;
    return s;
  };
  feed(t, at(seg(true, CISN + 1 + 6, TCP_ACK, "world"), 7));
  feed(t, at(seg(true, CISN + 1 + 11, TCP_ACK, "!"), 8));
  feed(t, at(seg(true, CISN + 1, TCP_ACK, "hello "), 9));  // fills the hole
  std::vector<std::pair<std::string, std::uint64_t>> got;
  for (const Event& e : r.events) got.emplace_back(e.bytes, e.ref.frame);
  CHECK(got == std::vector<std::pair<std::string, std::uint64_t>>{{"hello ", 9}, {"world", 7}, {"!", 8}});
  CHECK(r.events[1].ref.ts_ns == 7000);
  // A hole never filled: at the end, the gap, then the held bytes with their own packet.
  feed(t, at(seg(true, CISN + 1 + 20, TCP_ACK, "late"), 10));
  t.closeAll(PacketRef{99000, 99, 0});
  REQUIRE(r.events.size() == 6);
  CHECK(r.events[3].kind == Event::Gap);
  CHECK(r.events[4].bytes == "late");
  CHECK(r.events[4].ref.frame == 10);
  CHECK(r.events[5].kind == Event::Close);
}

TEST_CASE_METHOD(DefaultTable, "Retransmission of delivered data is dropped and counted") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "abc"));
  feed(t, seg(true, CISN + 1, TCP_ACK, "abc"));
  feed(t, seg(true, CISN + 4, TCP_ACK, "def"));
  CHECK(r.stream(Side::Client) == "abcdef");
  CHECK(t.stats().retransmitted_segments == 1);
}

TEST_CASE_METHOD(DefaultTable, "Exact duplicate of a buffered out-of-order segment is dropped and counted") {
  handshake(t);
  feed(t, seg(true, CISN + 4, TCP_ACK, "def"));
  feed(t, seg(true, CISN + 4, TCP_ACK, "def"));
  feed(t, seg(true, CISN + 1, TCP_ACK, "abc"));
  CHECK(r.stream(Side::Client) == "abcdef");
  CHECK(t.stats().retransmitted_segments == 1);
  CHECK(a.get("tcp_overlap_conflict") == 0);
}

TEST_CASE_METHOD(DefaultTable, "Overlapping segments: the first arrival wins, conflicting bytes are an anomaly") {
  handshake(t);
  feed(t, seg(true, CISN + 5, TCP_ACK, "EFGH"));    // offsets 4..8, held out of order
  feed(t, seg(true, CISN + 3, TCP_ACK, "CDxxGHIJ"));  // offsets 2..10: "xx" conflicts with "EF"
  feed(t, seg(true, CISN + 1, TCP_ACK, "AB"));
  CHECK(r.stream(Side::Client) == "ABCDEFGHIJ");
  CHECK(t.stats().overlapping_segments == 1);
  CHECK(a.get("tcp_overlap_conflict") == 1);
}

TEST_CASE_METHOD(DefaultTable, "Overlap with already delivered bytes: only the new tail is delivered") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "abcd"));
  feed(t, seg(true, CISN + 3, TCP_ACK, "cdef"));
  CHECK(r.stream(Side::Client) == "abcdef");
  CHECK(t.stats().overlapping_segments == 1);
}

TEST_CASE_METHOD(DefaultTable, "Sequence numbers wrap around 2^32") {
  const std::uint32_t isn = 0xfffffffa;  // data starts at 0xfffffffb and crosses zero
  handshake(t, isn);
  feed(t, seg(true, 0x00000001, TCP_ACK, "6789"));  // after the wrap, out of order
  feed(t, seg(true, 0xfffffffb, TCP_ACK, "012345"));  // 0xfffffffb .. 0x00000000
  feed(t, seg(true, 0xfffffffb, TCP_ACK, "01"));      // retransmission across the wrap
  CHECK(r.stream(Side::Client) == "0123456789");
  CHECK(t.stats().retransmitted_segments == 1);
}

TEST_CASE_METHOD(DefaultTable, "SYN-less pickup: the higher port is guessed as the client") {
  feed(t, seg(false, 777, TCP_ACK, "response"));  // first seen: server -> client
  feed(t, seg(true, 333, TCP_ACK, "request"));
  REQUIRE(r.events.size() == 2);
  CHECK_FALSE(r.events[0].info.syn_seen);
  CHECK(r.events[0].info.client.port == CLIENT_PORT);
  CHECK(r.stream(Side::Server) == "response");
  CHECK(r.stream(Side::Client) == "request");
}

TEST_CASE_METHOD(DefaultTable, "SwapSides corrects a wrong guess; later data uses the corrected sides") {
  // The real client uses port 5000, the server 6000: the higher-port guess is wrong.
  r.verdict = [](const Event& e) {
    return e.bytes.rfind("\x16\x03", 0) == 0 ? StreamVerdict::SwapSides : StreamVerdict::Continue;
  };
  feed(t, seg(true, 100, TCP_ACK, "\x16\x03hello", 1, 5000, 6000));  // ClientHello-like, from port 5000
  REQUIRE(r.events.size() == 1);
  CHECK(r.events[0].side == Side::Server);  // delivered under the guess
  feed(t, seg(false, 900, TCP_ACK, "reply", 1, 5000, 6000));
  feed(t, seg(true, 107, TCP_ACK, "more", 1, 5000, 6000));
  REQUIRE(r.events.size() == 3);
  CHECK(r.events[1].side == Side::Server);
  CHECK(r.events[1].bytes == "reply");
  CHECK(r.events[2].side == Side::Client);
  CHECK(r.events[2].info.client.port == 5000);
  CHECK(r.events[2].info.client_mac->str() == "00:0e:08:00:00:01");
}

TEST_CASE_METHOD(DefaultTable, "SwapSides is ignored when the SYN named the sides") {
  r.verdict = [](const Event&) { return StreamVerdict::SwapSides; };
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "x"));
  feed(t, seg(true, CISN + 2, TCP_ACK, "y"));
  CHECK(r.events[1].side == Side::Client);
  CHECK(a.get("tcp_swap_sides_ignored") == 2);
}

TEST_CASE("Buffer limit: a gap is declared and delivery goes on after the hole") {
  Recorder r;
  AnomalyCounters a;
  FlowLimits limits;
  limits.max_buffered_per_direction = 8;
  FlowTable t(r, a, limits);
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "ab"));
  feed(t, seg(true, CISN + 1 + 5, TCP_ACK, "fghij"));  // "cde" lost; 5 bytes held
  CHECK(r.stream(Side::Client) == "ab");
  feed(t, seg(true, CISN + 1 + 10, TCP_ACK, "klmn"));  // 9 bytes held > 8: give up on the hole
  CHECK(r.stream(Side::Client) == "ab[gap 3]fghijklmn");
  CHECK(a.get("tcp_buffer_limit") == 1);
  CHECK(t.stats().gaps == 1);
  CHECK(t.stats().gap_bytes == 3);
  feed(t, seg(true, CISN + 1 + 2, TCP_ACK, "cde"));  // the late retransmission is old news
  CHECK(r.stream(Side::Client) == "ab[gap 3]fghijklmn");
}

TEST_CASE("Out-of-order segment limit declares a gap") {
  Recorder r;
  AnomalyCounters a;
  FlowLimits limits;
  limits.max_out_of_order_segments = 2;
  FlowTable t(r, a, limits);
  handshake(t);
  feed(t, seg(true, CISN + 2, TCP_ACK, "b"));
  feed(t, seg(true, CISN + 4, TCP_ACK, "d"));
  feed(t, seg(true, CISN + 6, TCP_ACK, "f"));  // a third held segment: give up on the first hole
  CHECK(r.stream(Side::Client) == "[gap 1]b");
  CHECK(a.get("tcp_out_of_order_limit") == 1);
  t.closeAll(PacketRef{});
  CHECK(r.stream(Side::Client) == "[gap 1]b[gap 1]d[gap 1]f");
}

TEST_CASE("Buffered bytes of all flows together stay under the total cap; the flow that adds gives up its hole") {
  Recorder r;
  AnomalyCounters a;
  FlowLimits limits;
  limits.max_buffered_total = 20;  // per direction stays at the default 256 KiB
  FlowTable t(r, a, limits);
  // Four flows, each with its first byte lost and 8 bytes held after the hole.
  for (std::uint16_t i = 0; i < 4; ++i) {
    const std::uint16_t port = static_cast<std::uint16_t>(CLIENT_PORT + i);
    feed(t, seg(true, CISN, TCP_SYN, "", 1'000'000'000, port));
    feed(t, seg(true, CISN + 2, TCP_ACK, "abcdefgh", 1'000'000'000, port));
    CHECK(t.stats().buffered_bytes <= limits.max_buffered_total);
  }
  // 16 bytes fit; the third flow's 8 more went over 20: it declared its hole
  // and delivered, and so did the fourth. Nothing was lost, only the lost byte.
  CHECK(a.get("tcp_buffer_total_limit") == 2);
  CHECK(t.stats().buffered_bytes == 16);
  CHECK(t.stats().buffered_bytes_peak == 24);
  CHECK(t.stats().gaps == 2);
  t.closeAll(PacketRef{});
  CHECK(t.stats().buffered_bytes == 0);
  CHECK(t.stats().gaps == 4);
  CHECK(t.stats().bytes_delivered == 4 * 8);
}

TEST_CASE_METHOD(DefaultTable, "FIN with data missing: the hole becomes a gap before the close") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "abc"));
  feed(t, seg(true, CISN + 7, TCP_ACK, "ghi"));                 // "def" lost
  feed(t, seg(true, CISN + 10, TCP_ACK | TCP_FIN));
  feed(t, seg(false, SISN + 1, TCP_ACK, "ok"));
  feed(t, seg(false, SISN + 3 + 4, TCP_ACK | TCP_FIN));         // server's last 4 bytes lost
  CHECK(r.stream(Side::Client) == "abc[gap 3]ghi");
  CHECK(r.stream(Side::Server) == "ok[gap 4]");
  CHECK(r.closes(CloseReason::Fin) == 1);
}

TEST_CASE_METHOD(DefaultTable,
                 "RST closes the flow; its handler is closed when the linger ends, flushing what is held") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "a"));
  feed(t, seg(true, CISN + 3, TCP_ACK, "c"));
  feed(t, seg(false, SISN + 1, TCP_ACK | TCP_RST));
  CHECK(t.stats().flows_closed == 1);
  CHECK(r.closes(CloseReason::Rst) == 0);  // a reordered segment may still come
  t.expire(1'000'000'000 + FlowLimits{}.closed_linger_ns + 1);
  CHECK(r.stream(Side::Client) == "a[gap 1]c");
  REQUIRE(r.closes(CloseReason::Rst) == 1);
  CHECK(r.events.back().ref.ts_ns == 1'000'000'000);  // at the RST
  CHECK(t.activeFlows() == 0);
}

// A SPAN port delivers the server's RST a few microseconds ahead of the
// client's last flight, sent before it: the flight continues the client's
// stream and is delivered; only then is the flow closed.
TEST_CASE_METHOD(DefaultTable, "Segments continuing the stream after an in-window RST are still delivered") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "hello"));
  feed(t, seg(false, SISN + 1, TCP_ACK, "srv"));
  feed(t, seg(false, SISN + 4, TCP_ACK | TCP_RST));
  feed(t, seg(true, CISN + 6, TCP_ACK | TCP_PSH, " world"));
  feed(t, seg(true, CISN + 1'000'000'000, TCP_ACK, "elsewhere"));  // not this stream: a late copy at most
  CHECK(r.stream(Side::Client) == "hello world");
  CHECK(r.closes(CloseReason::Rst) == 0);
  t.closeAll(PacketRef{5'000'000'000, 99, 0});
  CHECK(r.stream(Side::Client) == "hello world");
  REQUIRE(r.closes(CloseReason::Rst) == 1);
  CHECK(r.events.back().ref.ts_ns == 1'000'000'000);
  CHECK(a.get("tcp_rst_out_of_window") == 0);
}

TEST_CASE_METHOD(DefaultTable, "A RST outside the receiver's window is ignored and counted") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "hello"));
  feed(t, seg(false, SISN + 1, TCP_ACK, "srv"));
  feed(t, seg(false, SISN + 4 + (1u << 30), TCP_RST));  // a stray RST, 2^30 ahead
  CHECK(a.get("tcp_rst_out_of_window") == 1);
  CHECK(t.stats().flows_closed == 0);
  feed(t, seg(true, CISN + 6, TCP_ACK | TCP_PSH, " world"));
  feed(t, seg(true, CISN + 12, TCP_ACK | TCP_FIN));
  feed(t, seg(false, SISN + 4, TCP_ACK | TCP_FIN));
  CHECK(r.stream(Side::Client) == "hello world");
  CHECK(r.closes(CloseReason::Fin) == 1);
  CHECK(r.closes(CloseReason::Rst) == 0);
}

TEST_CASE_METHOD(DefaultTable, "A RST behind the stream by more than the tolerance is out of window too") {
  // ISNs far from 0: these segments acknowledge 0, which the window is judged from too.
  constexpr std::uint32_t cisn = 0x40000000;
  handshake(t, cisn, 0x50000000);
  feed(t, seg(true, cisn + 1, TCP_ACK, "hello"));
  constexpr auto tolerance = static_cast<std::uint32_t>(SEQ_WINDOW_TOLERANCE);
  feed(t, seg(true, cisn + 6 - tolerance - 1, TCP_RST));
  CHECK(a.get("tcp_rst_out_of_window") == 1);
  feed(t, seg(true, cisn + 6 - tolerance, TCP_RST));
  CHECK(a.get("tcp_rst_out_of_window") == 1);
  CHECK(t.stats().flows_closed == 1);
}

// A device rebooted without FIN or RST and reused its source port: a SYN with
// another ISN. The old connection ends there; the new one is followed.
TEST_CASE_METHOD(DefaultTable, "A SYN with a new ISN on a live flow's 4-tuple starts a new connection") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "old"));
  feed(t, seg(true, CISN, TCP_SYN));  // a retransmitted SYN: the same connection
  CHECK(t.stats().flows_created == 1);
  handshake(t, 70000, 90000);
  feed(t, seg(true, 70001, TCP_ACK, "new"));
  CHECK(t.stats().flows_created == 2);
  CHECK(t.stats().flows_reused == 1);
  CHECK(r.created == 2);
  REQUIRE(r.closes(CloseReason::Reused) == 1);
  t.closeAll(PacketRef{});
  std::vector<std::string> data;
  for (const Event& e : r.events) {
    if (e.kind == Event::Data) data.push_back(e.bytes);
  }
  CHECK(data == std::vector<std::string>{"old", "new"});
  CHECK(r.events[1].kind == Event::Close);  // the old flow ended before the new one's bytes
}

TEST_CASE_METHOD(DefaultTable, "A SYN with a new ISN on a bypassed flow's 4-tuple starts a new connection") {
  r.verdict = [](const Event&) { return StreamVerdict::Bypass; };
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "bulk"));
  CHECK(t.stats().flows_bypassed == 1);
  r.verdict = nullptr;
  handshake(t, 70000, 90000);
  feed(t, seg(true, 70001, TCP_ACK, "new"));
  CHECK(t.stats().flows_created == 2);
  CHECK(r.stream(Side::Client) == "bulknew");
}

TEST_CASE_METHOD(DefaultTable, "A SYN with a new ISN after an in-window RST closes the old handler first") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "old"));
  feed(t, seg(false, SISN + 1, TCP_RST));
  handshake(t, 70000, 90000);
  REQUIRE(r.closes(CloseReason::Rst) == 1);
  feed(t, seg(true, 70001, TCP_ACK, "new"));
  CHECK(r.stream(Side::Client) == "oldnew");
  CHECK(t.stats().flows_created == 2);
}

namespace {

// `s` as a router's other interface captures it: the router's MAC as the
// source, the TTL one lower.
Segment forwarded(Segment s, std::uint8_t ttl) {
  s.pkt.src_mac = MacAddr{{0xaa, 0x91, 0x4f, 0x85, 0xf9, 0x36}};
  s.pkt.ttl = ttl;
  return s;
}

Segment withTtl(Segment s, std::uint8_t ttl) {
  s.pkt.ttl = ttl;
  return s;
}

}  // namespace

TEST_CASE_METHOD(DefaultTable, "A connection captured again after it closed (a second capture point) is one connection") {
  const auto connection = [&](const std::function<Segment(Segment)>& as) {
    feed(t, as(seg(true, CISN, TCP_SYN)));
    feed(t, as(seg(false, SISN, TCP_SYN | TCP_ACK)));
    feed(t, as(seg(true, CISN + 1, TCP_ACK | TCP_PSH, "hello")));
    feed(t, as(seg(false, SISN + 1, TCP_ACK | TCP_PSH, "welcome")));
    feed(t, as(seg(true, CISN + 6, TCP_ACK | TCP_FIN)));
    feed(t, as(seg(false, SISN + 8, TCP_ACK | TCP_FIN)));
  };
  connection([](Segment s) { return withTtl(std::move(s), 64); });
  REQUIRE(r.closes(CloseReason::Fin) == 1);
  connection([](Segment s) { return forwarded(std::move(s), 63); });  // the same segments, routed
  t.closeAll(PacketRef{});
  CHECK(t.stats().flows_created == 1);
  CHECK(r.created == 1);
  CHECK(r.stream(Side::Client) == "hello");
  CHECK(r.stream(Side::Server) == "welcome");
  CHECK(r.events.back().info.client_mac->str() == "00:0e:08:00:00:01");
  CHECK(a.get("tcp_connection_captured_twice") == 1);
  // A SYN with another ISN on the closed 4-tuple is still a new connection.
  handshake(t, 70000, 90000);
  CHECK(t.stats().flows_created == 2);
  CHECK(a.get("tcp_connection_captured_twice") == 1);
}

TEST_CASE_METHOD(DefaultTable, "Of two copies of a side's packets, the MAC of the one captured nearer the sender (higher TTL) is kept") {
  feed(t, forwarded(seg(true, CISN, TCP_SYN), 63));  // the forwarded copy first
  feed(t, withTtl(seg(true, CISN, TCP_SYN), 64));
  feed(t, withTtl(seg(false, SISN, TCP_SYN | TCP_ACK), 64));
  feed(t, forwarded(seg(false, SISN, TCP_SYN | TCP_ACK), 63));
  feed(t, forwarded(seg(true, CISN + 1, TCP_ACK | TCP_PSH, "hello"), 63));
  feed(t, withTtl(seg(true, CISN + 1, TCP_ACK | TCP_PSH, "hello"), 64));
  t.closeAll(PacketRef{});
  CHECK(t.stats().flows_created == 1);
  CHECK(r.stream(Side::Client) == "hello");
  const FlowInfo& info = r.events.back().info;
  CHECK(info.client_mac->str() == "00:0e:08:00:00:01");
  CHECK(info.server_mac->str() == "00:0e:08:00:00:02");
  CHECK(a.get("tcp_connection_captured_twice") == 0);
}

TEST_CASE("Idle flows close by packet time") {
  Recorder r;
  AnomalyCounters a;
  FlowLimits limits;
  limits.idle_timeout_ns = 10'000'000'000;
  FlowTable t(r, a, limits);
  feed(t, seg(true, 1, TCP_ACK, "x", 1'000'000'000));
  t.expire(5'000'000'000);
  CHECK(r.closes(CloseReason::IdleTimeout) == 0);
  t.expire(12'000'000'000);
  CHECK(r.closes(CloseReason::IdleTimeout) == 1);
  CHECK(t.stats().flows_timed_out == 1);
  CHECK(t.activeFlows() == 0);
}

TEST_CASE_METHOD(DefaultTable, "Closed flows linger, then are forgotten; a new SYN reuses the 4-tuple") {
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_RST));
  CHECK(t.activeFlows() == 1);  // lingering
  handshake(t, 9000, 9500);     // same ports, new connection
  feed(t, seg(true, 9001, TCP_ACK, "new"));
  CHECK(t.stats().flows_created == 2);
  CHECK(r.stream(Side::Client) == "new");
  feed(t, seg(true, 9004, TCP_RST, "", 2'000'000'000));
  t.expire(2'000'000'000 + FlowLimits{}.closed_linger_ns + 1);
  CHECK(t.activeFlows() == 0);
}

TEST_CASE_METHOD(DefaultTable, "End of input flushes held data as gaps and closes with EndOfInput") {
  handshake(t);
  feed(t, seg(true, CISN + 3, TCP_ACK, "cd"));
  t.closeAll(PacketRef{});
  CHECK(r.stream(Side::Client) == "[gap 2]cd");
  CHECK(r.closes(CloseReason::EndOfInput) == 1);
  CHECK(t.activeFlows() == 0);
}

TEST_CASE_METHOD(DefaultTable, "Bypass frees the flow; later packets cost one lookup and are counted") {
  r.verdict = [](const Event&) { return StreamVerdict::Bypass; };
  handshake(t);
  feed(t, seg(true, CISN + 1, TCP_ACK, "binary"));
  feed(t, seg(true, CISN + 7, TCP_ACK, "more"));
  feed(t, seg(false, SISN + 1, TCP_ACK, "reply"));
  REQUIRE(r.events.size() == 1);  // nothing after the Bypass, not even onClose
  CHECK(t.stats().flows_bypassed == 1);
  CHECK(t.stats().bypassed_packets == 2);
  CHECK(t.activeFlows() == 1);  // the tombstone
}

TEST_CASE_METHOD(DefaultTable, "A factory returning nullptr bypasses the flow from the start") {
  r.refuse = true;
  feed(t, seg(true, 1, TCP_ACK, "x"));
  feed(t, seg(true, 2, TCP_ACK, "y"));
  CHECK(r.created == 1);
  CHECK(t.stats().flows_bypassed == 1);
  CHECK(t.stats().bypassed_packets == 1);
}

TEST_CASE("A full table evicts the least recently used flow, counted") {
  Recorder r;
  AnomalyCounters a;
  FlowLimits limits;
  limits.max_flows = 2;
  FlowTable t(r, a, limits);
  feed(t, seg(true, 1, TCP_ACK, "one", 1, 40001));
  feed(t, seg(true, 1, TCP_ACK, "two", 2, 40002));
  feed(t, seg(true, 4, TCP_ACK, "ONE", 3, 40001));  // flow 1 is now the most recent
  feed(t, seg(true, 1, TCP_ACK, "three", 4, 40003));
  CHECK(t.stats().flows_evicted == 1);
  CHECK(a.get("flow_table_full_evict") == 1);
  REQUIRE(r.closes(CloseReason::Evicted) == 1);
  for (const Event& e : r.events) {
    if (e.kind == Event::Close) CHECK(e.info.client.port == 40002);
  }
  CHECK(t.activeFlows() == 2);
}

TEST_CASE("Many flows through a small table: lookups stay correct after evictions") {
  Recorder r;
  AnomalyCounters a;
  FlowLimits limits;
  limits.max_flows = 64;
  FlowTable t(r, a, limits);
  for (std::uint16_t p = 1000; p < 3000; ++p) {
    feed(t, seg(true, 1, TCP_ACK, "a", p, p));
    feed(t, seg(true, 2, TCP_ACK, "b", p, p));
  }
  CHECK(t.activeFlows() == 64);
  CHECK(t.stats().flows_created == 2000);
  CHECK(t.stats().flows_evicted == 2000 - 64);
  CHECK(t.stats().retransmitted_segments == 0);
  CHECK(t.stats().bytes_delivered == 4000);
}

TEST_CASE_METHOD(DefaultTable, "Snap-length cut segments deliver what was captured and a gap for the rest") {
  handshake(t);
  Segment s = seg(true, CISN + 1, TCP_ACK, "abcd");
  s.pkt.payload_missing = 6;
  feed(t, s);
  feed(t, seg(true, CISN + 11, TCP_ACK, "k"));
  CHECK(r.stream(Side::Client) == "abcd[gap 6]k");
}

namespace {
// Handlers that hold every byte delivered to them (as a parser reassembling a
// message that never ends would) and say so in heldBytes().
struct Hoarder : StreamHandlerFactory {
  struct Flow {
    std::uint16_t port = 0;
    std::size_t held = 0;
    std::size_t delivered = 0;
    std::vector<CloseReason> closes;
  };
  std::map<std::uint16_t, Flow> flows;  // by client port
  struct Handler : StreamHandler {
    Flow& f;
    explicit Handler(Flow& flow) : f(flow) {}
    StreamVerdict onData(const FlowInfo&, Side, std::span<const std::uint8_t> bytes, const PacketRef&) override {
      f.held += bytes.size();
      f.delivered += bytes.size();
      return StreamVerdict::Continue;
    }
    StreamVerdict onGap(const FlowInfo&, Side, std::uint64_t, const PacketRef&) override { return StreamVerdict::Continue; }
    void onClose(const FlowInfo&, CloseReason why, const PacketRef&) override { f.closes.push_back(why); }
    std::size_t heldBytes() const override { return f.held; }
  };
  std::unique_ptr<StreamHandler> create(const FlowInfo& info) override {
    Flow& f = flows[info.client.port];
    f.port = info.client.port;
    return std::make_unique<Handler>(f);
  }
};
}  // namespace

TEST_CASE("What all flows' handlers hold stays under its limit: the largest holders are closed early, counted") {
  Hoarder h;
  AnomalyCounters a;
  FlowLimits limits;
  limits.max_handler_bytes_total = 4096;
  FlowTable t(h, a, limits);
  const std::string chunk(300, 'x');
  // Eight flows: the first four send 300 bytes at a time (a handshake that
  // never ends), the others 10 (a device's, which finishes long before).
  std::uint32_t sent[8] = {};
  for (std::uint16_t i = 0; i < 8; ++i) {
    const auto port = static_cast<std::uint16_t>(CLIENT_PORT + i);
    feed(t, seg(true, CISN, TCP_SYN, "", 1'000'000'000, port));
  }
  for (int round = 0; round < 40; ++round) {
    for (std::uint16_t i = 0; i < 8; ++i) {
      const auto port = static_cast<std::uint16_t>(CLIENT_PORT + i);
      const std::string data = i < 4 ? chunk : std::string(10, 'y');
      feed(t, seg(true, CISN + 1 + sent[i], TCP_ACK, data, 1'000'000'000 + round, port));
      sent[i] += static_cast<std::uint32_t>(data.size());
      // Never more than the limit once a packet is done (the peak may pass
      // it by what one call added, before the cut).
      CHECK(t.stats().handler_bytes <= limits.max_handler_bytes_total);
    }
  }
  // Each hoarder reached the limit in turn, the largest first: all four were
  // cut with CloseReason::Limit, and their later bytes were not delivered.
  CHECK(t.stats().flows_cut == 4);
  CHECK(a.get("flow_handler_memory_limit") == 4);
  CHECK(t.stats().handler_bytes_peak > limits.max_handler_bytes_total);
  CHECK(t.stats().handler_bytes_peak <= limits.max_handler_bytes_total + chunk.size());
  for (std::uint16_t i = 0; i < 4; ++i) {
    const Hoarder::Flow& f = h.flows.at(static_cast<std::uint16_t>(CLIENT_PORT + i));
    INFO("hoarder " << i);
    REQUIRE(f.closes.size() == 1);
    CHECK(f.closes[0] == CloseReason::Limit);
    CHECK(f.delivered < sent[i]);
  }
  // The small ones were never touched: every byte delivered, still open.
  for (std::uint16_t i = 4; i < 8; ++i) {
    const Hoarder::Flow& f = h.flows.at(static_cast<std::uint16_t>(CLIENT_PORT + i));
    INFO("small flow " << i);
    CHECK(f.closes.empty());
    CHECK(f.delivered == sent[i]);
  }
  CHECK(t.stats().handler_bytes == 4 * 400);
  // A cut flow stays a tombstone: its FINs still close it, and nothing reaches a handler.
  const auto cut_port = static_cast<std::uint16_t>(CLIENT_PORT);
  feed(t, seg(true, CISN + 1 + sent[0], TCP_FIN | TCP_ACK, "", 2'000'000'000, cut_port));
  feed(t, seg(false, SISN + 1, TCP_FIN | TCP_ACK, "", 2'000'000'000, cut_port));
  CHECK(h.flows.at(cut_port).closes.size() == 1);
  t.closeAll(PacketRef{});
  CHECK(t.stats().handler_bytes == 0);
  for (std::uint16_t i = 4; i < 8; ++i) {
    CHECK(h.flows.at(static_cast<std::uint16_t>(CLIENT_PORT + i)).closes == std::vector{CloseReason::EndOfInput});
  }
}

TEST_CASE("Among flows holding about as much, the one whose holding changed longest ago is cut first") {
  Hoarder h;
  AnomalyCounters a;
  FlowLimits limits;
  limits.max_handler_bytes_total = 1000;
  FlowTable t(h, a, limits);
  // Three flows of 300 bytes (one power-of-two class), sent in the order 2, 0, 1.
  for (std::uint16_t i : {2, 0, 1}) {
    const auto port = static_cast<std::uint16_t>(CLIENT_PORT + i);
    feed(t, seg(true, CISN, TCP_SYN, "", 1'000'000'000, port));
    feed(t, seg(true, CISN + 1, TCP_ACK, std::string(300, 'x'), 1'000'000'000, port));
  }
  CHECK(t.stats().flows_cut == 0);
  // A fourth of 200 bytes (a smaller class) tips the total over: flow 2 goes.
  const auto port3 = static_cast<std::uint16_t>(CLIENT_PORT + 3);
  feed(t, seg(true, CISN, TCP_SYN, "", 1'000'000'000, port3));
  feed(t, seg(true, CISN + 1, TCP_ACK, std::string(200, 'z'), 1'000'000'000, port3));
  CHECK(t.stats().flows_cut == 1);
  CHECK(h.flows.at(static_cast<std::uint16_t>(CLIENT_PORT + 2)).closes == std::vector{CloseReason::Limit});
  CHECK(h.flows.at(static_cast<std::uint16_t>(CLIENT_PORT + 0)).closes.empty());
  CHECK(h.flows.at(port3).closes.empty());
  CHECK(t.stats().handler_bytes == 800);
}
