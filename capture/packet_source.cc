#include "capture/packet_source.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "capture/inflater.h"
#include "capture/pcap_reader.h"
#include "capture/pcapng_reader.h"
#include "common/c_handles.h"

namespace provaudit::capture {
namespace {

constexpr int STAT_OK = 0;
constexpr ssize_t READ_FAILED = -1;

std::string displayName(const std::string& path) { return path == "-" ? std::string("<stdin>") : path; }

// The format is told by the first four bytes: a pcapng Section Header Block
// type (its bytes read the same in either byte order), else classic pcap.
constexpr std::size_t FORMAT_MAGIC_BYTES = 4;
constexpr std::array<std::uint8_t, FORMAT_MAGIC_BYTES> PCAPNG_MAGIC{0x0A, 0x0D, 0x0D, 0x0A};
// stdio's buffer for a pcapng file (PcapngFileSource reads a block at a time
// through fread). glibc's default is the file system's block size (4 KiB):
// a read() system call every few packets. One MiB makes them rare.
constexpr std::size_t FILE_BUFFER_BYTES = 1 << 20;

// Reads up to `n` bytes, fewer only at the end of the input; -1 on a read error.
ssize_t readUpTo(int fd, std::uint8_t* out, std::size_t n) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd, out + done, n - done);
    if (got == READ_FAILED && errno == EINTR) continue;
    if (got == READ_FAILED) return READ_FAILED;
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return static_cast<ssize_t>(done);
}

// Compressions we recognise but do not read, by their magic numbers: the
// error says which, and how to read the file anyway (a pipe into '-').
struct OtherCompression {
  const char* name;
  const char* tool;
  std::array<std::uint8_t, FORMAT_MAGIC_BYTES> magic;
  std::size_t magic_len;
};
constexpr OtherCompression OTHER_COMPRESSIONS[] = {
    {"xz", "xz -dc", {0xfd, 0x37, 0x7a, 0x58}, 4},
    {"lz4", "lz4 -dc", {0x04, 0x22, 0x4d, 0x18}, 4},
    {"bzip2", "bzip2 -dc", {'B', 'Z', 'h', 0}, 3},
};

// The capture inside a compressed file: the pcap or pcapng reader reads what
// a thread inflates (Inflater). Its progress is the compressed file's; a
// corrupt or cut compressed file ends it with that reason, after every packet
// that inflated whole.
class InflatedSource final : public PacketSource {
 public:
  InflatedSource(std::unique_ptr<Inflater> inflater, std::unique_ptr<PacketSource> inner, std::string name,
                 std::optional<std::uint64_t> size)
      : inflater_(std::move(inflater)), inner_(std::move(inner)), name_(std::move(name)), size_(size) {}
  ~InflatedSource() override { inner_.reset(); }  // closes the reader's end before the inflater joins its thread

  ReadStatus next(RawPacket& out) override {
    if (!inner_) return error_.empty() ? ReadStatus::End : ReadStatus::Error;
    const ReadStatus st = inner_->next(out);
    if (st == ReadStatus::Packet) return st;
    // The capture inside ended or broke: stop the inflating, and hear why it stopped.
    const std::string inner_error = st == ReadStatus::Error ? inner_->error() : std::string();
    damaged_ = inner_->damagedSkipped();
    first_damage_ = inner_->firstDamage();
    times_unknown_ = inner_->timesUnknown();
    first_time_unknown_ = inner_->firstTimeUnknown();
    inner_.reset();
    const std::string inflate_error = inflater_->finish();
    if (!inflate_error.empty()) {
      error_ = name_ + ": " + inflate_error;
      if (!inner_error.empty()) error_ += " (inflated so far: " + inner_error + ")";
    } else {
      error_ = inner_error;
    }
    return error_.empty() ? ReadStatus::End : ReadStatus::Error;
  }
  std::string error() const override { return error_; }
  std::uint64_t bytesRead() const override { return inflater_->compressedBytesRead(); }
  std::optional<std::uint64_t> totalBytes() const override { return size_; }
  std::string name() const override { return name_; }
  std::uint64_t damagedSkipped() const override { return inner_ ? inner_->damagedSkipped() : damaged_; }
  std::string firstDamage() const override { return inner_ ? inner_->firstDamage() : first_damage_; }
  std::uint64_t timesUnknown() const override { return inner_ ? inner_->timesUnknown() : times_unknown_; }
  std::string firstTimeUnknown() const override { return inner_ ? inner_->firstTimeUnknown() : first_time_unknown_; }
  void setSecretsHandler(SecretsHandler handler) override {
    if (inner_) inner_->setSecretsHandler(std::move(handler));
  }

 private:
  std::unique_ptr<Inflater> inflater_;
  std::unique_ptr<PacketSource> inner_;
  std::string name_;
  std::optional<std::uint64_t> size_;
  std::string error_;
  std::uint64_t damaged_ = 0;  // the inner reader's, once it is gone
  std::string first_damage_;
  std::uint64_t times_unknown_ = 0;  // the inner reader's, once it is gone
  std::string first_time_unknown_;
};

// What compression we do not read the first bytes announce, if one.
const OtherCompression* otherCompressionOf(std::span<const std::uint8_t> magic) {
  for (const auto& c : OTHER_COMPRESSIONS) {
    if (magic.size() >= c.magic_len && std::equal(c.magic.begin(), c.magic.begin() + c.magic_len, magic.begin())) return &c;
  }
  return nullptr;
}

// What compression the first bytes announce, if one we read.
std::optional<Compression> compressionOf(std::span<const std::uint8_t> magic) {
  if (magic.size() >= 2 && magic[0] == GZIP_ID1 && magic[1] == GZIP_ID2) return Compression::Gzip;
  if (magic.size() >= sizeof ZSTD_MAGIC && std::equal(std::begin(ZSTD_MAGIC), std::end(ZSTD_MAGIC), magic.begin())) {
    return Compression::Zstd;
  }
  if (magic.size() >= 1 + sizeof ZSTD_SKIPPABLE_REST &&
      (magic[0] & ZSTD_SKIPPABLE_FIRST_MASK) == ZSTD_SKIPPABLE_FIRST &&
      std::equal(std::begin(ZSTD_SKIPPABLE_REST), std::end(ZSTD_SKIPPABLE_REST), magic.begin() + 1)) {
    return Compression::Zstd;
  }
  return std::nullopt;
}

// Tells the format of what `fd` holds by its first bytes and opens the
// reader for it; `inflate_allowed`: a gzip or zstd file is inflated (once:
// not a compressed file inside a compressed file).
std::unique_ptr<PacketSource> openStream(UniqueFd fd, const std::string& shown, std::uint32_t source_id,
                                         std::optional<std::uint64_t> size, bool inflate_allowed, std::string& err) {
  // Detect the format from the descriptor itself (nothing seeks: pipes work),
  // then hand the bytes read to the reader of that format.
  std::array<std::uint8_t, FORMAT_MAGIC_BYTES> magic{};
  const ssize_t magic_len = readUpTo(fd.get(), magic.data(), magic.size());
  if (magic_len == READ_FAILED) {
    err = shown + ": " + std::strerror(errno);
    return nullptr;
  }
  const std::span<const std::uint8_t> consumed(magic.data(), static_cast<std::size_t>(magic_len));
  if (const auto codec = compressionOf(consumed); codec && inflate_allowed) {
    auto inflater = Inflater::start(*codec, std::move(fd), consumed, err);
    if (!inflater) {
      err = shown + ": " + err;
      return nullptr;
    }
    auto inner = openStream(inflater->takeOutput(), shown, source_id, std::nullopt, false, err);
    if (!inner) {
      // Corrupt compressed data can be why the capture inside looks wrong: say so first.
      const std::string inflate_error = inflater->finish();
      if (!inflate_error.empty()) err = shown + ": " + inflate_error;
      return nullptr;
    }
    return std::make_unique<InflatedSource>(std::move(inflater), std::move(inner), shown, size);
  }
  if (const OtherCompression* c = otherCompressionOf(consumed)) {
    err = shown + ": compressed with " + c->name + ", which provaudit does not read; decompress it into a pipe (" +
          c->tool + " FILE | provaudit replay -)";
    return nullptr;
  }
  if (consumed.size() == magic.size() && magic == PCAPNG_MAGIC) {
    FilePtr file(::fdopen(fd.get(), "rb"));
    if (!file) {
      err = shown + ": " + std::strerror(errno);
      return nullptr;
    }
    (void)fd.release();  // the stream owns the descriptor now
    // Before the first read (setvbuf's rule); a failure only keeps the default.
    (void)std::setvbuf(file.get(), nullptr, _IOFBF, FILE_BUFFER_BYTES);
    // libpcap 1.10 refuses interfaces of different link types; our reader does not.
    return PcapngFileSource::open(std::move(file), shown, source_id, size, err);
  }
  return PcapFileSource::open(std::move(fd), shown, source_id, size, consumed, err);
}

}  // namespace

std::string linkTypeText(int linktype) {
  const char* description = pcap_datalink_val_to_description(linktype);
  if (description == nullptr) return std::to_string(linktype);
  return std::string(description) + " (" + std::to_string(linktype) + ")";
}

bool hasCaptureMagic(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  std::array<std::uint8_t, FORMAT_MAGIC_BYTES> magic{};
  const ssize_t got = readUpTo(fd.get(), magic.data(), magic.size());
  if (got == READ_FAILED) return false;
  const std::span<const std::uint8_t> first(magic.data(), static_cast<std::size_t>(got));
  return compressionOf(first) || otherCompressionOf(first) != nullptr || isPcapMagic(first) ||
         (first.size() == magic.size() && magic == PCAPNG_MAGIC);
}

std::unique_ptr<PacketSource> openCaptureFile(const std::string& path, std::uint32_t source_id, std::string& err) {
  const std::string shown = displayName(path);
  std::optional<std::uint64_t> size;
  UniqueFd fd;
  if (path == "-") {
    // A descriptor of our own: closing the source leaves standard input open.
    fd.reset(::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0));
  } else {
    struct stat st {};
    if (::stat(path.c_str(), &st) != STAT_OK) {
      err = shown + ": " + std::strerror(errno);
      return nullptr;
    }
    if (S_ISDIR(st.st_mode)) {
      err = shown + ": a directory without a capture file in it (pcap, pcapng, gzip or zstd)";
      return nullptr;
    }
    if (S_ISREG(st.st_mode)) size = static_cast<std::uint64_t>(st.st_size);
    if (size && *size == 0) {
      err = shown + ": empty file, not a capture";
      return nullptr;
    }
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    // Read front to back: the kernel may read further ahead.
    if (fd && size) (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  if (!fd) {
    err = shown + ": " + std::strerror(errno);
    return nullptr;
  }

  return openStream(std::move(fd), shown, source_id, size, true, err);
}

}  // namespace provaudit::capture
