#include "capture/evidence_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace provaudit::capture {
namespace {

// draft-ietf-opsawg-pcapng §4.1, §4.2, §4.3, §3.5 (options).
constexpr std::uint32_t BLOCK_SHB = 0x0A0D0D0A;
constexpr std::uint32_t BLOCK_IDB = 0x00000001;
constexpr std::uint32_t BLOCK_EPB = 0x00000006;
constexpr std::uint32_t BYTE_ORDER_MAGIC = 0x1A2B3C4D;
constexpr std::uint16_t PCAPNG_MAJOR = 1;
constexpr std::uint16_t PCAPNG_MINOR = 0;
constexpr std::uint32_t SECTION_LENGTH_UNKNOWN = 0xFFFFFFFF;  // both halves of the 64-bit -1
constexpr std::uint16_t OPT_ENDOFOPT = 0;
constexpr std::uint16_t OPT_SHB_USERAPPL = 4;
constexpr std::uint16_t OPT_IF_NAME = 2;
constexpr std::uint16_t OPT_IF_TSRESOL = 9;
constexpr std::uint8_t TSRESOL_NANOSECONDS = 9;  // 10^-9 s per unit
constexpr std::size_t BLOCK_ALIGN = 4;
constexpr std::size_t EPB_FIXED_BYTES = 32;      // type, length, interface, ts high/low, caplen, origlen, trailing length
constexpr const char* WRITER_NAME = "provaudit";

std::size_t padded(std::size_t n) { return (n + BLOCK_ALIGN - 1) & ~(BLOCK_ALIGN - 1); }

}  // namespace

std::unique_ptr<PcapngWriter> PcapngWriter::create(const std::string& path, std::string& err) {
  auto w = std::unique_ptr<PcapngWriter>(new PcapngWriter(path));
  constexpr mode_t CREATE_MODE = 0666;  // less the umask, as any new file
  w->fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, CREATE_MODE));
  if (!w->fd_) {
    err = path + ": cannot create evidence file: " + std::strerror(errno);
    return nullptr;
  }
  // Section Header Block with shb_userappl.
  const std::string app = WRITER_NAME;
  const std::size_t opts = 4 + padded(app.size()) + 4;
  const auto total = static_cast<std::uint32_t>(28 + opts);
  w->appendU32(BLOCK_SHB);
  w->appendU32(total);
  w->appendU32(BYTE_ORDER_MAGIC);
  w->appendU16(PCAPNG_MAJOR);
  w->appendU16(PCAPNG_MINOR);
  w->appendU32(SECTION_LENGTH_UNKNOWN);
  w->appendU32(SECTION_LENGTH_UNKNOWN);
  w->appendU16(OPT_SHB_USERAPPL);
  w->appendU16(static_cast<std::uint16_t>(app.size()));
  w->appendBytesPadded({reinterpret_cast<const std::uint8_t*>(app.data()), app.size()});
  w->appendU16(OPT_ENDOFOPT);
  w->appendU16(0);
  w->appendU32(total);
  w->file_bytes_ = w->buf_.size();
  if (!w->flush()) {
    err = w->error();
    return nullptr;
  }
  return w;
}

PcapngWriter::~PcapngWriter() {
  std::lock_guard lock(mu_);
  // A last attempt; when it fails too, the file keeps its complete blocks only.
  if (!flushLocked(true)) (void)::ftruncate(fd_.get(), static_cast<off_t>(written_bytes_));
}

void PcapngWriter::appendU16(std::uint16_t v) {
  std::uint8_t b[sizeof v];
  std::memcpy(b, &v, sizeof v);  // host byte order, as the SHB magic declares
  buf_.insert(buf_.end(), b, b + sizeof v);
}

void PcapngWriter::appendU32(std::uint32_t v) {
  std::uint8_t b[sizeof v];
  std::memcpy(b, &v, sizeof v);
  buf_.insert(buf_.end(), b, b + sizeof v);
}

void PcapngWriter::appendBytesPadded(std::span<const std::uint8_t> b) {
  buf_.insert(buf_.end(), b.begin(), b.end());
  buf_.resize(buf_.size() + (padded(b.size()) - b.size()), 0);
}

void PcapngWriter::addInterface(std::uint32_t source_id, const std::string& name, int linktype,
                                std::uint32_t snaplen) {
  std::lock_guard lock(mu_);
  const std::size_t before = buf_.size();
  const std::size_t opts = (4 + padded(name.size())) + (4 + padded(1)) + 4;
  const auto total = static_cast<std::uint32_t>(20 + opts);
  appendU32(BLOCK_IDB);
  appendU32(total);
  appendU16(static_cast<std::uint16_t>(linktype));
  appendU16(0);  // reserved
  appendU32(snaplen);
  appendU16(OPT_IF_NAME);
  appendU16(static_cast<std::uint16_t>(name.size()));
  appendBytesPadded({reinterpret_cast<const std::uint8_t*>(name.data()), name.size()});
  appendU16(OPT_IF_TSRESOL);
  appendU16(1);
  appendBytesPadded(std::span<const std::uint8_t>(&TSRESOL_NANOSECONDS, 1));
  appendU16(OPT_ENDOFOPT);
  appendU16(0);
  appendU32(total);
  file_bytes_ += buf_.size() - before;
  if (interface_of_source_.size() <= source_id) interface_of_source_.resize(std::size_t{source_id} + 1, 0);
  interface_of_source_[source_id] = ++interfaces_;
}

bool PcapngWriter::write(std::uint32_t source_id, std::int64_t ts_ns, std::span<const std::uint8_t> data,
                         std::uint32_t orig_len) {
  std::lock_guard lock(mu_);
  const std::size_t total = EPB_FIXED_BYTES + padded(data.size());
  if (source_id >= interface_of_source_.size() || interface_of_source_[source_id] == 0 ||
      file_bytes_ + total > MAX_EVIDENCE_FILE_BYTES) {
    ++refused_;
    return false;
  }
  if (!error_.empty() && buf_.size() + total > EVIDENCE_FAILING_BUFFER_BYTES) {
    ++refused_;
    ++lost_;
    return false;
  }
  const auto ts = static_cast<std::uint64_t>(ts_ns < 0 ? 0 : ts_ns);
  appendU32(BLOCK_EPB);
  appendU32(static_cast<std::uint32_t>(total));
  appendU32(interface_of_source_[source_id] - 1);
  appendU32(static_cast<std::uint32_t>(ts >> 32));
  appendU32(static_cast<std::uint32_t>(ts));
  appendU32(static_cast<std::uint32_t>(data.size()));
  appendU32(orig_len);
  appendBytesPadded(data);
  appendU32(static_cast<std::uint32_t>(total));
  file_bytes_ += total;
  ++waiting_;
  // (While failing, the buffer grows until the next attempt: flush()'s wait.)
  if (error_.empty() && buf_.size() >= EVIDENCE_BUFFER_BYTES) flushLocked(false);
  return true;
}

bool PcapngWriter::flush(bool retry_now) {
  std::lock_guard lock(mu_);
  return flushLocked(retry_now);
}

bool PcapngWriter::flushLocked(bool retry_now) {
  const auto now = Clock::now();
  if (!error_.empty()) {
    if (!retry_now && now < retry_at_) return false;
    // What the failed write left of a block goes first.
    if (::ftruncate(fd_.get(), static_cast<off_t>(written_bytes_)) != 0) return failed(errno, now);
  }
  std::size_t done = 0;
  while (done < buf_.size()) {
    const ssize_t n = ::pwrite(fd_.get(), buf_.data() + done, buf_.size() - done,
                               static_cast<off_t>(written_bytes_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed(n < 0 ? errno : ENOSPC, now);
    done += static_cast<std::size_t>(n);
  }
  written_bytes_ += buf_.size();
  buf_.clear();
  packets_ += std::exchange(waiting_, 0);
  error_.clear();
  reason_.clear();
  retry_wait_ = EVIDENCE_RETRY_MIN;
  return true;
}

bool PcapngWriter::failed(int err, Clock::time_point now) {
  // The first failure waits the least; each further one twice as long, up to the most.
  if (!error_.empty()) retry_wait_ = std::min(retry_wait_ * 2, EVIDENCE_RETRY_MAX);
  reason_ = std::strerror(err);
  error_ = path_ + ": write failed: " + reason_;
  retry_at_ = now + retry_wait_;
  return false;
}

std::uint64_t PcapngWriter::packetsWritten() const {
  std::lock_guard lock(mu_);
  return packets_;
}

std::uint64_t PcapngWriter::packetsRefused() const {
  std::lock_guard lock(mu_);
  return refused_;
}

std::uint64_t PcapngWriter::packetsLost() const {
  std::lock_guard lock(mu_);
  return lost_;
}

std::uint64_t PcapngWriter::packetsWaiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

bool PcapngWriter::failing() const {
  std::lock_guard lock(mu_);
  return !error_.empty();
}

std::string PcapngWriter::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

std::string PcapngWriter::failureReason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

}  // namespace provaudit::capture
