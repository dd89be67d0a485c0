#include "capture/live_source.h"

#include <pcap/pcap.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace provaudit::capture {
namespace {

// pcap_next_ex() return codes (pcap(3PCAP)); libpcap names only the negative ones.
constexpr int PCAP_NEXT_EX_PACKET = 1;
constexpr int PCAP_NEXT_EX_NOTHING_YET = 0;  // non-blocking handle, or the buffer timeout expired
constexpr int PCAP_OK = 0;
constexpr int POLL_TIMED_OUT = 0;
constexpr int POLL_FAILED = -1;
constexpr int BPF_OPTIMIZE = 1;
constexpr int NONBLOCK_ON = 1;
constexpr std::int64_t NS_PER_SECOND = 1'000'000'000;
constexpr std::int64_t NS_PER_MICROSECOND = 1'000;
constexpr std::int64_t MIB = 1024 * 1024;

std::string oneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

// A compiled BPF program owns its instruction array; pcap_freecode() frees it.
// It is a struct filled in place, not a handle, so it gets a scope guard here
// rather than a unique_ptr alias in common/c_handles.h.
struct BpfProgram {
  bpf_program prog{};
  bool compiled = false;
  BpfProgram() = default;
  BpfProgram(const BpfProgram&) = delete;
  BpfProgram& operator=(const BpfProgram&) = delete;
  ~BpfProgram() {
    if (compiled) pcap_freecode(&prog);
  }
};

}  // namespace

LivePacketSource::LivePacketSource(PcapPtr handle, std::string interface, std::uint32_t source_id)
    : pcap_(std::move(handle)), interface_(std::move(interface)), source_id_(source_id) {}

LivePacketSource::~LivePacketSource() = default;

std::unique_ptr<LivePacketSource> LivePacketSource::open(const LiveOptions& opts, std::uint32_t source_id,
                                                         std::string& err, std::vector<std::string>& warnings) {
  const std::string& dev = opts.interface;
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  PcapPtr handle(pcap_create(dev.c_str(), errbuf));
  if (!handle) {
    err = dev + ": " + oneLine(errbuf);
    return nullptr;
  }
  pcap* p = handle.get();
  // These only fail on an already activated handle; the checks keep the
  // contract of each call visible.
  if (pcap_set_snaplen(p, opts.snaplen) != PCAP_OK || pcap_set_promisc(p, opts.promisc ? 1 : 0) != PCAP_OK ||
      pcap_set_immediate_mode(p, opts.immediate ? 1 : 0) != PCAP_OK ||
      pcap_set_timeout(p, static_cast<int>(LIVE_POLL_SLICE.count())) != PCAP_OK ||
      pcap_set_buffer_size(p, static_cast<int>(std::int64_t{opts.buffer_mib} * MIB)) != PCAP_OK) {
    err = dev + ": cannot configure the capture handle: " + oneLine(pcap_geterr(p));
    return nullptr;
  }
  // Nanosecond timestamps where the kernel offers them (Linux does); else microseconds.
  const bool asked_nano = pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO) == PCAP_OK;
  const int rc = pcap_activate(p);
  if (rc < 0) {
    // PCAP_ERROR_PERM_DENIED, PCAP_ERROR_NO_SUCH_DEVICE, PCAP_ERROR_IFACE_NOT_UP, ...
    std::string detail = oneLine(pcap_geterr(p));
    err = dev + ": " + pcap_statustostr(rc);
    if (!detail.empty() && detail != pcap_statustostr(rc)) err += " (" + detail + ")";
    if (rc == PCAP_ERROR_PERM_DENIED) err += "; needs root or CAP_NET_RAW and CAP_NET_ADMIN";
    return nullptr;
  }
  if (rc > 0) {
    // PCAP_WARNING_PROMISC_NOTSUP, PCAP_WARNING_TSTAMP_TYPE_NOTSUP, PCAP_WARNING.
    std::string detail = oneLine(pcap_geterr(p));
    std::string w = dev + ": " + pcap_statustostr(rc);
    if (!detail.empty() && detail != pcap_statustostr(rc)) w += " (" + detail + ")";
    warnings.push_back(w);
  }
  if (!opts.filter.empty()) {
    BpfProgram bpf;
    if (pcap_compile(p, &bpf.prog, opts.filter.c_str(), BPF_OPTIMIZE, PCAP_NETMASK_UNKNOWN) != PCAP_OK) {
      err = dev + ": bad filter '" + opts.filter + "': " + oneLine(pcap_geterr(p));
      return nullptr;
    }
    bpf.compiled = true;
    if (pcap_setfilter(p, &bpf.prog) != PCAP_OK) {
      err = dev + ": cannot install filter: " + oneLine(pcap_geterr(p));
      return nullptr;
    }
  }
  auto src = std::unique_ptr<LivePacketSource>(new LivePacketSource(std::move(handle), dev, source_id));
  src->nanoseconds_ = asked_nano && pcap_get_tstamp_precision(src->pcap_.get()) == PCAP_TSTAMP_PRECISION_NANO;
  src->linktype_ = pcap_datalink(src->pcap_.get());
  src->snaplen_ = pcap_snapshot(src->pcap_.get());
  src->fd_ = pcap_get_selectable_fd(src->pcap_.get());
  if (src->fd_ >= 0 && pcap_setnonblock(src->pcap_.get(), NONBLOCK_ON, errbuf) != PCAP_OK) {
    src->fd_ = -1;  // fall back to blocking reads bounded by the buffer timeout
  }
  return src;
}

LiveRead LivePacketSource::fail(const char* what) {
  error_ = interface_ + ": " + what + ": " + oneLine(pcap_geterr(pcap_.get()));
  return LiveRead::Error;
}

LiveRead LivePacketSource::take(const pcap_pkthdr* hdr, const std::uint8_t* data, RawPacket& out) {
  ++frame_;
  bytes_ += hdr->len;
  const std::int64_t frac = static_cast<std::int64_t>(hdr->ts.tv_usec);
  out.ref.ts_ns = static_cast<std::int64_t>(hdr->ts.tv_sec) * NS_PER_SECOND +
                  (nanoseconds_ ? frac : frac * NS_PER_MICROSECOND);
  out.ref.frame = frame_;
  out.ref.source = source_id_;
  out.linktype = linktype_;
  out.data = std::span<const std::uint8_t>(data, hdr->caplen);
  out.orig_len = hdr->len;
  return LiveRead::Packet;
}

LiveRead LivePacketSource::nextFor(RawPacket& out, std::chrono::milliseconds timeout) {
  if (!error_.empty()) return LiveRead::Error;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const bool stopping = stop_.load(std::memory_order_relaxed);
    if (stopping && !drain_deadline_) drain_deadline_ = std::chrono::steady_clock::now() + LIVE_STOP_DRAIN;
    if (stopping && (fd_ < 0 || std::chrono::steady_clock::now() >= *drain_deadline_)) return LiveRead::Stopped;
    pcap_pkthdr* hdr = nullptr;
    const std::uint8_t* data = nullptr;
    const int rc = pcap_next_ex(pcap_.get(), &hdr, &data);
    if (rc == PCAP_NEXT_EX_PACKET) return take(hdr, data, out);
    if (rc == PCAP_ERROR_BREAK) return LiveRead::Stopped;
    if (rc != PCAP_NEXT_EX_NOTHING_YET) return fail("capture failed");
    // Stopping: what the kernel had already captured has been read.
    if (stopping) return LiveRead::Stopped;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return LiveRead::Timeout;
    if (fd_ < 0) continue;  // blocking handle: pcap_next_ex() itself waited up to the buffer timeout
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    const auto slice = std::max(std::chrono::milliseconds(1), std::min(left, LIVE_POLL_SLICE));
    pollfd pfd{fd_, POLLIN, 0};
    const int prc = ::poll(&pfd, 1, static_cast<int>(slice.count()));
    if (prc == POLL_FAILED && errno != EINTR) {
      error_ = interface_ + ": poll: " + std::strerror(errno);
      return LiveRead::Error;
    }
    if (prc == POLL_TIMED_OUT) continue;
    if ((pfd.revents & (POLLERR | POLLNVAL)) != 0) {
      // The socket reports an error (interface removed, ...): let pcap_next_ex() say which.
      const int rc2 = pcap_next_ex(pcap_.get(), &hdr, &data);
      if (rc2 < 0 && rc2 != PCAP_ERROR_BREAK) return fail("capture failed");
      if (rc2 == PCAP_NEXT_EX_PACKET) return take(hdr, data, out);  // rare: a packet after all
    }
  }
}

ReadStatus LivePacketSource::next(RawPacket& out) {
  for (;;) {
    switch (nextFor(out, LIVE_POLL_SLICE)) {
      case LiveRead::Packet:
        return ReadStatus::Packet;
      case LiveRead::Timeout:
        continue;
      case LiveRead::Stopped:
        return ReadStatus::End;
      case LiveRead::Error:
        return ReadStatus::Error;
    }
  }
}

std::optional<LiveStats> LivePacketSource::stats() {
  pcap_stat ps{};
  if (pcap_stats(pcap_.get(), &ps) != PCAP_OK) return std::nullopt;
  LiveStats s;
  s.received = ps.ps_recv;
  s.kernel_drops = ps.ps_drop;
  s.interface_drops = ps.ps_ifdrop;
  return s;
}

}  // namespace provaudit::capture
