#pragma once
// Our own pcapng reader (draft-ietf-opsawg-pcapng §3-4). libpcap 1.10 refuses a
// pcapng file whose interfaces differ in link type or snap length; this reader
// gives every packet the link type of its own interface, so one file may mix
// Ethernet, Linux SLL and raw IP. Blocks are read one at a time through a
// buffered FILE* (stdin works: nothing seeks) into one reused buffer, and every
// field is read through ByteReader.
//
// Hostile-safe: a block's total length must be at least 12, a multiple of 4,
// equal to its trailing copy and at most PCAPNG_MAX_BLOCK; a packet's captured
// length must fit in its block and its interface must exist. The first bad block
// ends reading: next() returns every good packet before it, then
// ReadStatus::Error with "FILE: pcapng block at byte offset N: reason".
// A packet whose time cannot be represented (nanoseconds since 1970 in an
// int64: 1677 to 2262), or whose interface's if_tsresol or if_tsoffset cannot
// be used, is read with an unknown time (0, as a Simple Packet Block's; see
// packetTimeKnown) and counted: only its time is lost, not its contents.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capture/packet_source.h"
#include "common/byte_reader.h"
#include "common/c_handles.h"

namespace provaudit::capture {

// Block type of the Section Header Block. Its bytes read the same in either
// byte order, so it both opens a file and announces each new section.
inline constexpr std::uint32_t PCAPNG_SHB_TYPE = 0x0A0D0D0A;
// The largest block accepted. Packets are at most 256 KiB (libpcap's
// MAXIMUM_SNAPLEN), so 16 MiB leaves room for large name-resolution or custom
// blocks and bounds the one buffer a hostile length can make us allocate.
inline constexpr std::uint32_t PCAPNG_MAX_BLOCK = 16U << 20;
// Interfaces declared in one section. Real captures have a handful; the limit
// bounds the table a file made of nothing but IDBs could grow.
inline constexpr std::size_t PCAPNG_MAX_INTERFACES = 1U << 16;
// Block type | total length | ... | total length: the smallest possible block.
inline constexpr std::uint32_t PCAPNG_MIN_BLOCK = 12;
// Decryption Secrets Block secrets type of a TLS key log ("TLSK"): NSS key log
// text, as `editcap --inject-secrets tls,FILE` writes it (§4.7; the other
// types are named by pcapngSecretsTypeName).
inline constexpr std::uint32_t PCAPNG_SECRETS_TLS_KEY_LOG = 0x544c534b;

// A secrets type's name for messages ("TLS key log", "WireGuard key log",
// ...), or "secrets type 0x12345678" for one we do not know.
std::string pcapngSecretsTypeName(std::uint32_t type);

class PcapngFileSource final : public PacketSource {
 public:
  // Reads the first Section Header Block from `file`, whose first four bytes
  // (`magic`, already consumed to detect the format) were the SHB block type.
  // Takes ownership of `file`. nullptr and `err` = "NAME: pcapng block at byte
  // offset 0: reason" when that block is bad.
  static std::unique_ptr<PcapngFileSource> open(FilePtr file, std::string name, std::uint32_t source_id,
                                                std::optional<std::uint64_t> size, std::string& err);

  ReadStatus next(RawPacket& out) override;
  std::string error() const override { return error_; }
  std::uint64_t bytesRead() const override { return pos_; }
  std::optional<std::uint64_t> totalBytes() const override { return size_; }
  std::string name() const override { return name_; }

  // Blocks read and ignored (name resolution, statistics, custom, unknown).
  [[nodiscard]] std::uint64_t skippedBlocks() const { return skipped_blocks_; }
  // Decryption Secrets Blocks read (damaged ones too).
  [[nodiscard]] std::uint64_t secretsBlocks() const { return secrets_blocks_; }
  [[nodiscard]] std::uint64_t sections() const { return sections_; }
  std::uint64_t damagedSkipped() const override { return damaged_blocks_; }
  std::string firstDamage() const override { return first_damage_; }
  std::uint64_t timesUnknown() const override { return times_unknown_; }
  std::string firstTimeUnknown() const override { return first_time_unknown_; }
  // Decryption Secrets Blocks go to `handler`, whatever their type (none set: read and dropped).
  void setSecretsHandler(SecretsHandler handler) override { secrets_handler_ = std::move(handler); }

 private:
  struct Interface {
    int linktype = 0;
    std::uint32_t snaplen = 0;                   // 0 = no limit
    std::uint64_t units_per_second = 1'000'000;  // if_tsresol; default 10^-6
    std::int64_t offset_seconds = 0;             // if_tsoffset
    std::string time_unusable;  // why its packets' times are unknown (an unusable if_tsresol/if_tsoffset); empty: usable
  };
  enum class BlockResult { Packet, Skipped, EndOfFile, Failed };

  PcapngFileSource(FilePtr file, std::string name, std::uint32_t source_id, std::optional<std::uint64_t> size)
      : file_(std::move(file)), name_(std::move(name)), source_id_(source_id), size_(size) {}

  // Reads the block at pos_; `type_known` when its 4-byte type was already consumed.
  BlockResult readBlock(RawPacket& out, bool type_known);
  BlockResult onSectionHeader(ByteReader body);
  BlockResult onInterfaceDescription(ByteReader body);
  BlockResult onEnhancedPacket(ByteReader body, RawPacket& out);
  BlockResult onObsoletePacket(ByteReader body, RawPacket& out);
  BlockResult onSimplePacket(ByteReader body, RawPacket& out);
  BlockResult onDecryptionSecrets(ByteReader body);
  // ts_units nullopt: no timestamp (Simple Packet Block), the previous packet's is used.
  BlockResult emitPacket(std::uint32_t interface_id, std::optional<std::uint64_t> ts_units, std::uint32_t captured,
                         std::uint32_t original, ByteReader& body, RawPacket& out);
  BlockResult fail(const std::string& reason);
  // A packet block whose content is wrong but whose length is sound: skipped.
  BlockResult damaged(const std::string& reason);
  BlockResult truncated(std::size_t have, std::size_t want);
  // A packet whose time cannot be told: counted, the first one's reason kept;
  // returns the unknown time it is given.
  std::int64_t timeUnknown(const std::string& reason);

  // Fields in the section's byte order.
  bool readU16(ByteReader& r, std::uint16_t& out) const { return big_endian_ ? r.readU16(out) : r.readU16Le(out); }
  bool readU32(ByteReader& r, std::uint32_t& out) const { return big_endian_ ? r.readU32(out) : r.readU32Le(out); }
  bool readU64(ByteReader& r, std::uint64_t& out) const;
  // Reads up to `n` bytes into block_ at `at`; fewer only at end of file or on a read error.
  std::size_t readFile(std::size_t at, std::size_t n);

  FilePtr file_;
  std::string name_;
  std::uint32_t source_id_;
  std::optional<std::uint64_t> size_;
  std::vector<std::uint8_t> block_;    // the current block; RawPacket::data points into it
  std::vector<Interface> interfaces_;  // of the current section
  bool big_endian_ = false;            // byte order of the current section
  std::uint64_t pos_ = 0;              // bytes consumed from the file
  std::uint64_t block_start_ = 0;      // offset of the block being read
  std::uint64_t frame_ = 0;
  std::int64_t last_ts_ns_ = 0;  // a Simple Packet Block has no timestamp: it takes the previous one
  std::uint64_t skipped_blocks_ = 0;
  std::uint64_t secrets_blocks_ = 0;
  SecretsHandler secrets_handler_;
  std::uint64_t damaged_blocks_ = 0;
  std::string first_damage_;
  std::uint64_t times_unknown_ = 0;
  std::string first_time_unknown_;
  std::uint64_t sections_ = 0;
  bool finished_ = false;
  std::string error_;
};

}  // namespace provaudit::capture
