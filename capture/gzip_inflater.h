#pragma once
// A gzip-compressed capture (tcpdump -z gzip, Wireshark's "compress with
// gzip", a rotated archive) read without a temporary file: a thread of its
// own inflates it into one end of a socket pair, and the pcap or pcapng
// reader reads the other end as it reads standard input. The inflating runs
// on the second core while the reader parses. Members one after another
// (`cat a.gz b.gz`) read as one stream, as gzip -d reads them; bytes after the
// last member that start no other are ignored, as gzip -d ignores them.
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

// The gzip magic number (RFC 1952 §2.3.1: ID1 ID2).
inline constexpr std::uint8_t GZIP_ID1 = 0x1f, GZIP_ID2 = 0x8b;
// Compressed bytes read at a time, and inflated bytes written at a time.
inline constexpr std::size_t GZIP_IN_CHUNK = 256 * 1024;
inline constexpr std::size_t GZIP_OUT_CHUNK = 256 * 1024;

class GzipInflater {
 public:
  // Starts inflating `compressed`, whose first bytes (`consumed`) were
  // already read from it to tell the format. nullptr and `err` (one line,
  // without the file's name) when the socket pair or the thread cannot be had.
  static std::unique_ptr<GzipInflater> start(UniqueFd compressed, std::span<const std::uint8_t> consumed,
                                             std::string& err);
  // Joins the thread; if the output end was not taken, closes it first.
  ~GzipInflater();
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;

  // The end the inflated bytes come out of (once).
  UniqueFd takeOutput() { return std::move(output_); }
  // Compressed bytes read so far (progress against the file's size).
  [[nodiscard]] std::uint64_t compressedBytesRead() const { return read_.load(std::memory_order_relaxed); }
  // Waits for the thread (after the output end was closed or read to its
  // end): "" when the input inflated whole, else why inflating stopped, one
  // line ("corrupt compressed data (invalid block type) at compressed byte
  // 5120", "the compressed file ends in the middle of a member").
  std::string finish();

 private:
  GzipInflater() = default;
  void run(std::vector<std::uint8_t> pending);
  void fail(std::string reason);

  UniqueFd input_;   // the compressed file (the thread's)
  UniqueFd sink_;    // where the thread writes (its end of the pair)
  UniqueFd output_;  // the reader's end, until taken
  std::atomic<std::uint64_t> read_{0};
  std::mutex mu_;
  std::string error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace provaudit::capture
