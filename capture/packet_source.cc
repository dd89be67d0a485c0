#include "capture/packet_source.h"

#include <pcap/pcap.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "capture/pcapng_reader.h"
#include "common/c_handles.h"

namespace provaudit::capture {
namespace {

// pcap_next_ex() return codes (pcap(3PCAP)); libpcap names only the negative ones.
constexpr int PCAP_NEXT_EX_PACKET = 1;
constexpr int PCAP_NEXT_EX_END_OF_FILE = PCAP_ERROR_BREAK;  // -2: no more packets in a savefile
constexpr long FTELL_FAILED = -1;
constexpr int STAT_OK = 0;
constexpr std::int64_t NS_PER_SECOND = 1'000'000'000;
// Classic pcap layout: a 24-byte file header, then records of a 16-byte header
// (ts_sec, ts_frac, incl_len, orig_len) and incl_len bytes.
constexpr std::uint64_t PCAP_RECORD_HEADER_BYTES = 16;
constexpr std::uint64_t PCAP_FILE_HEADER_BYTES = 24;

std::string displayName(const std::string& path) { return path == "-" ? std::string("<stdin>") : path; }

// The format is told by the first four bytes: a pcapng Section Header Block
// type (its bytes read the same in either byte order), else classic pcap.
constexpr std::size_t FORMAT_MAGIC_BYTES = 4;
constexpr std::array<std::uint8_t, FORMAT_MAGIC_BYTES> PCAPNG_MAGIC{0x0A, 0x0D, 0x0D, 0x0A};
constexpr int FSEEK_OK = 0;
constexpr ssize_t COOKIE_READ_ERROR = -1;
constexpr int COOKIE_CLOSE_OK = 0;
// stdio's buffer for a capture file. glibc's default is the file system's
// block size (4 KiB): libpcap's two freads per record then cost a read()
// system call every few packets, a quarter of the packet path on the 1 GB
// corpus (bench/RESULTS.md, session 4). One MiB makes them rare.
constexpr std::size_t FILE_BUFFER_BYTES = 1 << 20;

// A stream that replays the bytes read to detect the format, then the rest of
// the stream under it: libpcap must read a classic pcap file from its first
// byte, and a pipe cannot seek back.
struct ReplayedPrefix {
  FilePtr inner;
  std::array<std::uint8_t, FORMAT_MAGIC_BYTES> prefix{};
  std::size_t prefix_len = 0;
  std::size_t prefix_pos = 0;
};

ssize_t replayedPrefixRead(void* cookie, char* buf, std::size_t n) {
  auto* s = static_cast<ReplayedPrefix*>(cookie);
  std::size_t done = 0;
  for (; done < n && s->prefix_pos < s->prefix_len; ++done) buf[done] = static_cast<char>(s->prefix[s->prefix_pos++]);
  if (done > 0) return static_cast<ssize_t>(done);  // a short read; stdio asks again
  const std::size_t got = std::fread(buf, 1, n, s->inner.get());
  if (got == 0 && std::ferror(s->inner.get()) != 0) return COOKIE_READ_ERROR;
  return static_cast<ssize_t>(got);
}

int replayedPrefixClose(void* cookie) {
  // fclose() of the outer stream ends here: the state, and with it the inner stream, goes.
  std::unique_ptr<ReplayedPrefix> owned(static_cast<ReplayedPrefix*>(cookie));
  return COOKIE_CLOSE_OK;
}

FilePtr replayPrefix(FilePtr inner, const std::array<std::uint8_t, FORMAT_MAGIC_BYTES>& prefix, std::size_t len) {
  auto state = std::make_unique<ReplayedPrefix>();
  state->inner = std::move(inner);
  state->prefix = prefix;
  state->prefix_len = len;
  const cookie_io_functions_t io{replayedPrefixRead, nullptr, nullptr, replayedPrefixClose};
  FilePtr outer(fopencookie(state.get(), "rb", io));
  if (outer) state.release();  // the outer stream owns the state now; replayedPrefixClose frees it
  return outer;
}

class PcapFileSource final : public PacketSource {
 public:
  PcapFileSource(PcapPtr handle, std::string path, std::uint32_t source_id, std::optional<std::uint64_t> size)
      : pcap_(std::move(handle)), name_(displayName(path)), source_id_(source_id), size_(size) {
    // After opening, libpcap has read the 24-byte file header of a classic pcap
    // file, or a pcapng Section Header Block and the first Interface Description
    // Block (at least 28 + 20 bytes). Classic records are 16 + caplen bytes each,
    // so their offsets follow by arithmetic; pcapng blocks do not.
    const auto start = filePosition();
    pos_ = start.value_or(PCAP_FILE_HEADER_BYTES);
    pos_exact_ = start == PCAP_FILE_HEADER_BYTES;
  }

  ReadStatus next(RawPacket& out) override {
    if (finished_) return error_.empty() ? ReadStatus::End : ReadStatus::Error;
    pcap_pkthdr* hdr = nullptr;
    const std::uint8_t* data = nullptr;
    const int rc = pcap_next_ex(pcap_.get(), &hdr, &data);
    if (rc == PCAP_NEXT_EX_PACKET) {
      ++frame_;
      // Opened with PCAP_TSTAMP_PRECISION_NANO: tv_usec holds nanoseconds.
      out.ref.ts_ns = static_cast<std::int64_t>(hdr->ts.tv_sec) * NS_PER_SECOND + static_cast<std::int64_t>(hdr->ts.tv_usec);
      out.ref.frame = frame_;
      out.ref.source = source_id_;
      out.linktype = pcap_datalink(pcap_.get());
      out.data = std::span<const std::uint8_t>(data, hdr->caplen);
      out.orig_len = hdr->len;
      // Where the next record starts. Not ftell(): glibc answers it with an
      // lseek() system call, which would double the cost of reading a packet.
      pos_ += PCAP_RECORD_HEADER_BYTES + hdr->caplen;
      return ReadStatus::Packet;
    }
    finished_ = true;
    if (rc == PCAP_NEXT_EX_END_OF_FILE) return ReadStatus::End;
    std::string msg = name_ + ": ";
    if (pos_exact_) {
      // Classic pcap: the failing record starts where the last good one ended.
      msg += "bad record at byte offset " + std::to_string(pos_);
    } else if (const auto stopped = filePosition()) {
      msg += "reading stopped at byte offset " + std::to_string(*stopped);  // pcapng: the block is not tracked
    } else {
      msg += "reading stopped near byte offset " + std::to_string(pos_);  // a pipe: estimated
    }
    msg += " after frame " + std::to_string(frame_) + ": " + pcap_geterr(pcap_.get());
    for (char& c : msg) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    error_ = msg;
    return ReadStatus::Error;
  }

  std::string error() const override { return error_; }

  std::uint64_t bytesRead() const override {
    if (pos_exact_) return pos_;
    return filePosition().value_or(pos_);  // one lseek per progress report, not per packet
  }

  std::optional<std::uint64_t> totalBytes() const override { return size_; }
  std::string name() const override { return name_; }

 private:
  std::optional<std::uint64_t> filePosition() const {
    std::FILE* f = pcap_file(pcap_.get());
    if (f == nullptr) return std::nullopt;
    const long pos = std::ftell(f);
    if (pos == FTELL_FAILED) return std::nullopt;
    return static_cast<std::uint64_t>(pos);
  }

  PcapPtr pcap_;
  std::string name_;
  std::uint32_t source_id_;
  std::optional<std::uint64_t> size_;
  std::uint64_t frame_ = 0;
  std::uint64_t pos_ = 0;   // byte offset where the next record starts (exact for classic pcap)
  bool pos_exact_ = false;  // classic pcap from a seekable file: pos_ is exact
  bool finished_ = false;
  std::string error_;
};

}  // namespace

std::unique_ptr<PacketSource> openCaptureFile(const std::string& path, std::uint32_t source_id, std::string& err) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  const std::string shown = displayName(path);
  std::optional<std::uint64_t> size;
  FilePtr file;
  if (path == "-") {
    file.reset(stdin);  // closed with the source, as libpcap does with a stdin it reads
  } else {
    struct stat st {};
    if (::stat(path.c_str(), &st) != STAT_OK) {
      err = shown + ": " + std::strerror(errno);
      return nullptr;
    }
    if (S_ISDIR(st.st_mode)) {
      err = shown + ": is a directory";
      return nullptr;
    }
    if (S_ISREG(st.st_mode)) size = static_cast<std::uint64_t>(st.st_size);
    if (size && *size == 0) {
      err = shown + ": empty file, not a capture";
      return nullptr;
    }
    file.reset(std::fopen(path.c_str(), "rb"));
    if (!file) {
      err = shown + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  // Before the first read (setvbuf's rule); a failure only keeps the default.
  (void)std::setvbuf(file.get(), nullptr, _IOFBF, FILE_BUFFER_BYTES);

  // Detect the format without seeking, so that pipes work.
  std::array<std::uint8_t, FORMAT_MAGIC_BYTES> magic{};
  const std::size_t magic_len = std::fread(magic.data(), 1, magic.size(), file.get());
  if (magic_len == magic.size() && magic == PCAPNG_MAGIC) {
    // libpcap 1.10 refuses interfaces of different link types; our reader does not.
    return PcapngFileSource::open(std::move(file), shown, source_id, size, err);
  }

  // Classic pcap (or not a capture at all): libpcap reads it from its first byte.
  if (path == "-" || std::fseek(file.get(), 0, SEEK_SET) != FSEEK_OK) {
    file = replayPrefix(std::move(file), magic, magic_len);
    if (!file) {
      err = shown + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  PcapPtr handle(pcap_fopen_offline_with_tstamp_precision(file.get(), PCAP_TSTAMP_PRECISION_NANO, errbuf));
  if (!handle) {
    std::string reason(errbuf);
    // libpcap sometimes prefixes the path itself ("FILE: truncated pcap file header").
    if (reason.rfind(path + ": ", 0) == 0) reason.erase(0, path.size() + 2);
    for (char& c : reason) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    err = shown + ": " + (reason.empty() ? std::string("cannot open capture file") : reason);
    return nullptr;  // `file` is still ours and closes here
  }
  (void)file.release();  // libpcap owns the stream now and fcloses it in pcap_close()
  return std::make_unique<PcapFileSource>(std::move(handle), path, source_id, size);
}

}  // namespace provaudit::capture
