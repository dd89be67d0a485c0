#pragma once
// Packet sources: capture files (pcap and pcapng) read through libpcap. A source
// hands out one raw frame at a time with its link type and a PacketRef; it knows
// nothing of the protocols inside.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "common/net_types.h"

namespace provaudit::capture {

struct RawPacket {
  PacketRef ref;
  int linktype = 0;                     // libpcap DLT_* value (pcap_datalink) of the frame
  std::span<const std::uint8_t> data;   // captured bytes; valid until the next next()
  std::uint32_t orig_len = 0;           // length on the wire (> data.size() when cut by the snap length)
};

enum class ReadStatus { Packet, End, Error };

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
};

// Opens a pcap or pcapng file (either byte order; micro- or nanosecond pcap;
// pcapng with several interfaces) through libpcap with nanosecond timestamps.
// "-" reads standard input. Returns nullptr and sets `err` to one line
// "FILE: reason" when the file cannot be opened (missing, empty, not a capture,
// truncated header).
//
// What libpcap (1.10) does with pcapng: every Interface Description Block must
// have the link type and snap length of the first one; an IDB that differs makes
// pcap_next_ex() fail ("an interface has a type N different from the type of the
// first interface"). next() then returns ReadStatus::Error with that message,
// after every packet before the offending block was returned. Per-interface
// timestamp resolutions (if_tsresol) are honoured by libpcap.
std::unique_ptr<PacketSource> openCaptureFile(const std::string& path, std::uint32_t source_id, std::string& err);

}  // namespace provaudit::capture
