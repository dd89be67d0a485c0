#pragma once
// Packet sources: capture files (classic pcap and pcapng, each through a
// reader of our own: capture/pcap_reader.h, capture/pcapng_reader.h) and live
// interfaces (libpcap). A source hands out one raw frame at a time with its
// link type and a PacketRef; it knows nothing of the protocols inside.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/net_types.h"

namespace provaudit::capture {

struct RawPacket {
  PacketRef ref;
  int linktype = 0;                     // LINKTYPE_* (files) or DLT_* (live: pcap_datalink); the decoder takes both
  std::span<const std::uint8_t> data;   // captured bytes; valid until the next next()
  std::uint32_t orig_len = 0;           // length on the wire (> data.size() when cut by the snap length)
};

enum class ReadStatus { Packet, End, Error };

// Decryption secrets a capture file carries (a pcapng Decryption Secrets
// Block, draft-ietf-opsawg-pcapng §4.7), handed up as they are read: within
// next(), before the packets that follow them in the file. The source does
// not know what they decrypt; the handler takes what it uses.
struct CaptureSecrets {
  std::uint32_t type = 0;              // secrets type (PCAPNG_SECRETS_TLS_KEY_LOG, ...)
  std::span<const std::uint8_t> data;  // the secrets; valid during the call only
  // Not empty: the block was damaged (its secrets lost, `data` empty):
  // "pcapng block at byte offset N: reason". Reading goes on after it.
  std::string damage;
};
using SecretsHandler = std::function<void(const CaptureSecrets&)>;

// The time a packet is given when its record has none that can be used
// (packetTimeKnown is false for it).
inline constexpr std::int64_t PACKET_TIME_UNKNOWN = 0;

class PacketSource {
 public:
  virtual ~PacketSource() = default;
  virtual ReadStatus next(RawPacket& out) = 0;
  // One line that names the file and, where known, the byte offset where reading stopped.
  virtual std::string error() const = 0;
  // Position in the file, for progress.
  virtual std::uint64_t bytesRead() const = 0;
  // File size; nullopt for stdin and other non-regular files.
  virtual std::optional<std::uint64_t> totalBytes() const = 0;
  virtual std::string name() const = 0;
  // Packet records that were damaged but whose end was known (a pcapng block's
  // length frames it): skipped, and the records after them read. The first
  // one's byte offset and reason, for one line.
  virtual std::uint64_t damagedSkipped() const { return 0; }
  virtual std::string firstDamage() const { return {}; }
  // Packets whose record gave no usable time (a pcapng timestamp beyond what
  // nanoseconds since 1970 hold, an interface's unusable if_tsresol): read
  // with an unknown time (packetTimeKnown). The first one's reason, for one line.
  virtual std::uint64_t timesUnknown() const { return 0; }
  virtual std::string firstTimeUnknown() const { return {}; }
  // Where the decryption secrets the file carries go (CaptureSecrets); set
  // before the first next(). Formats without them never call it.
  virtual void setSecretsHandler(SecretsHandler handler) { (void)handler; }
};

// Opens a capture file, telling the format by its first four bytes: classic
// pcap (either byte order, micro- or nanosecond) goes through PcapFileSource
// (capture/pcap_reader.h: read in large chunks, packets handed out in place,
// twice libpcap's speed); pcapng goes through PcapngFileSource, which libpcap
// 1.10 cannot replace: it refuses interfaces with different link types or snap
// lengths, and ours gives each packet its own interface's link type and
// timestamp resolution. A gzip or zstd file is inflated on a thread of its
// own and the capture inside read as above (capture/inflater.h); xz, lz4 and
// bzip2 are refused with their name and the pipe to use.
// "-" reads standard input. Returns nullptr and sets `err` to one line
// "FILE: reason" when the file cannot be opened (missing, empty, not a capture,
// truncated header).
std::unique_ptr<PacketSource> openCaptureFile(const std::string& path, std::uint32_t source_id, std::string& err);

// A link type for people: its description and number, "PPP (9)", or the
// number alone where libpcap has no name for it. (libpcap's table is of
// DLT_* values; a file's LINKTYPE_* value is the same number for all but a
// few old ones.)
[[nodiscard]] std::string linkTypeText(int linktype);

// Whether a file's first bytes announce a capture openCaptureFile knows: pcap,
// pcapng, gzip or zstd (what is inside is seen when read), or xz, lz4, bzip2
// (refused when read, with the pipe to use). False for anything else, and for
// a file that cannot be read.
[[nodiscard]] bool hasCaptureMagic(const std::string& path);

}  // namespace provaudit::capture
