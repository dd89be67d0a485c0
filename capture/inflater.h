#pragma once
// A compressed capture (gzip: tcpdump -z gzip, Wireshark's "compress with
// gzip", a rotated archive; zstd) read without a temporary file: a thread of
// its own inflates it into one end of a socket pair, and the pcap or pcapng
// reader reads the other end as it reads standard input. The inflating runs
// on the second core while the reader parses.
//
// As the command-line tools read them: gzip members one after another
// (`cat a.gz b.gz`) read as one stream, and bytes after the last member that
// start no other are ignored (gzip -d); zstd frames one after another read as
// one stream, skippable frames are skipped, and anything else is an error
// (zstd -d).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/c_handles.h"

namespace provaudit::capture {

enum class Compression { Gzip, Zstd };

// Magic numbers: gzip's ID1 ID2 (RFC 1952 §2.3.1), a zstd frame's (RFC 8878 §3.1.1, little-endian 0xFD2FB528).
inline constexpr std::uint8_t GZIP_ID1 = 0x1f, GZIP_ID2 = 0x8b;
inline constexpr std::uint8_t ZSTD_MAGIC[4] = {0x28, 0xb5, 0x2f, 0xfd};
// A zstd skippable frame's (RFC 8878 §3.1.2, 0x184D2A50 to 0x184D2A5F): a
// file may begin with one (pzstd's always does), a zstd frame follows.
inline constexpr std::uint8_t ZSTD_SKIPPABLE_FIRST = 0x50, ZSTD_SKIPPABLE_FIRST_MASK = 0xf0;
inline constexpr std::uint8_t ZSTD_SKIPPABLE_REST[3] = {0x2a, 0x4d, 0x18};
// Compressed bytes read at a time, and inflated bytes written at a time.
inline constexpr std::size_t INFLATE_IN_CHUNK = 256 * 1024;
inline constexpr std::size_t INFLATE_OUT_CHUNK = 256 * 1024;
// The largest zstd window accepted, as a power of two (32 MiB): what every
// level up to 19 uses, and the memory a hostile frame may make us take.
// `zstd --ultra -22` or `--long` files need more: the error says so.
inline constexpr int ZSTD_WINDOW_LOG_MAX = 25;

class Inflater {
 public:
  // Starts inflating `compressed`, whose first bytes (`consumed`) were
  // already read from it to tell the format. nullptr and `err` (one line,
  // without the file's name) when the socket pair or the thread cannot be had.
  static std::unique_ptr<Inflater> start(Compression codec, UniqueFd compressed,
                                         std::span<const std::uint8_t> consumed, std::string& err);
  // Joins the thread; if the output end was not taken, closes it first.
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // The end the inflated bytes come out of (once).
  UniqueFd takeOutput() { return std::move(output_); }
  // Compressed bytes read so far (progress against the file's size).
  [[nodiscard]] std::uint64_t compressedBytesRead() const { return read_.load(std::memory_order_relaxed); }
  // Waits for the thread (after the output end was closed or read to its
  // end): "" when the input inflated whole, else why inflating stopped, one
  // line ("corrupt gzip data (invalid block type) at compressed byte 5120",
  // "the compressed file ends in the middle of a zstd frame, at byte 4096").
  std::string finish();

 private:
  // The compressed bytes: what was read to tell the format, then the file.
  struct Input {
    std::vector<std::uint8_t> buf;
    std::size_t pos = 0, end = 0;  // unread: buf[pos, end)
    bool eof = false;
    [[nodiscard]] std::size_t available() const { return end - pos; }
  };
  explicit Inflater(Compression codec) : codec_(codec) {}
  void run(std::vector<std::uint8_t> consumed);
  void runGzip(Input& in);
  void runZstd(Input& in);
  // Makes at least `n` bytes available (fewer at the end of the file); false on a read error (said).
  bool ensure(Input& in, std::size_t n);
  // The offset of the first unread compressed byte.
  [[nodiscard]] std::string at(const Input& in) const;
  // Hands inflated bytes to the reader; false once it is gone.
  bool emit(const std::uint8_t* data, std::size_t n);
  void fail(std::string reason);

  const Compression codec_;
  UniqueFd input_;   // the compressed file (the thread's)
  UniqueFd sink_;    // where the thread writes (its end of the pair)
  UniqueFd output_;  // the reader's end, until taken
  std::atomic<std::uint64_t> read_{0};
  std::mutex mu_;
  std::string error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace provaudit::capture
