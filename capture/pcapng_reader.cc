#include "capture/pcapng_reader.h"

#include <cerrno>
#include <cstring>
#include <limits>

#include "common/text.h"

namespace provaudit::capture {
namespace {

// Block types (draft-ietf-opsawg-pcapng §10.1). Everything else — Name
// Resolution (4), Interface Statistics (5), custom (0x00000BAD, 0x40000BAD),
// unknown — is skipped by its length.
constexpr std::uint32_t BLOCK_INTERFACE_DESCRIPTION = 1;
constexpr std::uint32_t BLOCK_OBSOLETE_PACKET = 2;  // §B.1 (appendix): the Packet Block EPB replaced
constexpr std::uint32_t BLOCK_SIMPLE_PACKET = 3;
constexpr std::uint32_t BLOCK_ENHANCED_PACKET = 6;
constexpr std::uint32_t BLOCK_DECRYPTION_SECRETS = 10;

// §4.7 secrets types besides PCAPNG_SECRETS_TLS_KEY_LOG (as Wireshark's
// wiretap/secrets-types.h lists them), for messages only.
struct SecretsTypeName {
  std::uint32_t type;
  const char* name;
};
constexpr SecretsTypeName SECRETS_TYPE_NAMES[] = {
    {PCAPNG_SECRETS_TLS_KEY_LOG, "TLS key log"},
    {0x5353484b, "SSH key log"},
    {0x57474b4c, "WireGuard key log"},
    {0x5a4e574b, "Zigbee NWK key"},
    {0x5a415053, "Zigbee APS key"},
    {0x55414b4c, "OPC UA key log"},
    {0x45535053, "ESP SA key"},
};

// §4.1: written as 0x1A2B3C4D in the writer's byte order; read big-endian it
// is either this value or its byte swap.
constexpr std::uint32_t BYTE_ORDER_MAGIC = 0x1A2B3C4D;
constexpr std::uint32_t BYTE_ORDER_MAGIC_SWAPPED = 0x4D3C2B1A;
constexpr std::uint16_t SUPPORTED_MAJOR_VERSION = 1;

// type(4) | total length(4), then for an SHB the byte-order magic(4).
constexpr std::size_t BLOCK_HEADER_BYTES = 8;
constexpr std::size_t SHB_PREFIX_BYTES = 12;
constexpr std::size_t BLOCK_TRAILER_BYTES = 4;  // the copy of the total length
constexpr std::uint32_t BLOCK_ALIGNMENT = 4;    // §3.1: block lengths and option values are padded to 32 bits

// Options (§3.5): code(2) | length(2) | value, padded to 32 bits.
constexpr std::uint16_t OPT_ENDOFOPT = 0;
constexpr std::uint16_t IF_TSRESOL = 9;    // §4.2: one byte; high bit set = power of 2, clear = power of 10
constexpr std::uint16_t IF_TSOFFSET = 14;  // §4.2: signed seconds added to every timestamp
constexpr std::uint16_t IF_TSRESOL_BYTES = 1;
constexpr std::uint16_t IF_TSOFFSET_BYTES = 8;
constexpr std::uint8_t TSRESOL_POWER_OF_2 = 0x80;
constexpr std::uint8_t TSRESOL_EXPONENT = 0x7F;
// The finest resolutions whose units per second fit in 64 bits.
constexpr std::uint8_t MAX_DECIMAL_EXPONENT = 19;
constexpr std::uint8_t MAX_BINARY_EXPONENT = 63;
constexpr std::uint64_t DECIMAL_BASE = 10;

constexpr std::int64_t NS_PER_SECOND = 1'000'000'000;

// Wide enough for units * 10^9 and seconds * 10^9 without overflow.
__extension__ using WideInt = __int128;

std::size_t paddingFor(std::size_t n) { return (BLOCK_ALIGNMENT - n % BLOCK_ALIGNMENT) % BLOCK_ALIGNMENT; }

// Timestamp units of an interface → nanoseconds since the epoch; nullopt when
// the result does not fit an int64 (beyond the year 2262).
std::optional<std::int64_t> toNanoseconds(std::uint64_t units, std::uint64_t units_per_second,
                                          std::int64_t offset_seconds) {
  const WideInt ns = static_cast<WideInt>(units) * NS_PER_SECOND / units_per_second +
                     static_cast<WideInt>(offset_seconds) * NS_PER_SECOND;
  if (ns > std::numeric_limits<std::int64_t>::max() || ns < std::numeric_limits<std::int64_t>::min())
    return std::nullopt;
  return static_cast<std::int64_t>(ns);
}

}  // namespace

std::string pcapngSecretsTypeName(std::uint32_t type) {
  for (const auto& known : SECRETS_TYPE_NAMES) {
    if (known.type == type) return known.name;
  }
  return "secrets type " + hex32(type);
}

std::unique_ptr<PcapngFileSource> PcapngFileSource::open(FilePtr file, std::string name, std::uint32_t source_id,
                                                         std::optional<std::uint64_t> size, std::string& err) {
  std::unique_ptr<PcapngFileSource> src(new PcapngFileSource(std::move(file), std::move(name), source_id, size));
  // The caller consumed the SHB's block type to recognise the format.
  src->block_ = {0x0A, 0x0D, 0x0D, 0x0A};
  src->pos_ = src->block_.size();
  RawPacket unused;
  if (src->readBlock(unused, true) == BlockResult::Failed) {
    err = src->error_;
    return nullptr;
  }
  return src;
}

ReadStatus PcapngFileSource::next(RawPacket& out) {
  if (finished_) return error_.empty() ? ReadStatus::End : ReadStatus::Error;
  for (;;) {
    switch (readBlock(out, false)) {
      case BlockResult::Packet:
        return ReadStatus::Packet;
      case BlockResult::Skipped:
        continue;
      case BlockResult::EndOfFile:
        finished_ = true;
        return ReadStatus::End;
      case BlockResult::Failed:
        finished_ = true;
        return ReadStatus::Error;
    }
  }
}

std::size_t PcapngFileSource::readFile(std::size_t at, std::size_t n) {
  const std::size_t got = std::fread(block_.data() + at, 1, n, file_.get());
  pos_ += got;
  return got;
}

PcapngFileSource::BlockResult PcapngFileSource::truncated(std::size_t have, std::size_t want) {
  if (std::ferror(file_.get()) != 0) return fail(std::string("read error: ") + std::strerror(errno));
  return fail("truncated block: the file ends after " + std::to_string(have) + " of " + std::to_string(want) +
              " bytes");
}

PcapngFileSource::BlockResult PcapngFileSource::fail(const std::string& reason) {
  error_ = name_ + ": pcapng block at byte offset " + std::to_string(block_start_) + ": " + reason;
  return BlockResult::Failed;
}

PcapngFileSource::BlockResult PcapngFileSource::damaged(const std::string& reason) {
  // Its leading and trailing lengths agree: the blocks after it are where
  // they should be, and a damaged packet costs that packet (Wireshark stops
  // at it). It keeps its frame number, so the frames after it keep theirs.
  ++frame_;
  if (damaged_blocks_++ == 0) {
    first_damage_ = "pcapng block at byte offset " + std::to_string(block_start_) + ": " + reason;
  }
  return BlockResult::Skipped;
}

std::int64_t PcapngFileSource::timeUnknown(const std::string& reason) {
  if (times_unknown_++ == 0) {
    first_time_unknown_ = "pcapng block at byte offset " + std::to_string(block_start_) + ": " + reason;
  }
  return PACKET_TIME_UNKNOWN;
}

bool PcapngFileSource::readU64(ByteReader& r, std::uint64_t& out) const {
  // Two 32-bit words, each in the section's byte order, most significant first
  // for big-endian sections and least significant first otherwise.
  std::uint32_t first = 0, second = 0;
  if (!readU32(r, first) || !readU32(r, second)) return false;
  out = big_endian_ ? (static_cast<std::uint64_t>(first) << 32) | second
                    : (static_cast<std::uint64_t>(second) << 32) | first;
  return true;
}

PcapngFileSource::BlockResult PcapngFileSource::readBlock(RawPacket& out, bool type_known) {
  // §3.1: block type(4) | total length(4) | body | total length(4)
  const std::size_t have = type_known ? sizeof(std::uint32_t) : 0;
  block_start_ = pos_ - have;
  block_.resize(BLOCK_HEADER_BYTES);  // keeps a type already read
  const std::size_t got = readFile(have, BLOCK_HEADER_BYTES - have);
  if (have + got == 0 && std::ferror(file_.get()) == 0) return BlockResult::EndOfFile;  // ends between blocks
  if (have + got < BLOCK_HEADER_BYTES) return truncated(have + got, BLOCK_HEADER_BYTES);

  std::uint32_t type = 0;
  {
    // The SHB type reads the same in either byte order, so the current section's
    // order recognises the block that may change it.
    ByteReader type_reader(block_);
    (void)readU32(type_reader, type);
  }
  if (type == PCAPNG_SHB_TYPE) {
    // §4.1: the byte-order magic follows the length; it says how to read the length.
    block_.resize(SHB_PREFIX_BYTES);
    const std::size_t magic_got = readFile(BLOCK_HEADER_BYTES, SHB_PREFIX_BYTES - BLOCK_HEADER_BYTES);
    if (magic_got < SHB_PREFIX_BYTES - BLOCK_HEADER_BYTES)
      return truncated(BLOCK_HEADER_BYTES + magic_got, SHB_PREFIX_BYTES);
    ByteReader magic_reader(std::span<const std::uint8_t>(block_).subspan(BLOCK_HEADER_BYTES));
    std::uint32_t magic = 0;
    (void)magic_reader.readU32(magic);
    if (magic == BYTE_ORDER_MAGIC) {
      big_endian_ = true;
    } else if (magic == BYTE_ORDER_MAGIC_SWAPPED) {
      big_endian_ = false;
    } else {
      return fail("section header block with an unknown byte-order magic " + hex32(magic));
    }
  }

  // Reading the byte-order magic may have moved block_: read the length through a new reader.
  ByteReader length_reader(std::span<const std::uint8_t>(block_).subspan(sizeof(std::uint32_t)));
  std::uint32_t total = 0;
  (void)readU32(length_reader, total);
  if (total < PCAPNG_MIN_BLOCK) {
    return fail("block length " + std::to_string(total) + " is below the minimum of " +
                std::to_string(PCAPNG_MIN_BLOCK));
  }
  if (total % BLOCK_ALIGNMENT != 0) return fail("block length " + std::to_string(total) + " is not a multiple of 4");
  if (total > PCAPNG_MAX_BLOCK) {
    return fail("block length " + std::to_string(total) + " exceeds the limit of " + std::to_string(PCAPNG_MAX_BLOCK) +
                " bytes");
  }
  const std::size_t fixed = block_.size();  // 8, or 12 for an SHB
  if (total < fixed + BLOCK_TRAILER_BYTES) {
    return fail("block length " + std::to_string(total) + " is too short for a section header block");
  }
  block_.resize(total);
  const std::size_t rest = readFile(fixed, total - fixed);
  if (rest < total - fixed) return truncated(fixed + rest, total);

  const std::span<const std::uint8_t> whole(block_);
  ByteReader trailer(whole.subspan(total - BLOCK_TRAILER_BYTES));
  std::uint32_t trailing = 0;
  (void)readU32(trailer, trailing);
  if (trailing != total) {
    return fail("trailing block length " + std::to_string(trailing) + " does not match the leading length " +
                std::to_string(total));
  }

  const ByteReader body(whole.subspan(BLOCK_HEADER_BYTES, total - BLOCK_HEADER_BYTES - BLOCK_TRAILER_BYTES));
  switch (type) {
    case PCAPNG_SHB_TYPE:
      return onSectionHeader(body);
    case BLOCK_INTERFACE_DESCRIPTION:
      return onInterfaceDescription(body);
    case BLOCK_ENHANCED_PACKET:
      return onEnhancedPacket(body, out);
    case BLOCK_SIMPLE_PACKET:
      return onSimplePacket(body, out);
    case BLOCK_OBSOLETE_PACKET:
      return onObsoletePacket(body, out);
    case BLOCK_DECRYPTION_SECRETS:
      return onDecryptionSecrets(body);
    default:
      ++skipped_blocks_;
      return BlockResult::Skipped;
  }
}

PcapngFileSource::BlockResult PcapngFileSource::onSectionHeader(ByteReader body) {
  // §4.1: byte-order magic(4) | major(2) | minor(2) | section length(8) | options
  std::uint16_t major = 0, minor = 0;
  if (!body.skip(sizeof(std::uint32_t)) || !readU16(body, major) || !readU16(body, minor) ||
      !body.skip(sizeof(std::uint64_t))) {
    return fail("section header block too short");
  }
  if (major != SUPPORTED_MAJOR_VERSION) {
    return fail("unsupported pcapng version " + std::to_string(major) + "." + std::to_string(minor));
  }
  // A new section starts a new interface list; interface ids count from 0 again.
  interfaces_.clear();
  ++sections_;
  return BlockResult::Skipped;
}

PcapngFileSource::BlockResult PcapngFileSource::onInterfaceDescription(ByteReader body) {
  // §4.2: link type(2) | reserved(2) | snap length(4) | options
  std::uint16_t linktype = 0;
  std::uint32_t snaplen = 0;
  if (!readU16(body, linktype) || !body.skip(sizeof(std::uint16_t)) || !readU32(body, snaplen)) {
    return fail("interface description block too short");
  }
  if (interfaces_.size() >= PCAPNG_MAX_INTERFACES) {
    return fail("more than " + std::to_string(PCAPNG_MAX_INTERFACES) + " interfaces in one section");
  }
  Interface itf;
  itf.linktype = linktype;
  itf.snaplen = snaplen;
  while (!body.empty()) {
    std::uint16_t code = 0, length = 0;
    Bytes value;
    if (!readU16(body, code) || !readU16(body, length) || !body.readBytes(length, value) ||
        !body.skip(paddingFor(length))) {
      return fail("interface option runs past the end of the block");
    }
    if (code == OPT_ENDOFOPT) break;
    // §4.2: an if_tsresol or if_tsoffset we cannot use costs the interface's
    // packets their times, not the file (Wireshark reads them): they are read
    // with an unknown time.
    if (code == IF_TSRESOL) {
      if (length != IF_TSRESOL_BYTES) {
        itf.time_unusable = "if_tsresol of " + std::to_string(length) + " bytes, expected 1";
        continue;
      }
      const std::uint8_t exponent = value[0] & TSRESOL_EXPONENT;
      if ((value[0] & TSRESOL_POWER_OF_2) != 0) {
        if (exponent > MAX_BINARY_EXPONENT) {
          itf.time_unusable = "if_tsresol 2^-" + std::to_string(exponent) + " is too fine";
          continue;
        }
        itf.units_per_second = std::uint64_t{1} << exponent;
      } else {
        if (exponent > MAX_DECIMAL_EXPONENT) {
          itf.time_unusable = "if_tsresol 10^-" + std::to_string(exponent) + " is too fine";
          continue;
        }
        itf.units_per_second = 1;
        for (std::uint8_t i = 0; i < exponent; ++i) itf.units_per_second *= DECIMAL_BASE;
      }
    } else if (code == IF_TSOFFSET) {
      ByteReader v(value);
      std::uint64_t offset = 0;
      if (length != IF_TSOFFSET_BYTES || !readU64(v, offset)) {
        itf.time_unusable = "if_tsoffset of " + std::to_string(length) + " bytes, expected 8";
        continue;
      }
      itf.offset_seconds = static_cast<std::int64_t>(offset);  // §4.2: a signed integer
    }
  }
  interfaces_.push_back(itf);
  return BlockResult::Skipped;
}

PcapngFileSource::BlockResult PcapngFileSource::onEnhancedPacket(ByteReader body, RawPacket& out) {
  // §4.3: interface id(4) | timestamp high(4) | timestamp low(4) | captured length(4) |
  // original length(4) | packet data, padded to 32 bits | options
  std::uint32_t interface_id = 0, ts_high = 0, ts_low = 0, captured = 0, original = 0;
  if (!readU32(body, interface_id) || !readU32(body, ts_high) || !readU32(body, ts_low) || !readU32(body, captured) ||
      !readU32(body, original)) {
    return damaged("enhanced packet block too short");
  }
  const std::uint64_t units = (static_cast<std::uint64_t>(ts_high) << 32) | ts_low;
  return emitPacket(interface_id, units, captured, original, body, out);
}

PcapngFileSource::BlockResult PcapngFileSource::onObsoletePacket(ByteReader body, RawPacket& out) {
  // §B.1: interface id(2) | drops count(2) | timestamp high(4) | timestamp low(4) |
  // captured length(4) | original length(4) | packet data | options
  std::uint16_t interface_id = 0;
  std::uint32_t ts_high = 0, ts_low = 0, captured = 0, original = 0;
  if (!readU16(body, interface_id) || !body.skip(sizeof(std::uint16_t)) || !readU32(body, ts_high) ||
      !readU32(body, ts_low) || !readU32(body, captured) || !readU32(body, original)) {
    return damaged("packet block too short");
  }
  const std::uint64_t units = (static_cast<std::uint64_t>(ts_high) << 32) | ts_low;
  return emitPacket(interface_id, units, captured, original, body, out);
}

PcapngFileSource::BlockResult PcapngFileSource::onSimplePacket(ByteReader body, RawPacket& out) {
  // §4.4: original length(4) | packet data, padded to 32 bits. The packet is on
  // interface 0; its captured length is the original length cut to the snap length.
  std::uint32_t original = 0;
  if (!readU32(body, original)) return damaged("simple packet block too short");
  if (interfaces_.empty()) return damaged("simple packet block in a section without an interface");
  const Interface& itf = interfaces_.front();
  const std::uint32_t captured = itf.snaplen != 0 && itf.snaplen < original ? itf.snaplen : original;
  return emitPacket(0, std::nullopt, captured, original, body, out);
}

PcapngFileSource::BlockResult PcapngFileSource::onDecryptionSecrets(ByteReader body) {
  // §4.7: secrets type(4) | secrets length(4) | secrets data, padded to 32 bits | options.
  // A damaged one costs its secrets, not the file: its lengths framed it.
  ++secrets_blocks_;
  CaptureSecrets secrets;
  std::uint32_t length = 0;
  Bytes data;
  const std::string at = "pcapng block at byte offset " + std::to_string(block_start_) + ": ";
  if (!readU32(body, secrets.type) || !readU32(body, length)) {
    secrets.damage = at + "decryption secrets block too short";
  } else if (!body.readBytes(length, data)) {
    secrets.damage = at + pcapngSecretsTypeName(secrets.type) + " of " + std::to_string(length) +
                     " bytes exceeds the block (" + std::to_string(body.remaining()) + " bytes left)";
  } else {
    secrets.data = data;
  }
  if (secrets_handler_) secrets_handler_(secrets);
  return BlockResult::Skipped;
}

PcapngFileSource::BlockResult PcapngFileSource::emitPacket(std::uint32_t interface_id,
                                                           std::optional<std::uint64_t> ts_units,
                                                           std::uint32_t captured, std::uint32_t original,
                                                           ByteReader& body, RawPacket& out) {
  if (interface_id >= interfaces_.size()) {
    return damaged("interface id " + std::to_string(interface_id) + " not declared (the section has " +
                   std::to_string(interfaces_.size()) + ")");
  }
  Bytes data;
  if (!body.readBytes(captured, data)) {
    return damaged("captured length " + std::to_string(captured) + " exceeds the block (" +
                   std::to_string(body.remaining()) + " bytes left)");
  }
  const Interface& itf = interfaces_[interface_id];
  std::int64_t ts_ns = last_ts_ns_;  // a Simple Packet Block carries no timestamp
  if (ts_units && !itf.time_unusable.empty()) {
    ts_ns = timeUnknown("interface " + std::to_string(interface_id) + "'s " + itf.time_unusable);
  } else if (ts_units) {
    // A time that does not fit (editcap -t shifting a capture before 1970
    // wraps it to the far future) is no reason to drop the packet.
    const auto ns = toNanoseconds(*ts_units, itf.units_per_second, itf.offset_seconds);
    ts_ns = ns ? *ns : timeUnknown("timestamp out of range (nanoseconds since 1970 hold 1677 to 2262)");
  }
  last_ts_ns_ = ts_ns;
  out.ref.ts_ns = ts_ns;
  out.ref.frame = ++frame_;
  out.ref.source = source_id_;
  out.linktype = itf.linktype;
  out.data = data;
  out.orig_len = original;
  return BlockResult::Packet;
}

}  // namespace provaudit::capture
