#include "capture/decoder.h"

namespace provaudit::capture {
namespace {

// EtherTypes (IEEE registry) and the GRE protocol types that reuse them.
constexpr std::uint16_t ETHERTYPE_IPV4 = 0x0800;
constexpr std::uint16_t ETHERTYPE_IPV6 = 0x86DD;
constexpr std::uint16_t ETHERTYPE_VLAN = 0x8100;       // 802.1Q
constexpr std::uint16_t ETHERTYPE_QINQ = 0x88A8;       // 802.1ad service tag
constexpr std::uint16_t ETHERTYPE_QINQ_LEGACY = 0x9100;  // pre-standard QinQ
constexpr std::uint16_t ETHERTYPE_TEB = 0x6558;        // transparent Ethernet bridging: an Ethernet frame follows
constexpr std::uint16_t ETHERTYPE_ERSPAN_II = 0x88BE;  // also type I (no ERSPAN header, GRE S bit clear)
constexpr std::uint16_t ETHERTYPE_ERSPAN_III = 0x22EB;
constexpr std::uint16_t ETHERTYPE_MPLS = 0x8847;  // RFC 3032 unicast
constexpr std::uint16_t ETHERTYPE_MPLS_MULTICAST = 0x8848;
constexpr std::uint16_t ETHERTYPE_PPPOE_SESSION = 0x8864;  // RFC 2516 §4 (discovery, 0x8863, carries no IP)
// PPP protocol numbers (RFC 1661 §2; RFC 1332, RFC 5072) of IP datagrams.
constexpr std::uint16_t PPP_IPV4 = 0x0021;
constexpr std::uint16_t PPP_IPV6 = 0x0057;
// RFC 1662 §3.1: the HDLC-like frame's all-stations address and Unnumbered
// Information control field. RFC 1547 §4.3.1: Cisco's HDLC framing, unicast
// or broadcast address, control 0, then an EtherType.
constexpr std::uint8_t PPP_HDLC_ADDRESS = 0xFF;
constexpr std::uint8_t PPP_HDLC_CONTROL = 0x03;
constexpr std::uint8_t CISCO_HDLC_UNICAST = 0x0F;
constexpr std::uint8_t CISCO_HDLC_BROADCAST = 0x8F;
// RFC 1661 §6.5: a protocol field compressed to one byte has its low bit set
// (the first byte of an uncompressed one never has).
constexpr std::uint8_t PPP_PROTOCOL_LAST_BYTE = 0x01;
// Below this value the field is an 802.3 length, not a type (IEEE 802.3 §3.2.6).
constexpr std::uint16_t ETHERTYPE_MIN = 0x0600;
// Internal selector, not on the wire (0xFFFF is reserved): an IP header whose
// version nibble decides v4 or v6 (raw IP link types, ERSPAN III IP frames).
constexpr std::uint16_t NEXT_IP_BY_VERSION = 0xFFFF;

constexpr std::uint8_t IPPROTO_NUM_IPIP = 4;
constexpr std::uint8_t IPPROTO_NUM_TCP = 6;
constexpr std::uint8_t IPPROTO_NUM_UDP = 17;
constexpr std::uint8_t IPPROTO_NUM_IPV6 = 41;
constexpr std::uint8_t IPPROTO_NUM_GRE = 47;
// IPv6 extension headers (RFC 8200 §4; AH RFC 4302; mobility RFC 6275; HIP RFC 7401; shim6 RFC 5533).
constexpr std::uint8_t IPV6_EXT_HOP_BY_HOP = 0;
constexpr std::uint8_t IPV6_EXT_ROUTING = 43;
constexpr std::uint8_t IPV6_EXT_FRAGMENT = 44;
constexpr std::uint8_t IPV6_EXT_AH = 51;
constexpr std::uint8_t IPV6_EXT_DEST_OPTS = 60;
constexpr std::uint8_t IPV6_EXT_MOBILITY = 135;
constexpr std::uint8_t IPV6_EXT_HIP = 139;
constexpr std::uint8_t IPV6_EXT_SHIM6 = 140;

constexpr std::uint16_t VXLAN_UDP_PORT = 4789;  // RFC 7348 §5 (IANA)
constexpr std::uint8_t VXLAN_FLAG_I = 0x08;      // RFC 7348 §5: VNI valid, must be set

// RFC 2784 / RFC 2890 GRE flags and version.
constexpr std::uint16_t GRE_FLAG_CHECKSUM = 0x8000;
constexpr std::uint16_t GRE_FLAG_ROUTING = 0x4000;  // RFC 1701 source routing, deprecated
constexpr std::uint16_t GRE_FLAG_KEY = 0x2000;
constexpr std::uint16_t GRE_FLAG_SEQUENCE = 0x1000;
constexpr std::uint16_t GRE_VERSION_MASK = 0x0007;
constexpr std::size_t GRE_OPTIONAL_FIELD_BYTES = 4;  // checksum+reserved1, key, sequence: 4 bytes each

// ERSPAN (draft-foschiano-erspan-03).
constexpr std::uint8_t ERSPAN_II_VERSION = 1;
constexpr std::uint8_t ERSPAN_III_VERSION = 2;
constexpr std::uint8_t ERSPAN_III_FRAME_ETHERNET = 0;
constexpr std::uint8_t ERSPAN_III_FRAME_IP = 2;
constexpr std::size_t ERSPAN_III_PLATFORM_SUBHEADER_BYTES = 8;

// Address families in DLT_NULL / DLT_LOOP headers. IPv6 differs by BSD flavour.
constexpr std::uint32_t BSD_AF_INET = 2;
constexpr std::uint32_t BSD_AF_INET6_BSD = 24;      // NetBSD, OpenBSD, BSD/OS
constexpr std::uint32_t BSD_AF_INET6_FREEBSD = 28;  // FreeBSD, DragonFly BSD
constexpr std::uint32_t BSD_AF_INET6_DARWIN = 30;   // macOS, iOS
constexpr std::uint32_t LOW_16_BITS = 0xFFFF;

constexpr std::uint16_t ARPHRD_ETHER = 1;  // Linux <net/if_arp.h>
constexpr std::size_t MAC_BYTES = 6;
constexpr std::size_t SLL_ADDRESS_BYTES = 8;
constexpr std::size_t IPV4_MIN_HEADER = 20;
constexpr std::size_t TCP_MIN_HEADER = 20;
constexpr std::size_t UDP_HEADER = 8;
constexpr std::uint16_t IPV4_FLAG_MF = 0x2000;
constexpr std::uint16_t IPV4_FRAGMENT_OFFSET_MASK = 0x1FFF;
constexpr std::uint16_t IPV6_FRAGMENT_OFFSET_MASK = 0xFFF8;  // already in bytes: 13 bits << 3
constexpr std::uint16_t IPV6_FRAGMENT_MF = 0x0001;
constexpr std::size_t FRAGMENT_UNIT = 8;
constexpr std::uint16_t VLAN_ID_MASK = 0x0FFF;

MacAddr macFrom(Bytes b) {
  MacAddr m;
  for (std::size_t i = 0; i < MAC_BYTES; ++i) m.b[i] = b[i];
  return m;
}

std::uint32_t byteSwap32(std::uint32_t v) {
  return ((v & 0xFFu) << 24) | ((v & 0xFF00u) << 8) | ((v >> 8) & 0xFF00u) | (v >> 24);
}

bool isTunnelProto(std::uint8_t proto) {
  return proto == IPPROTO_NUM_GRE || proto == IPPROTO_NUM_UDP || proto == IPPROTO_NUM_IPIP || proto == IPPROTO_NUM_IPV6;
}

}  // namespace

bool isDecodedLinkType(int linktype) {
  switch (linktype) {
    case LINKTYPE_NULL:
    case LINKTYPE_ETHERNET:
    case LINKTYPE_PPP:
    case LINKTYPE_PPP_HDLC:
    case LINKTYPE_RAW_A:
    case LINKTYPE_RAW_B:
    case LINKTYPE_RAW:
    case LINKTYPE_LOOP:
    case LINKTYPE_LINUX_SLL:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
    case LINKTYPE_LINUX_SLL2:
      return true;
    default:
      return false;
  }
}

Decoder::Decoder(AnomalyCounters& a) : anomalies_(a), fragments_(a) {}

bool Decoder::lengthBeyondCapture(std::size_t announced, std::size_t captured, std::uint32_t& missing) const {
  if (!snaplen_cut_) return false;
  missing = static_cast<std::uint32_t>(announced - captured);
  return true;
}

bool Decoder::decode(const RawPacket& raw, DecodedPacket& out) {
  out = DecodedPacket{};
  out.ref = raw.ref;
  out.wire_len = raw.orig_len;
  snaplen_cut_ = raw.data.size() < raw.orig_len;
  if (snaplen_cut_) anomalies_.inc(PA_ANOMALY("snaplen_truncated"));

  ByteReader r(raw.data);
  std::uint16_t next = 0;
  if (!decodeLinkLayer(raw.linktype, r, out, next)) return false;
  int vlan_tags = 0;
  int tunnels = 0;
  for (;;) {
    switch (next) {
      case ETHERTYPE_TEB:
        if (!decodeEthernet(r, out, next)) return false;
        continue;
      case ETHERTYPE_VLAN:
      case ETHERTYPE_QINQ:
      case ETHERTYPE_QINQ_LEGACY:
        if (++vlan_tags > MAX_VLAN_TAGS) {
          anomalies_.inc(PA_ANOMALY("vlan_stack_too_deep"));
          return false;
        }
        if (!decodeVlan(r, out, next)) return false;
        continue;
      case ETHERTYPE_MPLS:
      case ETHERTYPE_MPLS_MULTICAST:
        // A label stack is a tunnel (its pseudowire may carry a frame with labels again).
        if (++tunnels > MAX_TUNNEL_DEPTH) {
          anomalies_.inc(PA_ANOMALY("tunnel_depth_exceeded"));
          return false;
        }
        if (!decodeMpls(r, next)) return false;
        // The frame's MACs are label switches', not the device's (a pseudowire's
        // own Ethernet header, next, names the device again).
        out.src_mac.reset();
        out.dst_mac.reset();
        out.vlan = 0;
        continue;
      case ETHERTYPE_PPPOE_SESSION:
        if (!decodePppoe(r, next)) return false;
        continue;
      case NEXT_IP_BY_VERSION: {
        std::uint8_t first = 0;
        if (!r.peekU8(first)) {
          anomalies_.inc(PA_ANOMALY("truncated_ip_header"));
          return false;
        }
        const int version = first >> 4;
        if (version == 4) {
          next = ETHERTYPE_IPV4;
        } else if (version == 6) {
          next = ETHERTYPE_IPV6;
        } else {
          anomalies_.inc(PA_ANOMALY("bad_ip_version"));
          return false;
        }
        continue;
      }
      case ETHERTYPE_IPV4:
      case ETHERTYPE_IPV6:
        break;
      default:
        return false;  // ARP, LLDP, 802.3 LLC, ...: not ours, not an anomaly
    }

    IpPayload ip;
    const bool ip_ok = next == ETHERTYPE_IPV4 ? decodeIpv4(r, out, ip) : decodeIpv6(r, out, ip);
    if (!ip_ok) return false;
    out.ip_proto = ip.proto;
    if (ip.proto == IPPROTO_NUM_TCP) return decodeTcp(ip, out);
    if (!isTunnelProto(ip.proto)) return false;

    ByteReader inner(ip.data);
    std::uint16_t inner_next = 0;
    if (ip.proto == IPPROTO_NUM_UDP) {
      // Only VXLAN interests us in UDP; any other datagram is plain non-TCP traffic.
      std::uint16_t sport = 0, dport = 0, udp_len = 0;
      if (!inner.readU16(sport) || !inner.readU16(dport) || !inner.readU16(udp_len) || !inner.skip(2)) {
        if (ip.data.size() >= 4 && dport != VXLAN_UDP_PORT) return false;
        anomalies_.inc(PA_ANOMALY("truncated_udp_header"));
        return false;
      }
      if (dport != VXLAN_UDP_PORT) return false;
      if (udp_len < UDP_HEADER || (udp_len > ip.data.size() && ip.missing == 0)) {
        anomalies_.inc(PA_ANOMALY("bad_udp_length"));
        return false;
      }
      if (udp_len < ip.data.size()) inner = ByteReader(ip.data.subspan(UDP_HEADER, udp_len - UDP_HEADER));
    }
    if (tunnels >= MAX_TUNNEL_DEPTH) {
      anomalies_.inc(PA_ANOMALY("tunnel_depth_exceeded"));
      return false;
    }
    ++tunnels;
    // The outer headers describe the tunnel's routers, not the device: only the
    // encapsulated frame's own Ethernet header and VLAN tag may name it.
    out.src_mac.reset();
    out.dst_mac.reset();
    out.vlan = 0;
    switch (ip.proto) {
      case IPPROTO_NUM_GRE:
        if (!decodeGre(inner, out, inner_next)) return false;
        break;
      case IPPROTO_NUM_UDP:
        if (!decodeVxlan(inner, inner_next)) return false;
        break;
      case IPPROTO_NUM_IPIP:
        inner_next = ETHERTYPE_IPV4;
        break;
      default:  // IPPROTO_NUM_IPV6: IPv6 in IP (RFC 4213 / 6in4)
        inner_next = ETHERTYPE_IPV6;
        break;
    }
    r = inner;
    next = inner_next;
  }
}

bool Decoder::decodeLinkLayer(int linktype, ByteReader& r, DecodedPacket& out, std::uint16_t& next) {
  switch (linktype) {
    case LINKTYPE_ETHERNET:
      next = ETHERTYPE_TEB;
      return true;
    case LINKTYPE_RAW_A:
    case LINKTYPE_RAW_B:
    case LINKTYPE_RAW:
      next = NEXT_IP_BY_VERSION;
      return true;
    case LINKTYPE_IPV4:
      next = ETHERTYPE_IPV4;
      return true;
    case LINKTYPE_PPP:
    case LINKTYPE_PPP_HDLC:
      return decodePpp(linktype, r, next);
    case LINKTYPE_IPV6:
      next = ETHERTYPE_IPV6;
      return true;
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      // 4-byte address family. DLT_NULL stores it in the capturing host's byte
      // order, which the file does not record: a value with empty low 16 bits
      // was written by a host of the other byte order (AF values are small).
      std::uint32_t af = 0;
      const bool ok = linktype == LINKTYPE_LOOP ? r.readU32(af) : r.readU32Le(af);
      if (!ok) {
        anomalies_.inc(PA_ANOMALY("truncated_loopback_header"));
        return false;
      }
      if (linktype == LINKTYPE_NULL && (af & LOW_16_BITS) == 0) af = byteSwap32(af);
      if (af == BSD_AF_INET) {
        next = ETHERTYPE_IPV4;
      } else if (af == BSD_AF_INET6_BSD || af == BSD_AF_INET6_FREEBSD || af == BSD_AF_INET6_DARWIN) {
        next = ETHERTYPE_IPV6;
      } else {
        return false;  // another address family: not IP
      }
      return true;
    }
    case LINKTYPE_LINUX_SLL: {
      // packet type(2) | ARPHRD type(2) | address length(2) | address(8) | protocol(2)
      std::uint16_t pkttype = 0, hatype = 0, halen = 0;
      Bytes addr;
      if (!r.readU16(pkttype) || !r.readU16(hatype) || !r.readU16(halen) || !r.readBytes(SLL_ADDRESS_BYTES, addr) ||
          !r.readU16(next)) {
        anomalies_.inc(PA_ANOMALY("truncated_sll_header"));
        return false;
      }
      // The address is the sender's link-layer address: its MAC on Ethernet.
      if (hatype == ARPHRD_ETHER && halen == MAC_BYTES) out.src_mac = macFrom(addr);
      return true;
    }
    case LINKTYPE_LINUX_SLL2: {
      // protocol(2) | reserved(2) | ifindex(4) | ARPHRD type(2) | packet type(1) | address length(1) | address(8)
      std::uint16_t hatype = 0;
      std::uint8_t pkttype = 0, halen = 0;
      Bytes addr;
      if (!r.readU16(next) || !r.skip(2 + 4) || !r.readU16(hatype) || !r.readU8(pkttype) || !r.readU8(halen) ||
          !r.readBytes(SLL_ADDRESS_BYTES, addr)) {
        anomalies_.inc(PA_ANOMALY("truncated_sll2_header"));
        return false;
      }
      if (hatype == ARPHRD_ETHER && halen == MAC_BYTES) out.src_mac = macFrom(addr);
      return true;
    }
    default:
      anomalies_.inc(PA_ANOMALY("unsupported_linktype"));
      return false;
  }
}

bool Decoder::decodeEthernet(ByteReader& r, DecodedPacket& out, std::uint16_t& next) {
  // destination(6) | source(6) | EtherType or 802.3 length(2)
  Bytes dst, src;
  if (!r.readBytes(MAC_BYTES, dst) || !r.readBytes(MAC_BYTES, src) || !r.readU16(next)) {
    anomalies_.inc(PA_ANOMALY("truncated_ethernet"));
    return false;
  }
  out.dst_mac = macFrom(dst);
  out.src_mac = macFrom(src);
  if (next < ETHERTYPE_MIN) next = 0;  // 802.3 length + LLC: not IP as we see it
  return true;
}

bool Decoder::decodeVlan(ByteReader& r, DecodedPacket& out, std::uint16_t& next) {
  // PCP(3) DEI(1) VID(12) | EtherType(2)
  std::uint16_t tci = 0;
  if (!r.readU16(tci) || !r.readU16(next)) {
    anomalies_.inc(PA_ANOMALY("truncated_vlan_header"));
    return false;
  }
  out.vlan = static_cast<std::uint16_t>(tci & VLAN_ID_MASK);  // the last (innermost) tag wins
  if (next < ETHERTYPE_MIN) next = 0;
  return true;
}

bool Decoder::decodeMpls(ByteReader& r, std::uint16_t& next) {
  // RFC 3032 §2.1: label(20) TC(3) S(1) TTL(8), to the entry whose S bit is set.
  constexpr std::uint32_t BOTTOM_OF_STACK = 0x100;
  for (int labels = 1;; ++labels) {
    std::uint32_t entry = 0;
    if (!r.readU32(entry)) {
      anomalies_.inc(PA_ANOMALY("truncated_mpls_header"));
      return false;
    }
    if ((entry & BOTTOM_OF_STACK) != 0) break;
    if (labels == MAX_MPLS_LABELS) {
      anomalies_.inc(PA_ANOMALY("mpls_stack_too_deep"));
      return false;
    }
  }
  // What the labels carry is not named: IP says so in its version nibble; an
  // Ethernet pseudowire starts with its control word, first nibble 0 (RFC 4448 §3, RFC 4385).
  constexpr std::uint8_t PW_CONTROL_WORD_NIBBLE = 0, IPV4_NIBBLE = 4, IPV6_NIBBLE = 6;
  constexpr std::size_t PW_CONTROL_WORD_BYTES = 4;
  std::uint8_t first = 0;
  if (!r.peekU8(first)) {
    anomalies_.inc(PA_ANOMALY("truncated_mpls_header"));
    return false;
  }
  switch (first >> 4) {
    case IPV4_NIBBLE:
      next = ETHERTYPE_IPV4;
      return true;
    case IPV6_NIBBLE:
      next = ETHERTYPE_IPV6;
      return true;
    case PW_CONTROL_WORD_NIBBLE:
      if (!r.skip(PW_CONTROL_WORD_BYTES)) {
        anomalies_.inc(PA_ANOMALY("truncated_mpls_header"));
        return false;
      }
      next = ETHERTYPE_TEB;
      return true;
    default:
      anomalies_.inc(PA_ANOMALY("unsupported_mpls_payload"));
      return false;
  }
}

bool Decoder::decodePppoe(ByteReader& r, std::uint16_t& next) {
  // RFC 2516 §4: version(4)=1 type(4)=1 | code(1)=0 | session id(2) | length(2) | PPP protocol(2) (RFC 1661 §2)
  constexpr std::uint8_t VERSION_TYPE = 0x11, SESSION_DATA = 0x00;
  std::uint8_t version_type = 0, code = 0;
  std::uint16_t session = 0, length = 0, protocol = 0;
  if (!r.readU8(version_type) || !r.readU8(code) || !r.readU16(session) || !r.readU16(length) || !r.readU16(protocol)) {
    anomalies_.inc(PA_ANOMALY("truncated_pppoe_header"));
    return false;
  }
  if (version_type != VERSION_TYPE || code != SESSION_DATA) {
    anomalies_.inc(PA_ANOMALY("bad_pppoe_header"));
    return false;
  }
  // LCP, IPCP, authentication...: the link's own talk, not IP (not ours, not an anomaly).
  next = protocol == PPP_IPV4 ? ETHERTYPE_IPV4 : protocol == PPP_IPV6 ? ETHERTYPE_IPV6 : 0;
  return true;
}

// LINKTYPE_PPP: [address 0xFF | control 0x03] | protocol(1 or 2), the framing
// bytes left out when address and control field compression was agreed
// (RFC 1661 §6.6). LINKTYPE_PPP_HDLC: address 0xFF | control 0x03 | protocol(2),
// or Cisco HDLC: address 0x0F/0x8F | control 0 | EtherType(2). No stuffing:
// libpcap's files hold frames as sent, without flags or FCS.
bool Decoder::decodePpp(int linktype, ByteReader& r, std::uint16_t& next) {
  std::uint8_t first = 0;
  if (!r.peekU8(first)) {
    anomalies_.inc(PA_ANOMALY("truncated_ppp_header"));
    return false;
  }
  if (linktype == LINKTYPE_PPP_HDLC && (first == CISCO_HDLC_UNICAST || first == CISCO_HDLC_BROADCAST)) {
    if (!r.skip(2) || !r.readU16(next)) {
      anomalies_.inc(PA_ANOMALY("truncated_ppp_header"));
      return false;
    }
    return true;
  }
  if (first == PPP_HDLC_ADDRESS) {
    std::uint8_t address = 0, control = 0;
    if (!r.readU8(address) || !r.readU8(control)) {
      anomalies_.inc(PA_ANOMALY("truncated_ppp_header"));
      return false;
    }
    if (control != PPP_HDLC_CONTROL) {
      anomalies_.inc(PA_ANOMALY("bad_ppp_header"));
      return false;
    }
  } else if (linktype == LINKTYPE_PPP_HDLC) {
    anomalies_.inc(PA_ANOMALY("bad_ppp_header"));
    return false;
  }
  std::uint8_t high = 0, low = 0;
  if (!r.readU8(high)) {
    anomalies_.inc(PA_ANOMALY("truncated_ppp_header"));
    return false;
  }
  std::uint16_t protocol = high;
  if ((high & PPP_PROTOCOL_LAST_BYTE) == 0) {
    if (!r.readU8(low)) {
      anomalies_.inc(PA_ANOMALY("truncated_ppp_header"));
      return false;
    }
    protocol = static_cast<std::uint16_t>(high << 8 | low);
  }
  // LCP, IPCP, authentication...: the link's own talk, not IP (not ours, not an anomaly).
  next = protocol == PPP_IPV4 ? ETHERTYPE_IPV4 : protocol == PPP_IPV6 ? ETHERTYPE_IPV6 : 0;
  return true;
}

bool Decoder::decodeIpv4(ByteReader& r, DecodedPacket& out, IpPayload& ip) {
  const Bytes packet = r.rest();
  // version(4) IHL(4) | TOS(1) | total length(2) | id(2) | flags(3) offset(13) | TTL(1) | protocol(1) | checksum(2) | src(4) | dst(4)
  std::uint8_t version_ihl = 0, tos = 0, ttl = 0;
  std::uint16_t total_len = 0, id = 0, flags_offset = 0, checksum = 0;
  Bytes src, dst;
  if (!r.readU8(version_ihl) || !r.readU8(tos) || !r.readU16(total_len) || !r.readU16(id) || !r.readU16(flags_offset) ||
      !r.readU8(ttl) || !r.readU8(ip.proto) || !r.readU16(checksum) || !r.readBytes(4, src) || !r.readBytes(4, dst)) {
    anomalies_.inc(PA_ANOMALY("truncated_ipv4_header"));
    return false;
  }
  if ((version_ihl >> 4) != 4) {
    anomalies_.inc(PA_ANOMALY("bad_ipv4_version"));
    return false;
  }
  const std::size_t header_len = static_cast<std::size_t>(version_ihl & 0x0F) * 4;
  if (header_len < IPV4_MIN_HEADER) {
    anomalies_.inc(PA_ANOMALY("bad_ipv4_header_length"));
    return false;
  }
  std::size_t length = total_len;
  if (length == 0) {
    // Captured on the sending host before TCP segmentation offload split the
    // segment: the stack leaves the total length 0. Use what was captured.
    anomalies_.inc(PA_ANOMALY("ipv4_zero_total_length"));
    length = packet.size();
  }
  if (header_len > length) {
    anomalies_.inc(PA_ANOMALY("bad_ipv4_header_length"));  // IHL points past the datagram
    return false;
  }
  if (!r.skip(header_len - IPV4_MIN_HEADER)) {  // options
    anomalies_.inc(PA_ANOMALY("truncated_ipv4_header"));
    return false;
  }
  if (length > packet.size()) {
    if (!lengthBeyondCapture(length, packet.size(), ip.missing)) {
      anomalies_.inc(PA_ANOMALY("bad_ipv4_total_length"));
      return false;
    }
    length = packet.size();
  }
  // Bytes after `length` are Ethernet padding (frames shorter than 60 bytes) or trailers.
  ip.data = packet.subspan(header_len, length - header_len);
  out.src = IpAddr::v4(src.data());
  out.dst = IpAddr::v4(dst.data());
  out.ttl = ttl;

  const bool more = (flags_offset & IPV4_FLAG_MF) != 0;
  const std::size_t offset = static_cast<std::size_t>(flags_offset & IPV4_FRAGMENT_OFFSET_MASK) * FRAGMENT_UNIT;
  if (!more && offset == 0) return true;
  if (ip.missing != 0) return false;  // a fragment cut by the snap length cannot be reassembled (snaplen_truncated)
  FragmentKey key;
  key.family = 4;
  key.proto = ip.proto;
  key.id = id;
  std::copy(src.begin(), src.end(), key.src.begin());
  std::copy(dst.begin(), dst.end(), key.dst.begin());
  const auto whole = fragments_.add(key, offset, more, ip.data, out.ref.ts_ns);
  if (!whole) return false;
  ip.data = *whole;
  return true;
}

bool Decoder::decodeIpv6(ByteReader& r, DecodedPacket& out, IpPayload& ip) {
  // version(4) traffic class(8) flow label(20) | payload length(2) | next header(1) | hop limit(1) | src(16) | dst(16)
  std::uint32_t version_class_flow = 0;
  std::uint16_t payload_len = 0;
  std::uint8_t next_header = 0, hop_limit = 0;
  Bytes src, dst;
  if (!r.readU32(version_class_flow) || !r.readU16(payload_len) || !r.readU8(next_header) || !r.readU8(hop_limit) ||
      !r.readBytes(16, src) || !r.readBytes(16, dst)) {
    anomalies_.inc(PA_ANOMALY("truncated_ipv6_header"));
    return false;
  }
  if ((version_class_flow >> 28) != 6) {
    anomalies_.inc(PA_ANOMALY("bad_ipv6_version"));
    return false;
  }
  out.src = IpAddr::v6(src.data());
  out.dst = IpAddr::v6(dst.data());
  out.ttl = hop_limit;
  std::size_t length = payload_len;
  if (length == 0) {
    // Jumbogram (RFC 2675) or a segmentation-offload capture: use what was captured.
    anomalies_.inc(PA_ANOMALY("ipv6_zero_payload_length"));
    length = r.remaining();
  }
  if (length > r.remaining()) {
    if (!lengthBeyondCapture(length, r.remaining(), ip.missing)) {
      anomalies_.inc(PA_ANOMALY("bad_ipv6_payload_length"));
      return false;
    }
    length = r.remaining();
  }
  Bytes payload;
  r.readBytes(length, payload);  // cannot fail: length <= remaining
  ByteReader p(payload);
  for (int headers = 0;; ++headers) {
    const std::uint8_t current = next_header;
    if (current != IPV6_EXT_HOP_BY_HOP && current != IPV6_EXT_ROUTING && current != IPV6_EXT_DEST_OPTS &&
        current != IPV6_EXT_MOBILITY && current != IPV6_EXT_HIP && current != IPV6_EXT_SHIM6 &&
        current != IPV6_EXT_AH && current != IPV6_EXT_FRAGMENT) {
      ip.proto = current;  // upper layer (or 59, no next header, or ESP we cannot read)
      ip.data = p.rest();
      return true;
    }
    if (headers >= MAX_IPV6_EXT_HEADERS) {
      anomalies_.inc(PA_ANOMALY("ipv6_ext_header_chain_too_long"));
      return false;
    }
    if (current == IPV6_EXT_FRAGMENT) {
      // next header(1) | reserved(1) | offset(13) res(2) M(1) | identification(4)  (RFC 8200 §4.5)
      std::uint8_t reserved = 0;
      std::uint16_t offset_flags = 0;
      std::uint32_t id = 0;
      if (!p.readU8(next_header) || !p.readU8(reserved) || !p.readU16(offset_flags) || !p.readU32(id)) {
        anomalies_.inc(PA_ANOMALY("truncated_ipv6_ext_header"));
        return false;
      }
      const std::size_t offset = offset_flags & IPV6_FRAGMENT_OFFSET_MASK;
      const bool more = (offset_flags & IPV6_FRAGMENT_MF) != 0;
      if (offset == 0 && !more) continue;  // atomic fragment (RFC 6946): the payload is whole
      if (ip.missing != 0) return false;  // cut by the snap length: cannot be reassembled (snaplen_truncated)
      FragmentKey key;
      key.family = 6;
      key.proto = next_header;
      key.id = id;
      std::copy(src.begin(), src.end(), key.src.begin());
      std::copy(dst.begin(), dst.end(), key.dst.begin());
      const auto whole = fragments_.add(key, offset, more, p.rest(), out.ref.ts_ns);
      if (!whole) return false;
      p = ByteReader(*whole);
      continue;
    }
    // next header(1) | length(1) | data: length in 8-octet units not counting the
    // first 8 (RFC 8200 §4.3), except AH: in 4-octet units minus 2 (RFC 4302 §2.2).
    std::uint8_t ext_len = 0;
    if (!p.readU8(next_header) || !p.readU8(ext_len)) {
      anomalies_.inc(PA_ANOMALY("truncated_ipv6_ext_header"));
      return false;
    }
    const std::size_t total = current == IPV6_EXT_AH ? (static_cast<std::size_t>(ext_len) + 2) * 4
                                                     : (static_cast<std::size_t>(ext_len) + 1) * 8;
    if (!p.skip(total - 2)) {
      anomalies_.inc(PA_ANOMALY("truncated_ipv6_ext_header"));
      return false;
    }
  }
}

bool Decoder::decodeGre(ByteReader& r, DecodedPacket& out, std::uint16_t& next) {
  // C R K S s Recur(3) | flags(5) version(3) | protocol type(2) | [checksum(2) reserved(2)] [key(4)] [sequence(4)]
  std::uint16_t flags_version = 0;
  if (!r.readU16(flags_version) || !r.readU16(next)) {
    anomalies_.inc(PA_ANOMALY("truncated_gre"));
    return false;
  }
  if ((flags_version & GRE_VERSION_MASK) != 0) {
    anomalies_.inc(PA_ANOMALY("unsupported_gre_version"));  // 1 = PPTP enhanced GRE (RFC 2637)
    return false;
  }
  if ((flags_version & GRE_FLAG_ROUTING) != 0) {
    anomalies_.inc(PA_ANOMALY("unsupported_gre_routing"));
    return false;
  }
  const bool sequence = (flags_version & GRE_FLAG_SEQUENCE) != 0;
  std::size_t optional_bytes = 0;
  if ((flags_version & GRE_FLAG_CHECKSUM) != 0) optional_bytes += GRE_OPTIONAL_FIELD_BYTES;
  if ((flags_version & GRE_FLAG_KEY) != 0) optional_bytes += GRE_OPTIONAL_FIELD_BYTES;
  if (sequence) optional_bytes += GRE_OPTIONAL_FIELD_BYTES;
  if (!r.skip(optional_bytes)) {
    anomalies_.inc(PA_ANOMALY("truncated_gre"));
    return false;
  }
  switch (next) {
    case ETHERTYPE_IPV4:
    case ETHERTYPE_IPV6:
    case ETHERTYPE_TEB:
      return true;
    case ETHERTYPE_ERSPAN_II: {
      next = ETHERTYPE_TEB;
      if (!sequence) return true;  // ERSPAN type I: the mirrored frame follows GRE directly
      // ERSPAN II: version(4) VLAN(12) | COS(3) En(2) T(1) session(10) | reserved(12) index(20)
      std::uint16_t version_vlan = 0;
      if (!r.readU16(version_vlan) || !r.skip(2 + 4)) {
        anomalies_.inc(PA_ANOMALY("truncated_erspan"));
        return false;
      }
      if ((version_vlan >> 12) != ERSPAN_II_VERSION) {
        anomalies_.inc(PA_ANOMALY("bad_erspan_version"));
        return false;
      }
      out.vlan = static_cast<std::uint16_t>(version_vlan & VLAN_ID_MASK);  // original VLAN; an inner tag overrides
      return true;
    }
    case ETHERTYPE_ERSPAN_III:
      return decodeErspan3(r, out, next);
    default:
      return false;  // PPP, MPLS, WCCP...: not decoded, not an anomaly
  }
}

bool Decoder::decodeErspan3(ByteReader& r, DecodedPacket& out, std::uint16_t& next) {
  // version(4) VLAN(12) | COS(3) BSO(2) T(1) session(10) | timestamp(32) | SGT(16) |
  // P(1) FT(5) HW ID(6) D(1) Gra(2) O(1) | [platform-specific subheader(8) when O]
  std::uint16_t version_vlan = 0, sgt = 0, frame_bits = 0;
  std::uint32_t timestamp = 0;
  if (!r.readU16(version_vlan) || !r.skip(2) || !r.readU32(timestamp) || !r.readU16(sgt) || !r.readU16(frame_bits)) {
    anomalies_.inc(PA_ANOMALY("truncated_erspan"));
    return false;
  }
  if ((version_vlan >> 12) != ERSPAN_III_VERSION) {
    anomalies_.inc(PA_ANOMALY("bad_erspan_version"));
    return false;
  }
  if ((frame_bits & 0x0001) != 0 && !r.skip(ERSPAN_III_PLATFORM_SUBHEADER_BYTES)) {
    anomalies_.inc(PA_ANOMALY("truncated_erspan"));
    return false;
  }
  out.vlan = static_cast<std::uint16_t>(version_vlan & VLAN_ID_MASK);
  const auto frame_type = static_cast<std::uint8_t>((frame_bits >> 10) & 0x1F);
  if (frame_type == ERSPAN_III_FRAME_ETHERNET) {
    next = ETHERTYPE_TEB;
  } else if (frame_type == ERSPAN_III_FRAME_IP) {
    next = NEXT_IP_BY_VERSION;
  } else {
    anomalies_.inc(PA_ANOMALY("unsupported_erspan_frame_type"));
    return false;
  }
  return true;
}

bool Decoder::decodeVxlan(ByteReader& r, std::uint16_t& next) {
  // flags(8) | reserved(24) | VNI(24) | reserved(8)  (RFC 7348 §5)
  std::uint8_t flags = 0;
  std::uint32_t vni = 0;
  if (!r.readU8(flags) || !r.skip(3) || !r.readU24(vni) || !r.skip(1)) {
    anomalies_.inc(PA_ANOMALY("truncated_vxlan"));
    return false;
  }
  if ((flags & VXLAN_FLAG_I) == 0) {
    anomalies_.inc(PA_ANOMALY("bad_vxlan_flags"));
    return false;
  }
  next = ETHERTYPE_TEB;
  return true;
}

bool Decoder::decodeTcp(const IpPayload& ip, DecodedPacket& out) {
  // src port(2) | dst port(2) | seq(4) | ack(4) | data offset(4) reserved(3) AE(1) flags(8) | window(2) | checksum(2) | urgent(2)
  ByteReader r(ip.data);
  std::uint16_t offset_flags = 0, window = 0, checksum = 0, urgent = 0;
  if (!r.readU16(out.sport) || !r.readU16(out.dport) || !r.readU32(out.seq) || !r.readU32(out.ack) ||
      !r.readU16(offset_flags) || !r.readU16(window) || !r.readU16(checksum) || !r.readU16(urgent)) {
    anomalies_.inc(PA_ANOMALY("truncated_tcp_header"));
    return false;
  }
  const std::size_t header_len = static_cast<std::size_t>(offset_flags >> 12) * 4;
  if (header_len < TCP_MIN_HEADER) {
    anomalies_.inc(PA_ANOMALY("bad_tcp_data_offset"));
    return false;
  }
  if (!r.skip(header_len - TCP_MIN_HEADER)) {  // options
    if (ip.missing != 0) {
      anomalies_.inc(PA_ANOMALY("truncated_tcp_header"));  // cut by the snap length
    } else {
      anomalies_.inc(PA_ANOMALY("bad_tcp_data_offset"));  // points past the segment
    }
    return false;
  }
  out.tcp_flags = static_cast<std::uint8_t>(offset_flags & 0xFF);
  out.window = window;
  out.payload = r.rest();
  out.payload_missing = ip.missing;
  return true;
}

}  // namespace provaudit::capture
