#pragma once
// The writer side of live capture: every second it flushes the observations
// the workers queued, re-runs the audit when evidence arrived, and stores the
// per-interface source records, the merged anomaly counters and the run's
// counters (packets, bytes, flows, drops at each stage) as deltas. It warns on
// stderr when any drop counter grows (at most once per DROP_WARNING_INTERVAL)
// and prints the summary at exit. Writer thread only.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analyze/observation.h"
#include "app/pipeline.h"
#include "capture/evidence_writer.h"
#include "capture/interface_reader.h"
#include "capture/worker_pool.h"
#include "store/database.h"

namespace provaudit::app {

inline constexpr std::chrono::seconds DROP_WARNING_INTERVAL{10};
inline constexpr std::chrono::seconds VERBOSE_STATUS_INTERVAL{10};
// The audit re-derives every device from all evidence, so its cost grows with
// the database. After an audit that took T, the next waits at least
// AUDIT_IDLE_FACTOR x T: the writer spends at most 1 / (1 + factor) of a core
// auditing, and small sites still see findings within about a second.
inline constexpr int AUDIT_IDLE_FACTOR = 3;

// Counts what the analyzers report, race-free, then hands it to the Pipeline.
class CountingSink final : public analyze::ObservationSink {
 public:
  explicit CountingSink(analyze::ObservationSink& next) : next_(next) {}
  void onTls(analyze::TlsObservation&& obs) override;
  void onHttp(analyze::HttpObservation&& obs) override;
  [[nodiscard]] std::uint64_t tls() const { return tls_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t http() const { return http_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t clientCerts() const { return certs_.load(std::memory_order_relaxed); }

 private:
  analyze::ObservationSink& next_;
  std::atomic<std::uint64_t> tls_{0}, http_{0}, certs_{0};
};

class LiveSensor {
 public:
  LiveSensor(store::Database& db, Pipeline& pipe, capture::WorkerPool& pool,
             std::vector<capture::InterfaceReader*> readers, const CountingSink& sink,
             capture::PcapngWriter* evidence, bool quiet, int verbose);

  // One writer pass. `final`: capture has ended and the workers are drained:
  // always audit, mark the sources complete (or error).
  void tick(bool final);
  // The exit summary (always prints drops when there were any, even with -q).
  void summary() const;
  // Counter totals by stats name (what tick() stores as deltas).
  [[nodiscard]] std::map<std::string, std::uint64_t> totals() const;

 private:
  void flushEvidence(bool final);  // the evidence file (-w), and what to say of it
  void saveSources(bool final);
  // Adds what grew since `saved` (what the table has) and updates it.
  void saveStats(std::map<std::string, std::uint64_t>& saved);
  void warnDrops(bool final);
  void verboseStatus();

  store::Database& db_;
  Pipeline& pipe_;
  capture::WorkerPool& pool_;
  std::vector<capture::InterfaceReader*> readers_;
  const CountingSink& sink_;
  capture::PcapngWriter* evidence_;
  bool quiet_;
  int verbose_;
  std::int64_t started_ns_;  // wall clock at start: part of each interface's source key
  std::map<std::string, std::uint64_t> saved_;       // totals already added to the stats table
  std::map<std::string, std::uint64_t> warned_;      // drop totals at the last warning
  std::optional<std::chrono::steady_clock::time_point> last_warning_;
  std::chrono::steady_clock::time_point last_status_;
  // The last audit's tally, for the summary (its result lives until the next audit only).
  struct AuditTally {
    std::size_t devices = 0;
    std::uint64_t findings = 0;
    std::map<std::string, int> classes;
  };
  AuditTally last_audit_;
  std::chrono::steady_clock::time_point next_audit_{};  // not before (AUDIT_IDLE_FACTOR)
  bool evidence_failing_said_ = false;   // the evidence file's failure was said, and not its end
  std::uint64_t lost_before_failing_ = 0;  // PcapngWriter::packetsLost() when that failure started
  std::chrono::steady_clock::time_point evidence_failing_since_{};
  std::string evidence_failure_;           // its reason ("No space left on device")
};

}  // namespace provaudit::app
