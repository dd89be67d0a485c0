#pragma once
// Live capture's analysis workers. Each capture thread (one per interface)
// decodes its packets and hands every TCP segment to one of N workers, chosen
// by a symmetric hash of the 5-tuple (flow_hash.h), so both directions of a
// connection reach the same worker and its flow table. The hand-off is one
// bounded SPSC ring per (capture thread, worker) pair: a full ring drops the
// packet and counts it (drops_queue), it never blocks capture.
//
// Why decode in the capture thread rather than in the worker: the worker must
// be chosen by the *inner* 5-tuple, which only the full Decoder knows (VLAN,
// QinQ, GRE/ERSPAN/VXLAN decap, IPv6 extension headers, and IP fragments, whose
// later pieces carry no ports until reassembled). A partial parse would send
// tunnelled traffic to one worker and fragments to the wrong one, and results
// would differ from a single worker. Decoding is cheap next to reassembly and
// TLS parsing, and non-TCP traffic is discarded before it costs a queue slot.
//
// Each worker owns a FlowTable (the flow stage of CaptureEngine; the decode
// stage ran upstream), the StreamHandlerFactory it was given (its own
// FlowAnalyzerFactory) and its AnomalyCounters. All interfaces share the
// workers' flow tables: a SPAN session that mirrors each direction to its own
// port still makes one connection.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "capture/decoder.h"
#include "capture/evidence_tap.h"
#include "capture/flow_table.h"
#include "capture/packet_source.h"
#include "capture/spsc_queue.h"
#include "common/anomaly.h"
#include "common/stream.h"

namespace provaudit::capture {

// Ring slots per capture thread (interface), divided among its rings to the
// workers: 16 Ki full-size frames buffer about 0.2 s of 1 Gbit/s, enough to
// absorb a burst or a slow audit. Each worker sees its share of the traffic,
// so its share of the slots buffers as long; and every worker waits when the
// writer does, so the rings together absorb what one ring of all the slots
// would. The memory of the rings then does not grow with --workers.
inline constexpr std::size_t DEFAULT_QUEUE_SLOTS = 16384;
// A ring has at least this many slots (or all of them, if fewer were asked for).
inline constexpr std::size_t MIN_RING_SLOTS = 256;
inline constexpr std::size_t MAX_WORKERS = 256;
// A slot keeps its buffers for the next packet up to this size (a standard
// Ethernet frame, its payload), so a ring of ordinary traffic allocates nothing.
inline constexpr std::size_t QUEUE_SLOT_KEEP_BYTES = 2 * 1024;
// Larger buffers (jumbo frames, and the super-frames GRO makes on a busy link,
// up to the snap length) are kept while the large buffers of a capture
// thread's rings stay within this (divided among its rings as the slots are,
// at least MIN_RING_LARGE_BYTES a ring), and given back after use beyond it.
// A capture thread's rings then hold at most slots x 2 x
// QUEUE_SLOT_KEEP_BYTES + QUEUE_LARGE_BYTES_MAX of packet memory (16 Ki
// slots: 72 MiB) whatever --workers, where keeping every slot's buffer up to
// 16 KiB (as before) let one ring grow to 512 MiB, and the live sensor's peak
// RSS on the 1 GB corpus to 452 MB (bench/RESULTS.md, session 11); and where
// each worker's ring had all the slots, 72 MiB a worker (session 16).
inline constexpr std::size_t QUEUE_LARGE_BYTES_MAX = 8 * 1024 * 1024;
inline constexpr std::size_t MIN_RING_LARGE_BYTES = 1024 * 1024;
// One ring's share of a capture thread's `slots` (a power of two, the rings'
// size, rounded down) and of QUEUE_LARGE_BYTES_MAX among `workers` rings.
[[nodiscard]] std::size_t ringSlots(std::size_t slots, std::size_t workers);
[[nodiscard]] std::size_t ringLargeBytes(std::size_t workers);
// What a capture thread's rings may hold at most: every slot's two kept
// buffers and the large buffers (16 Ki slots: 72 MiB).
[[nodiscard]] std::uint64_t ringMemoryMax(std::size_t slots = DEFAULT_QUEUE_SLOTS);
// What `interfaces` capture interfaces may hold beyond the one at the
// default kernel buffer that analyze::RUN_BASE_BYTES allows for: each its
// kernel buffer (-B `buffer_mib`, mapped into the process once it fills) and
// its capture thread's rings. The memory warning (evidenceMemoryWarning) adds it.
[[nodiscard]] std::uint64_t captureMemoryBeyondBase(std::size_t interfaces, std::uint64_t buffer_mib,
                                                    std::uint64_t default_buffer_mib);
// A worker with nothing to do sleeps at most this long before it looks at the
// clock (idle flow expiry) and the rings again.
inline constexpr std::chrono::milliseconds WORKER_IDLE_WAIT{100};
// Workers publish their counters for the writer thread this often (wall time).
inline constexpr std::chrono::milliseconds WORKER_PUBLISH_INTERVAL{500};
// Packets taken from one ring before looking at the next (fairness between interfaces).
inline constexpr std::size_t WORKER_BATCH = 64;

// One packet in transit: the decoded headers plus owned copies of the TCP
// payload and (for the evidence file only) the raw frame.
struct QueuedPacket {
  DecodedPacket decoded;               // decoded.payload is re-pointed at `payload` by the worker
  std::vector<std::uint8_t> payload;
  std::vector<std::uint8_t> frame;     // empty unless evidence is being written
  std::uint32_t orig_len = 0;
  std::size_t large_kept = 0;          // large buffer bytes kept, in the ring's budget (worker only)
};

// What a worker has done so far; copied out for the writer thread.
struct WorkerSnapshot {
  FlowStats flows;
  AnomalyCounters anomalies;
  std::uint64_t packets = 0;           // segments taken from the rings
  std::size_t active_flows = 0;
  std::int64_t last_ts_ns = 0;         // latest packet time seen
  std::uint64_t evidence_packets = 0;
  std::size_t queue_large_bytes = 0;   // large buffers kept by the slots of this worker's rings
};

struct WorkerSetup {
  StreamHandlerFactory* factory = nullptr;   // the worker's analyzers (not shared)
  AnomalyCounters* anomalies = nullptr;      // the counters those analyzers use (not shared)
  PcapngWriter* evidence = nullptr;          // shared evidence file, or nullptr
  DetectionProbe detection;                  // with `evidence`: the analyzers' detection counters
};

class WorkerPool {
 public:
  // `queue_slots` per producer and `limits` for the whole pool: each
  // worker's ring and flow table has its share (ringSlots, FlowLimits::shareFor).
  WorkerPool(std::size_t producers, std::vector<WorkerSetup> workers, std::size_t queue_slots = DEFAULT_QUEUE_SLOTS,
             FlowLimits limits = {});
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void start();
  // Producer `producer` (one thread each): queue a decoded TCP segment; `raw`
  // is the frame it came from. False when the ring was full (counted).
  bool submit(std::size_t producer, const DecodedPacket& pkt, const RawPacket& raw);
  // After every producer has stopped: workers drain their rings, close all
  // flows (EndOfInput, so pending handshakes are reported) and exit; joins them.
  void finish();

  [[nodiscard]] std::size_t workers() const { return workers_.size(); }
  [[nodiscard]] std::size_t workerFor(const DecodedPacket& pkt) const;
  // The pool's limits, and one worker's share of them.
  [[nodiscard]] const FlowLimits& limits() const { return limits_; }
  [[nodiscard]] const FlowLimits& workerLimits() const { return worker_limits_; }
  [[nodiscard]] std::size_t ringSlots() const { return ring_slots_; }
  // Any thread.
  [[nodiscard]] WorkerSnapshot snapshot(std::size_t worker) const;
  [[nodiscard]] std::uint64_t queueDrops() const;
  [[nodiscard]] std::uint64_t queueDrops(std::size_t producer) const;

 private:
  struct Worker;
  void run(Worker& w);
  bool anyQueued(const Worker& w) const;
  SpscQueue<QueuedPacket>& queue(std::size_t producer, std::size_t worker) {
    return *queues_[producer * workers_.size() + worker];
  }

  std::size_t producers_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::unique_ptr<SpscQueue<QueuedPacket>>> queues_;  // [producer * workers + worker]
  FlowLimits limits_;
  FlowLimits worker_limits_;
  std::size_t ring_slots_ = 0;
  std::size_t ring_large_bytes_ = 0;
  std::atomic<bool> finishing_{false};
  bool started_ = false;
};

}  // namespace provaudit::capture
