#pragma once
// Link-layer, tunnel and IP decoding down to a TCP segment. Decap follows one
// rule: check, consume the header, pass on the rest (house style §9). Every
// length field is read through ByteReader and checked against what was captured.
#include <cstdint>
#include <optional>
#include <span>

#include "capture/ip_fragments.h"
#include "capture/packet_source.h"
#include "common/anomaly.h"
#include "common/byte_reader.h"
#include "common/net_types.h"

namespace provaudit::capture {

// 802.1Q tags stacked in one frame. QinQ (802.1ad) uses two; carrier networks
// stack a third at most. Eight accepts any real stack and bounds the loop
// against frames made of nothing but tags (vlan_stack_too_deep).
inline constexpr int MAX_VLAN_TAGS = 8;
// MPLS labels stacked on one packet (RFC 3032): an operator's L3VPN uses two or
// three; eight bounds the loop as MAX_VLAN_TAGS does (mpls_stack_too_deep).
inline constexpr int MAX_MPLS_LABELS = 8;
// Tunnel headers (GRE, ERSPAN, VXLAN, IP-in-IP) crossed in one packet. A SPAN
// feed is at most ERSPAN-over-GRE carrying a frame that itself may sit in
// VXLAN: two. Four leaves headroom and bounds work per packet (tunnel_depth_exceeded).
inline constexpr int MAX_TUNNEL_DEPTH = 4;
// IPv6 extension headers in one chain. RFC 8200 §4.1 orders at most six kinds
// (hop-by-hop, destination options, routing, fragment, AH, destination options);
// eight allows one repeat and stops crafted endless chains (ipv6_ext_header_chain_too_long).
inline constexpr int MAX_IPV6_EXT_HEADERS = 8;

// libpcap DLT_* values (pcap_datalink()) that Decoder understands. Defined
// here rather than taken from <pcap/dlt.h> because DLT_RAW differs by platform
// and files from any platform must decode the same way.
inline constexpr int LINKTYPE_NULL = 0;          // BSD loopback, AF in the capturing host's byte order
inline constexpr int LINKTYPE_ETHERNET = 1;      // DLT_EN10MB
inline constexpr int LINKTYPE_PPP = 9;           // PPP, HDLC-like framing optional (RFC 1662)
inline constexpr int LINKTYPE_PPP_HDLC = 50;     // DLT_PPP_SERIAL: PPP in HDLC-like framing, or Cisco PPP with HDLC framing
inline constexpr int LINKTYPE_RAW_A = 12;        // DLT_RAW on most platforms
inline constexpr int LINKTYPE_RAW_B = 14;        // DLT_RAW on OpenBSD (and BSD/OS)
inline constexpr int LINKTYPE_RAW = 101;         // LINKTYPE_RAW as stored in files
inline constexpr int LINKTYPE_LOOP = 108;        // OpenBSD loopback, AF in network byte order
inline constexpr int LINKTYPE_LINUX_SLL = 113;   // Linux "cooked" v1
inline constexpr int LINKTYPE_IPV4 = 228;
inline constexpr int LINKTYPE_IPV6 = 229;
inline constexpr int LINKTYPE_LINUX_SLL2 = 276;  // Linux "cooked" v2

// Whether Decoder reads packets of this link type (LINKTYPE_* or DLT_*);
// those of any other are counted as unsupported_linktype and not decoded.
[[nodiscard]] bool isDecodedLinkType(int linktype);

struct DecodedPacket {
  PacketRef ref;
  std::optional<MacAddr> src_mac, dst_mac;  // of the innermost Ethernet header (the device's own frame)
  std::uint16_t vlan = 0;                   // innermost VLAN id, 0 if none
  IpAddr src, dst;                          // innermost IP header
  // Its TTL (IPv4) or hop limit (IPv6): each router on the way lowers it, so of
  // two copies of one packet the one with the higher value was captured nearer
  // its sender.
  std::uint8_t ttl = 0;
  std::uint8_t ip_proto = 0;
  std::uint16_t sport = 0, dport = 0;
  std::uint8_t tcp_flags = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint16_t window = 0;                 // advertised receive window, unscaled (the SYN's scale option is not read)
  std::span<const std::uint8_t> payload;    // TCP payload; may point into the Decoder's reassembly buffer
  std::uint32_t wire_len = 0;
  // TCP payload bytes the IP length announces but the snap length cut off: the
  // segment covers [seq, seq + payload.size() + payload_missing).
  std::uint32_t payload_missing = 0;
};

// TCP header flag bits (RFC 9293 §3.1).
inline constexpr std::uint8_t TCP_FIN = 0x01;
inline constexpr std::uint8_t TCP_SYN = 0x02;
inline constexpr std::uint8_t TCP_RST = 0x04;
inline constexpr std::uint8_t TCP_PSH = 0x08;
inline constexpr std::uint8_t TCP_ACK = 0x10;

class Decoder {
 public:
  explicit Decoder(AnomalyCounters& a);

  // false = not a TCP segment we can use (counted where it is an anomaly; plain
  // non-TCP traffic is not an anomaly). `out.payload` stays valid until the next
  // decode() or until `raw`'s data goes away, whichever comes first.
  bool decode(const RawPacket& raw, DecodedPacket& out);

  [[nodiscard]] std::size_t pendingFragments() const { return fragments_.pending(); }
  // Packet time moved on to `now_ns`: fragmented datagrams waiting longer than
  // FRAGMENT_TIMEOUT_NS are given up (ipv4/ipv6_fragment_timeout).
  void expireFragments(std::int64_t now_ns) { fragments_.expire(now_ns); }
  // End of a capture: datagrams still missing fragments are given up and
  // counted (ipv4/ipv6_fragment_incomplete_at_end).
  void finish() { fragments_.abandonAll(); }

 private:
  struct IpPayload {
    std::uint8_t proto = 0;
    Bytes data;
    std::uint32_t missing = 0;  // bytes cut off by the snap length
  };

  bool decodeLinkLayer(int linktype, ByteReader& r, DecodedPacket& out, std::uint16_t& next);
  bool decodeEthernet(ByteReader& r, DecodedPacket& out, std::uint16_t& next);
  bool decodeVlan(ByteReader& r, DecodedPacket& out, std::uint16_t& next);
  bool decodeMpls(ByteReader& r, std::uint16_t& next);
  bool decodePppoe(ByteReader& r, std::uint16_t& next);
  bool decodePpp(int linktype, ByteReader& r, std::uint16_t& next);
  bool decodeIpv4(ByteReader& r, DecodedPacket& out, IpPayload& ip);
  bool decodeIpv6(ByteReader& r, DecodedPacket& out, IpPayload& ip);
  bool decodeGre(ByteReader& r, DecodedPacket& out, std::uint16_t& next);
  bool decodeErspan3(ByteReader& r, DecodedPacket& out, std::uint16_t& next);
  bool decodeVxlan(ByteReader& r, std::uint16_t& next);
  bool decodeTcp(const IpPayload& ip, DecodedPacket& out);
  // Length beyond what was captured: expected when the snap length cut the
  // frame (payload continues as `missing`), an anomaly otherwise.
  bool lengthBeyondCapture(std::size_t announced, std::size_t captured, std::uint32_t& missing) const;

  AnomalyCounters& anomalies_;
  FragmentReassembler fragments_;
  bool snaplen_cut_ = false;  // the current frame is shorter on disk than on the wire
};

}  // namespace provaudit::capture
