#include "app/live_sensor.h"

#include <algorithm>
#include <cstdio>

#include "common/text.h"

namespace provaudit::app {
namespace {

constexpr const char* DROP_COUNTERS[] = {"drops_kernel", "drops_interface", "drops_queue"};

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

void CountingSink::onTls(analyze::TlsObservation&& obs) {
  tls_.fetch_add(1, std::memory_order_relaxed);
  if (obs.client_cert == analyze::ClientCertState::Present) certs_.fetch_add(1, std::memory_order_relaxed);
  next_.onTls(std::move(obs));
}

void CountingSink::onHttp(analyze::HttpObservation&& obs) {
  http_.fetch_add(1, std::memory_order_relaxed);
  next_.onHttp(std::move(obs));
}

LiveSensor::LiveSensor(store::Database& db, Pipeline& pipe, capture::WorkerPool& pool,
                       std::vector<capture::InterfaceReader*> readers, const CountingSink& sink,
                       capture::PcapngWriter* evidence, bool quiet, int verbose)
    : db_(db),
      pipe_(pipe),
      pool_(pool),
      readers_(std::move(readers)),
      sink_(sink),
      evidence_(evidence),
      quiet_(quiet),
      verbose_(verbose),
      started_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count()),
      last_status_(std::chrono::steady_clock::now()) {}

std::map<std::string, std::uint64_t> LiveSensor::totals() const {
  std::map<std::string, std::uint64_t> t;
  for (const auto* r : readers_) {
    const auto c = r->snapshot();
    t["packets"] += c.packets;
    t["bytes"] += c.bytes;
    t["drops_kernel"] += c.drops_kernel;
    t["drops_interface"] += c.drops_interface;
    t["drops_queue"] += c.drops_queue;
  }
  for (std::size_t i = 0; i < pool_.workers(); ++i) {
    const auto s = pool_.snapshot(i);
    t["flows"] += s.flows.flows_created;
    t["flows_bypassed"] += s.flows.flows_bypassed;
    t["flows_evicted"] += s.flows.flows_evicted;
    t["flows_timed_out"] += s.flows.flows_timed_out;
    t["evidence_packets"] += s.evidence_packets;
  }
  t["tls_handshakes"] = sink_.tls();
  t["http_requests"] = sink_.http();
  t["client_certificates"] = sink_.clientCerts();
  t["cert_cache_evictions"] = pipe_.certs().evictions();
  return t;
}

void LiveSensor::tick(bool final) {
  // A database that cannot be written for now (a full disk: Pipeline::
  // retryStoreErrors) is waited out: the flush keeps what it could not
  // store, the audit and the statistics wait for it.
  if (final) pipe_.retryNow();
  pipe_.flush();
  const auto now = std::chrono::steady_clock::now();
  if (!pipe_.storeFailing() && (final || (pipe_.dirty() && now >= next_audit_))) {
    try {
      const analyze::AuditResult& result = pipe_.audit();
      last_audit_ = {};
      last_audit_.devices = result.devices.size();
      for (const auto& d : result.devices) {
        last_audit_.classes[d.identity]++;
        last_audit_.findings += d.findings.size();
      }
      // As the dashboard counts them: the servers' findings too.
      for (const auto& srv : result.servers) last_audit_.findings += srv.findings.size();
      const auto done = std::chrono::steady_clock::now();
      next_audit_ = done + (done - now) * AUDIT_IDLE_FACTOR;
    } catch (const store::DbError& e) {
      if (!e.storageUnavailable()) throw;
      pipe_.storeFailed(e);
    }
  }
  flushEvidence(final);
  if (!pipe_.storeFailing()) {
    std::map<std::string, std::uint64_t> saved = saved_;
    try {
      db_.transaction([&] {
        saveSources(final);
        saveStats(saved);
      });
      saved_ = std::move(saved);  // only once they are committed
    } catch (const store::DbError& e) {
      if (!e.storageUnavailable()) throw;
      pipe_.storeFailed(e);
    }
  }
  warnDrops(final);
  if (verbose_ > 0 && !final) verboseStatus();
}

void LiveSensor::flushEvidence(bool final) {
  if (evidence_ == nullptr) return;
  // A file that cannot be written (a full disk) is tried again, its evidence
  // kept in memory meanwhile (PcapngWriter): said once when it starts, once
  // when it is written again, and what was lost when the run ends first.
  const bool ok = evidence_->flush(final);
  if (!ok && final) {
    // The run ends first: nothing is kept for later.
    std::fprintf(stderr, "provaudit: warning: %s; %llu packets of evidence could not be written\n",
                 evidence_->error().c_str(),
                 static_cast<unsigned long long>(evidence_->packetsWaiting() + evidence_->packetsLost()));
    return;
  }
  if (!ok && !evidence_failing_said_) {
    evidence_failing_said_ = true;
    lost_before_failing_ = evidence_->packetsLost();
    evidence_failing_since_ = std::chrono::steady_clock::now();
    evidence_failure_ = evidence_->failureReason();
    std::fprintf(stderr,
                 "provaudit: warning: %s; its evidence is kept in memory (up to %zu MiB) and written when there is "
                 "room again\n",
                 evidence_->error().c_str(), capture::EVIDENCE_FAILING_BUFFER_BYTES >> 20);
  } else if (ok && evidence_failing_said_) {
    evidence_failing_said_ = false;
    const std::uint64_t lost = evidence_->packetsLost() - lost_before_failing_;
    const std::string meanwhile = lost == 0 ? "every packet kept meanwhile is written"
                                            : std::to_string(lost) + " packets could not be kept meanwhile";
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - evidence_failing_since_).count();
    std::fprintf(stderr, "provaudit: %s is written again, after %.0f s of '%s'; %s\n", evidence_->path().c_str(),
                 seconds, evidence_failure_.c_str(), meanwhile.c_str());
  }
}

void LiveSensor::saveSources(bool final) {
  // Flow-stage and analyzer anomalies are not per interface (the workers'
  // flow tables are shared by all interfaces): they go with the first one.
  AnomalyCounters workers;
  for (std::size_t i = 0; i < pool_.workers(); ++i) workers.merge(pool_.snapshot(i).anomalies);
  for (std::size_t i = 0; i < readers_.size(); ++i) {
    const auto c = readers_[i]->snapshot();
    store::SourceRecord rec;
    rec.name = readers_[i]->name();
    rec.kind = "interface";
    rec.key = rec.name + "@" + std::to_string(started_ns_);
    rec.first_ts_ns = c.first_ts_ns;
    rec.last_ts_ns = c.last_ts_ns;
    rec.packets = c.packets;
    rec.bytes = c.bytes;
    rec.error = c.error;
    rec.status = !c.error.empty() ? "error" : (final ? "complete" : "running");
    AnomalyCounters anomalies = c.anomalies;
    if (i == 0) {
      anomalies.merge(workers);
      // The audit's own (sightings past --max-sightings, undecodable rows):
      // this thread's, between its flushes and audits. The dashboard lists them.
      anomalies.merge(pipe_.auditAnomalies());
    }
    db_.saveSource(rec, anomalies);
  }
}

void LiveSensor::saveStats(std::map<std::string, std::uint64_t>& saved) {
  // The stats table is cumulative over runs: add only what grew since the last save.
  for (const auto& [name, value] : totals()) {
    const std::uint64_t before = saved[name];
    if (value > before) db_.addStat(name, static_cast<std::int64_t>(value - before));
    saved[name] = std::max(value, before);
  }
}

void LiveSensor::warnDrops(bool final) {
  const auto now = std::chrono::steady_clock::now();
  if (!final && last_warning_ && now - *last_warning_ < DROP_WARNING_INTERVAL) return;
  const auto t = totals();
  bool grew = false;
  for (const char* name : DROP_COUNTERS) grew = grew || t.at(name) > warned_[name];
  if (!grew) return;
  std::string parts;
  for (const char* name : DROP_COUNTERS) {
    const std::uint64_t delta = t.at(name) - warned_[name];
    parts += (parts.empty() ? "" : ", ") + std::string(name + 6) + " +" + std::to_string(delta) + " (total " +
             std::to_string(t.at(name)) + ")";
    warned_[name] = t.at(name);
  }
  // Never silent, even with -q: dropped packets may hide a handshake.
  std::fprintf(stderr, "provaudit: warning: packets dropped: %s\n", parts.c_str());
  last_warning_ = now;
}

void LiveSensor::verboseStatus() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_status_ < VERBOSE_STATUS_INTERVAL) return;
  last_status_ = now;
  const auto t = totals();
  std::size_t active = 0;
  for (std::size_t i = 0; i < pool_.workers(); ++i) active += pool_.snapshot(i).active_flows;
  std::fprintf(stderr,
               "provaudit: %llu packets, %llu flows (%zu in tables), %llu TLS handshakes, %llu HTTP requests, drops "
               "kernel %llu interface %llu queue %llu\n",
               ull(t.at("packets")), ull(t.at("flows")), active, ull(t.at("tls_handshakes")),
               ull(t.at("http_requests")), ull(t.at("drops_kernel")), ull(t.at("drops_interface")),
               ull(t.at("drops_queue")));
}

void LiveSensor::summary() const {
  const auto t = totals();
  const std::uint64_t drops = t.at("drops_kernel") + t.at("drops_interface") + t.at("drops_queue");
  if (quiet_ && drops == 0) return;
  if (!quiet_) {
    const std::size_t devices = last_audit_.devices;
    const std::uint64_t findings = last_audit_.findings;
    std::map<std::string, int> classes = last_audit_.classes;
    std::fprintf(stderr, "provaudit: %s (%llu bytes), %s, %s (%s), %s; %s (individualized %d, generic %d, none %d, unknown %d), %s\n",
                 counted(t.at("packets"), "packet", "packets").c_str(), ull(t.at("bytes")),
                 counted(t.at("flows"), "flow", "flows").c_str(),
                 counted(t.at("tls_handshakes"), "TLS handshake", "TLS handshakes").c_str(),
                 counted(t.at("client_certificates"), "client certificate", "client certificates").c_str(),
                 counted(t.at("http_requests"), "HTTP request", "HTTP requests").c_str(),
                 counted(devices, "device", "devices").c_str(), classes["individualized"], classes["generic"],
                 classes["none"], classes["unknown"], counted(findings, "finding", "findings").c_str());
    for (const auto* r : readers_) {
      const auto c = r->snapshot();
      std::fprintf(stderr, "provaudit:   %s: %llu packets, %llu TCP segments%s%s\n", r->name().c_str(),
                   ull(c.packets), ull(c.tcp_segments), c.error.empty() ? "" : "; stopped: ", c.error.c_str());
    }
    if (evidence_ != nullptr) {
      const std::uint64_t lost = evidence_->packetsLost();
      std::fprintf(stderr, "provaudit:   evidence: %llu packets written to %s%s\n", ull(evidence_->packetsWritten()),
                   evidence_->path().c_str(),
                   lost == 0 ? "" : (" (" + std::to_string(lost) + " lost while it could not be written)").c_str());
    }
    if (verbose_ > 0) {
      // The workers' tables share the pool's limits (FlowLimits::shareFor):
      // their peaks, summed, against the limits of them all.
      std::uint64_t ooo_peak = 0, parsers_peak = 0, cut = 0;
      for (std::size_t i = 0; i < pool_.workers(); ++i) {
        const auto f = pool_.snapshot(i).flows;
        ooo_peak += f.buffered_bytes_peak;
        parsers_peak += f.handler_bytes_peak;
        cut += f.flows_cut;
      }
      const auto mib = [](std::uint64_t b) { return static_cast<double>(b) / (1 << 20); };
      const auto& limits = pool_.limits();
      std::fprintf(stderr,
                   "provaudit:   reassembly, the %zu workers' peaks summed: %.1f MiB out of order (limit %.0f for all "
                   "of them), %.1f MiB in parsers (limit %.0f), %llu flows cut at that limit; %zu flows at most "
                   "(%zu a worker); ring slots %zu a worker and interface\n",
                   pool_.workers(), mib(ooo_peak), mib(limits.max_buffered_total), mib(parsers_peak),
                   mib(limits.max_handler_bytes_total), ull(cut), limits.max_flows, pool_.workerLimits().max_flows,
                   pool_.ringSlots());
      AnomalyCounters all;
      for (const auto* r : readers_) all.merge(r->snapshot().anomalies);
      for (std::size_t i = 0; i < pool_.workers(); ++i) all.merge(pool_.snapshot(i).anomalies);
      all.forEach([](const std::string& n, std::uint64_t c) {
        std::fprintf(stderr, "  anomaly %s: %llu\n", n.c_str(), ull(c));
      });
    }
  }
  std::fprintf(stderr, "provaudit: drops: kernel %llu, interface %llu, queue %llu\n", ull(t.at("drops_kernel")),
               ull(t.at("drops_interface")), ull(t.at("drops_queue")));
}

}  // namespace provaudit::app
