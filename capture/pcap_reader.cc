#include "capture/pcap_reader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/text.h"

namespace provaudit::capture {
namespace {

// draft-ietf-opsawg-pcap §4: the magic number, as the writer stored it; read
// in the other byte order it is the byte swap. libpcap also knows Alexey
// Kuznetzov's patched format (its records carry 8 more header bytes).
constexpr std::uint32_t MAGIC_MICROSECONDS = 0xA1B2C3D4;
constexpr std::uint32_t MAGIC_NANOSECONDS = 0xA1B23C4D;
constexpr std::uint32_t MAGIC_KUZNETZOV = 0xA1B2CD34;

// File header: magic(4) version major(2) minor(2) reserved(8) snaplen(4) link type(4).
constexpr std::size_t FILE_HEADER_BYTES = 24;
constexpr std::size_t RESERVED_HEADER_BYTES = 8;
// Record header: seconds(4) fraction(4) captured length(4) original length(4),
// then in Kuznetzov's format interface index(4) protocol(2) packet type(1) pad(1).
constexpr std::size_t RECORD_HEADER_BYTES = 16;
constexpr std::size_t KUZNETZOV_RECORD_HEADER_BYTES = 24;
// Variants that say so only by their records (Wireshark reads them all, and
// its editcap writes them): Red Hat 6.1's tcpdump wrote Kuznetzov's 24-byte
// records under the usual magic number, SuSE 6.3's 28-byte ones (two more
// bytes and padding) under Kuznetzov's, and some Nokia firewalls 20-byte
// records (4 bytes of their own) under the usual one. Each file is read with
// the first of its magic number's sizes whose first records chain sanely.
constexpr std::size_t SUSE63_RECORD_HEADER_BYTES = 28;
constexpr std::size_t NOKIA_RECORD_HEADER_BYTES = 20;
constexpr std::size_t STANDARD_MAGIC_HEADERS[] = {RECORD_HEADER_BYTES, KUZNETZOV_RECORD_HEADER_BYTES,
                                                  NOKIA_RECORD_HEADER_BYTES};
constexpr std::size_t KUZNETZOV_MAGIC_HEADERS[] = {KUZNETZOV_RECORD_HEADER_BYTES, SUSE63_RECORD_HEADER_BYTES};
// How many records decide, and what makes one sane: its fraction of a second
// below one second, and its lengths within what is read at all, the captured
// one no longer than the original.
constexpr int PROBE_RECORDS = 3;
constexpr std::uint32_t MICROSECONDS_PER_SECOND = 1'000'000;

// Versions libpcap reads: 2.0-2.4, and 543.0 (DG/UX tcpdump). Before 2.3 the
// captured and original lengths were written swapped; 2.3 files from some
// writers have them either way round.
constexpr std::uint16_t VERSION_MAJOR = 2;
constexpr std::uint16_t VERSION_MINOR_MAX = 4;
constexpr std::uint16_t VERSION_MINOR_LENGTHS_IN_ORDER = 3;
constexpr std::uint16_t DGUX_VERSION_MAJOR = 543;

// §4: the link type's low 26 bits; the rest are FCS and reserved flags.
constexpr std::uint32_t LINKTYPE_MASK = 0x03FFFFFF;

constexpr std::int64_t NS_PER_SECOND = 1'000'000'000;
constexpr std::int64_t NS_PER_MICROSECOND = 1'000;
constexpr ssize_t READ_FAILED = -1;

bool knownMagic(std::uint32_t m) { return m == MAGIC_MICROSECONDS || m == MAGIC_NANOSECONDS || m == MAGIC_KUZNETZOV; }

}  // namespace

bool isPcapMagic(std::span<const std::uint8_t> b) {
  if (b.size() < sizeof(std::uint32_t)) return false;
  const std::uint32_t le = std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 |
                           std::uint32_t{b[3]} << 24;
  return knownMagic(le) || knownMagic(__builtin_bswap32(le));
}

PcapFileSource::PcapFileSource(UniqueFd fd, std::string name, std::uint32_t source_id,
                               std::optional<std::uint64_t> size)
    : fd_(std::move(fd)),
      name_(std::move(name)),
      source_id_(source_id),
      size_(size),
      // A small file needs no more than itself (fill() grows the buffer for
      // a record that claims more, up to PCAP_MAX_RECORD).
      buf_(std::clamp<std::uint64_t>(size.value_or(PCAP_READ_CHUNK), FILE_HEADER_BYTES, PCAP_READ_CHUNK)) {}

std::unique_ptr<PcapFileSource> PcapFileSource::open(UniqueFd fd, std::string name, std::uint32_t source_id,
                                                     std::optional<std::uint64_t> size,
                                                     std::span<const std::uint8_t> consumed, std::string& err) {
  std::unique_ptr<PcapFileSource> src(new PcapFileSource(std::move(fd), std::move(name), source_id, size));
  const std::size_t seeded = std::min(consumed.size(), FILE_HEADER_BYTES);
  std::copy_n(consumed.begin(), seeded, src->buf_.begin());
  src->end_ = seeded;
  if (!src->fill(FILE_HEADER_BYTES)) {
    err = src->name_ + ": " + src->shortRead("pcap file header", src->available(), FILE_HEADER_BYTES);
    return nullptr;
  }
  ByteReader r(std::span<const std::uint8_t>(src->buf_.data(), FILE_HEADER_BYTES));
  std::uint32_t as_read = 0;  // little-endian
  (void)r.readU32Le(as_read);
  std::uint32_t magic = as_read;
  if (!knownMagic(magic)) {
    magic = __builtin_bswap32(as_read);
    if (!knownMagic(magic)) {
      err = src->name_ + ": not a pcap or pcapng capture file (its first four bytes, " + hex32(as_read) +
            " little-endian, are no pcap magic number)";
      return nullptr;
    }
    src->big_endian_ = true;
  }
  src->nanoseconds_ = magic == MAGIC_NANOSECONDS;
  src->record_header_ = magic == MAGIC_KUZNETZOV ? KUZNETZOV_RECORD_HEADER_BYTES : RECORD_HEADER_BYTES;
  std::uint16_t major = 0, minor = 0;
  std::uint32_t snaplen = 0, linktype = 0;
  // 24 bytes are there: these reads cannot fall short.
  (void)(src->readU16(r, major) && src->readU16(r, minor) && r.skip(RESERVED_HEADER_BYTES) &&
         src->readU32(r, snaplen) && src->readU32(r, linktype));
  const std::string version = std::to_string(major) + "." + std::to_string(minor);
  if (major < VERSION_MAJOR) {
    err = src->name_ + ": archaic pcap file format (version " + version + ")";
    return nullptr;
  }
  if (!((major == VERSION_MAJOR && minor <= VERSION_MINOR_MAX) || (major == DGUX_VERSION_MAJOR && minor == 0))) {
    err = src->name_ + ": unsupported pcap file version " + version;
    return nullptr;
  }
  if (major == VERSION_MAJOR && minor < VERSION_MINOR_LENGTHS_IN_ORDER) src->lengths_ = Lengths::Swapped;
  if (major == VERSION_MAJOR && minor == VERSION_MINOR_LENGTHS_IN_ORDER) src->lengths_ = Lengths::MaybeSwapped;
  // As libpcap (pcap_adjust_snapshot): a snap length of 0 or beyond the
  // largest record means "no limit". Only reported (snapLength()): records
  // are read as long as they are (next()).
  src->snaplen_ = snaplen == 0 || snaplen > PCAP_MAX_RECORD ? PCAP_MAX_RECORD : snaplen;
  src->linktype_ = static_cast<int>(linktype & LINKTYPE_MASK);
  src->begin_ = FILE_HEADER_BYTES;
  src->offset_ = FILE_HEADER_BYTES;
  // Versions before 2.4 have no such variants (and lengths that may be
  // swapped, which the probe does not know): their records are as the magic
  // says. So are a pipe's: reading ahead would hold its first records back
  // until more arrive (tcpdump -w - | provaudit replay -).
  if (src->lengths_ == Lengths::AsWritten && src->size_.has_value()) {
    const std::span<const std::size_t> sizes =
        magic == MAGIC_KUZNETZOV ? std::span<const std::size_t>(KUZNETZOV_MAGIC_HEADERS)
                                 : std::span<const std::size_t>(STANDARD_MAGIC_HEADERS);
    // None chaining (a file damaged from its first record): the magic number's
    // own size, so that the error names the record as before.
    const auto fits = std::find_if(sizes.begin(), sizes.end(), [&](std::size_t h) { return src->recordsChain(h); });
    if (fits != sizes.end()) src->record_header_ = *fits;
  }
  return src;
}

bool PcapFileSource::recordsChain(std::size_t header) {
  const std::uint32_t fraction_limit = nanoseconds_ ? static_cast<std::uint32_t>(NS_PER_SECOND) : MICROSECONDS_PER_SECOND;
  std::size_t at = 0;  // from begin_
  for (int k = 0; k < PROBE_RECORDS; ++k) {
    // The file ends here (or inside the next header after good records).
    if (!fill(at + header)) return available() == at || k > 0;
    ByteReader r(std::span<const std::uint8_t>(buf_.data() + begin_ + at, header));
    std::uint32_t seconds = 0, fraction = 0, captured = 0, original = 0;
    (void)(readU32(r, seconds) && readU32(r, fraction) && readU32(r, captured) && readU32(r, original));
    if (fraction >= fraction_limit || captured > PCAP_MAX_RECORD || original > PCAP_MAX_RECORD || captured > original) {
      return false;
    }
    at += header + captured;
    if (!fill(at)) return true;  // cut inside a sane record: next() says so
  }
  return true;
}

bool PcapFileSource::fill(std::size_t n) {
  if (available() >= n) return true;
  // Short of a record: move what is left to the front (at most one record,
  // once per chunk) and read on behind it.
  std::memmove(buf_.data(), buf_.data() + begin_, available());
  end_ -= begin_;
  begin_ = 0;
  // n is at most a record header and PCAP_MAX_RECORD bytes.
  if (buf_.size() < n) buf_.resize(n);
  while (available() < n && !eof_) {
    const ssize_t got = ::read(fd_.get(), buf_.data() + end_, buf_.size() - end_);
    if (got > 0) {
      end_ += static_cast<std::size_t>(got);
    } else if (got == READ_FAILED && errno == EINTR) {
      continue;
    } else {
      if (got == READ_FAILED) read_errno_ = errno;
      eof_ = true;
    }
  }
  return available() >= n;
}

std::string PcapFileSource::shortRead(const char* what, std::size_t have, std::size_t want) const {
  if (read_errno_ != 0) return std::string("read error: ") + std::strerror(read_errno_);
  return std::string("truncated ") + what + ": the file ends after " + std::to_string(have) + " of " +
         std::to_string(want) + " bytes";
}

ReadStatus PcapFileSource::fail(const std::string& reason) {
  error_ = name_ + ": bad record at byte offset " + std::to_string(offset_) + " after frame " +
           std::to_string(frame_) + ": " + reason;
  finished_ = true;
  return ReadStatus::Error;
}

ReadStatus PcapFileSource::next(RawPacket& out) {
  if (finished_) return error_.empty() ? ReadStatus::End : ReadStatus::Error;
  if (!fill(record_header_)) {
    if (available() == 0 && read_errno_ == 0) {
      finished_ = true;
      return ReadStatus::End;
    }
    return fail(shortRead("record header", available(), record_header_));
  }
  ByteReader r(std::span<const std::uint8_t>(buf_.data() + begin_, record_header_));
  std::uint32_t seconds = 0, fraction = 0, captured = 0, original = 0;
  // record_header_ bytes are there: these reads cannot fall short.
  (void)(readU32(r, seconds) && readU32(r, fraction) && readU32(r, captured) && readU32(r, original));
  if (lengths_ == Lengths::Swapped || (lengths_ == Lengths::MaybeSwapped && captured > original)) {
    std::swap(captured, original);
  }
  if (captured > PCAP_MAX_RECORD) {
    return fail("captured length " + std::to_string(captured) + " is more than the largest record accepted (" +
                std::to_string(PCAP_MAX_RECORD) + " bytes)");
  }
  const std::size_t total = record_header_ + captured;
  if (!fill(total)) return fail(shortRead("record", available() - record_header_, captured));
  ++frame_;
  // §5: seconds are unsigned; the fraction is micro- or nanoseconds by the magic number.
  out.ref.ts_ns = static_cast<std::int64_t>(seconds) * NS_PER_SECOND +
                  static_cast<std::int64_t>(fraction) * (nanoseconds_ ? 1 : NS_PER_MICROSECOND);
  out.ref.frame = frame_;
  out.ref.source = source_id_;
  out.linktype = linktype_;
  // A record longer than the file header's snap length is handed out whole,
  // as the file holds it. libpcap cuts it to the snap length, but the header
  // is no promise about the records: tcpdump -s 1500 on an interface with GRO
  // or LRO writes merged frames of up to 64 KiB whole, and a header rewritten
  // afterwards (editcap, a merge) keeps the records as they were. Cutting them
  // threw away bytes that are there: a client Certificate in a merged frame
  // became a gap, its device unknown, and the capture was said to be cut by
  // its snap length (tshark and our pcapng reader read such records whole).
  // PCAP_MAX_RECORD, above, still bounds what a record may make us hold.
  out.data = std::span<const std::uint8_t>(buf_.data() + begin_ + record_header_, captured);
  out.orig_len = original;
  begin_ += total;
  offset_ += total;
  return ReadStatus::Packet;
}

}  // namespace provaudit::capture
