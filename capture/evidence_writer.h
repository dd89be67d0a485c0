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
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace provaudit::capture {

// Bytes buffered in memory before they are written out regardless of the timer.
inline constexpr std::size_t EVIDENCE_BUFFER_BYTES = 1 << 20;
// The evidence file never grows beyond this; further packets are counted, not written.
inline constexpr std::uint64_t MAX_EVIDENCE_FILE_BYTES = 4ULL << 30;

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
  // One Enhanced Packet Block. False when the packet is not written (unknown
  // source, file limit reached, or an earlier write error).
  bool write(std::uint32_t source_id, std::int64_t ts_ns, std::span<const std::uint8_t> data, std::uint32_t orig_len);
  // Writes the buffer and flushes the stream. False (and `error()`) on a write error.
  bool flush();

  [[nodiscard]] std::uint64_t packetsWritten() const;
  [[nodiscard]] std::uint64_t packetsRefused() const;  // over the file limit or after an error
  [[nodiscard]] std::string error() const;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  explicit PcapngWriter(std::string path) : path_(std::move(path)) {}
  bool flushLocked();
  void appendU16(std::uint16_t v);
  void appendU32(std::uint32_t v);
  void appendBytesPadded(std::span<const std::uint8_t> b);

  std::string path_;
  mutable std::mutex mu_;
  std::ofstream out_;
  std::vector<std::uint8_t> buf_;
  std::vector<std::uint32_t> interface_of_source_;  // source_id -> IDB index + 1 (0: unknown)
  std::uint32_t interfaces_ = 0;
  std::uint64_t file_bytes_ = 0;  // written or buffered
  std::uint64_t packets_ = 0;
  std::uint64_t refused_ = 0;
  std::string error_;
};

}  // namespace provaudit::capture
