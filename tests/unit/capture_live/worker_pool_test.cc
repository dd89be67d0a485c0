// Analysis workers (capture/worker_pool.h): every segment of a flow, both
// directions, reaches one worker's flow table in order; full rings drop and count.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../capture/packet_builder.h"
#include "../capture/recording_handler.h"
#include "capture/decoder.h"
#include "capture/evidence_tap.h"
#include "capture/evidence_writer.h"
#include "capture/worker_pool.h"

using namespace provaudit;
using namespace provaudit::capture;
using namespace provaudit::capture::test;
namespace fs = std::filesystem;

namespace {

constexpr std::uint16_t ETHERTYPE_IPV4 = 0x0800;
constexpr std::uint8_t IPPROTO_TCP_NUM = 6;
constexpr int FLOWS = 40;

Frame segment(std::uint8_t client, std::uint16_t cport, bool from_client, std::uint32_t seq, std::uint8_t flags,
              const std::string& payload) {
  const std::uint16_t sport = from_client ? cport : 443;
  const std::uint16_t dport = from_client ? 443 : cport;
  return ethernet(ETHERTYPE_IPV4, ipv4(IPPROTO_TCP_NUM, tcp(sport, dport, seq, flags, payload),
                                       from_client ? client : 2, from_client ? 2 : client));
}

struct Harness {
  std::vector<std::unique_ptr<Recorder>> recorders;
  std::vector<std::unique_ptr<AnomalyCounters>> anomalies;
  std::unique_ptr<WorkerPool> pool;

  Harness(std::size_t workers, std::size_t slots, FlowLimits limits = {}, PcapngWriter* evidence = nullptr) {
    std::vector<WorkerSetup> setups;
    for (std::size_t i = 0; i < workers; ++i) {
      recorders.push_back(std::make_unique<Recorder>());
      anomalies.push_back(std::make_unique<AnomalyCounters>());
      WorkerSetup s;
      s.factory = recorders.back().get();
      s.anomalies = anomalies.back().get();
      if (evidence != nullptr) {
        s.evidence = evidence;
        s.detection = [] { return DetectionCounts{}; };  // nothing recognised: every flow stays pending
      }
      setups.push_back(std::move(s));
    }
    pool = std::make_unique<WorkerPool>(1, std::move(setups), slots, limits);
  }

  bool submit(const Frame& f, std::int64_t ts) {
    AnomalyCounters decode_anomalies;
    Decoder dec(decode_anomalies);
    DecodedPacket d;
    const RawPacket raw = rawPacket(LINKTYPE_ETHERNET, f, ts);
    REQUIRE(dec.decode(raw, d));
    return pool->submit(0, d, raw);
  }

  // Every flow's client stream, over all workers, keyed by client port.
  std::map<std::uint16_t, std::string> clientStreams() const {
    std::map<std::uint16_t, std::string> out;
    for (const auto& r : recorders) {
      for (const Event& e : r->events) {
        if (e.kind == Event::Data && e.side == Side::Client) out[e.info.client.port] += e.bytes;
      }
    }
    return out;
  }
};

// Sends FLOWS connections (SYN, SYN-ACK, two request segments, a reply), interleaved.
void sendFlows(Harness& h) {
  std::int64_t ts = 1'000'000'000;
  for (int i = 0; i < FLOWS; ++i) {
    const auto port = static_cast<std::uint16_t>(40000 + i);
    REQUIRE(h.submit(segment(11, port, true, 1000, TCP_SYN, ""), ts++));
    REQUIRE(h.submit(segment(11, port, false, 5000, TCP_SYN | TCP_ACK, ""), ts++));
  }
  for (int i = 0; i < FLOWS; ++i) {
    const auto port = static_cast<std::uint16_t>(40000 + i);
    REQUIRE(h.submit(segment(11, port, true, 1001, TCP_ACK | TCP_PSH, "GET /a"), ts++));
  }
  for (int i = 0; i < FLOWS; ++i) {
    const auto port = static_cast<std::uint16_t>(40000 + i);
    REQUIRE(h.submit(segment(11, port, true, 1007, TCP_ACK | TCP_PSH, "/" + std::to_string(i)), ts++));
    REQUIRE(h.submit(segment(11, port, false, 5001, TCP_ACK | TCP_PSH, "HTTP/1.1 200"), ts++));
  }
}

}  // namespace

TEST_CASE("worker pool: both directions of every flow reach one worker, streams intact") {
  for (std::size_t workers : {1u, 3u}) {
    Harness h(workers, 1024);
    h.pool->start();
    sendFlows(h);
    h.pool->finish();
    const auto streams = h.clientStreams();
    REQUIRE(streams.size() == static_cast<std::size_t>(FLOWS));
    for (int i = 0; i < FLOWS; ++i) CHECK(streams.at(static_cast<std::uint16_t>(40000 + i)) == "GET /a/" + std::to_string(i));
    // One handler per flow in total, and each saw the server's reply on the same worker.
    int created = 0, server_data = 0;
    for (const auto& r : h.recorders) {
      created += r->created;
      for (const Event& e : r->events) server_data += (e.kind == Event::Data && e.side == Side::Server) ? 1 : 0;
    }
    CHECK(created == FLOWS);
    CHECK(server_data == FLOWS);
    if (workers > 1) {
      int busy = 0;
      for (const auto& r : h.recorders) busy += r->created > 0 ? 1 : 0;
      CHECK(busy > 1);  // 40 flows do not all hash to one worker
    }
    CHECK(h.pool->queueDrops() == 0);
    // End of capture closes every flow (EndOfInput), as replay does at end of file.
    int closed = 0;
    for (const auto& r : h.recorders) closed += r->closes(CloseReason::EndOfInput);
    CHECK(closed == FLOWS);
  }
}

TEST_CASE("worker pool: a full ring drops the packet and counts it") {
  Harness h(1, 4);  // not started: nothing consumes
  const Frame f = segment(11, 40000, true, 1000, TCP_SYN, "");
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += h.submit(f, 1'000'000'000 + i) ? 1 : 0;
  CHECK(accepted == 4);
  CHECK(h.pool->queueDrops() == 6);
  CHECK(h.pool->queueDrops(0) == 6);
}

TEST_CASE("worker pool: snapshots report packets and flows for the writer thread") {
  Harness h(2, 1024);
  h.pool->start();
  sendFlows(h);
  h.pool->finish();
  std::uint64_t packets = 0, flows = 0;
  for (std::size_t i = 0; i < 2; ++i) {
    const auto s = h.pool->snapshot(i);
    packets += s.packets;
    flows += s.flows.flows_created;
  }
  CHECK(packets == static_cast<std::uint64_t>(FLOWS) * 5);
  CHECK(flows == static_cast<std::uint64_t>(FLOWS));
}

TEST_CASE("worker pool: a ring keeps large buffers (GRO super-frames) only within its budget") {
  // 1024 slots a ring, every one of them used by a 12 KiB segment (only the
  // payload: no evidence file, no frame): keeping them all would hold 12 MiB
  // in one ring, past QUEUE_LARGE_BYTES_MAX, the budget of all of a capture
  // thread's rings together: one worker's ring has all of it, one of four a
  // quarter.
  const std::size_t slots = 1024;
  static_assert(1024 * 12 * 1024 > QUEUE_LARGE_BYTES_MAX);
  for (const std::size_t workers : {std::size_t{1}, std::size_t{4}}) {
    CAPTURE(workers);
    Harness h(workers, slots * workers);
    REQUIRE(h.pool->ringSlots() == slots);
    h.pool->start();
    const std::string big(12 * 1024, 'x');
    std::int64_t ts = 1'000'000'000;
    std::uint32_t seq = 1001;
    REQUIRE(h.submit(segment(11, 40000, true, 1000, TCP_SYN, ""), ts++));
    for (std::size_t i = 0; i < 2 * slots; ++i) {
      // Retried while the worker catches up: every segment is delivered.
      while (!h.submit(segment(11, 40000, true, seq, TCP_ACK | TCP_PSH, big), ts)) std::this_thread::yield();
      ++ts;
      seq += static_cast<std::uint32_t>(big.size());
    }
    h.pool->finish();
    WorkerSnapshot s;
    for (std::size_t i = 0; i < workers; ++i) {
      if (h.pool->snapshot(i).packets > 0) s = h.pool->snapshot(i);  // the flow's worker
    }
    CHECK(s.packets == 2 * slots + 1);
    CHECK(s.queue_large_bytes > 0);                                // large buffers are kept, up to the budget
    CHECK(s.queue_large_bytes <= QUEUE_LARGE_BYTES_MAX / workers);  // and no further
    // The stream arrived whole.
    CHECK(h.clientStreams()[40000].size() == 2 * slots * big.size());
  }
}

TEST_CASE("worker pool: a capture thread's ring slots are divided among the workers' rings") {
  CHECK(ringSlots(16384, 1) == 16384);
  CHECK(ringSlots(16384, 4) == 4096);
  CHECK(ringSlots(16384, 3) == 4096);  // a ring's size is a power of two: rounded down, never past the whole
  CHECK(ringSlots(16384, 256) == MIN_RING_SLOTS);  // at least this many a ring
  CHECK(ringSlots(8, 4) == 8);                     // or all that were asked for
  CHECK(ringLargeBytes(1) == QUEUE_LARGE_BYTES_MAX);
  CHECK(ringLargeBytes(4) == QUEUE_LARGE_BYTES_MAX / 4);
  CHECK(ringLargeBytes(256) == MIN_RING_LARGE_BYTES);
  // Not started: nothing consumes. One flow's packets all go to one of the
  // four rings, which holds a quarter of the slots.
  Harness h(4, 1024);
  const Frame f = segment(11, 40000, true, 1000, TCP_SYN, "");
  int accepted = 0;
  for (int i = 0; i < 1000; ++i) accepted += h.submit(f, 1'000'000'000 + i) ? 1 : 0;
  CHECK(accepted == 256);
  CHECK(h.pool->queueDrops() == 1000 - 256);
}

TEST_CASE("worker pool: what interfaces hold beyond the one at the default buffer that the memory base allows for") {
  constexpr std::uint64_t MIB = 1024 * 1024;
  CHECK(ringMemoryMax() == 72 * MIB);  // 16 Ki slots x 2 buffers x 2 KiB, and 8 MiB of large ones
  CHECK(ringMemoryMax(1024) == 4 * MIB + QUEUE_LARGE_BYTES_MAX);
  CHECK(captureMemoryBeyondBase(1, 64, 64) == 0);                       // the usual: nothing beyond
  CHECK(captureMemoryBeyondBase(1, 16, 64) == 0);                       // less: still nothing
  CHECK(captureMemoryBeyondBase(2, 64, 64) == (64 + 72) * MIB);         // a second interface: its buffer and rings
  CHECK(captureMemoryBeyondBase(1, 512, 64) == 448 * MIB);              // a larger kernel buffer
  CHECK(captureMemoryBeyondBase(3, 128, 64) == (3 * (128 + 72) - (64 + 72)) * MIB);
}

TEST_CASE("worker pool: the flow limits are the pool's, each worker's table a share") {
  // 1,000 connections that never end (a SYN each), across four workers whose
  // tables may hold 64 flows together: each holds 16 and evicts the least
  // recently used beyond (with the whole limit each, 256 would stay).
  FlowLimits limits;
  limits.max_flows = 64;
  limits.max_buffered_total = 1 << 20;
  limits.max_handler_bytes_total = 1 << 20;
  Harness h(4, 4096, limits);
  CHECK(h.pool->limits().max_flows == 64);
  CHECK(h.pool->workerLimits().max_flows == 16);
  CHECK(h.pool->workerLimits().max_buffered_total == (1 << 18));
  CHECK(h.pool->workerLimits().max_handler_bytes_total == (1 << 18));
  CHECK(h.pool->workerLimits().max_buffered_per_direction == limits.max_buffered_per_direction);
  h.pool->start();
  constexpr int SYNS = 1000;
  std::int64_t ts = 1'000'000'000;
  for (int i = 0; i < SYNS; ++i) {
    const auto client = static_cast<std::uint8_t>(20 + i / 250);
    const auto port = static_cast<std::uint16_t>(30000 + i % 250);
    while (!h.submit(segment(client, port, true, 1000, TCP_SYN, ""), ts)) std::this_thread::yield();
    ++ts;
  }
  h.pool->finish();
  std::uint64_t created = 0, evicted = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto s = h.pool->snapshot(i);
    REQUIRE(s.flows.flows_created > 16);  // every worker got more than its share
    created += s.flows.flows_created;
    evicted += s.flows.flows_evicted;
  }
  CHECK(created == SYNS);
  CHECK(evicted == SYNS - 64);
}

TEST_CASE("worker pool: the evidence file's limits are the pool's, each worker's tap a share") {
  // 100,000 connections that are never recognised (a SYN each): the taps of
  // four workers track MAX_EVIDENCE_FLOWS of them together, a quarter each;
  // the rest are counted (with the whole limit each, none would be).
  const fs::path path = fs::temp_directory_path() / ("pa_pool_evidence_" + std::to_string(::getpid()) + ".pcapng");
  std::string err;
  auto writer = PcapngWriter::create(path.string(), err);
  REQUIRE(writer);
  Harness h(4, 16384, FlowLimits{}, writer.get());
  h.pool->start();
  constexpr std::size_t SYNS = 100000;
  std::int64_t ts = 1'000'000'000;
  for (std::size_t i = 0; i < SYNS; ++i) {
    const auto client = static_cast<std::uint8_t>(20 + i / 50000);
    const auto port = static_cast<std::uint16_t>(10000 + i % 50000);
    while (!h.submit(segment(client, port, true, 1000, TCP_SYN, ""), ts)) std::this_thread::yield();
    ++ts;
  }
  h.pool->finish();
  std::uint64_t untracked = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    REQUIRE(h.pool->snapshot(i).flows.flows_created > MAX_EVIDENCE_FLOWS / 4);  // more than its share
    h.anomalies[i]->forEach([&](const std::string& name, std::uint64_t n) {
      if (name == "evidence_flows_untracked") untracked += n;
    });
  }
  CHECK(untracked == SYNS - MAX_EVIDENCE_FLOWS);
  writer.reset();
  std::error_code ec;
  fs::remove(path, ec);
}

TEST_CASE("flow limits: a table's share of limits meant for several") {
  FlowLimits all;
  all.max_flows = 1000;
  all.max_buffered_total = 64 << 20;
  all.max_handler_bytes_total = 10;
  const FlowLimits one = all.shareFor(1);
  CHECK(one.max_flows == 1000);
  CHECK(one.max_buffered_total == (64 << 20));
  CHECK(one.max_handler_bytes_total == 10);
  const FlowLimits third = all.shareFor(3);
  CHECK(third.max_flows == 334);  // rounded up
  CHECK(third.max_buffered_total == (64 << 20) / 3 + 1);
  CHECK(third.max_handler_bytes_total == 4);
  const FlowLimits many = all.shareFor(256);
  CHECK(many.max_flows == 4);
  CHECK(many.max_handler_bytes_total == 1);  // at least 1
  // The limits of one flow, and the times, are not divided.
  CHECK(many.max_buffered_per_direction == all.max_buffered_per_direction);
  CHECK(many.max_out_of_order_segments == all.max_out_of_order_segments);
  CHECK(many.idle_timeout_ns == all.idle_timeout_ns);
  CHECK(many.closed_linger_ns == all.closed_linger_ns);
}
