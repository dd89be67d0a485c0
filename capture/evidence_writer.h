#pragma once
// A small pcapng writer for evidence files (-w): one Section Header Block, one
// Interface Description Block per capture interface (with its name and
// nanosecond timestamp resolution), then Enhanced Packet Blocks. libpcap 1.10's
// pcap_dump() writes classic pcap only (one link type per file, microseconds),
// and several interfaces may differ in link type (`-i any` is SLL), so the
// blocks are written here, in host byte order (the SHB's byte-order magic tells
// readers which). Layout: draft-ietf-opsawg-pcapng §4.1-4.3.
//
// Thread-safe: analysis workers append under a mutex into a buffer; the buffer
// goes to disk when it fills or when flush() is called (the writer thread does
// so every second), so evidence reaches the file within about a second.
//
// A write that fails (a full disk) does not end the file: the evidence waits
// in memory, up to EVIDENCE_FAILING_BUFFER_BYTES (packets past it are counted
// as lost), and is written again at the next flush after a wait that doubles
// from EVIDENCE_RETRY_MIN to EVIDENCE_RETRY_MAX. Each attempt first cuts the
// file back to its last complete block, so what a failed write left half done
// never stays: the file is valid pcapng whenever no write is under way.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/c_handles.h"

namespace provaudit::capture {

// Bytes buffered in memory before they are written out regardless of the timer.
inline constexpr std::size_t EVIDENCE_BUFFER_BYTES = 1 << 20;
// The evidence file never grows beyond this; further packets are counted, not written.
inline constexpr std::uint64_t MAX_EVIDENCE_FILE_BYTES = 4ULL << 30;
// While the file cannot be written: the evidence kept for it, and the waits between attempts.
inline constexpr std::size_t EVIDENCE_FAILING_BUFFER_BYTES = 8 << 20;
inline constexpr std::chrono::milliseconds EVIDENCE_RETRY_MIN{1000};
inline constexpr std::chrono::milliseconds EVIDENCE_RETRY_MAX{16000};

class PcapngWriter {
 public:
  // Creates (truncates) `path` and writes the Section Header Block. nullptr and
  // `err` = "PATH: reason" when the file cannot be created.
  static std::unique_ptr<PcapngWriter> create(const std::string& path, std::string& err);
  ~PcapngWriter();
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;

  // Declares a capture interface before any packet of it is written; packets
  // name it by `source_id` (PacketRef::source).
  void addInterface(std::uint32_t source_id, const std::string& name, int linktype, std::uint32_t snaplen);
  // One Enhanced Packet Block, into the buffer. False when the packet will not
  // be written: unknown source, file limit reached, or lost (the file cannot
  // be written and the memory kept for it meanwhile is full).
  bool write(std::uint32_t source_id, std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len);
  // Writes the buffer out. False while the file cannot be written (`error()`
  // says why); a failing file is tried again only once its wait is over,
  // unless `retry_now` (the last flush, before the process ends).
  bool flush(bool retry_now = false);

  [[nodiscard]] std::uint64_t packetsWritten() const;  // in the file
  [[nodiscard]] std::uint64_t packetsRefused() const;  // unknown source, over the file limit, or lost
  [[nodiscard]] std::uint64_t packetsLost() const;     // of those: the file could not be written and memory was full
  [[nodiscard]] std::uint64_t packetsWaiting() const;  // in memory, not yet in the file
  [[nodiscard]] bool failing() const;                  // the last attempt to write failed
  [[nodiscard]] std::string error() const;             // why, while failing ("PATH: write failed: reason")
  [[nodiscard]] std::string failureReason() const;     // the reason alone ("No space left on device")
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  using Clock = std::chrono::steady_clock;
  explicit PcapngWriter(std::string path) : path_(std::move(path)) {}
  bool flushLocked(bool retry_now);
  bool failed(int err, Clock::time_point now);
  void appendU16(std::uint16_t v);
  void appendU32(std::uint32_t v);
  void appendBytesPadded(std::span<const std::uint8_t> b);

  std::string path_;
  mutable std::mutex mu_;
  UniqueFd fd_;
  std::vector<std::uint8_t> buf_;
  std::vector<std::uint32_t> interface_of_source_;  // source_id -> IDB index + 1 (0: unknown)
  std::uint32_t interfaces_ = 0;
  std::uint64_t file_bytes_ = 0;     // written or buffered
  std::uint64_t written_bytes_ = 0;  // complete blocks in the file: where the next write goes
  std::uint64_t packets_ = 0;        // in the file
  std::uint64_t waiting_ = 0;        // packets in buf_
  std::uint64_t refused_ = 0;
  std::uint64_t lost_ = 0;
  std::string error_;   // non-empty while failing
  std::string reason_;  // its reason (strerror)
  Clock::time_point retry_at_{};
  std::chrono::milliseconds retry_wait_{EVIDENCE_RETRY_MIN};
};

}  // namespace provaudit::capture
