#pragma once
// Test helper: writes classic pcap files (draft-ietf-opsawg-pcap §4-5) in
// either byte order, each field commented in wire order. The file header's
// version and snap length, and each record's two lengths, may be set to lie.
#include <cstdint>
#include <string>

#include "packet_builder.h"

namespace provaudit::capture::test {

inline constexpr std::uint32_t PCAP_MAGIC_MICRO = 0xa1b2c3d4;
inline constexpr std::uint32_t PCAP_MAGIC_NANO = 0xa1b23c4d;
inline constexpr std::uint32_t PCAP_MAGIC_KUZNETZOV = 0xa1b2cd34;  // records carry 8 more header bytes
inline constexpr std::uint32_t LINKTYPE_ETHERNET_FILE = 1;
inline constexpr std::uint32_t LINKTYPE_RAW_FILE = 101;

struct PcapHeader {
  bool big_endian = false;
  std::uint32_t magic = PCAP_MAGIC_MICRO;
  std::uint32_t linktype = LINKTYPE_ETHERNET_FILE;
  std::uint16_t major = 2, minor = 4;
  std::uint32_t snaplen = 65535;
};

// Classic pcap writer in either byte order.
struct PcapWriter {
  bool big_endian;
  bool kuznetzov;
  Frame out;
  PcapWriter& u16(std::uint16_t v) {
    big_endian ? out.u16(v) : out.u16le(v);
    return *this;
  }
  PcapWriter& u32(std::uint32_t v) {
    big_endian ? out.u32(v) : out.u32le(v);
    return *this;
  }
  explicit PcapWriter(const PcapHeader& h) : big_endian(h.big_endian), kuznetzov(h.magic == PCAP_MAGIC_KUZNETZOV) {
    u32(h.magic)         // magic: byte order and timestamp resolution
        .u16(h.major)    // version major
        .u16(h.minor)    // version minor
        .u32(0)          // thiszone (reserved)
        .u32(0)          // sigfigs (reserved)
        .u32(h.snaplen)  // snaplen
        .u32(h.linktype);
  }
  PcapWriter(bool be, std::uint32_t magic, std::uint32_t linktype)
      : PcapWriter(PcapHeader{be, magic, linktype}) {}
  // A record of `data`; `incl_len` / `orig_len` other than 0 replace the true lengths.
  PcapWriter& record(std::uint32_t sec, std::uint32_t frac, const std::string& data, std::uint32_t incl_len = 0,
                     std::uint32_t orig_len = 0) {
    const auto len = static_cast<std::uint32_t>(data.size());
    u32(sec)                                // ts_sec
        .u32(frac)                          // ts_usec or ts_nsec
        .u32(incl_len != 0 ? incl_len : len)  // captured length
        .u32(orig_len != 0 ? orig_len : incl_len != 0 ? incl_len : len);  // original length
    if (kuznetzov) {
      u32(3)           // interface index
          .u16(0x0800)  // protocol
          .out.u8(0)    // packet type
          .u8(0);       // padding
    }
    out.text(data);
    return *this;
  }
};

}  // namespace provaudit::capture::test
