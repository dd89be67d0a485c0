#pragma once
// One capture thread per interface: read (LivePacketSource), decode (Decoder,
// with this interface's fragment reassembly), and hand each TCP segment to the
// worker its symmetric flow hash names (WorkerPool). Counts everything it reads,
// decodes, drops, and what the kernel dropped (pcap_stats), for the writer thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "capture/live_source.h"
#include "capture/worker_pool.h"
#include "common/anomaly.h"

namespace provaudit::capture {

// pcap_stats() is asked, and counters are published, this often (wall time).
inline constexpr std::chrono::milliseconds READER_PUBLISH_INTERVAL{500};

struct InterfaceCounters {
  std::uint64_t packets = 0;          // frames read from libpcap
  std::uint64_t bytes = 0;            // their length on the wire
  std::uint64_t tcp_segments = 0;     // decoded TCP segments handed to a worker (or dropped at its ring)
  std::uint64_t not_tcp = 0;          // frames the decoder refused (non-TCP or malformed; malformed also count an anomaly)
  std::uint64_t drops_queue = 0;      // segments refused by a full worker ring
  std::uint64_t drops_kernel = 0;     // pcap_stats ps_drop
  std::uint64_t drops_interface = 0;  // pcap_stats ps_ifdrop
  std::int64_t first_ts_ns = 0, last_ts_ns = 0;
  AnomalyCounters anomalies;          // the decoder's (link layer, tunnels, IP, fragments)
  bool finished = false;              // the thread ended (stopped or failed)
  std::string error;                  // why it failed; empty when stopped normally
};

class InterfaceReader {
 public:
  // `producer` is this reader's index among the pool's producers.
  InterfaceReader(std::unique_ptr<LivePacketSource> source, std::size_t producer, WorkerPool& pool);
  ~InterfaceReader();
  InterfaceReader(const InterfaceReader&) = delete;
  InterfaceReader& operator=(const InterfaceReader&) = delete;

  void start();
  void stop() { source_->stop(); }  // any thread; the reader ends within LIVE_POLL_SLICE
  void join();

  [[nodiscard]] InterfaceCounters snapshot() const;
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const LivePacketSource& source() const { return *source_; }

 private:
  void run();
  void publish(const InterfaceCounters& c);

  std::unique_ptr<LivePacketSource> source_;
  std::string name_;
  std::size_t producer_;
  WorkerPool& pool_;
  std::thread thread_;
  mutable std::mutex mu_;
  InterfaceCounters published_;
};

}  // namespace provaudit::capture
