#pragma once
// Our own classic pcap reader (draft-ietf-opsawg-pcap; libpcap's sf-pcap.c
// for the variants it accepts). libpcap reads a savefile with two fread()s per
// record into a buffer of its own: on the 1 GB corpus that read loop alone
// took 0.55-0.79 s, where read() of large chunks and records handed out in
// place take 0.23-0.30 s (bench/RESULTS.md, session 5). This reader reads the
// file descriptor in chunks of PCAP_READ_CHUNK and gives each packet as a view
// into that buffer, valid until the next next().
//
// Accepted, as libpcap does: both byte orders; micro- and nanosecond magic
// numbers; Kuznetzov's patched format (24-byte record headers); versions 2.0
// to 2.4 (before 2.3 the two lengths were written swapped; 2.3 files may have
// them either way) and DG/UX's 543.0. Unlike libpcap, a record longer than
// the file header's snap length (but within PCAP_MAX_RECORD) is handed out
// whole, as tshark reads it: GRO frames captured with tcpdump -s 1500 are
// longer than the snap length and whole in the file. Link types are given as stored (LINKTYPE_*);
// the decoder takes those and libpcap's DLT_* alike.
//
// Hostile-safe: every field is read through ByteReader; a record's captured
// length over PCAP_MAX_RECORD ends reading (it bounds the buffer a hostile
// length can make us allocate). The first bad or truncated record ends
// reading: next() returns every good packet before it, then ReadStatus::Error
// with "FILE: bad record at byte offset N after frame F: reason".
//
// Reads from pipes as they fill: read() returns what is there, and a record
// is handed out as soon as all of it has arrived.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "capture/packet_source.h"
#include "common/byte_reader.h"
#include "common/c_handles.h"

namespace provaudit::capture {

// Bytes asked of read() at a time (and the buffer's size; a smaller file gets
// a buffer of its own size). Chunks of 256 KiB to 4 MiB read the 1 GB corpus
// alike (0.20-0.23 s); 1 MiB keeps the records parsed just after the copy in
// the CPU's cache, and the buffer's first touch at 256 page faults.
inline constexpr std::size_t PCAP_READ_CHUNK = 1U << 20;
// The largest captured length accepted: libpcap's MAXIMUM_SNAPLEN, the most
// any link type we decode allows (libpcap allows more only for D-Bus, USBPcap
// and EBHSCR). Also the snap length a file declaring 0 or more is given.
inline constexpr std::uint32_t PCAP_MAX_RECORD = 256U << 10;

// Whether a file's first four bytes are a classic pcap magic number (any of
// the variants above, either byte order).
[[nodiscard]] bool isPcapMagic(std::span<const std::uint8_t> first_bytes);

class PcapFileSource final : public PacketSource {
 public:
  // Reads the file header from `fd`, whose first bytes (`consumed`, at most
  // the 24 of the header) were already read to tell the format. nullptr and
  // `err` = "NAME: reason" when the header is short or not a pcap header.
  static std::unique_ptr<PcapFileSource> open(UniqueFd fd, std::string name, std::uint32_t source_id,
                                              std::optional<std::uint64_t> size,
                                              std::span<const std::uint8_t> consumed, std::string& err);

  ReadStatus next(RawPacket& out) override;
  std::string error() const override { return error_; }
  std::uint64_t bytesRead() const override { return offset_; }
  std::optional<std::uint64_t> totalBytes() const override { return size_; }
  std::string name() const override { return name_; }

  // The file header's fields, as read (tests, -vv).
  [[nodiscard]] std::uint32_t snapLength() const { return snaplen_; }
  [[nodiscard]] int linkType() const { return linktype_; }

 private:
  enum class Lengths { AsWritten, Swapped, MaybeSwapped };

  PcapFileSource(UniqueFd fd, std::string name, std::uint32_t source_id, std::optional<std::uint64_t> size);

  // Makes at least `n` unread bytes available from begin_; false when the
  // file ends (or fails) first, with what there is still in place.
  bool fill(std::size_t n);
  [[nodiscard]] std::size_t available() const { return end_ - begin_; }
  bool readU16(ByteReader& r, std::uint16_t& out) const { return big_endian_ ? r.readU16(out) : r.readU16Le(out); }
  bool readU32(ByteReader& r, std::uint32_t& out) const { return big_endian_ ? r.readU32(out) : r.readU32Le(out); }
  ReadStatus fail(const std::string& reason);
  // Whether the first records read sanely with `header` bytes of record
  // header (the variants of the format tell themselves apart no other way).
  bool recordsChain(std::size_t header);
  // Why fill(want) fell short with `have` bytes: a read error or the end of the file.
  std::string shortRead(const char* what, std::size_t have, std::size_t want) const;

  UniqueFd fd_;
  std::string name_;
  std::uint32_t source_id_;
  std::optional<std::uint64_t> size_;
  std::vector<std::uint8_t> buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes: buf_[begin_, end_)
  std::uint64_t offset_ = 0;         // file offset of buf_[begin_]: where the next record starts
  bool eof_ = false;
  int read_errno_ = 0;               // the error that ended reading, 0 if none
  bool big_endian_ = false;
  bool nanoseconds_ = false;
  std::size_t record_header_ = 0;    // 16; 24 or 28 in Kuznetzov's formats, 20 in Nokia's
  Lengths lengths_ = Lengths::AsWritten;
  std::uint32_t snaplen_ = 0;
  int linktype_ = 0;
  std::uint64_t frame_ = 0;
  bool finished_ = false;
  std::string error_;
};

}  // namespace provaudit::capture
