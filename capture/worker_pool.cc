#include "capture/worker_pool.h"

#include <algorithm>
#include <bit>
#include <string>

#include "capture/capture_engine.h"
#include "capture/flow_hash.h"
#include "common/thread_name.h"

namespace provaudit::capture {

namespace {

// After a packet: the slot keeps its small buffers, and its large ones while
// the ring's large buffers (`ring_large`, kept by the worker) stay within
// `budget` (ringLargeBytes); otherwise they go.
void keepOrRelease(QueuedPacket& slot, std::size_t& ring_large, std::size_t budget) {
  ring_large -= slot.large_kept;
  slot.large_kept = 0;
  std::size_t large = 0;
  for (const auto* b : {&slot.payload, &slot.frame}) {
    if (b->capacity() > QUEUE_SLOT_KEEP_BYTES) large += b->capacity();
  }
  if (large == 0) return;
  if (ring_large + large <= budget) {
    slot.large_kept = large;
    ring_large += large;
    return;
  }
  for (auto* b : {&slot.payload, &slot.frame}) {
    if (b->capacity() > QUEUE_SLOT_KEEP_BYTES) std::vector<std::uint8_t>().swap(*b);
  }
}

}  // namespace

std::size_t ringSlots(std::size_t slots, std::size_t workers) {
  // A power of two (a ring's size: SpscQueue would round up), so that the
  // rings together hold no more than `slots`.
  return std::max(std::bit_floor(slots / std::max<std::size_t>(1, workers)), std::min(slots, MIN_RING_SLOTS));
}

std::size_t ringLargeBytes(std::size_t workers) {
  return std::max(QUEUE_LARGE_BYTES_MAX / std::max<std::size_t>(1, workers), MIN_RING_LARGE_BYTES);
}

std::uint64_t ringMemoryMax(std::size_t slots) {
  return std::uint64_t{slots} * 2 * QUEUE_SLOT_KEEP_BYTES + QUEUE_LARGE_BYTES_MAX;
}

std::uint64_t captureMemoryBeyondBase(std::size_t interfaces, std::uint64_t buffer_mib,
                                      std::uint64_t default_buffer_mib) {
  constexpr std::uint64_t MIB = 1024 * 1024;
  const std::uint64_t each = buffer_mib * MIB + ringMemoryMax();
  const std::uint64_t allowed = default_buffer_mib * MIB + ringMemoryMax();
  const std::uint64_t all = std::uint64_t{interfaces} * each;
  return all > allowed ? all - allowed : 0;
}

struct WorkerPool::Worker {
  std::size_t index = 0;
  WorkerSetup setup;
  std::unique_ptr<EvidenceTap> tap;  // between the flow table and the analyzers when evidence is written
  std::unique_ptr<FlowTable> table;
  std::thread thread;

  // Wake-up: a producer that finds the worker asleep notifies under wake_mu.
  std::mutex wake_mu;
  std::condition_variable wake_cv;
  std::atomic<bool> sleeping{false};

  mutable std::mutex snap_mu;
  WorkerSnapshot snap;

  // Worker thread only.
  std::uint64_t packets = 0;
  bool clock_started = false;
  std::int64_t next_expire_ns = 0;
  std::int64_t last_ts_ns = 0;
  std::chrono::steady_clock::time_point last_packet_wall{};
  PacketRef last_ref;
  std::vector<std::size_t> large_kept;  // per producer's ring: large buffer bytes its slots keep
};

WorkerPool::WorkerPool(std::size_t producers, std::vector<WorkerSetup> workers, std::size_t queue_slots,
                       FlowLimits limits)
    : producers_(producers),
      limits_(limits),
      worker_limits_(limits.shareFor(workers.size())),
      ring_slots_(capture::ringSlots(queue_slots, workers.size())),
      ring_large_bytes_(ringLargeBytes(workers.size())) {
  for (std::size_t i = 0; i < workers.size(); ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    w->setup = std::move(workers[i]);
    StreamHandlerFactory* factory = w->setup.factory;
    if (w->setup.evidence != nullptr) {
      w->tap = std::make_unique<EvidenceTap>(*w->setup.factory, *w->setup.evidence, w->setup.detection,
                                             *w->setup.anomalies, workers.size());
      factory = w->tap.get();
    }
    w->table = std::make_unique<FlowTable>(*factory, *w->setup.anomalies, worker_limits_);
    w->large_kept.assign(producers_, 0);
    workers_.push_back(std::move(w));
  }
  for (std::size_t i = 0; i < producers_ * workers_.size(); ++i) {
    queues_.push_back(std::make_unique<SpscQueue<QueuedPacket>>(ring_slots_));
  }
}

WorkerPool::~WorkerPool() {
  if (started_) finish();
}

void WorkerPool::start() {
  started_ = true;
  for (auto& w : workers_) {
    Worker* wp = w.get();
    w->thread = std::thread([this, wp] { run(*wp); });
    nameThread(w->thread, "pa-worker-" + std::to_string(wp->index));
  }
}

std::size_t WorkerPool::workerFor(const DecodedPacket& pkt) const {
  return workerForHash(symmetricFlowHash(pkt.src, pkt.sport, pkt.dst, pkt.dport), workers_.size());
}

bool WorkerPool::submit(std::size_t producer, const DecodedPacket& pkt, const RawPacket& raw) {
  const std::size_t wi = workerFor(pkt);
  auto& q = queue(producer, wi);
  QueuedPacket* slot = q.beginPush();
  if (slot == nullptr) return false;  // counted by the ring
  Worker& w = *workers_[wi];
  slot->decoded = pkt;
  slot->decoded.payload = {};  // points into the decoder's buffers: the copy below replaces it
  slot->payload.assign(pkt.payload.begin(), pkt.payload.end());
  if (w.setup.evidence != nullptr) {
    slot->frame.assign(raw.data.begin(), raw.data.end());
  } else {
    slot->frame.clear();
  }
  slot->orig_len = raw.orig_len;
  q.commitPush();
  if (w.sleeping.load(std::memory_order_seq_cst)) {
    std::lock_guard lock(w.wake_mu);
    w.wake_cv.notify_one();
  }
  return true;
}

bool WorkerPool::anyQueued(const Worker& w) const {
  for (std::size_t p = 0; p < producers_; ++p) {
    if (!queues_[p * workers_.size() + w.index]->empty()) return true;
  }
  return false;
}

void WorkerPool::run(Worker& w) {
  auto publish = [&w] {
    std::lock_guard lock(w.snap_mu);
    w.snap.flows = w.table->stats();
    w.snap.anomalies = *w.setup.anomalies;
    w.snap.packets = w.packets;
    w.snap.active_flows = w.table->activeFlows();
    w.snap.last_ts_ns = w.last_ts_ns;
    w.snap.evidence_packets = w.tap ? w.tap->packetsSaved() : 0;
    w.snap.queue_large_bytes = 0;
    for (const std::size_t n : w.large_kept) w.snap.queue_large_bytes += n;
  };
  auto expireAt = [&w](std::int64_t now_ns) {
    w.table->expire(now_ns);
    if (w.tap) w.tap->expire(now_ns);
    w.next_expire_ns = now_ns + EXPIRE_INTERVAL_NS;
  };
  auto next_publish = std::chrono::steady_clock::now() + WORKER_PUBLISH_INTERVAL;
  for (;;) {
    bool worked = false;
    for (std::size_t p = 0; p < producers_; ++p) {
      auto& q = queue(p, w.index);
      for (std::size_t n = 0; n < WORKER_BATCH; ++n) {
        QueuedPacket* slot = q.front();
        if (slot == nullptr) break;
        DecodedPacket& pkt = slot->decoded;
        pkt.payload = std::span<const std::uint8_t>(slot->payload);
        ++w.packets;
        const std::int64_t ts = pkt.ref.ts_ns;
        // Idle flows close on packet time, as in CaptureEngine::onPacket.
        if (!w.clock_started) {
          w.clock_started = true;
          w.next_expire_ns = ts + EXPIRE_INTERVAL_NS;
        } else if (ts >= w.next_expire_ns) {
          expireAt(ts);
        }
        if (ts >= w.last_ts_ns) {
          w.last_ts_ns = ts;
          w.last_ref = pkt.ref;
          w.last_packet_wall = std::chrono::steady_clock::now();
        }
        if (w.tap) w.tap->onPacket(pkt, slot->frame, slot->orig_len);
        w.table->countRawPacket(slot->orig_len);
        w.table->process(pkt);
        keepOrRelease(*slot, w.large_kept[p], ring_large_bytes_);
        q.pop();
        worked = true;
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_publish) {
      publish();
      next_publish = now + WORKER_PUBLISH_INTERVAL;
    }
    if (worked) continue;
    // finishing_ is set after every producer stopped: once the rings are empty they stay empty.
    if (finishing_.load(std::memory_order_seq_cst) && !anyQueued(w)) break;
    if (w.clock_started) {
      // No traffic: packet time stands still, yet idle flows must still close
      // (flows and memory stay bounded on a quiet link). Advance the packet
      // clock by the wall time since the last packet.
      const std::int64_t now_ns =
          w.last_ts_ns + std::chrono::duration_cast<std::chrono::nanoseconds>(now - w.last_packet_wall).count();
      if (now_ns >= w.next_expire_ns) expireAt(now_ns);
    }
    std::unique_lock lock(w.wake_mu);
    w.sleeping.store(true, std::memory_order_seq_cst);
    if (!anyQueued(w) && !finishing_.load(std::memory_order_seq_cst)) w.wake_cv.wait_for(lock, WORKER_IDLE_WAIT);
    w.sleeping.store(false, std::memory_order_seq_cst);
  }
  // End of capture: every flow still open is flushed and closed, so a handshake
  // in progress is reported as far as it was seen (as replay does at end of file).
  w.table->closeAll(w.last_ref);
  publish();
}

void WorkerPool::finish() {
  if (!started_) return;
  finishing_.store(true, std::memory_order_seq_cst);
  for (auto& w : workers_) {
    std::lock_guard lock(w->wake_mu);
    w->wake_cv.notify_one();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  started_ = false;
}

WorkerSnapshot WorkerPool::snapshot(std::size_t worker) const {
  const Worker& w = *workers_[worker];
  std::lock_guard lock(w.snap_mu);
  return w.snap;
}

std::uint64_t WorkerPool::queueDrops() const {
  std::uint64_t n = 0;
  for (const auto& q : queues_) n += q->drops();
  return n;
}

std::uint64_t WorkerPool::queueDrops(std::size_t producer) const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < workers_.size(); ++i) n += queues_[producer * workers_.size() + i]->drops();
  return n;
}

}  // namespace provaudit::capture
