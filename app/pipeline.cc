#include "app/pipeline.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <utility>

#include "common/memory_limit.h"
#include "common/text.h"
#include "common/thread_name.h"
#include "store/json_codec.h"
#include "store/schema.h"

namespace provaudit::app {
namespace json = boost::json;

std::shared_ptr<const analyze::RuleSet> loadRules(const std::string& dir) {
  const std::string where = dir.empty() ? analyze::RuleSet::defaultDir() : dir;
  auto [rules, errors] = analyze::RuleSet::load(where);
  if (!errors.empty() || !rules) {
    std::string msg = "rules in " + where + " do not load: ";
    for (std::size_t i = 0; i < errors.size(); ++i) msg += (i == 0 ? "" : "; ") + errors[i].str();
    // The bundled rules were not found where an installed binary keeps them.
    if (dir.empty()) msg += " (install the bundled rules in ../share/provaudit/rules beside the binary, or give --rules DIR)";
    throw std::runtime_error(msg);
  }
  return rules;
}

std::string nowIso() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch());
  return isoTime(ns.count());
}

// The devices' (or servers') trusted CA bundle: the files given, kept in the
// database for the runs after; none given, the one kept (said, once a run);
// "none", none, and the one kept is forgotten. Every audit derives every
// device again from all the evidence: without this, a replay without --ca
// judged every chain unchecked and the trust findings were gone without a word.
std::unique_ptr<analyze::TrustStore> Pipeline::trustStore(const std::vector<std::string>& files, const char* setting,
                                                          const char* option) {
  if (files.size() == 1 && files.front() == "none") {
    db_.clearSetting(setting);
    return nullptr;
  }
  if (std::find(files.begin(), files.end(), "none") != files.end()) {
    throw std::invalid_argument(std::string(option) + " none: given with bundles; it forgets the one kept, alone");
  }
  if (!files.empty()) {
    auto trust = std::make_unique<analyze::TrustStore>(files);
    db_.setSetting(setting, analyze::TrustStore::readBundles(files));
    return trust;
  }
  const std::optional<std::string> kept = db_.setting(setting);
  if (!kept) return nullptr;
  auto trust = std::make_unique<analyze::TrustStore>(
      analyze::TrustStore::PemText{*kept, opts_.db + ": the " + option + " bundle kept from an earlier run"});
  if (!opts_.quiet) {
    std::fprintf(stderr,
                 "provaudit: chains are checked against the %s bundle an earlier run gave %s (%zu certificate%s; "
                 "%s FILE replaces it, %s none forgets it)\n",
                 option, terminalText(opts_.db).c_str(), trust->size(), trust->size() == 1 ? "" : "s", option, option);
  }
  return trust;
}

Pipeline::Pipeline(const CommonOptions& opts, std::shared_ptr<const analyze::RuleSet> rules, store::Database& db,
                   bool auto_flush, const analyze::MemoryExtra& memory_extra)
    : opts_(opts),
      auto_flush_(auto_flush),
      admission_(opts.max_sightings),
      db_(db),
      rules_(std::move(rules)),
      factory_(*this, anomalies_, certs_),
      last_flush_(std::chrono::steady_clock::now()) {
  device_ca_ = trustStore(opts.ca, store::SETTING_DEVICE_CA, "--ca");
  server_ca_ = trustStore(opts.server_ca, store::SETTING_SERVER_CA, "--server-ca");
  if (!opts.keylog.empty() || !opts.rsa_key.empty()) {
    decryption_ = std::make_shared<analyze::DecryptionKeys>();
    for (const auto& f : opts.keylog) decryption_->addKeyLogFile(f);
    for (const auto& spec : opts.rsa_key) decryption_->addRsaKeySpec(spec);
  }
  if (!opts.events.empty()) {
    events_.open(opts.events, std::ios::app);
    if (!events_) throw std::runtime_error(opts.events + ": cannot open events file for writing");
  }
  // Evidence from earlier runs is read at the first audit (from rowid 0).
  for (auto& k : db_.findingKeys()) reported_findings_.insert(std::move(k));
  db_.setStat(store::STAT_AUDIT_MAX_SIGHTINGS, static_cast<std::int64_t>(opts.max_sightings));
  recordEvidenceBytes();
  // Said before the reading starts, not when the kernel kills the process
  // (and kept for the dashboard, which says it for as long as it holds).
  const MemoryLimit memory = processMemoryLimit();
  db_.setStat(store::STAT_AUDIT_MEMORY_LIMIT, static_cast<std::int64_t>(memory.bytes));
  db_.setStat(store::STAT_AUDIT_MEMORY_EXTRA, static_cast<std::int64_t>(memory_extra.bytes));
  if (const auto w = analyze::evidenceMemoryWarning(opts.max_sightings, memory, memory_extra); !w.empty()) {
    std::fprintf(stderr, "%s\n", w.c_str());
  }
}

std::uint64_t Pipeline::addCaptureKeyLog(std::string_view text) {
  if (!decryption_) {
    decryption_ = std::make_shared<analyze::DecryptionKeys>();
    factory_.setDecryption(decryption_);  // the flows that start from now on decrypt
  }
  return decryption_->keylog().addText(text);
}

Pipeline::~Pipeline() {
  if (writer_.joinable()) {
    {
      std::lock_guard lock(mu_);
      writer_stop_ = true;
    }
    wake_writer_.notify_all();
    writer_.join();
  }
}

std::size_t pendingBytes(const analyze::TlsObservation& obs) {
  std::size_t n = sizeof obs + analyze::keptTextBytes(obs) + analyze::trimmedTextBytes(obs);  // queued whole
  for (const auto& c : obs.client_chain) {
    if (c) n += analyze::certFootprint(*c);
  }
  return n;
}

std::size_t pendingBytes(const analyze::HttpObservation& obs) { return sizeof obs + analyze::textBytes(obs); }

void Pipeline::onTls(analyze::TlsObservation&& obs) {
  const std::size_t bytes = pendingBytes(obs);
  {
    std::unique_lock lock(mu_);
    waitForRoom(lock, bytes);
    ++totals_.tls_handshakes;
    if (obs.client_cert == analyze::ClientCertState::Present) ++totals_.client_certs;
    pending_tls_.push_back(std::move(obs));
    pending_bytes_ += bytes;
    pending_peak_bytes_ = std::max(pending_peak_bytes_, pending_bytes_);
  }
  maybeFlush();
}

void Pipeline::onHttp(analyze::HttpObservation&& obs) {
  const std::size_t bytes = pendingBytes(obs);
  {
    std::unique_lock lock(mu_);
    waitForRoom(lock, bytes);
    ++totals_.http_requests;
    pending_http_.push_back(std::move(obs));
    pending_bytes_ += bytes;
    pending_peak_bytes_ = std::max(pending_peak_bytes_, pending_bytes_);
  }
  maybeFlush();
}

void Pipeline::waitForRoom(std::unique_lock<std::mutex>& lock, std::size_t bytes) {
  // An empty queue takes any one observation. Without a background writer
  // the flushing thread is the producer (replay's auto_flush) or a timer
  // that flushes whatever is queued (capture): no wait, unless the database
  // cannot be written for now.
  space_.wait(lock, [&] {
    return producers_released_ || !(writer_running_ || store_waiting_) ||
           (pending_tls_.size() + pending_http_.size() < MAX_PENDING &&
            (pending_bytes_ == 0 || pending_bytes_ + bytes <= MAX_PENDING_BYTES));
  });
}

void Pipeline::releaseProducers() {
  {
    std::lock_guard lock(mu_);
    producers_released_ = true;
  }
  space_.notify_all();
}

std::size_t Pipeline::pendingCount() const {
  std::lock_guard lock(mu_);
  return pending_tls_.size() + pending_http_.size();
}

bool Pipeline::writerFailed() const {
  std::lock_guard lock(mu_);
  return writer_error_ != nullptr;
}

void Pipeline::storeFailed(const store::DbError& e) {
  const auto now = std::chrono::steady_clock::now();
  if (!store_failing_) {
    store_failing_ = true;
    store_failing_since_ = now;
    store_retry_ = STORE_RETRY_MIN;
    // Said once, when it starts; the journal keeps it. Even with -q: what is
    // not stored is not audited, and once the queue is full packets are dropped.
    std::fprintf(stderr,
                 "provaudit: warning: %s; the observations not stored wait in memory (at most %zu MiB) and the "
                 "database is tried again every few seconds; once that is full, packets are dropped (counted)\n",
                 store::dbErrorText(opts_.db, e.what()).c_str(), MAX_PENDING_BYTES >> 20);
    std::lock_guard lock(mu_);
    store_waiting_ = true;
  } else {
    store_retry_ = std::min<std::chrono::steady_clock::duration>(store_retry_ * 2, STORE_RETRY_MAX);
  }
  store_error_ = e.what();
  next_store_retry_ = now + store_retry_;
}

bool Pipeline::batchDue() const {
  return pending_tls_.size() + pending_http_.size() >= STORE_BATCH || pending_bytes_ >= STORE_BATCH_BYTES;
}

bool Pipeline::auditDue(int cost_factor, std::chrono::steady_clock::duration min_interval) const {
  return std::chrono::steady_clock::now() - last_audit_ >= std::max(min_interval, cost_factor * last_audit_cost_);
}

void Pipeline::maybeFlush() {
  bool due = false;
  {
    std::lock_guard lock(mu_);
    due = batchDue() || std::chrono::steady_clock::now() - last_flush_ >= FLUSH_INTERVAL;
    if (writer_running_) {
      if (due) wake_writer_.notify_one();
      return;
    }
    if (writer_error_) {
      // The writer failed: nothing more can be stored; stopWriter() reports why.
      pending_tls_.clear();
      pending_http_.clear();
      pending_bytes_ = 0;
      return;
    }
  }
  if (!auto_flush_ || !due) return;
  flush();
  if (auditDue(AUDIT_COST_FACTOR)) audit();
}

void Pipeline::startWriter(bool watched) {
  {
    std::lock_guard lock(mu_);
    if (writer_running_) return;
    writer_running_ = true;
    writer_stop_ = false;
  }
  std::chrono::steady_clock::duration interval = FLUSH_INTERVAL;
  int factor = std::thread::hardware_concurrency() > 1 ? AUDIT_COST_FACTOR_BACKGROUND : AUDIT_COST_FACTOR;
  if (!watched) {
    interval = UNWATCHED_AUDIT_INTERVAL;
    factor = AUDIT_COST_FACTOR;
  }
  writer_ = std::thread([this, interval, factor] { writerLoop(interval, factor); });
  nameThread(writer_, "pa-writer");
}

void Pipeline::writerLoop(std::chrono::steady_clock::duration min_interval, int factor) {
  for (;;) {
    bool stop = false;
    {
      std::unique_lock lock(mu_);
      wake_writer_.wait_for(lock, FLUSH_INTERVAL, [&] { return writer_stop_ || batchDue(); });
      stop = writer_stop_;
    }
    try {
      flush();
      if (stop) break;
      // The first audit comes early and is small (a killed run has devices).
      if (dirty() && auditDue(factor, audit_times_.audits == 0 ? FLUSH_INTERVAL : min_interval)) audit();
      else preload();
    } catch (...) {
      // The reading goes on unhindered (producers no longer wait); the error
      // reaches the caller from stopWriter().
      std::exception_ptr error = std::current_exception();
      try {
        throw;
      } catch (const std::exception& e) {
        // Name the database: SQLite's messages do not.
        error = std::make_exception_ptr(std::runtime_error(store::dbErrorText(opts_.db, e.what())));
      } catch (...) {
      }
      std::lock_guard lock(mu_);
      writer_error_ = error;
      writer_running_ = false;
      pending_tls_.clear();
      pending_http_.clear();
      pending_bytes_ = 0;
      space_.notify_all();
      return;
    }
  }
}

void Pipeline::stopWriter() {
  if (!writer_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    writer_stop_ = true;
  }
  wake_writer_.notify_all();
  writer_.join();
  std::exception_ptr error;
  {
    std::lock_guard lock(mu_);
    writer_running_ = false;
    error = std::exchange(writer_error_, nullptr);
  }
  space_.notify_all();
  if (error) std::rethrow_exception(error);
}

void Pipeline::withDatabase(const std::function<void(store::Database&)>& fn) {
  std::lock_guard lock(db_mu_);
  fn(db_);
}

bool Pipeline::dirty() const {
  std::lock_guard lock(mu_);
  return dirty_ || !pending_tls_.empty() || !pending_http_.empty();
}

void Pipeline::writeEvent(const std::string& line) {
  if (!events_.is_open()) return;
  errno = 0;
  events_ << line << '\n';
  ++events_unflushed_;
  if (events_.fail() && events_errno_ == 0) events_errno_ = errno;  // the write that failed (its buffer was full)
}

void Pipeline::flushEvents() {
  if (!events_.is_open()) return;
  errno = 0;
  events_.flush();
  const std::uint64_t lines = std::exchange(events_unflushed_, 0);
  if (!events_.fail()) {
    if (events_failing_) {
      std::fprintf(stderr, "provaudit: %s is written again; %llu events were lost meanwhile\n", opts_.events.c_str(),
                   static_cast<unsigned long long>(events_lost_));
      events_failing_ = false;
    }
    return;
  }
  // A full disk, a file system gone read-only: said once, counted, and tried
  // again with the next events (the stream would otherwise stay failed, and
  // silent, for the rest of the run).
  const int err = events_errno_ != 0 ? events_errno_ : errno;
  events_errno_ = 0;
  events_lost_ += lines;
  if (!events_failing_) {
    std::fprintf(stderr, "provaudit: warning: %s: events not written (%s); trying again with the next ones\n",
                 opts_.events.c_str(), err != 0 ? std::strerror(err) : "write failed");
    events_failing_ = true;
  }
  events_.clear();
}

void Pipeline::flush() {
  std::lock_guard db_lock(db_mu_);
  flushLocked();
}

void Pipeline::requeue(std::vector<analyze::TlsObservation>& tls, std::vector<analyze::HttpObservation>& http) {
  std::size_t bytes = 0;
  for (const auto& t : tls) bytes += pendingBytes(t);
  for (const auto& h : http) bytes += pendingBytes(h);
  std::lock_guard lock(mu_);
  // In front of what came meanwhile, in their order.
  tls.insert(tls.end(), std::make_move_iterator(pending_tls_.begin()), std::make_move_iterator(pending_tls_.end()));
  http.insert(http.end(), std::make_move_iterator(pending_http_.begin()), std::make_move_iterator(pending_http_.end()));
  pending_tls_.swap(tls);
  pending_http_.swap(http);
  pending_bytes_ += bytes;
  pending_peak_bytes_ = std::max(pending_peak_bytes_, pending_bytes_);
}

void Pipeline::storeRecovered() {
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - store_failing_since_).count();
  std::fprintf(stderr,
               "provaudit: %s is written again, after %.0f s of '%s'; every observation queued meanwhile is stored\n",
               opts_.db.c_str(), waited, store_error_.c_str());
  store_failing_ = false;
  store_error_.clear();
  {
    std::lock_guard lock(mu_);
    store_waiting_ = false;
  }
  space_.notify_all();
}

void Pipeline::flushLocked() {
  // The database cannot be written for now: what is queued stays queued.
  if (store_failing_ && std::chrono::steady_clock::now() < next_store_retry_) return;
  std::vector<analyze::TlsObservation> tls;
  std::vector<analyze::HttpObservation> http;
  {
    std::lock_guard lock(mu_);
    last_flush_ = std::chrono::steady_clock::now();
    tls.swap(pending_tls_);
    http.swap(pending_http_);
    pending_bytes_ = 0;
  }
  space_.notify_all();
  if (tls.empty() && http.empty()) return;
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t added = 0;
  // Our new rows join the evidence as they are, without the round trip
  // through the database (JSON and certificate lookups, a third of the
  // writer's time on the 1 GB corpus), as long as their rowids follow on from
  // the evidence read so far: once another process's rows come between, the
  // rest is read back in rowid order by the next load, as before. Only an
  // unbroken prefix of the batch follows on: a sighting already stored (no
  // new row) ends it too. They are read here, once committed, as a load
  // would read them (admission_: --max-sightings).
  std::int64_t next_rowid = evidence_rowid_ + 1;
  std::size_t follow_tls = 0, follow_http = 0;
  const auto follows = [&](std::int64_t rowid, std::size_t& follow, std::size_t index) {
    if (rowid != next_rowid || follow != index) return;
    ++next_rowid;
    ++follow;
  };
  // The rows added, for --events once they are committed (a batch that is
  // tried again must not write its events twice).
  std::vector<std::size_t> added_tls, added_http;
  try {
    db_.transaction([&] {
      for (std::size_t i = 0; i < tls.size(); ++i) {
        if (const std::int64_t rowid = db_.addTls(tls[i])) {
          added_tls.push_back(i);
          follows(rowid, follow_tls, i);
        }
      }
      for (std::size_t i = 0; i < http.size(); ++i) {
        if (const std::int64_t rowid = db_.addHttp(http[i])) {
          added_http.push_back(i);
          if (follow_tls == tls.size()) follows(rowid, follow_http, i);
        }
      }
    });
  } catch (const store::DbError& e) {
    if (!retry_store_errors_ || !e.storageUnavailable()) throw;
    requeue(tls, http);
    storeFailed(e);
    return;
  }
  added = added_tls.size() + added_http.size();
  if (store_failing_) storeRecovered();
  if (const std::uint64_t replaced = db_.replacedSightings(); replaced != replaced_seen_) {
    // A handshake stored before was replaced by a better read of it: the
    // evidence held may have the old one, so the next audit reads it all
    // again from the database (rare: the same capture replayed whole after
    // cut short, or again with a key log).
    replaced_seen_ = replaced;
    releaseEvidence();
    follow_tls = follow_http = 0;
  }
  if (events_.is_open()) {
    for (const std::size_t i : added_tls) {
      json::object e = store::tlsToJson(tls[i]);
      e["event"] = "tls_handshake";
      e["time"] = isoTime(tls[i].first.ts_ns);
      writeEvent(json::serialize(e));
    }
    for (const std::size_t i : added_http) {
      json::object e = store::httpToJson(http[i]);
      e["event"] = "http_request";
      e["time"] = isoTime(http[i].flow.ref.ts_ns);
      writeEvent(json::serialize(e));
    }
  }
  // Committed: what follows on is read, in rowid order, until the evidence is full.
  const std::uint64_t skipped_before = admission_.skipped();
  std::size_t read_tls = 0, read_http = 0, taken = 0;
  for (; read_tls < follow_tls && !admission_.full(); ++read_tls) {
    auto& t = tls[read_tls];
    if (!admission_.admit(t)) continue;
    for (const auto* chain : {&t.client_chain, &t.server_chain}) {
      for (const auto& c : *chain) certs_by_sha_.emplace(c->sha256, c);
    }
    analyze::trimForAudit(t);  // as a load does
    evidence_tls_.push_back(std::move(t));
    ++taken;
  }
  for (; read_tls == follow_tls && read_http < follow_http && !admission_.full(); ++read_http) {
    if (!admission_.admit(http[read_http])) continue;
    evidence_http_.push_back(std::move(http[read_http]));
    ++taken;
  }
  evidence_rowid_ += static_cast<std::int64_t>(read_tls + read_http);
  // Left out: the repeats read past the part taken in order and, once the
  // evidence is full, every new row not taken (no load reads them).
  const std::uint64_t over = admission_.full() ? added - taken : admission_.skipped() - skipped_before;
  if (over > 0) overLimit(over);
  if (added > 0 && admission_.limited()) recordLeftOut(leftOut());
  if (taken > 0) recordEvidenceBytes();
  flushEvents();
  audit_times_.sightings_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::lock_guard lock(mu_);
  totals_.new_sightings += added;
  // New evidence, or rows the next load reads: an audit is due. Rows left
  // out (--max-sightings) change nothing it derives, and a sensor at its
  // limit would audit its whole evidence again and again.
  if (taken > 0 || (!admission_.full() && read_tls + read_http < added)) dirty_ = true;
}

bool Pipeline::reloadRules(std::string& err) {
  try {
    rules_ = loadRules(opts_.rules);
  } catch (const std::exception& e) {
    err = e.what();
    return false;
  }
  std::lock_guard lock(mu_);
  dirty_ = true;
  return true;
}

std::uint64_t Pipeline::leftOut() {
  return admission_.skipped() + (admission_.full() ? db_.sightingsAfter(evidence_rowid_) : 0);
}

void Pipeline::overLimit(std::uint64_t sightings) {
  audit_anomalies_.inc(PA_ANOMALY("audit_sightings_over_limit"), sightings);
  if (over_limit_said_) return;
  over_limit_said_ = true;
  std::fprintf(stderr,
               "provaudit: warning: %s holds more sightings than the audit may (--max-sightings %zu, or %s of "
               "evidence: a sighting counts as %llu KB at least, one with a long User-Agent or a large "
               "certificate as what it holds): past the first %zu (or four fifths of that size), only those that "
               "bring a new client, certificate, fingerprint, User-Agent or URL path are audited, up to the "
               "limit; the rest are stored but not audited; a run with a higher limit audits them\n",
               opts_.db.c_str(), admission_.max(), byteSize(admission_.maxBytes()).c_str(),
               static_cast<unsigned long long>(analyze::EVIDENCE_BYTES_PER_SIGHTING_MAX / 1024), admission_.inOrder());
}

void Pipeline::checkLimitAfterLoad() {
  // A load reads every stored sighting until the evidence is full: the
  // repeats it read past the part taken in order are left out, and once full
  // the rest.
  const std::uint64_t left = leftOut();
  if (left > 0 && !over_limit_said_) overLimit(left);
  recordLeftOut(left);
  recordEvidenceBytes();
}

void Pipeline::recordEvidenceBytes() {
  if (evidence_bytes_stored_ == admission_.bytes()) return;
  db_.setStat(store::STAT_AUDIT_EVIDENCE_BYTES, static_cast<std::int64_t>(admission_.bytes()));
  evidence_bytes_stored_ = admission_.bytes();
}

void Pipeline::recordLeftOut(std::uint64_t left) {
  if (left_out_stored_ == left) return;
  db_.setStat(store::STAT_SIGHTINGS_LEFT_OUT, static_cast<std::int64_t>(left));
  left_out_stored_ = left;
}

void Pipeline::preload() {
  std::lock_guard db_lock(db_mu_);
  const auto started = std::chrono::steady_clock::now();
  evidence_rowid_ = db_.loadObservationsSince(evidence_rowid_, evidence_tls_, evidence_http_, certs_, certs_by_sha_,
                                              audit_anomalies_, &admission_);
  checkLimitAfterLoad();
  readClaims();
  audit_times_.load_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

void Pipeline::readClaims() {
  if (claims_rules_ != rules_.get()) {
    claims_tls_.clear();
    claims_http_.clear();
    claims_rules_ = rules_.get();
    memo_.clear();  // new rules may read every device differently
  }
  for (std::size_t i = claims_tls_.size(); i < evidence_tls_.size(); ++i) {
    claims_tls_.push_back(analyze::claimsOf(evidence_tls_[i], *rules_));
  }
  for (std::size_t i = claims_http_.size(); i < evidence_http_.size(); ++i) {
    claims_http_.push_back(analyze::claimsOf(evidence_http_[i], *rules_));
  }
}

const analyze::AuditResult& Pipeline::audit() {
  std::lock_guard db_lock(db_mu_);
  return auditLocked();
}

void Pipeline::releaseEvidence() {
  // Swapped with empty containers: clear() would keep their capacity.
  std::vector<analyze::TlsObservation>().swap(evidence_tls_);
  std::vector<analyze::HttpObservation>().swap(evidence_http_);
  std::vector<analyze::ObservationClaims>().swap(claims_tls_);
  std::vector<analyze::ObservationClaims>().swap(claims_http_);
  claims_rules_ = nullptr;
  certs_by_sha_.clear();
  memo_.clear();  // the evidence's indexes start again (the result stays for the caller)
  admission_.clear();
  evidence_rowid_ = 0;  // an audit after this one reads all the evidence back from the database
}

const analyze::AuditResult& Pipeline::lastAudit(bool exiting) {
  std::lock_guard db_lock(db_mu_);
  const analyze::AuditResult& result = auditLocked(true);
  if (!exiting) releaseEvidence();
  return result;
}

const analyze::AuditResult& Pipeline::auditLocked(bool last) {
  flushLocked();
  const auto started = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    dirty_ = false;
  }
  const analyze::AuditResult* audited = nullptr;
  // One write transaction from reading the new sightings to rewriting the
  // derived tables: another process writing the same database (a second
  // replay, a sensor) either lands before and is audited, or waits.
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  Clock::time_point t0, t1, t2, t3;
  std::size_t rows = 0;
  store::AuditWriteTimes parts;
  struct DirectWrites {
    store::Database& db;
    const bool on;
    ~DirectWrites() {
      if (on) db.endDirectWrites();
    }
  } direct{db_, last && evidence_tls_.size() + evidence_http_.size() <= DIRECT_WRITES_MAX_SIGHTINGS &&
                    db_.beginDirectWrites()};
  try {
    db_.transaction([&] {
      t0 = Clock::now();
      evidence_rowid_ = db_.loadObservationsSince(evidence_rowid_, evidence_tls_, evidence_http_, certs_,
                                                  certs_by_sha_, audit_anomalies_, &admission_);
      checkLimitAfterLoad();
      t1 = Clock::now();
      readClaims();
      audited = &analyze::runAudit({&evidence_tls_, &evidence_http_, &claims_tls_, &claims_http_}, *rules_,
                                   device_ca_.get(), server_ca_.get(), memo_);
      t2 = Clock::now();
      rows = db_.replaceAudit(*audited, written_devices_, audit_generation_, &parts);
      t3 = Clock::now();
    });
  } catch (...) {
    // The database rolled back; what we hold about it may not have (evidence
    // read half-way, the rows our audit thinks it wrote): start again from
    // the database at the next audit (a live sensor's, once it can write).
    written_devices_.clear();
    releaseEvidence();
    std::lock_guard lock(mu_);
    dirty_ = true;
    throw;
  }
  const auto t4 = Clock::now();  // t3 to t4: the commit
  const analyze::AuditResult& result = *audited;
  audit_times_.rows_written += rows;
  ++audit_times_.audits;
  audit_times_.load_s += seconds(t0, t1);
  audit_times_.derive_s += seconds(t1, t2);
  audit_times_.store_s += seconds(t2, t3);
  audit_times_.commit_s += seconds(t3, t4);
  audit_times_.store_parts.rows_s += parts.rows_s;
  audit_times_.store_parts.indexes_s += parts.indexes_s;
  audit_times_.store_parts.search_s += parts.search_s;
  if (opts_.verbose > 1) {
    std::fprintf(stderr,
                 "provaudit: audit %d: %zu devices (%zu rows written), load %.2f s, derive %.2f s, write %.2f s "
                 "(rows %.2f, indexes %.2f, search index %.2f), commit %.2f s%s\n",
                 audit_times_.audits, result.devices.size(), rows, seconds(t0, t1), seconds(t1, t2), seconds(t2, t3),
                 parts.rows_s, parts.indexes_s, parts.search_s, seconds(t3, t4),
                 direct.on ? " (rollback journal)" : "");
  }
  last_audit_ = std::chrono::steady_clock::now();
  last_audit_cost_ = last_audit_ - started;
  if (events_.is_open() && (last || !finding_events_last_only_)) {
    // A finding is an event once, when it first appears (audits run every second live),
    // timed at its subject's last sighting then.
    for (const auto& d : result.devices) {
      for (const auto& f : d.findings) {
        if (!reported_findings_.insert(d.id + "|" + f.code).second) continue;
        json::object e{{"event", "finding"}, {"device", d.id}, {"code", f.code}, {"severity", f.severity},
                       {"detail", f.detail}, {"time", isoTime(d.last_seen)}};
        writeEvent(json::serialize(e));
      }
    }
    for (const auto& s : result.servers) {
      for (const auto& f : s.findings) {
        if (!reported_findings_.insert(s.id + "|" + f.code).second) continue;
        json::object e{{"event", "finding"}, {"server", s.id}, {"code", f.code}, {"severity", f.severity},
                       {"detail", f.detail}, {"time", isoTime(s.last_seen)}};
        writeEvent(json::serialize(e));
      }
    }
    flushEvents();
  }
  return result;
}

}  // namespace provaudit::app
