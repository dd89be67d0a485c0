#include "capture/packet_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

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

}  // namespace

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
      err = shown + ": is a directory";
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

  // Detect the format from the descriptor itself (nothing seeks: pipes work),
  // then hand the bytes read to the reader of that format.
  std::array<std::uint8_t, FORMAT_MAGIC_BYTES> magic{};
  const ssize_t magic_len = readUpTo(fd.get(), magic.data(), magic.size());
  if (magic_len == READ_FAILED) {
    err = shown + ": " + std::strerror(errno);
    return nullptr;
  }
  if (static_cast<std::size_t>(magic_len) == magic.size() && magic == PCAPNG_MAGIC) {
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
  return PcapFileSource::open(std::move(fd), shown, source_id, size,
                              std::span<const std::uint8_t>(magic.data(), static_cast<std::size_t>(magic_len)), err);
}

}  // namespace provaudit::capture
