#pragma once
// Live capture from a network interface through libpcap (pcap_create ...
// pcap_activate, BPF filter), as a PacketSource. Reads never block for long:
// the handle is non-blocking and waits in poll() on its selectable descriptor
// in short slices, so stop() from another thread ends a read promptly.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capture/packet_source.h"
#include "common/c_handles.h"

struct pcap_pkthdr;

namespace provaudit::capture {

// Default filter: all TCP, so content detection still finds TLS and HTTP on
// any port (a provisioning server on 8443 or 10443 is common).
inline constexpr const char* DEFAULT_LIVE_FILTER = "tcp";
// tcpdump's default snap length: whole frames, including jumbo and GRO/TSO
// super-frames as the kernel presents them.
inline constexpr int DEFAULT_SNAPLEN = 262144;
// Kernel ring per interface. 64 MiB holds about half a second at 1 Gbit/s,
// enough to ride out an audit pass or a slow disk without kernel drops.
inline constexpr int DEFAULT_BUFFER_MIB = 64;
inline constexpr int MAX_BUFFER_MIB = 4096;
// Longest single wait in poll(): bounds how long stop() takes to be noticed.
inline constexpr std::chrono::milliseconds LIVE_POLL_SLICE{100};
// After stop(), packets the kernel already holds are still read for at most
// this long, so that what was on the wire before Ctrl-C is analysed.
inline constexpr std::chrono::milliseconds LIVE_STOP_DRAIN{1000};

struct LiveOptions {
  std::string interface;            // "eth1", or "any" (Linux cooked SLL frames)
  std::string filter = DEFAULT_LIVE_FILTER;
  int snaplen = DEFAULT_SNAPLEN;
  int buffer_mib = DEFAULT_BUFFER_MIB;
  bool promisc = true;
  bool immediate = true;            // deliver each packet at once, not when a kernel block fills
};

// Cumulative since the interface was opened (pcap_stats(3PCAP)).
struct LiveStats {
  std::uint64_t received = 0;         // ps_recv: packets the filter accepted
  std::uint64_t kernel_drops = 0;     // ps_drop: no room in the kernel ring
  std::uint64_t interface_drops = 0;  // ps_ifdrop: dropped by the interface or its driver
};

enum class LiveRead { Packet, Timeout, Stopped, Error };

class LivePacketSource final : public PacketSource {
 public:
  // Opens and activates the interface and installs the filter. Returns nullptr
  // with `err` = one line "IFACE: reason" on failure. pcap_activate() warnings
  // (promiscuous mode not supported, ...) are appended to `warnings`, one line
  // each, for the caller to print once.
  static std::unique_ptr<LivePacketSource> open(const LiveOptions& opts, std::uint32_t source_id, std::string& err,
                                                std::vector<std::string>& warnings);
  ~LivePacketSource() override;

  // PacketSource: waits until a packet arrives (Packet), stop() is called (End)
  // or the capture fails (Error, e.g. the interface went away).
  ReadStatus next(RawPacket& out) override;
  // The same, waiting at most `timeout` (Timeout), for loops that have other
  // work to do now and then. `out.data` is valid until the next read.
  LiveRead nextFor(RawPacket& out, std::chrono::milliseconds timeout);
  // Any thread, async-signal-safe (an atomic store): reads return what the
  // kernel already captured (for at most LIVE_STOP_DRAIN), then Stopped/End.
  void stop() { stop_.store(true, std::memory_order_relaxed); }

  // pcap_stats() of the handle; call from the reading thread. nullopt when libpcap cannot tell.
  std::optional<LiveStats> stats();

  std::string error() const override { return error_; }
  std::uint64_t bytesRead() const override { return bytes_; }
  std::optional<std::uint64_t> totalBytes() const override { return std::nullopt; }
  std::string name() const override { return interface_; }

  [[nodiscard]] int linktype() const { return linktype_; }
  [[nodiscard]] int snaplen() const { return snaplen_; }
  [[nodiscard]] std::uint64_t packets() const { return frame_; }

 private:
  LivePacketSource(PcapPtr handle, std::string interface, std::uint32_t source_id);
  LiveRead fail(const char* what);
  LiveRead take(const pcap_pkthdr* hdr, const std::uint8_t* data, RawPacket& out);  // one packet read: fill `out`

  PcapPtr pcap_;
  std::string interface_;
  std::uint32_t source_id_ = 0;
  int fd_ = -1;                // pcap_get_selectable_fd(); -1: plain blocking reads with a timeout
  bool nanoseconds_ = false;   // tv_usec holds nanoseconds (PCAP_TSTAMP_PRECISION_NANO granted)
  int linktype_ = 0;
  int snaplen_ = 0;
  std::uint64_t frame_ = 0;
  std::uint64_t bytes_ = 0;
  std::atomic<bool> stop_{false};
  std::optional<std::chrono::steady_clock::time_point> drain_deadline_;  // set when stop() is first noticed
  std::string error_;
};

}  // namespace provaudit::capture
