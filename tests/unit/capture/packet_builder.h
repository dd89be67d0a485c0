#pragma once
// Test helper: builds packet bytes field by field, big-endian unless the name
// says otherwise. Each header helper lays out the fields in wire order.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "capture/packet_source.h"

namespace provaudit::capture::test {

class Frame {
 public:
  Frame& u8(std::uint8_t v) {
    b_.push_back(v);
    return *this;
  }
  Frame& u16(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v >> 8)).u8(static_cast<std::uint8_t>(v)); }
  Frame& u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v >> 16)).u16(static_cast<std::uint16_t>(v)); }
  Frame& u16le(std::uint16_t v) { return u8(static_cast<std::uint8_t>(v)).u8(static_cast<std::uint8_t>(v >> 8)); }
  Frame& u32le(std::uint32_t v) { return u16le(static_cast<std::uint16_t>(v)).u16le(static_cast<std::uint16_t>(v >> 16)); }
  Frame& bytes(std::initializer_list<std::uint8_t> v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  Frame& bytes(const std::vector<std::uint8_t>& v) {
    b_.insert(b_.end(), v.begin(), v.end());
    return *this;
  }
  Frame& text(const std::string& s) {
    b_.insert(b_.end(), s.begin(), s.end());
    return *this;
  }
  Frame& zeros(std::size_t n) {
    b_.insert(b_.end(), n, 0);
    return *this;
  }
  Frame& frame(const Frame& f) { return bytes(f.b_); }
  [[nodiscard]] const std::vector<std::uint8_t>& data() const { return b_; }
  [[nodiscard]] std::size_t size() const { return b_.size(); }

 private:
  std::vector<std::uint8_t> b_;
};

// Bytes [from, to) of `f` (to = npos: the end).
inline Frame slice(const Frame& f, std::size_t from, std::size_t to = std::string::npos) {
  const auto& d = f.data();
  if (to > d.size()) to = d.size();
  return Frame().bytes(std::vector<std::uint8_t>(d.begin() + static_cast<std::ptrdiff_t>(from),
                                                 d.begin() + static_cast<std::ptrdiff_t>(to)));
}

// `f` with the bytes at `at` overwritten by `with`: one corrupted field.
inline Frame patched(const Frame& f, std::size_t at, const Frame& with) {
  return slice(f, 0, at).frame(with).frame(slice(f, at + with.size()));
}

inline const std::vector<std::uint8_t> MAC_DEVICE{0x00, 0x0e, 0x08, 0xab, 0xcd, 0xef};
inline const std::vector<std::uint8_t> MAC_ROUTER{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

// TCP header (RFC 9293 §3.1) followed by `payload`.
inline Frame tcp(std::uint16_t sport, std::uint16_t dport, std::uint32_t seq, std::uint8_t flags,
                 const std::string& payload = "", std::uint8_t data_offset_words = 5) {
  Frame f;
  f.u16(sport)                                         // source port
      .u16(dport)                                      // destination port
      .u32(seq)                                        // sequence number
      .u32(0x01020304)                                 // acknowledgment number
      .u16(static_cast<std::uint16_t>((data_offset_words << 12) | flags))  // data offset | flags
      .u16(0xffff)                                     // window
      .u16(0)                                          // checksum (not verified)
      .u16(0);                                         // urgent pointer
  for (int i = 5; i < data_offset_words; ++i) f.bytes({0x01, 0x01, 0x01, 0x01});  // NOP options
  return f.text(payload);
}

// IPv4 header (RFC 791 §3.1) with total length = header + payload unless overridden.
inline Frame ipv4(std::uint8_t proto, const Frame& payload, std::uint8_t src_last = 1, std::uint8_t dst_last = 2,
                  int total_len = -1, std::uint16_t flags_offset = 0, std::uint16_t id = 0x1234) {
  Frame f;
  f.u8(0x45)                                                         // version 4, IHL 5
      .u8(0)                                                         // TOS
      .u16(static_cast<std::uint16_t>(total_len >= 0 ? total_len : 20 + static_cast<int>(payload.size())))  // total length
      .u16(id)                                                       // identification
      .u16(flags_offset)                                             // flags | fragment offset
      .u8(64)                                                        // TTL
      .u8(proto)                                                     // protocol
      .u16(0)                                                        // header checksum (not verified)
      .bytes({10, 0, 0, src_last})                                   // source
      .bytes({10, 0, 0, dst_last});                                  // destination
  return f.frame(payload);
}

// IPv6 header (RFC 8200 §3) with payload length = payload size.
inline Frame ipv6(std::uint8_t next_header, const Frame& payload, std::uint8_t src_last = 1, std::uint8_t dst_last = 2) {
  Frame f;
  f.u32(0x60000000)                                       // version 6, traffic class, flow label
      .u16(static_cast<std::uint16_t>(payload.size()))  // payload length
      .u8(next_header)                                    // next header
      .u8(64)                                             // hop limit
      .bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, src_last})   // source
      .bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, dst_last});  // destination
  return f.frame(payload);
}

// Ethernet II header: destination, source, EtherType.
inline Frame ethernet(std::uint16_t ethertype, const Frame& payload, const std::vector<std::uint8_t>& src = MAC_DEVICE,
                      const std::vector<std::uint8_t>& dst = MAC_ROUTER) {
  Frame f;
  f.bytes(dst).bytes(src).u16(ethertype);
  return f.frame(payload);
}

inline RawPacket rawPacket(int linktype, const Frame& f, std::int64_t ts_ns = 1'000'000'000, std::uint32_t orig_len = 0) {
  RawPacket r;
  r.ref.ts_ns = ts_ns;
  r.ref.frame = 1;
  r.linktype = linktype;
  r.data = f.data();
  r.orig_len = orig_len != 0 ? orig_len : static_cast<std::uint32_t>(f.size());
  return r;
}

}  // namespace provaudit::capture::test
