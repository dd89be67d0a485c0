#include <catch2/catch.hpp>

#include <string>

#include "capture/decoder.h"
#include "packet_builder.h"

using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;

namespace {

constexpr std::uint8_t PROTO_IPIP = 4;
constexpr std::uint8_t PROTO_TCP = 6;
constexpr std::uint8_t PROTO_UDP = 17;
constexpr std::uint8_t PROTO_GRE = 47;

std::string payloadText(const DecodedPacket& p) { return std::string(asText(p.payload)); }

// Decodes `f` as `linktype` and returns whether it produced a TCP segment.
// The frame is kept: out.payload points into it.
struct Harness {
  AnomalyCounters anomalies;
  Decoder decoder{anomalies};
  DecodedPacket out;
  Frame frame;
  bool run(int linktype, Frame f, std::uint32_t orig_len = 0) {
    frame = std::move(f);
    return decoder.decode(rawPacket(linktype, frame, 1'000'000'000, orig_len), out);
  }
};

Frame httpSegment() { return tcp(40000, 443, 1000, TCP_ACK | TCP_PSH, "GET /"); }

}  // namespace

// ---- well-formed link layers ----------------------------------------------------

TEST_CASE("Ethernet IPv4 TCP: addresses, ports, flags, payload; Ethernet padding trimmed") {
  Harness h;
  Frame f = ethernet(0x0800, ipv4(PROTO_TCP, tcp(40000, 443, 0xfffffff0, TCP_ACK | TCP_PSH, "hi")));
  f.zeros(6);  // padding up to the 60-byte Ethernet minimum: not part of the IP datagram
  REQUIRE(h.run(LINKTYPE_ETHERNET, f));
  CHECK(h.out.src_mac->str() == "00:0e:08:ab:cd:ef");
  CHECK(h.out.dst_mac->str() == "02:00:00:00:00:01");
  CHECK(h.out.src.str() == "10.0.0.1");
  CHECK(h.out.dst.str() == "10.0.0.2");
  CHECK(h.out.sport == 40000);
  CHECK(h.out.dport == 443);
  CHECK(h.out.seq == 0xfffffff0);
  CHECK(h.out.ack == 0x01020304);
  CHECK(h.out.tcp_flags == (TCP_ACK | TCP_PSH));
  CHECK(payloadText(h.out) == "hi");
  CHECK(h.out.vlan == 0);
  CHECK(h.anomalies.total() == 0);
}

TEST_CASE("TCP options are skipped by the data offset") {
  Harness h;
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(PROTO_TCP, tcp(1, 2, 3, TCP_ACK, "xyz", 8)))));
  CHECK(payloadText(h.out) == "xyz");
}

TEST_CASE("IPv4 options are skipped by the IHL") {
  Harness h;
  Frame ip;
  const Frame seg = httpSegment();
  ip.u8(0x46)                                     // version 4, IHL 6 (one option word)
      .u8(0)                                      // TOS
      .u16(static_cast<std::uint16_t>(24 + seg.size()))  // total length
      .u16(1).u16(0).u8(64).u8(PROTO_TCP).u16(0)  // id, flags/offset, TTL, protocol, checksum
      .bytes({10, 0, 0, 1}).bytes({10, 0, 0, 2})  // source, destination
      .bytes({0x01, 0x01, 0x01, 0x00})            // options: NOP NOP NOP EOL
      .frame(seg);
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, ip)));
  CHECK(payloadText(h.out) == "GET /");
}

TEST_CASE("802.1Q and QinQ: the innermost VLAN id is reported") {
  Harness h;
  Frame tags;
  tags.u16(0x0064)          // outer 802.1ad tag: VID 100
      .u16(0x8100)          // next: 802.1Q
      .u16(0x2000 | 42)     // inner tag: PCP 1, VID 42
      .u16(0x0800)          // next: IPv4
      .frame(ipv4(PROTO_TCP, httpSegment()));
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x88a8, tags)));
  CHECK(h.out.vlan == 42);
  CHECK(payloadText(h.out) == "GET /");
}

TEST_CASE("VLAN stack deeper than MAX_VLAN_TAGS is refused and counted") {
  Harness h;
  Frame tags;
  for (int i = 0; i <= MAX_VLAN_TAGS; ++i) tags.u16(1).u16(0x8100);  // VID 1, next: another tag
  tags.frame(ipv4(PROTO_TCP, httpSegment()));
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8100, tags)));
  CHECK(h.anomalies.get("vlan_stack_too_deep") == 1);
}

TEST_CASE("MPLS: a label stack carrying IPv4 or IPv6; the label switches' MACs are not the device's") {
  Harness h;
  // Two labels (the second the bottom of the stack), then IPv4.
  Frame v4;
  v4.u32(0x00010'0'40).u32(0x00020'1'40).frame(ipv4(PROTO_TCP, httpSegment(), 7, 8));
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x8847, v4)));
  CHECK(h.out.src.str() == "10.0.0.7");
  CHECK_FALSE(h.out.src_mac);
  CHECK(payloadText(h.out) == "GET /");
  Frame v6;
  v6.u32(0x00030'1'40).frame(ipv6(PROTO_TCP, httpSegment()));
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x8100, Frame().u16(5).u16(0x8848).frame(v6))));  // behind a VLAN tag
  CHECK(payloadText(h.out) == "GET /");
  CHECK(h.out.vlan == 0);
  CHECK(h.anomalies.total() == 0);
}

TEST_CASE("MPLS Ethernet pseudowire (control word): the inner frame's MACs and VLAN are reported") {
  Harness h;
  const std::vector<std::uint8_t> inner_mac{0x00, 0x0e, 0x08, 0x44, 0x55, 0x66};
  Frame pw;
  pw.u32(0x00040'1'40)  // one label, bottom of stack
      .u32(0)           // control word
      .frame(ethernet(0x8100, Frame().u16(33).u16(0x0800).frame(ipv4(PROTO_TCP, httpSegment())), inner_mac));
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x8847, pw)));
  CHECK(h.out.src_mac->str() == "00:0e:08:44:55:66");
  CHECK(h.out.vlan == 33);
  CHECK(payloadText(h.out) == "GET /");
}

TEST_CASE("MPLS malformed: truncated, too deep, or a payload that is neither IP nor a pseudowire") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8847, Frame().u16(1))));
  CHECK(h.anomalies.get("truncated_mpls_header") == 1);
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8847, Frame().u32(0x00010'1'40))));  // nothing after the stack
  CHECK(h.anomalies.get("truncated_mpls_header") == 2);
  Frame deep;
  for (int i = 0; i < MAX_MPLS_LABELS; ++i) deep.u32(0x00010'0'40);
  deep.u32(0x00010'1'40).frame(ipv4(PROTO_TCP, httpSegment()));
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8847, deep)));
  CHECK(h.anomalies.get("mpls_stack_too_deep") == 1);
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8847, Frame().u32(0x00010'1'40).u32(0x90000000))));
  CHECK(h.anomalies.get("unsupported_mpls_payload") == 1);
  // Pseudowires inside pseudowires: bounded as tunnels are.
  Frame nested = ethernet(0x0800, ipv4(PROTO_TCP, httpSegment()));
  for (int i = 0; i <= MAX_TUNNEL_DEPTH; ++i) nested = ethernet(0x8847, Frame().u32(0x00010'1'40).u32(0).frame(nested));
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, nested));
  CHECK(h.anomalies.get("tunnel_depth_exceeded") == 1);
}

TEST_CASE("PPPoE session: IPv4 and IPv6 read; the link's own protocols are not ours; bad headers counted") {
  Harness h;
  const auto pppoe = [](std::uint16_t protocol, const Frame& payload) {
    return Frame()
        .u8(0x11)
        .u8(0x00)
        .u16(0x1234)
        .u16(static_cast<std::uint16_t>(payload.size() + 2))
        .u16(protocol)
        .frame(payload);
  };
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x8864, pppoe(0x0021, ipv4(PROTO_TCP, httpSegment(), 7, 8)))));
  CHECK(h.out.src.str() == "10.0.0.7");
  CHECK(h.out.src_mac->str() == "00:0e:08:ab:cd:ef");  // the PPPoE client's own frame
  CHECK(payloadText(h.out) == "GET /");
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x8864, pppoe(0x0057, ipv6(PROTO_TCP, httpSegment())))));
  CHECK(payloadText(h.out) == "GET /");
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8864, pppoe(0xc021, Frame().zeros(8)))));  // LCP
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8863, Frame().zeros(20))));                // discovery
  CHECK(h.anomalies.total() == 0);
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8864, Frame().u8(0x11).u8(0))));
  CHECK(h.anomalies.get("truncated_pppoe_header") == 1);
  CHECK_FALSE(
      h.run(LINKTYPE_ETHERNET, ethernet(0x8864, Frame().u8(0x11).u8(0x09).u16(1).u16(2).u16(0x0021))));  // PADI code
  CHECK(h.anomalies.get("bad_pppoe_header") == 1);
}

TEST_CASE("PPP (9) and PPP in HDLC-like framing (50): IPv4 and IPv6 read; compressed fields; Cisco HDLC; bad headers counted") {
  Harness h;
  // RFC 1662 §3.1: address 0xFF | control 0x03 | protocol(2) (RFC 1661 §2)
  const auto hdlc = [](std::uint16_t protocol, const Frame& payload) {
    return Frame().u8(0xff).u8(0x03).u16(protocol).frame(payload);
  };
  for (const int linktype : {LINKTYPE_PPP, LINKTYPE_PPP_HDLC}) {
    INFO("link type " << linktype);
    REQUIRE(h.run(linktype, hdlc(0x0021, ipv4(PROTO_TCP, httpSegment(), 7, 8))));
    CHECK(h.out.src.str() == "10.0.0.7");
    CHECK_FALSE(h.out.src_mac.has_value());  // a PPP link has no MACs
    CHECK(payloadText(h.out) == "GET /");
    REQUIRE(h.run(linktype, hdlc(0x0057, ipv6(PROTO_TCP, httpSegment()))));
    CHECK(payloadText(h.out) == "GET /");
    CHECK_FALSE(h.run(linktype, hdlc(0xc021, Frame().zeros(8))));  // LCP: the link's own talk
    CHECK(isDecodedLinkType(linktype));
  }
  // DLT_PPP without address and control (RFC 1661 §6.6), and with the
  // protocol compressed to one byte (§6.5: 0x21 for 0x0021).
  REQUIRE(h.run(LINKTYPE_PPP, Frame().u16(0x0021).frame(ipv4(PROTO_TCP, httpSegment()))));
  CHECK(payloadText(h.out) == "GET /");
  REQUIRE(h.run(LINKTYPE_PPP, Frame().u8(0x21).frame(ipv4(PROTO_TCP, httpSegment()))));
  CHECK(payloadText(h.out) == "GET /");
  // RFC 1547 §4.3.1, Cisco's HDLC framing on DLT_PPP_SERIAL: address | control 0 | EtherType.
  REQUIRE(h.run(LINKTYPE_PPP_HDLC, Frame().u8(0x0f).u8(0x00).u16(0x0800).frame(ipv4(PROTO_TCP, httpSegment()))));
  CHECK(payloadText(h.out) == "GET /");
  CHECK(h.anomalies.total() == 0);
  CHECK_FALSE(h.run(LINKTYPE_PPP, Frame().u8(0xff)));                     // 1 of the 4 bytes
  CHECK_FALSE(h.run(LINKTYPE_PPP_HDLC, Frame().u8(0xff).u8(0x03).u8(0)));  // protocol cut
  CHECK(h.anomalies.get("truncated_ppp_header") == 2);
  CHECK_FALSE(h.run(LINKTYPE_PPP, Frame().u8(0xff).u8(0x13).u16(0x0021)));  // control is not UI
  CHECK_FALSE(h.run(LINKTYPE_PPP_HDLC, Frame().u16(0x0021).frame(ipv4(PROTO_TCP, httpSegment()))));  // framing required
  CHECK(h.anomalies.get("bad_ppp_header") == 2);
}

TEST_CASE("Linux SLL: the sender's MAC comes from the cooked header") {
  Harness h;
  Frame f;
  f.u16(0)                              // packet type: to us
      .u16(1)                           // ARPHRD_ETHER
      .u16(6)                           // address length
      .bytes(MAC_DEVICE).zeros(2)       // address, padded to 8
      .u16(0x0800)                      // protocol: IPv4
      .frame(ipv4(PROTO_TCP, httpSegment()));
  REQUIRE(h.run(LINKTYPE_LINUX_SLL, f));
  CHECK(h.out.src_mac->str() == "00:0e:08:ab:cd:ef");
  CHECK_FALSE(h.out.dst_mac);
}

TEST_CASE("Linux SLL2 with IPv6") {
  Harness h;
  Frame f;
  f.u16(0x86dd)                         // protocol: IPv6
      .u16(0)                           // reserved
      .u32(3)                           // interface index
      .u16(1)                           // ARPHRD_ETHER
      .u8(4)                            // packet type: outgoing
      .u8(6)                            // address length
      .bytes(MAC_DEVICE).zeros(2)       // address, padded to 8
      .frame(ipv6(PROTO_TCP, httpSegment()));
  REQUIRE(h.run(LINKTYPE_LINUX_SLL2, f));
  CHECK(h.out.src.str() == "2001:db8::1");
  CHECK(h.out.src_mac->str() == "00:0e:08:ab:cd:ef");
}

TEST_CASE("Raw IP link types pick v4 or v6 from the version nibble") {
  for (int lt : {LINKTYPE_RAW_A, LINKTYPE_RAW_B, LINKTYPE_RAW}) {
    Harness h;
    REQUIRE(h.run(lt, ipv4(PROTO_TCP, httpSegment())));
    REQUIRE(h.run(lt, ipv6(PROTO_TCP, httpSegment())));
    CHECK(h.out.src.family == 6);
    CHECK_FALSE(h.out.src_mac);
  }
  Harness h;
  CHECK(h.run(LINKTYPE_IPV4, ipv4(PROTO_TCP, httpSegment())));
  CHECK(h.run(LINKTYPE_IPV6, ipv6(PROTO_TCP, httpSegment())));
}

TEST_CASE("BSD loopback: DLT_NULL in either host byte order, DLT_LOOP in network order, all AF_INET6 values") {
  Harness h;
  CHECK(h.run(LINKTYPE_NULL, Frame().u32le(2).frame(ipv4(PROTO_TCP, httpSegment()))));  // AF_INET, little-endian host
  CHECK(h.run(LINKTYPE_NULL, Frame().u32(2).frame(ipv4(PROTO_TCP, httpSegment()))));    // AF_INET, big-endian host
  for (std::uint32_t af6 : {24u, 28u, 30u}) {
    CHECK(h.run(LINKTYPE_NULL, Frame().u32le(af6).frame(ipv6(PROTO_TCP, httpSegment()))));
    CHECK(h.run(LINKTYPE_LOOP, Frame().u32(af6).frame(ipv6(PROTO_TCP, httpSegment()))));
  }
  CHECK(h.run(LINKTYPE_LOOP, Frame().u32(2).frame(ipv4(PROTO_TCP, httpSegment()))));
  CHECK_FALSE(h.run(LINKTYPE_NULL, Frame().u32le(7).frame(ipv4(PROTO_TCP, httpSegment()))));  // not IP
  CHECK(h.anomalies.total() == 0);
}

TEST_CASE("Non-TCP traffic is refused without an anomaly") {
  Harness h;
  Frame udp;
  udp.u16(5353).u16(53).u16(8).u16(0);  // UDP: ports, length, checksum
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(PROTO_UDP, udp))));
  CHECK(h.out.ip_proto == PROTO_UDP);
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x0806, Frame().zeros(28))));  // ARP
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x0040, Frame().zeros(64))));  // 802.3 length field
  CHECK(h.anomalies.total() == 0);
}

TEST_CASE("IPv6 extension headers are walked to TCP") {
  Harness h;
  Frame chain;
  chain.u8(60).u8(0).zeros(6)                // hop-by-hop: next = destination options, length 0 (8 bytes)
      .u8(43).u8(1).zeros(14)                // destination options: next = routing, length 1 (16 bytes)
      .u8(51).u8(0).u8(0).u8(0).zeros(4)     // routing: next = AH, length 0, type 0, segments left 0
      .u8(PROTO_TCP).u8(1).zeros(2).zeros(8)  // AH: next = TCP, length 1 -> (1+2)*4 = 12 bytes
      .frame(httpSegment());
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x86dd, ipv6(0, chain))));
  CHECK(payloadText(h.out) == "GET /");
  CHECK(h.anomalies.total() == 0);
}

TEST_CASE("IPv6 extension header chain longer than MAX_IPV6_EXT_HEADERS is refused") {
  Harness h;
  Frame chain;
  for (int i = 0; i <= MAX_IPV6_EXT_HEADERS; ++i) chain.u8(60).u8(0).zeros(6);  // destination options, again and again
  chain.frame(httpSegment());
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x86dd, ipv6(60, chain))));
  CHECK(h.anomalies.get("ipv6_ext_header_chain_too_long") == 1);
}

// ---- tunnels -------------------------------------------------------------------

TEST_CASE("GRE with checksum, key and sequence carrying IPv4; outer MACs are not the device's") {
  Harness h;
  Frame gre;
  gre.u16(0x8000 | 0x2000 | 0x1000)  // C, K, S set; version 0
      .u16(0x0800)                   // protocol: IPv4
      .u16(0).u16(0)                 // checksum, reserved1
      .u32(77)                       // key
      .u32(5)                        // sequence
      .frame(ipv4(PROTO_TCP, httpSegment(), 7, 8));
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(PROTO_GRE, gre, 100, 200))));
  CHECK(h.out.src.str() == "10.0.0.7");
  CHECK_FALSE(h.out.src_mac);  // only a MAC inside the tunnel could name the device
  CHECK(payloadText(h.out) == "GET /");
}

TEST_CASE("GRE transparent Ethernet bridging: the inner frame's MACs and VLAN are reported") {
  Harness h;
  const std::vector<std::uint8_t> inner_mac{0x00, 0x0e, 0x08, 0x11, 0x22, 0x33};
  Frame gre;
  gre.u16(0)          // no optional fields, version 0
      .u16(0x6558)    // protocol: transparent Ethernet bridging
      .frame(ethernet(0x8100, Frame().u16(12).u16(0x0800).frame(ipv4(PROTO_TCP, httpSegment())), inner_mac));
  Frame outer = ethernet(0x8100, Frame().u16(99).u16(0x0800).frame(ipv4(PROTO_GRE, gre, 100, 200)));
  REQUIRE(h.run(LINKTYPE_ETHERNET, outer));
  CHECK(h.out.src_mac->str() == "00:0e:08:11:22:33");
  CHECK(h.out.vlan == 12);
}

TEST_CASE("ERSPAN type II") {
  Harness h;
  Frame gre;
  gre.u16(0x1000)               // S set (type II carries a sequence number)
      .u16(0x88be)              // protocol: ERSPAN II
      .u32(1)                   // sequence
      .u16(0x1000 | 30)         // ERSPAN version 1, VLAN 30
      .u16(0x0005)              // COS, En, T, session id 5
      .u32(0)                   // reserved, index
      .frame(ethernet(0x0800, ipv4(PROTO_TCP, httpSegment())));
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(PROTO_GRE, gre, 100, 200))));
  CHECK(h.out.vlan == 30);
  CHECK(h.out.src_mac->str() == "00:0e:08:ab:cd:ef");
  CHECK(payloadText(h.out) == "GET /");
}

TEST_CASE("ERSPAN type III with the platform-specific subheader") {
  Harness h;
  Frame gre;
  gre.u16(0x1000)               // S set
      .u16(0x22eb)              // protocol: ERSPAN III
      .u32(1)                   // sequence
      .u16(0x2000 | 31)         // ERSPAN version 2, VLAN 31
      .u16(0x0005)              // COS, BSO, T, session id 5
      .u32(123456)              // timestamp
      .u16(0)                   // SGT
      .u16(0x0001)              // P=0, FT=0 (Ethernet), HW id 0, D 0, Gra 0, O=1
      .zeros(8)                 // platform-specific subheader
      .frame(ethernet(0x0800, ipv4(PROTO_TCP, httpSegment())));
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(PROTO_GRE, gre, 100, 200))));
  CHECK(h.out.vlan == 31);
  CHECK(payloadText(h.out) == "GET /");
}

TEST_CASE("VXLAN carries an Ethernet frame") {
  Harness h;
  const Frame inner = ethernet(0x0800, ipv4(PROTO_TCP, httpSegment()));
  Frame udp;
  udp.u16(55555).u16(4789)                          // source port, VXLAN port
      .u16(static_cast<std::uint16_t>(8 + 8 + inner.size()))  // UDP length
      .u16(0)                                       // checksum
      .u8(0x08).zeros(3)                            // flags: I; reserved
      .u8(0).u8(0).u8(42).u8(0)                     // VNI 42; reserved
      .frame(inner);
  REQUIRE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(PROTO_UDP, udp, 100, 200), MAC_ROUTER, MAC_ROUTER)));
  CHECK(h.out.src_mac->str() == "00:0e:08:ab:cd:ef");
  CHECK(payloadText(h.out) == "GET /");
}

TEST_CASE("Tunnels nested deeper than MAX_TUNNEL_DEPTH are refused") {
  Harness h;
  Frame f = ipv4(PROTO_TCP, httpSegment());
  for (int i = 0; i <= MAX_TUNNEL_DEPTH; ++i) f = ipv4(PROTO_IPIP, f);  // IP in IP, again and again
  CHECK_FALSE(h.run(LINKTYPE_RAW, f));
  CHECK(h.anomalies.get("tunnel_depth_exceeded") == 1);
  Harness ok;
  Frame g = ipv4(PROTO_TCP, httpSegment());
  for (int i = 0; i < MAX_TUNNEL_DEPTH; ++i) g = ipv4(PROTO_IPIP, g);
  CHECK(ok.run(LINKTYPE_RAW, g));
}

// ---- fragments -------------------------------------------------------------------

TEST_CASE("IPv4 fragments reassemble out of order; overlaps count and the first arrival wins") {
  Harness h;
  const Frame seg = tcp(40000, 443, 1, TCP_ACK, "ABCDEFGHIJKLMNOP");  // 20 + 16 bytes
  const Frame first = slice(seg, 0, 24);  // offset 0, 24 bytes
  const Frame second = slice(seg, 24);    // offset 24, 12 bytes
  std::vector<std::uint8_t> forged(8, 'X');
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, second, 1, 2, -1, 24 / 8)));               // MF=0, offset 24
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, Frame().bytes(forged), 1, 2, -1, 0x2000 | 3)));  // MF, offset 24: overlaps
  CHECK(h.anomalies.get("ipv4_fragment_overlap") == 1);
  CHECK(h.decoder.pendingFragments() == 1);
  REQUIRE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)));  // MF, offset 0: completes
  CHECK(payloadText(h.out) == "ABCDEFGHIJKLMNOP");
  CHECK(h.decoder.pendingFragments() == 0);
}

TEST_CASE("a fragment received twice with the same bytes is a duplicate, not an overlap") {
  Harness h;
  const Frame seg = tcp(40000, 443, 1, TCP_ACK, "ABCDEFGHIJKLMNOP");
  const Frame first = slice(seg, 0, 24), second = slice(seg, 24);
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)));  // MF, offset 0
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)));  // the same again
  CHECK(h.anomalies.get("ipv4_fragment_duplicate") == 1);
  CHECK(h.anomalies.get("ipv4_fragment_overlap") == 0);
  // A copy of part of it (8 bytes at offset 8, as a router re-fragmenting would send) is one too.
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, slice(first, 8, 16), 1, 2, -1, 0x2000 | 1)));
  CHECK(h.anomalies.get("ipv4_fragment_duplicate") == 2);
  REQUIRE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, second, 1, 2, -1, 24 / 8)));  // completes
  CHECK(payloadText(h.out) == "ABCDEFGHIJKLMNOP");
  CHECK(h.anomalies.get("ipv4_fragment_overlap") == 0);
  // One byte different in the same place: an overlap, the first arrival kept.
  Harness g;
  std::vector<std::uint8_t> bytes = first.data();
  bytes.back() ^= 0x20;
  const Frame changed = Frame().bytes(bytes);
  CHECK_FALSE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)));
  CHECK_FALSE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, changed, 1, 2, -1, 0x2000)));
  CHECK(g.anomalies.get("ipv4_fragment_overlap") == 1);
  CHECK(g.anomalies.get("ipv4_fragment_duplicate") == 0);
  REQUIRE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, second, 1, 2, -1, 24 / 8)));
  CHECK(payloadText(g.out) == "ABCDEFGHIJKLMNOP");
}

TEST_CASE("a copy of a fragment after its datagram completed is a duplicate, not the start of another datagram") {
  // Two capture points merged (or a duplicating SPAN): each fragment comes
  // twice, so the second copy of the last one comes after the datagram was
  // reassembled. It started a datagram that never completed, counted as
  // ipv4_fragment_incomplete_at_end (or a timeout) though nothing was lost.
  Harness h;
  const Frame seg = tcp(40000, 443, 1, TCP_ACK, "ABCDEFGHIJKLMNOP");
  const Frame first = slice(seg, 0, 24), second = slice(seg, 24);
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)));   // MF, offset 0
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)));   // its copy
  REQUIRE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, second, 1, 2, -1, 24 / 8)));      // completes
  CHECK(payloadText(h.out) == "ABCDEFGHIJKLMNOP");
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, second, 1, 2, -1, 24 / 8)));  // its copy, after
  CHECK(h.anomalies.get("ipv4_fragment_duplicate") == 2);
  CHECK(h.decoder.pendingFragments() == 0);
  // Both copies again, in the other order: still copies.
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)));
  CHECK(h.anomalies.get("ipv4_fragment_duplicate") == 3);
  CHECK(h.decoder.pendingFragments() == 0);
  h.decoder.finish();
  CHECK(h.anomalies.get("ipv4_fragment_incomplete_at_end") == 0);
  CHECK(h.anomalies.get("ipv4_fragment_overlap") == 0);

  // Other bytes under the same identification: a new datagram (IDs are reused), reassembled as one.
  Harness g;
  REQUIRE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000)) == false);
  REQUIRE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, second, 1, 2, -1, 24 / 8)));
  const Frame other = tcp(40001, 443, 1, TCP_ACK, "abcdefghijklmnop");
  CHECK_FALSE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, slice(other, 24), 1, 2, -1, 24 / 8)));
  CHECK(g.decoder.pendingFragments() == 1);
  REQUIRE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, slice(other, 0, 24), 1, 2, -1, 0x2000)));
  CHECK(payloadText(g.out) == "abcdefghijklmnop");
  CHECK(g.anomalies.get("ipv4_fragment_duplicate") == 0);
  // The first fragment of the datagram completed first, but not flagged "last" (MF=1 at its end): not its copy.
  CHECK_FALSE(g.run(LINKTYPE_RAW, ipv4(PROTO_TCP, slice(other, 24), 1, 2, -1, 0x2000 | (24 / 8))));
  CHECK(g.anomalies.get("ipv4_fragment_duplicate") == 0);
  CHECK(g.decoder.pendingFragments() == 1);

  // A copy that comes after the fragment timeout is no longer known: a datagram of its own, as before.
  Harness late;
  CHECK_FALSE(late.decoder.decode(rawPacket(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000), 0), late.out));
  REQUIRE(late.decoder.decode(rawPacket(LINKTYPE_RAW, ipv4(PROTO_TCP, second, 1, 2, -1, 24 / 8), 1), late.out));
  CHECK_FALSE(late.decoder.decode(rawPacket(LINKTYPE_RAW, ipv4(PROTO_TCP, first, 1, 2, -1, 0x2000), FRAGMENT_TIMEOUT_NS + 10),
                                  late.out));
  CHECK(late.anomalies.get("ipv4_fragment_duplicate") == 0);
  CHECK(late.decoder.pendingFragments() == 1);
}

TEST_CASE("IPv4 fragments of different datagrams do not mix, and time out") {
  Harness h;
  const Frame part = Frame().zeros(16);
  CHECK_FALSE(h.decoder.decode(rawPacket(LINKTYPE_RAW, ipv4(PROTO_TCP, part, 1, 2, -1, 0x2000, 1), 0), h.out));
  CHECK_FALSE(h.decoder.decode(rawPacket(LINKTYPE_RAW, ipv4(PROTO_TCP, part, 1, 2, -1, 2, 2), 1), h.out));
  CHECK(h.decoder.pendingFragments() == 2);
  CHECK_FALSE(h.decoder.decode(rawPacket(LINKTYPE_RAW, ipv4(PROTO_TCP, part, 1, 2, -1, 0x2000, 3), FRAGMENT_TIMEOUT_NS + 10), h.out));
  CHECK(h.anomalies.get("ipv4_fragment_timeout") == 2);
  CHECK(h.decoder.pendingFragments() == 1);
}

TEST_CASE("A datagram that never gets its missing fragment is counted: at the end of the capture, or as time passes") {
  Harness h;
  const Frame part = Frame().zeros(16);
  CHECK_FALSE(h.decoder.decode(rawPacket(LINKTYPE_RAW, ipv4(PROTO_TCP, part, 1, 2, -1, 0x2000, 1), 0), h.out));
  Frame v6;
  v6.u8(PROTO_TCP).u8(0)  // fragment header: next = TCP, reserved
      .u16(0x0001)        // offset 0, M=1: the rest never comes
      .u32(0x1234)        // identification
      .frame(part);
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv6(44, v6)));
  CHECK(h.decoder.pendingFragments() == 2);
  SECTION("the capture ends") {
    h.decoder.finish();
    CHECK(h.anomalies.get("ipv4_fragment_incomplete_at_end") == 1);
    CHECK(h.anomalies.get("ipv6_fragment_incomplete_at_end") == 1);
    CHECK(h.decoder.pendingFragments() == 0);
    h.decoder.finish();  // nothing left: nothing counted twice
    CHECK(h.anomalies.get("ipv4_fragment_incomplete_at_end") == 1);
  }
  SECTION("packet time passes the fragment timeout, no fragment arriving") {
    h.decoder.expireFragments(FRAGMENT_TIMEOUT_NS);
    CHECK(h.decoder.pendingFragments() == 2);  // the IPv6 one came at 1 s
    h.decoder.expireFragments(1'000'000'000 + FRAGMENT_TIMEOUT_NS + 1);
    CHECK(h.anomalies.get("ipv4_fragment_timeout") == 1);
    CHECK(h.anomalies.get("ipv6_fragment_timeout") == 1);
    CHECK(h.decoder.pendingFragments() == 0);
    h.decoder.finish();
    CHECK(h.anomalies.get("ipv4_fragment_incomplete_at_end") == 0);
  }
}

TEST_CASE("IPv4 fragment beyond the maximum datagram size is refused") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, Frame().zeros(16), 1, 2, -1, 0x2000 | 8190)));  // offset 65520 + 16 > 65535
  CHECK(h.anomalies.get("ipv4_fragment_too_large") == 1);
}

TEST_CASE("IPv6 fragments reassemble") {
  Harness h;
  const Frame seg = tcp(40000, 443, 1, TCP_ACK, "ABCDEFGHIJKLMNOP");
  Frame frag1;
  frag1.u8(PROTO_TCP).u8(0)          // fragment header: next = TCP, reserved
      .u16(0x0001)                   // offset 0, M=1
      .u32(0xabcdef)                 // identification
      .frame(slice(seg, 0, 24));
  Frame frag2;
  frag2.u8(PROTO_TCP).u8(0)          // fragment header: next = TCP, reserved
      .u16(24)                       // offset 24 (3 units << 3), M=0
      .u32(0xabcdef)                 // identification
      .frame(slice(seg, 24));
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv6(44, frag2)));
  REQUIRE(h.run(LINKTYPE_RAW, ipv6(44, frag1)));
  CHECK(payloadText(h.out) == "ABCDEFGHIJKLMNOP");
}

// ---- snap length and offload ---------------------------------------------------------

TEST_CASE("Snap length cut: the TCP payload continues as payload_missing") {
  Harness h;
  const Frame f = ethernet(0x0800, ipv4(PROTO_TCP, tcp(40000, 443, 1, TCP_ACK, "0123456789")));
  const Frame cut = slice(f, 0, f.size() - 6);
  REQUIRE(h.run(LINKTYPE_ETHERNET, cut, static_cast<std::uint32_t>(f.size())));
  CHECK(payloadText(h.out) == "0123");
  CHECK(h.out.payload_missing == 6);
  CHECK(h.anomalies.get("snaplen_truncated") == 1);
  CHECK(h.anomalies.get("bad_ipv4_total_length") == 0);
}

TEST_CASE("IPv4 total length 0 (segmentation offload on the capturing host) uses the captured length") {
  Harness h;
  REQUIRE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, httpSegment(), 1, 2, 0)));
  CHECK(payloadText(h.out) == "GET /");
  CHECK(h.anomalies.get("ipv4_zero_total_length") == 1);
}

// ---- one test per malformed length field ---------------------------------------------

TEST_CASE("Malformed: truncated Ethernet header") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, Frame().bytes(MAC_ROUTER).bytes(MAC_DEVICE).u8(0x08)));  // 13 of 14 bytes
  CHECK(h.anomalies.get("truncated_ethernet") == 1);
}

TEST_CASE("Malformed: truncated VLAN tag") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x8100, Frame().u16(5).u8(0x08))));  // TCI + half an EtherType
  CHECK(h.anomalies.get("truncated_vlan_header") == 1);
}

TEST_CASE("Malformed: truncated IPv4 header") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x0800, Frame().u8(0x45).zeros(10))));  // 11 of 20 bytes
  CHECK(h.anomalies.get("truncated_ipv4_header") == 1);
}

TEST_CASE("Malformed: IPv4 IHL too small") {
  Harness h;
  // version 4, IHL 4: 16 bytes, below the 20-byte minimum
  CHECK_FALSE(h.run(LINKTYPE_RAW, patched(ipv4(PROTO_TCP, httpSegment()), 0, Frame().u8(0x44))));
  CHECK(h.anomalies.get("bad_ipv4_header_length") == 1);
}

TEST_CASE("Malformed: IPv4 IHL too large for the total length") {
  Harness h;
  // total length 40; version 4, IHL 15: 60 bytes, more than the datagram
  CHECK_FALSE(h.run(LINKTYPE_RAW, patched(ipv4(PROTO_TCP, Frame().zeros(20)), 0, Frame().u8(0x4f))));
  CHECK(h.anomalies.get("bad_ipv4_header_length") == 1);
}

TEST_CASE("Malformed: IPv4 total length beyond the captured bytes") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, httpSegment(), 1, 2, 1500)));  // claims 1500, frame is whole
  CHECK(h.anomalies.get("bad_ipv4_total_length") == 1);
}

TEST_CASE("Malformed: truncated IPv6 header") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_ETHERNET, ethernet(0x86dd, Frame().u32(0x60000000).zeros(30))));  // 34 of 40 bytes
  CHECK(h.anomalies.get("truncated_ipv6_header") == 1);
}

TEST_CASE("Malformed: IPv6 payload length beyond the captured bytes") {
  Harness h;
  // payload length (offset 4) 900, but only 25 bytes follow
  CHECK_FALSE(h.run(LINKTYPE_RAW, patched(ipv6(PROTO_TCP, httpSegment()), 4, Frame().u16(900))));
  CHECK(h.anomalies.get("bad_ipv6_payload_length") == 1);
}

TEST_CASE("Malformed: IPv6 extension header length past the payload") {
  Harness h;
  Frame chain;
  chain.u8(PROTO_TCP).u8(10)  // destination options: next = TCP, length 10 -> 88 bytes
      .zeros(6);              // only 8 bytes present
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv6(60, chain)));
  CHECK(h.anomalies.get("truncated_ipv6_ext_header") == 1);
}

TEST_CASE("Malformed: truncated TCP header") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, Frame().u16(1).u16(2).u32(3))));  // 8 of 20 bytes
  CHECK(h.anomalies.get("truncated_tcp_header") == 1);
}

TEST_CASE("Malformed: TCP data offset below 5 words") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, tcp(1, 2, 3, TCP_ACK, "x", 4))));  // data offset 4: 16 bytes
  CHECK(h.anomalies.get("bad_tcp_data_offset") == 1);
}

TEST_CASE("Malformed: TCP data offset past the segment") {
  Harness h;
  // data offset (offset 12) 15: 60 bytes in a 20-byte segment
  const Frame bad = patched(tcp(1, 2, 3, TCP_ACK), 12, Frame().u16(static_cast<std::uint16_t>((15 << 12) | TCP_ACK)));
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_TCP, bad)));
  CHECK(h.anomalies.get("bad_tcp_data_offset") == 1);
}

TEST_CASE("Malformed: truncated GRE header") {
  Harness h;
  Frame gre;
  gre.u16(0x2000)     // K set: a 4-byte key follows
      .u16(0x0800)    // protocol: IPv4
      .u16(0);        // half a key
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_GRE, gre)));
  CHECK(h.anomalies.get("truncated_gre") == 1);
}

TEST_CASE("Malformed: truncated ERSPAN II header") {
  Harness h;
  Frame gre;
  gre.u16(0x1000).u16(0x88be).u32(1)  // S set, ERSPAN II, sequence
      .u16(0x1000 | 30);              // 2 of 8 ERSPAN bytes
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_GRE, gre)));
  CHECK(h.anomalies.get("truncated_erspan") == 1);
}

TEST_CASE("Malformed: ERSPAN III platform subheader announced but missing") {
  Harness h;
  Frame gre;
  gre.u16(0x1000).u16(0x22eb).u32(1)     // S set, ERSPAN III, sequence
      .u16(0x2000).u16(0).u32(0).u16(0)  // version 2, session, timestamp, SGT
      .u16(0x0001)                       // O=1: 8-byte subheader follows...
      .zeros(3);                         // ...but only 3 bytes do
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_GRE, gre)));
  CHECK(h.anomalies.get("truncated_erspan") == 1);
}

TEST_CASE("Malformed: truncated VXLAN header") {
  Harness h;
  Frame udp;
  udp.u16(1).u16(4789).u16(12).u16(0)  // UDP to the VXLAN port, length 12
      .u8(0x08).zeros(3);              // 4 of 8 VXLAN bytes
  CHECK_FALSE(h.run(LINKTYPE_RAW, ipv4(PROTO_UDP, udp)));
  CHECK(h.anomalies.get("truncated_vxlan") == 1);
}

TEST_CASE("Malformed: truncated SLL header") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_LINUX_SLL, Frame().u16(0).u16(1).u16(6).bytes(MAC_DEVICE)));  // 12 of 16 bytes
  CHECK(h.anomalies.get("truncated_sll_header") == 1);
}

TEST_CASE("Malformed: truncated SLL2 header") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_LINUX_SLL2, Frame().u16(0x0800).u16(0).u32(1).u16(1)));  // 10 of 20 bytes
  CHECK(h.anomalies.get("truncated_sll2_header") == 1);
}

TEST_CASE("Malformed: truncated loopback header") {
  Harness h;
  CHECK_FALSE(h.run(LINKTYPE_NULL, Frame().u16(2)));  // 2 of 4 bytes
  CHECK_FALSE(h.run(LINKTYPE_LOOP, Frame().u8(0)));   // 1 of 4 bytes
  CHECK(h.anomalies.get("truncated_loopback_header") == 2);
}

TEST_CASE("Malformed: unsupported link type is counted") {
  Harness h;
  CHECK_FALSE(h.run(147, ipv4(PROTO_TCP, httpSegment())));  // LINKTYPE_USER0
  CHECK(h.anomalies.get("unsupported_linktype") == 1);
  CHECK_FALSE(isDecodedLinkType(147));
  CHECK_FALSE(isDecodedLinkType(127));  // 802.11 with radiotap
}
