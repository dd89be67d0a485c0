#pragma once
// Test helper: writes pcapng files block by block (draft-ietf-opsawg-pcapng
// §3-4), in either byte order, each field commented in wire order. rawBlock()
// lets a test lie about a block's lengths; everything else writes valid blocks.
#include <cstdint>
#include <optional>

#include "packet_builder.h"

namespace provaudit::capture::test {

// Block types (§10.1).
inline constexpr std::uint32_t PCAPNG_SHB = 0x0A0D0D0A;
inline constexpr std::uint32_t PCAPNG_IDB = 1;
inline constexpr std::uint32_t PCAPNG_PB = 2;  // obsolete Packet Block (§B.1)
inline constexpr std::uint32_t PCAPNG_SPB = 3;
inline constexpr std::uint32_t PCAPNG_NRB = 4;
inline constexpr std::uint32_t PCAPNG_ISB = 5;
inline constexpr std::uint32_t PCAPNG_EPB = 6;
inline constexpr std::uint32_t PCAPNG_DSB = 10;
inline constexpr std::uint32_t PCAPNG_CUSTOM = 0x00000BAD;
inline constexpr std::uint32_t PCAPNG_CUSTOM_NO_COPY = 0x40000BAD;

// if_tsresol values (§4.2): high bit clear = 10^-n, set = 2^-n.
inline constexpr std::uint8_t TSRESOL_MICRO = 6;
inline constexpr std::uint8_t TSRESOL_NANO = 9;
inline constexpr std::uint8_t TSRESOL_2_POW_20 = 0x80 | 20;

struct InterfaceOptions {
  std::optional<std::uint8_t> tsresol;   // if_tsresol (code 9)
  std::optional<std::int64_t> tsoffset;  // if_tsoffset (code 14), seconds
  std::uint32_t snaplen = 65535;

  InterfaceOptions& resolution(std::uint8_t v) {
    tsresol = v;
    return *this;
  }
  InterfaceOptions& offsetSeconds(std::int64_t v) {
    tsoffset = v;
    return *this;
  }
  InterfaceOptions& snapLength(std::uint32_t v) {
    snaplen = v;
    return *this;
  }
};

class PcapngBuilder {
 public:
  // Starts with a Section Header Block in the given byte order.
  explicit PcapngBuilder(bool big_endian = false) { shb(big_endian); }

  // Field writers in the current section's byte order.
  Frame& u16(Frame& f, std::uint16_t v) const { return big_endian_ ? f.u16(v) : f.u16le(v); }
  Frame& u32(Frame& f, std::uint32_t v) const { return big_endian_ ? f.u32(v) : f.u32le(v); }

  // A block with lengths as given: type | total length | body | trailing total length.
  PcapngBuilder& rawBlock(std::uint32_t type, std::uint32_t total, const Frame& body, std::uint32_t trailing) {
    u32(out_, type);   // block type
    u32(out_, total);  // block total length
    out_.frame(body);  // block body
    u32(out_, trailing);
    return *this;
  }
  // A valid block: the body padded to 32 bits, both lengths right.
  PcapngBuilder& block(std::uint32_t type, Frame body) {
    body.zeros((4 - body.size() % 4) % 4);
    const auto total = static_cast<std::uint32_t>(12 + body.size());
    return rawBlock(type, total, body, total);
  }

  // §4.1 Section Header Block; starts a new section (and byte order).
  PcapngBuilder& shb(bool big_endian, std::uint16_t major = 1) {
    big_endian_ = big_endian;
    Frame body;
    u32(body, 0x1A2B3C4D);  // byte-order magic
    u16(body, major);       // major version
    u16(body, 0);           // minor version
    u32(body, 0xFFFFFFFF);  // section length: unknown (-1), high word
    u32(body, 0xFFFFFFFF);  //                                low word
    return block(PCAPNG_SHB, body);
  }

  // §4.2 Interface Description Block.
  PcapngBuilder& idb(std::uint16_t linktype, const InterfaceOptions& opt = {}) {
    Frame body;
    u16(body, linktype);     // link type
    u16(body, 0);            // reserved
    u32(body, opt.snaplen);  // snap length
    if (opt.tsresol) {
      u16(body, 9);                    // option code: if_tsresol
      u16(body, 1);                    // option length
      body.u8(*opt.tsresol).zeros(3);  // value, padded to 32 bits
    }
    if (opt.tsoffset) {
      const auto v = static_cast<std::uint64_t>(*opt.tsoffset);
      u16(body, 14);  // option code: if_tsoffset
      u16(body, 8);   // option length
      u64(body, v);   // value: signed seconds
    }
    if (opt.tsresol || opt.tsoffset) {
      u16(body, 0);  // opt_endofopt
      u16(body, 0);  // its length
    }
    return block(PCAPNG_IDB, body);
  }

  // §4.3 Enhanced Packet Block body (no padding): for tests that patch it.
  Frame epbBody(std::uint32_t interface_id, std::uint64_t ts_units, const Frame& data, std::uint32_t captured,
                std::uint32_t original) const {
    Frame body;
    u32(body, interface_id);                                // interface id
    u32(body, static_cast<std::uint32_t>(ts_units >> 32));  // timestamp, high 32 bits
    u32(body, static_cast<std::uint32_t>(ts_units));        // timestamp, low 32 bits
    u32(body, captured);                                    // captured packet length
    u32(body, original);                                    // original packet length
    return body.frame(data);                                // packet data (padded by block())
  }
  PcapngBuilder& epb(std::uint32_t interface_id, std::uint64_t ts_units, const Frame& data,
                     std::uint32_t original = 0) {
    const auto len = static_cast<std::uint32_t>(data.size());
    return block(PCAPNG_EPB, epbBody(interface_id, ts_units, data, len, original != 0 ? original : len));
  }
  PcapngBuilder& epb(std::uint32_t interface_id, std::uint64_t ts_units, const std::string& text) {
    return epb(interface_id, ts_units, Frame().text(text));
  }

  // §4.4 Simple Packet Block: interface 0, no timestamp.
  PcapngBuilder& spb(const std::string& text, std::uint32_t original = 0) {
    Frame body;
    u32(body, original != 0 ? original : static_cast<std::uint32_t>(text.size()));  // original packet length
    body.text(text);                                                                // packet data (padded by block())
    return block(PCAPNG_SPB, body);
  }

  // §B.1 obsolete Packet Block.
  PcapngBuilder& packetBlock(std::uint16_t interface_id, std::uint64_t ts_units, const std::string& text) {
    const auto len = static_cast<std::uint32_t>(text.size());
    Frame body;
    u16(body, interface_id);                                // interface id
    u16(body, 0);                                           // drops count
    u32(body, static_cast<std::uint32_t>(ts_units >> 32));  // timestamp, high 32 bits
    u32(body, static_cast<std::uint32_t>(ts_units));        // timestamp, low 32 bits
    u32(body, len);                                         // captured packet length
    u32(body, len);                                         // original packet length
    body.text(text);                                        // packet data (padded by block())
    return block(PCAPNG_PB, body);
  }

  // §4.7 Decryption Secrets Block; `length` other than its true one lies about it.
  PcapngBuilder& dsb(std::uint32_t secrets_type, const std::string& secrets,
                     std::optional<std::uint32_t> length = std::nullopt) {
    Frame body;
    u32(body, secrets_type);                                                   // secrets type
    u32(body, length ? *length : static_cast<std::uint32_t>(secrets.size()));  // secrets length
    body.text(secrets);                                                        // secrets data (padded by block())
    return block(PCAPNG_DSB, body);
  }

  PcapngBuilder& raw(const Frame& bytes) {
    out_.frame(bytes);
    return *this;
  }

  // Where the next block starts.
  [[nodiscard]] std::size_t size() const { return out_.size(); }
  [[nodiscard]] const Frame& frame() const { return out_; }
  [[nodiscard]] const std::vector<std::uint8_t>& data() const { return out_.data(); }

 private:
  // §3.5: a 64-bit value is written as one integer in the section's byte order.
  void u64(Frame& f, std::uint64_t v) const {
    if (big_endian_) {
      u32(f, static_cast<std::uint32_t>(v >> 32));
      u32(f, static_cast<std::uint32_t>(v));
    } else {
      u32(f, static_cast<std::uint32_t>(v));
      u32(f, static_cast<std::uint32_t>(v >> 32));
    }
  }

  bool big_endian_ = false;
  Frame out_;
};

}  // namespace provaudit::capture::test
