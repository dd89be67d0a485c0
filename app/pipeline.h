#pragma once
// Wires the stages for one run: packet sources -> capture engine -> flow
// analyzers -> observations -> store (batched) -> audit -> derived tables.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "analyze/audit.h"
#include "analyze/evidence_admission.h"
#include "analyze/flow_analyzer.h"
#include "analyze/rules.h"
#include "analyze/tls_decrypt.h"
#include "analyze/trust.h"
#include "app/commands.h"
#include "common/anomaly.h"
#include "store/database.h"
#include "store/sqlite_util.h"

namespace provaudit::app {

// Observations are written in transactions of this many, or at least every
// FLUSH_INTERVAL of wall time, whichever comes first.
inline constexpr std::size_t STORE_BATCH = 512;
inline constexpr std::chrono::milliseconds FLUSH_INTERVAL{1000};
// During a replay the derived tables are refreshed about once a second (so a
// killed run and a --serve dashboard see recent results), but never more often
// than AUDIT_COST_FACTOR times the audit's own cost: reading stays the main work.
inline constexpr int AUDIT_COST_FACTOR = 3;
// With a background writer on a core of its own and a dashboard watching
// (replay --serve), audits may follow each other closely.
inline constexpr int AUDIT_COST_FACTOR_BACKGROUND = 1;
// A replay nobody watches audits once early (about a second in: a killed run
// has devices), then this rarely (a dashboard in another process still sees
// recent results), and at the end. An audit
// holds the writer, the queue fills and reading waits: frequent audits
// doubled the 1 GB corpus's replay time (bench/RESULTS.md, session 3).
inline constexpr std::chrono::seconds UNWATCHED_AUDIT_INTERVAL{30};
// The last audit writes directly (Database::beginDirectWrites) only over at
// most this many sightings. Readers that open the database while it writes
// (a report, a dashboard started meanwhile) wait from its first spill to its
// commit: 1.1 s for the 1 GB corpus's 30k sightings here, so about 4 s at
// this limit, within the 10 s the command-line readers and a starting
// dashboard wait for a lock (bench/RESULTS.md, session 7). Past it, WAL: a
// reader never waits.
inline constexpr std::size_t DIRECT_WRITES_MAX_SIGHTINGS = 100000;
// Observations queued for a background writer before the producers wait,
// and their size (pendingBytes): a writer held by an audit or by another
// process's write while hostile observations arrive (each with a 250 KB
// certificate of its own, or 16 KiB of headers) would otherwise queue
// gigabytes. A batch is due at a sixteenth of it, as at STORE_BATCH.
inline constexpr std::size_t MAX_PENDING = 16 * STORE_BATCH;
inline constexpr std::size_t MAX_PENDING_BYTES = std::size_t{64} << 20;
inline constexpr std::size_t STORE_BATCH_BYTES = MAX_PENDING_BYTES / 16;
// Live capture: a database that cannot be written for now (a full disk, an
// I/O error, a lock held past the busy timeout: DbError::storageUnavailable)
// is tried again after STORE_RETRY_MIN, the wait doubling up to
// STORE_RETRY_MAX while it lasts.
inline constexpr std::chrono::seconds STORE_RETRY_MIN{1};
inline constexpr std::chrono::seconds STORE_RETRY_MAX{16};
// What a queued observation holds: itself, its texts and its client
// certificates (a server's chain is the same few certificates for a fleet,
// held once by the cache).
std::size_t pendingBytes(const analyze::TlsObservation& obs);
std::size_t pendingBytes(const analyze::HttpObservation& obs);

// Where the audits' time went (all audits of the run), for -v.
struct AuditTimes {
  int audits = 0;
  double load_s = 0;  // sightings read back as evidence (in audits, and between them)
  double derive_s = 0, store_s = 0, commit_s = 0;
  store::AuditWriteTimes store_parts;  // store_s, split
  double sightings_s = 0;  // flushes: observations written as sightings
  std::uint64_t rows_written = 0;
};

struct RunTotals {
  std::uint64_t packets = 0, bytes = 0, tcp_flows = 0, tls_handshakes = 0, http_requests = 0;
  std::uint64_t new_sightings = 0, client_certs = 0;
  std::uint64_t sources_ok = 0, sources_failed = 0;
};

// Thread model: onTls/onHttp may be called from any number of analysis
// threads (they only queue, under a mutex). flush() and audit() belong to one
// thread, the writer: in replay the background writer (startWriter) or, with
// auto_flush, the reading thread itself; in live capture a timer thread.
// Other database work while a background writer runs goes through
// withDatabase().
class Pipeline : public analyze::ObservationSink {
 public:
  // `rules`: loaded by loadRules() before the database is opened, so that a
  // rule set that does not load leaves no database behind.
  // `memory_extra`: what the run holds besides its evidence beyond
  // analyze::RUN_BASE_BYTES (a capture's buffers), for the memory warning.
  Pipeline(const CommonOptions& opts, std::shared_ptr<const analyze::RuleSet> rules, store::Database& db,
           bool auto_flush = true, const analyze::MemoryExtra& memory_extra = {});
  ~Pipeline() override;

  void onTls(analyze::TlsObservation&& obs) override;
  void onHttp(analyze::HttpObservation&& obs) override;

  // Moves flushing and periodic audits to a thread of its own, so that reading
  // and storing overlap. Producers wait when MAX_PENDING observations are
  // queued. stopWriter() flushes what is queued, joins, and rethrows what
  // the writer failed with (the database error, one line). `watched`: a
  // dashboard serves this run (audit about every second, else after a second
  // and then every UNWATCHED_AUDIT_INTERVAL; in both cases never more often than
  // AUDIT_COST_FACTOR times the audit's own cost, 1 when watched and a core is
  // free).
  void startWriter(bool watched = true);
  void stopWriter();
  // --events: findings are written when they first appear in an audit (live
  // capture), or only from the last audit (replay: its audits run by wall
  // time, so what a finding looked like at one depends on the machine's
  // speed; from the last, the same input gives the same events).
  void findingEventsFromLastAudit() { finding_events_last_only_ = true; }
  // Runs `fn` with the database while no flush or audit is running.
  void withDatabase(const std::function<void(store::Database&)>& fn);
  // Anomalies met while reading the evidence back (audit); the writer's own.
  const AnomalyCounters& auditAnomalies() const { return audit_anomalies_; }

  // Writes queued observations (one transaction); new ones join the evidence.
  void flush();
  // Live capture: a database that cannot be written for now does not end the
  // run. flush() keeps the observations it could not store, in their order
  // (producers wait once MAX_PENDING or MAX_PENDING_BYTES are queued: the
  // capture's rings fill and their drops are counted), says so once on
  // stderr, tries again later (STORE_RETRY_MIN, doubling up to
  // STORE_RETRY_MAX; at once after retryNow()), and says so again when the
  // database takes them. Flush thread only, as the calls below.
  void retryStoreErrors() { retry_store_errors_ = true; }
  [[nodiscard]] bool storeFailing() const { return store_failing_; }
  [[nodiscard]] const std::string& storeError() const { return store_error_; }
  // Such an error met outside flush() (an audit, the sensor's statistics).
  void storeFailed(const store::DbError& e);
  void retryNow() { next_store_retry_ = {}; }
  // Producers never wait again (before the workers that feed us are joined:
  // they must not wait for a flush that will not come).
  void releaseProducers();
  // --events lines that could not be written (a full disk): said once when it
  // starts and when it ends; a replay that lost some exits 1.
  [[nodiscard]] std::uint64_t eventsLost() const { return events_lost_; }
  // Observations queued and not stored yet (any thread).
  [[nodiscard]] std::size_t pendingCount() const;
  // The background writer stopped on an error (stopWriter() rethrows it): the
  // reading can stop. Any thread.
  [[nodiscard]] bool writerFailed() const;
  // True when evidence arrived since the last audit().
  bool dirty() const;
  // Runs the audit over all evidence (stored before this run and new) and
  // rewrites the derived tables. The result is valid until the next audit
  // (the devices that did not change move into it: analyze::AuditMemo).
  const analyze::AuditResult& audit();
  // The run's last audit (a replay's, after reading): as audit(), but when no
  // other connection has the database open and the evidence is at most
  // DIRECT_WRITES_MAX_SIGHTINGS, written through a rollback journal instead
  // of the WAL (Database::beginDirectWrites). Then the evidence held in
  // memory is released (an audit after this one would read it back from the
  // database), unless `exiting`: the process ends next and the system takes
  // it back at once (leaveToExit in cmd_replay.cc). Released after the
  // writing, not before: freeing 30k sightings' small allocations and writing
  // into the freed memory cost the 1 GB corpus's last audit 0.06 s, keeping
  // them costs the writing's own memory (the page cache and the encoder's
  // ring, about 20 MB whatever the evidence) on top of the peak
  // (bench/RESULTS.md, session 10).
  const analyze::AuditResult& lastAudit(bool exiting);
  // Loads the rules again (SIGHUP). On error the old rules stay and `err` says
  // why, one line. Writer thread only; the next audit() uses the new rules.
  bool reloadRules(std::string& err);

  analyze::FlowAnalyzerFactory& factory() { return factory_; }  // the replay thread's
  analyze::CertCache& certs() { return certs_; }                 // thread-safe, for more analyzers
  // The --keylog / --rsa-key keys, loaded once; null when none was given
  // (until a capture carries a key log: addCaptureKeyLog).
  std::shared_ptr<analyze::DecryptionKeys> decryption() { return decryption_; }
  // A TLS key log a capture file carries (a pcapng Decryption Secrets Block):
  // its lines are taken as --keylog's are, for the sessions after it in the
  // capture; without --keylog or --rsa-key the keys are made here and given
  // to factory(). Returns how many lines were taken as keys. Reading thread.
  std::uint64_t addCaptureKeyLog(std::string_view text);
  AnomalyCounters& anomalies() { return anomalies_; }
  RunTotals& totals() { return totals_; }
  const AuditTimes& auditTimes() const { return audit_times_; }
  // The most the writer's queue held at once (pendingBytes), for -v.
  std::size_t pendingPeakBytes() const {
    std::lock_guard lock(mu_);
    return pending_peak_bytes_;
  }
  const analyze::RuleSet& rules() const { return *rules_; }

 private:
  std::unique_ptr<analyze::TrustStore> trustStore(const std::vector<std::string>& files, const char* setting,
                                                  const char* option);
  void writeEvent(const std::string& line);
  void maybeFlush();
  void flushLocked();
  const analyze::AuditResult& auditLocked(bool last = false);
  // Reads the evidence stored since the last load (background writer, between
  // audits): the next audit loads only what came after.
  void preload();
  // Drops the evidence and claims held in memory (after the last audit).
  void releaseEvidence();
  // Sightings stored but left out of the evidence (--max-sightings): the
  // repeats read past the part taken in order, and once it is full the rest.
  std::uint64_t leftOut();
  // Sightings stored but left out of the evidence by the limit: counted, and
  // said once on stderr.
  void overLimit(std::uint64_t sightings);
  // After a load: when the evidence is full and more is stored, says so
  // (once); records how many are left out either way.
  void checkLimitAfterLoad();
  // Keeps STAT_SIGHTINGS_LEFT_OUT at `left` (written when it changes).
  void recordLeftOut(std::uint64_t left);
  void recordEvidenceBytes();  // STAT_AUDIT_EVIDENCE_BYTES, when it changed
  // Brings claims_tls_ / claims_http_ up to the evidence under the current rules.
  void readClaims();
  void writerLoop(std::chrono::steady_clock::duration min_interval, int cost_factor);
  bool auditDue(int cost_factor, std::chrono::steady_clock::duration min_interval = FLUSH_INTERVAL) const;
  // Producers wait here while a background writer has MAX_PENDING, or
  // MAX_PENDING_BYTES, queued (mu_ held).
  void waitForRoom(std::unique_lock<std::mutex>& lock, std::size_t bytes);
  bool batchDue() const;  // a batch's worth queued, by count or size (mu_ held)
  // A batch the database did not take goes back in front of the queue.
  void requeue(std::vector<analyze::TlsObservation>& tls, std::vector<analyze::HttpObservation>& http);
  void storeRecovered();
  const CommonOptions& opts_;
  const bool auto_flush_;
  mutable std::mutex mu_;        // guards pending_*, totals_, dirty_ and the writer flags
  std::mutex db_mu_;             // one flush, audit or withDatabase at a time
  std::condition_variable wake_writer_;   // a batch is ready, or stop
  std::condition_variable space_;         // the writer took the queue
  std::thread writer_;
  bool writer_running_ = false, writer_stop_ = false;
  std::exception_ptr writer_error_;
  // retryStoreErrors(): the flush thread's; store_waiting_ (mu_) makes
  // producers wait for room while the database cannot be written.
  bool retry_store_errors_ = false;
  bool store_failing_ = false;
  bool store_waiting_ = false, producers_released_ = false;  // mu_
  std::string store_error_;
  std::chrono::steady_clock::time_point store_failing_since_{}, next_store_retry_{};
  std::chrono::steady_clock::duration store_retry_{};
  AnomalyCounters audit_anomalies_;
  bool dirty_ = false;
  // The evidence: every sighting in the database (this run's and any other
  // process's), read incrementally by rowid. Writer thread only.
  std::vector<analyze::TlsObservation> evidence_tls_;
  std::vector<analyze::HttpObservation> evidence_http_;
  std::int64_t evidence_rowid_ = 0;   // the last sighting read (taken or left out)
  std::uint64_t replaced_seen_ = 0;   // db_.replacedSightings() when the evidence was last read
  analyze::EvidenceAdmission admission_;  // which of them the evidence holds
  bool over_limit_said_ = false;
  std::optional<std::uint64_t> left_out_stored_;  // STAT_SIGHTINGS_LEFT_OUT as we last wrote it
  std::optional<std::uint64_t> evidence_bytes_stored_;  // STAT_AUDIT_EVIDENCE_BYTES as we last wrote it
  // What the rules read from each piece of evidence (same order), kept from
  // audit to audit and computed again when the rules change (SIGHUP).
  std::vector<analyze::ObservationClaims> claims_tls_, claims_http_;
  const analyze::RuleSet* claims_rules_ = nullptr;
  std::map<std::string, analyze::CertPtr> certs_by_sha_;
  // The last audit's result, and what each of its devices was built from.
  analyze::AuditMemo memo_;
  std::unordered_map<std::string, std::uint64_t> written_devices_;  // what our last audit wrote
  std::int64_t audit_generation_ = -1;
  std::chrono::steady_clock::time_point last_audit_{};
  std::chrono::steady_clock::duration last_audit_cost_{};
  store::Database& db_;
  std::shared_ptr<const analyze::RuleSet> rules_;
  std::unique_ptr<analyze::TrustStore> device_ca_;
  std::unique_ptr<analyze::TrustStore> server_ca_;
  AnomalyCounters anomalies_;
  analyze::CertCache certs_;
  std::shared_ptr<analyze::DecryptionKeys> decryption_;
  analyze::FlowAnalyzerFactory factory_;
  std::vector<analyze::TlsObservation> pending_tls_;
  std::vector<analyze::HttpObservation> pending_http_;
  std::size_t pending_bytes_ = 0;  // pendingBytes() of both (mu_)
  std::size_t pending_peak_bytes_ = 0;  // the most pending_bytes_ was (mu_)
  std::chrono::steady_clock::time_point last_flush_;
  std::ofstream events_;
  void flushEvents();  // says once when the events file cannot be written, and when it can again
  std::uint64_t events_unflushed_ = 0, events_lost_ = 0;
  bool events_failing_ = false;
  int events_errno_ = 0;  // why the stream failed, when a write said
  std::set<std::string> reported_findings_;  // "device|code" already written as events
  bool finding_events_last_only_ = false;
  RunTotals totals_;
  AuditTimes audit_times_;
};

// Loads the rule set named by the options (or the bundled one); throws
// std::runtime_error with every error, one per line, when it does not load.
std::shared_ptr<const analyze::RuleSet> loadRules(const std::string& dir);

std::string nowIso();

}  // namespace provaudit::app
