// Resource abuse at unit level (issue 8): deep VLAN stacks, tunnels inside
// tunnels, overlapping IP fragments, TLS messages claiming 16 MB and millions
// of tiny TCP segments, and thousands of handshakes that never end finish in
// bounded time and memory, each counted under its named anomaly.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "../analyze_tls/tls_builders.h"
#include "../capture/packet_builder.h"
#include "analyze/flow_analyzer.h"
#include "analyze/tls_connection.h"
#include "capture/decoder.h"
#include "capture/flow_table.h"

namespace {
using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;
using Clock = std::chrono::steady_clock;

// A hang fails the test instead of stalling CI; real runs take well under a second.
constexpr auto WALL_CLOCK_GUARD = std::chrono::seconds(120);
// Peak resident memory growth allowed per scenario. ASan keeps freed memory in
// quarantine (256 MB by default) and adds shadow memory: its bound is wider.
#if defined(__SANITIZE_ADDRESS__)
constexpr long long RSS_GROWTH_BOUND_KB = 768 * 1024;
#else
constexpr long long RSS_GROWTH_BOUND_KB = 256 * 1024;
#endif

long long vmHwmKb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

// VmHWM only grows: a scenario can be bounded by the high-water mark before it
// plus the allowance (earlier scenarios in the process only make this looser).
struct ResourceGuard {
  Clock::time_point start = Clock::now();
  long long hwm_before = vmHwmKb();
  void check() const {
    CHECK(Clock::now() - start < WALL_CLOCK_GUARD);
    CHECK(vmHwmKb() - hwm_before < RSS_GROWTH_BOUND_KB);
  }
};

std::vector<std::uint8_t> bytesOf(const std::string& s) { return {s.begin(), s.end()}; }
}  // namespace

TEST_CASE("10000 stacked VLAN tags: vlan_stack_too_deep, bounded") {
  ResourceGuard guard;
  AnomalyCounters anomalies;
  Decoder decoder(anomalies);
  Frame inner = ipv4(6, tcp(40000, 443, 1, TCP_SYN));
  Frame tags;
  for (int i = 0; i < 10000; ++i) tags.u16(static_cast<std::uint16_t>(i & 0x0fff)).u16(0x8100);  // TCI, next type
  Frame frame;
  frame.bytes(MAC_ROUTER).bytes(MAC_DEVICE).u16(0x8100).frame(tags);
  // The last tag's next type is 0x8100 like the others: make it IPv4.
  Frame eth = patched(frame, frame.size() - 2, Frame().u16(0x0800)).frame(inner);
  DecodedPacket out;
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(decoder.decode(rawPacket(LINKTYPE_ETHERNET, eth), out));
  CHECK(anomalies.get("vlan_stack_too_deep") == 1000);
  guard.check();
}

TEST_CASE("GRE and IP-in-IP nested 64 deep: tunnel_depth_exceeded, bounded") {
  ResourceGuard guard;
  AnomalyCounters anomalies;
  Decoder decoder(anomalies);
  SECTION("IPv4 in GRE in IPv4 ...") {
    Frame f = ipv4(6, tcp(40000, 443, 1, TCP_SYN));
    for (int i = 0; i < 64; ++i) f = ipv4(47, Frame().u16(0).u16(0x0800).frame(f));  // GRE: flags/version 0, IPv4
    DecodedPacket out;
    for (int i = 0; i < 1000; ++i) CHECK_FALSE(decoder.decode(rawPacket(LINKTYPE_ETHERNET, ethernet(0x0800, f)), out));
    CHECK(anomalies.get("tunnel_depth_exceeded") == 1000);
  }
  SECTION("IPv4 in IPv6 (next header 4) in IPv4 (protocol 41) ...") {
    Frame f = ipv4(6, tcp(40000, 443, 1, TCP_SYN));
    for (int i = 0; i < 64; ++i) f = (i % 2 == 0) ? ipv6(4, f) : ipv4(41, f);
    DecodedPacket out;
    for (int i = 0; i < 1000; ++i) CHECK_FALSE(decoder.decode(rawPacket(LINKTYPE_RAW, f), out));
    CHECK(anomalies.get("tunnel_depth_exceeded") == 1000);
  }
  guard.check();
}

TEST_CASE("200000 overlapping IPv4 fragments: counted, pending bounded") {
  ResourceGuard guard;
  AnomalyCounters anomalies;
  Decoder decoder(anomalies);
  const Frame payload = tcp(40000, 443, 1, TCP_ACK | TCP_PSH, std::string(1400, 'x'));
  DecodedPacket out;
  std::uint32_t rng = 12345;
  for (int i = 0; i < 200000; ++i) {
    rng = rng * 1103515245 + 12345;
    // Fragments of 1000 datagrams (ids), at random 8-byte offsets overlapping each other, never the last one.
    const auto id = static_cast<std::uint16_t>(rng % 1000);
    const auto off8 = static_cast<std::uint16_t>((rng >> 10) % 170);  // within the 1420-byte datagram
    const Frame part = slice(payload, off8 * 8U, std::min<std::size_t>(payload.size(), off8 * 8U + 200));
    const Frame ip = ipv4(6, part, 1, 2, -1, static_cast<std::uint16_t>(0x2000 | off8), id);
    (void)decoder.decode(rawPacket(LINKTYPE_ETHERNET, ethernet(0x0800, ip), 1'000'000'000 + i * 1000LL), out);
    CHECK(decoder.pendingFragments() <= MAX_FRAGMENTED_DATAGRAMS);
  }
  CHECK(anomalies.get("ipv4_fragment_overlap") + anomalies.get("ipv4_fragment_limit") +
            anomalies.get("ipv4_fragment_too_many") > 0);
  guard.check();
}

TEST_CASE("TLS handshake message claiming 16 MB: tls_handshake_too_large, nothing buffered") {
  ResourceGuard guard;
  AnomalyCounters anomalies;
  analyze::TlsConnection tls(anomalies);
  // Record header (RFC 5246 §6.2.1): handshake(22), TLS 1.2, length 16384; then a
  // handshake header (§7.4): certificate(11), length 0xFFFFFF, and the record's remaining bytes.
  Frame rec;
  rec.u8(22).u16(0x0303).u16(16384).u8(11).u8(0xff).u16(0xffff).zeros(16384 - 4);
  analyze::ParseState st = analyze::ParseState::NeedMore;
  for (int i = 0; i < 1100 && st == analyze::ParseState::NeedMore; ++i) st = tls.feed(Side::Client, rec.data());
  CHECK(st == analyze::ParseState::Error);
  CHECK(anomalies.get("tls_handshake_too_large") == 1);
  guard.check();
}

TEST_CASE("TLS record length 65535: tls_record_too_large") {
  AnomalyCounters anomalies;
  analyze::TlsConnection tls(anomalies);
  const Frame hello = Frame().u8(22).u16(0x0301).u16(0xffff).u8(1).u8(0).u16(0xfffb).zeros(64);
  CHECK(tls.feed(Side::Client, hello.data()) == analyze::ParseState::Error);
  CHECK(anomalies.get("tls_record_too_large") == 1);
}

namespace {
struct CountingFactory : StreamHandlerFactory {
  std::uint64_t bytes = 0, gaps = 0, closes = 0;
  struct Handler : StreamHandler {
    CountingFactory& f;
    explicit Handler(CountingFactory& factory) : f(factory) {}
    StreamVerdict onData(const FlowInfo&, Side, std::span<const std::uint8_t> b, const PacketRef&) override {
      f.bytes += b.size();
      return StreamVerdict::Continue;
    }
    StreamVerdict onGap(const FlowInfo&, Side, std::uint64_t, const PacketRef&) override {
      ++f.gaps;
      return StreamVerdict::Continue;
    }
    void onClose(const FlowInfo&, CloseReason, const PacketRef&) override { ++f.closes; }
  };
  std::unique_ptr<StreamHandler> create(const FlowInfo&) override { return std::make_unique<Handler>(*this); }
};

DecodedPacket segment(std::uint16_t sport, std::uint32_t seq, std::uint8_t flags, std::span<const std::uint8_t> payload,
                      std::int64_t ts) {
  static const std::uint8_t client[4] = {10, 0, 0, 1};
  static const std::uint8_t server[4] = {10, 0, 0, 2};
  DecodedPacket p;
  p.ref = {ts, static_cast<std::uint64_t>(ts), 0};
  p.src = IpAddr::v4(client);
  p.dst = IpAddr::v4(server);
  p.ip_proto = 6;
  p.sport = sport;
  p.dport = 443;
  p.tcp_flags = flags;
  p.seq = seq;
  p.payload = payload;
  p.wire_len = static_cast<std::uint32_t>(54 + payload.size());
  return p;
}
}  // namespace

TEST_CASE("2 million one-byte segments through FlowTable, bounded") {
  ResourceGuard guard;
  CountingFactory factory;
  AnomalyCounters anomalies;
  FlowLimits limits;
  limits.max_flows = 64;
  limits.max_buffered_per_direction = 16 * 1024;
  limits.max_out_of_order_segments = 32;
  FlowTable table(factory, anomalies, limits);
  const std::vector<std::uint8_t> one = bytesOf("x");
  constexpr std::uint32_t SEGMENTS = 2'000'000;

  SECTION("in order: every byte delivered") {
    table.process(segment(40000, 999, TCP_SYN, {}, 1));
    for (std::uint32_t i = 0; i < SEGMENTS; ++i) table.process(segment(40000, 1000 + i, TCP_ACK, one, 2 + i));
    table.closeAll({});
    CHECK(factory.bytes == SEGMENTS);
  }
  SECTION("all beyond a hole: out-of-order limit hit and counted, gaps declared") {
    table.process(segment(40000, 999, TCP_SYN, {}, 1));
    // Every other sequence number: nothing is ever contiguous with the stream.
    for (std::uint32_t i = 0; i < SEGMENTS; ++i) table.process(segment(40000, 1001 + 2 * i, TCP_ACK, one, 2 + i));
    table.closeAll({});
    CHECK(anomalies.get("tcp_out_of_order_limit") + anomalies.get("tcp_buffer_limit") > 0);
    CHECK(factory.gaps > 0);
  }
  SECTION("one byte on each of 2 million flows: eviction counted, table bounded") {
    for (std::uint32_t i = 0; i < SEGMENTS; ++i) {
      table.process(segment(static_cast<std::uint16_t>(1024 + i % 60000), 1000 + i / 60000, TCP_ACK, one, 1 + i));
      if (i % 65536 == 0) CHECK(table.activeFlows() <= limits.max_flows);
    }
    table.closeAll({});
    CHECK(table.stats().flows_evicted > 0);
    CHECK(anomalies.get("flow_table_full_evict") > 0);
  }
  guard.check();
}

namespace {
struct ObservationCounter : analyze::ObservationSink {
  std::vector<analyze::TlsObservation> tls;
  void onTls(analyze::TlsObservation&& obs) override { tls.push_back(std::move(obs)); }
  void onHttp(analyze::HttpObservation&&) override {}
};
}  // namespace

TEST_CASE("1000 ClientHellos of 250 KB that never end: the parsers' bytes stay bounded, a device's handshake is still seen") {
  ResourceGuard guard;
  ObservationCounter sink;
  AnomalyCounters anomalies;
  analyze::CertCache certs;
  analyze::FlowAnalyzerFactory factory(sink, anomalies, certs);
  FlowLimits limits;  // the defaults: what a replay and each capture worker use
  FlowTable table(factory, anomalies, limits);
  // The stalled client's stream: records of 16 KiB carrying a ClientHello that
  // announces 250,000 bytes, 249,000 of which come.
  constexpr std::size_t ANNOUNCED = 250000, SENT = ANNOUNCED - 1000, MSS = 1448;
  Frame stream;
  for (std::size_t left = 4 + SENT, first = 1; left > 0; first = 0) {
    const std::size_t n = std::min<std::size_t>(16384, left);
    stream.u8(22).u16(0x0301).u16(static_cast<std::uint16_t>(n));
    if (first != 0) stream.u8(1).u8(ANNOUNCED >> 16).u16(ANNOUNCED & 0xffff).zeros(n - 4);
    else stream.zeros(n);
    left -= n;
  }
  constexpr std::uint16_t FLOWS = 1000;
  auto segment = [](std::uint16_t flow, std::uint32_t seq, std::uint8_t flags, std::span<const std::uint8_t> payload,
                    std::int64_t ts) {
    DecodedPacket p;
    const std::uint8_t client[4] = {100, 64, static_cast<std::uint8_t>(flow >> 8), static_cast<std::uint8_t>(flow)};
    static const std::uint8_t server[4] = {10, 77, 0, 2};
    p.ref = {ts, static_cast<std::uint64_t>(ts), 0};
    p.src = IpAddr::v4(client);
    p.dst = IpAddr::v4(server);
    p.ip_proto = 6;
    p.sport = 40000;
    p.dport = 443;
    p.tcp_flags = flags;
    p.seq = seq;
    p.payload = payload;
    return p;
  };
  std::int64_t ts = 1'000'000'000;
  for (std::uint16_t f = 0; f < FLOWS; ++f) table.process(segment(f, 999, TCP_SYN, {}, ++ts));
  // A device's whole ClientHello arrives while the flood holds the parsers'
  // limit, from an address of its own.
  const tlstest::Buf hello = tlstest::ClientHelloParts{}.record();
  const std::size_t device_round = (SENT / MSS) * 3 / 4;
  std::size_t rounds = 0;
  for (std::size_t at = 0; at < stream.size(); at += MSS, ++rounds) {
    const auto part = std::span<const std::uint8_t>(stream.data()).subspan(at, std::min(MSS, stream.size() - at));
    for (std::uint16_t f = 0; f < FLOWS; ++f) {
      table.process(segment(f, 1000 + static_cast<std::uint32_t>(at), TCP_ACK, part, ++ts));
    }
    CHECK(table.stats().handler_bytes <= limits.max_handler_bytes_total);
    if (rounds == device_round) {
      REQUIRE(table.stats().flows_cut > 0);
      table.process(segment(FLOWS, 999, TCP_SYN, {}, ++ts));
      table.process(segment(FLOWS, 1000, TCP_ACK, hello, ++ts));
      table.process(segment(FLOWS, 1000 + static_cast<std::uint32_t>(hello.size()), TCP_FIN | TCP_ACK, {}, ++ts));
    }
  }
  table.closeAll(PacketRef{ts, 0, 0});
  // Cut, largest first: each stalled flow held about as much as the others,
  // and the device's, far smaller, was never among them.
  const auto cut = table.stats().flows_cut;
  CHECK(cut >= FLOWS - limits.max_handler_bytes_total / SENT);
  CHECK(cut < FLOWS);
  CHECK(anomalies.get("flow_handler_memory_limit") == cut);
  CHECK(table.stats().handler_bytes_peak <= limits.max_handler_bytes_total + 2 * ANNOUNCED);
  REQUIRE(sink.tls.size() == 1);
  CHECK(sink.tls[0].sni == "prov.example");
  CHECK(sink.tls[0].flow.client.port == 40000);
  guard.check();
}

TEST_CASE("An analyzer says what it holds: a partial handshake message, a server's early bytes, a request's headers") {
  ObservationCounter sink;
  AnomalyCounters anomalies;
  analyze::CertCache certs;
  analyze::FlowAnalyzerFactory factory(sink, anomalies, certs);
  FlowInfo info;
  info.syn_seen = true;
  const PacketRef at{1'000'000'000, 1, 0};
  auto bytes = [](const std::string& s) { return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); };

  SECTION("a ClientHello spread over records: held until it completes") {
    auto h = factory.create(info);
    const tlstest::Buf message = tlstest::ClientHelloParts{}.message();
    const std::size_t half = message.size() / 2;
    const tlstest::Buf first = tlstest::handshakeRecord(tlstest::Buf(message.begin(), message.begin() + static_cast<std::ptrdiff_t>(half)), 0x0301);
    const tlstest::Buf second = tlstest::handshakeRecord(tlstest::Buf(message.begin() + static_cast<std::ptrdiff_t>(half), message.end()), 0x0301);
    CHECK(h->onData(info, Side::Client, first, at) == StreamVerdict::Continue);
    CHECK(h->heldBytes() >= half);
    CHECK(h->onData(info, Side::Client, second, at) == StreamVerdict::Continue);
    // The message is parsed: what the summary keeps is counted by its size.
    CHECK(h->heldBytes() >= message.size() - 4);
  }
  SECTION("a server's bytes that overtook the client's first ones") {
    auto h = factory.create(info);
    const std::string early(5000, 'S');
    CHECK(h->onData(info, Side::Server, bytes(early), at) == StreamVerdict::Continue);
    CHECK(h->heldBytes() >= early.size());
  }
  SECTION("a request whose headers have not ended") {
    auto h = factory.create(info);
    const std::string head = "GET /spa.cfg HTTP/1.1\r\nHost: prov\r\nX-Filler: " + std::string(8000, 'x');
    CHECK(h->onData(info, Side::Client, bytes(head), at) == StreamVerdict::Continue);
    CHECK(h->heldBytes() >= 8000);
    CHECK(h->onData(info, Side::Client, bytes("\r\n\r\n"), at) == StreamVerdict::Continue);
    CHECK(h->heldBytes() < 1000);
  }
}
