#pragma once
// The evidence store: SQLite with a versioned schema and migrations, WAL,
// batched transactions. Sightings (every handshake and request) are the source
// of truth, keyed by content so a replayed file never doubles anything; the
// device, server and finding tables are derived from them by the audit, which
// rewrites the rows whose content changed.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyze/audit.h"
#include "analyze/evidence_admission.h"
#include "analyze/flow_analyzer.h"
#include "analyze/observation.h"
#include "common/anomaly.h"
#include "common/c_handles.h"
#include "store/schema.h"
#include "store/wal_writeback.h"

namespace provaudit::store {

// Below this many devices, a bulk write keeps the indexes (rebuilding them
// costs a schema change for the dashboard's connections, for little gain).
inline constexpr std::size_t BULK_INDEX_MIN_DEVICES = 1000;
// An audit of at least BULK_INDEX_MIN_DEVICES devices, when at most one in
// this many is stored already, rewrites everything in bulk.
inline constexpr std::size_t BULK_REWRITE_RATIO = 4;

// From this many devices on, a database carries the dashboard's sort
// indexes (DASHBOARD_INDEXES: devices_by_*, four of the findings) and its
// trigram search index (devices_search). Below, the dashboard answers inside
// its targets without them: a list sorts the table, a search scans the
// devices' folded text in memory (WebQueries), and a replay's last audit
// saves building them (0.7-1.0 s of the 1 GB corpus's 24k devices;
// bench/RESULTS.md, session 9). Once built, an
// incremental audit keeps them; a full rewrite decides again by its fleet.
inline constexpr std::size_t DASHBOARD_INDEX_MIN_DEVICES = 50000;

inline constexpr int BUSY_TIMEOUT_MS = 10000;  // a replay and a serve share one file

struct SourceRecord {
  std::string key;        // name + first packet time: the same capture gives the same key
  std::string name;
  std::string kind;       // file | interface | stdin
  std::int64_t first_ts_ns = 0, last_ts_ns = 0;
  std::uint64_t packets = 0, bytes = 0;
  std::string status;     // complete | error
  std::string error;      // the one-line reason reading stopped
};

// Where a Database::replaceAudit spent its time (replay -vv).
struct AuditWriteTimes {
  double rows_s = 0;     // device, server, finding and document rows (and their encoding)
  double indexes_s = 0;  // the indexes a bulk write dropped, built again
  double search_s = 0;   // the trigram search index
};

class Database {
 public:
  enum class Mode { ReadWrite, ReadOnly };
  // Throws DbError with a one-line reason (naming the file) when it cannot be opened.
  Database(const std::string& path, Mode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `fn` in one write transaction (BEGIN IMMEDIATE): committed when it
  // returns, rolled back when it throws (the exception goes on).
  void transaction(const std::function<void()>& fn);
  void begin();
  void commit();
  void rollback();

  // Sightings: INSERT OR IGNORE by content key. Returns the new row's rowid,
  // 0 when the sighting was already stored. A TLS sighting's certificates are
  // stored with it, each once: a certificate this connection stored in a
  // committed transaction is not written again. A handshake stored before but
  // read less far (analyze::readDepth: a capture cut short, no key log then)
  // is replaced, under a new rowid: a finding its rest shows is not lost for
  // good. replacedSightings() counts those (an audit holding the old row in
  // memory reads the evidence again).
  std::int64_t addTls(const analyze::TlsObservation& t);
  std::int64_t addHttp(const analyze::HttpObservation& h);
  [[nodiscard]] std::uint64_t replacedSightings() const { return replaced_sightings_; }

  // Sightings stored after `after_rowid` (by this process or any other), for
  // the audit, in rowid order; returns the highest rowid read. With
  // `admission`, each decoded sighting joins `tls` / `http` only when it
  // admits it, and reading stops (before the next row) once it is full.
  // Certificates are looked up once each and kept in `by_sha`. Rows that do
  // not decode are skipped and counted. Handshakes come as the audit holds
  // them (analyze::trimForAudit), not with every field the row keeps.
  std::int64_t loadObservationsSince(std::int64_t after_rowid, std::vector<analyze::TlsObservation>& tls,
                                     std::vector<analyze::HttpObservation>& http, analyze::CertCache& certs,
                                     std::map<std::string, analyze::CertPtr>& by_sha, AnomalyCounters& anomalies,
                                     analyze::EvidenceAdmission* admission = nullptr);
  // How many sightings are stored after `rowid`. Sightings are never deleted,
  // so their rowids run from 1 without gaps and this is the highest rowid
  // less `rowid`: one index seek, however many follow.
  std::uint64_t sightingsAfter(std::int64_t rowid);

  void saveSource(const SourceRecord& s, const AnomalyCounters& anomalies);
  // Cumulative work counters (packets, flows, ...): each run adds its own.
  void addStat(const std::string& name, std::int64_t delta);
  // A value of the moment kept beside them (STAT_SIGHTINGS_LEFT_OUT): the last writer's stands.
  void setStat(const std::string& name, std::int64_t value);
  // A stored stat, 0 when there is none.
  std::int64_t stat(const std::string& name);
  // What later runs audit by (SETTING_DEVICE_CA, ...): set, read, forgotten.
  void setSetting(const std::string& name, const std::string& value);
  std::optional<std::string> setting(const std::string& name);
  void clearSetting(const std::string& name);
  // Brings devices, servers and findings in line with an audit result (inside
  // the caller's transaction). `written` remembers, per device id, a hash of the
  // rows this process last wrote: unchanged devices are left alone, so a
  // periodic audit of a large fleet writes only what moved. When another
  // process audited the same database since (its generation counter moved),
  // or `written` is empty, the hashes stored with the rows (devices.row_hash)
  // stand in for it: a new run over a large database writes only what its
  // evidence changed. Returns the number of device rows written. A bulk
  // write (nothing or little stored, see BULK_REWRITE_RATIO) of at least
  // BULK_INDEX_MIN_DEVICES devices drops the indexes of the tables it fills
  // and builds them again at the end. The dashboard's sort and search
  // indexes follow DASHBOARD_INDEX_MIN_DEVICES instead (built, kept or
  // dropped). `times`, when given, gets where the time went.
  std::size_t replaceAudit(const analyze::AuditResult& result, std::unordered_map<std::string, std::uint64_t>& written,
                           std::int64_t& generation, AuditWriteTimes* times = nullptr);

  // One large write by a process that has the database to itself (a
  // replay's last audit) goes through a rollback journal instead of the WAL:
  // each new page is written once, into the database file, rather than into
  // the WAL and again by the checkpoint (1 GB corpus: the final commit
  // 0.42 -> 0.13 s, the replay 3.1 -> 2.6 s; bench/RESULTS.md, session 7).
  // Returns false at once, changing nothing, when another connection has the
  // database open (a dashboard reads through the WAL while we write: leaving
  // WAL needs the file to ourselves, and SQLite refuses otherwise). While
  // writing directly, commits sync in full. Call outside a transaction;
  // endDirectWrites() goes back to WAL (if a reader arrived meanwhile and
  // holds it, the next writer's open does it).
  bool beginDirectWrites();
  void endDirectWrites();

  // Report queries (streaming: rows are handed out one at a time).
  void forEachDeviceJson(const std::function<void(const std::string& json)>& fn);
  std::uint64_t count(const char* table);
  // "subject_id|code" of every stored finding (to report only new ones).
  std::vector<std::string> findingKeys();
  std::vector<std::pair<std::string, std::int64_t>> anomalyTotals();

  [[nodiscard]] sqlite3* handle() const { return db_.get(); }
  // Opened ReadOnly as a snapshot: its directory lets no -shm file be made
  // (openReadOnly), so no writer can have it open; what one changes later is not seen.
  [[nodiscard]] bool snapshot() const { return snapshot_; }
  // Tests build both forms of a small database (DASHBOARD_INDEX_MIN_DEVICES).
  void setDashboardIndexMin(std::size_t devices) { dashboard_index_min_ = devices; }
  // Writebacks of the WAL started in the background (see WalWriteback); 0 read-only.
  [[nodiscard]] std::uint64_t walWritebacks() const { return wal_writeback_ ? wal_writeback_->nudges() : 0; }
  // Those of the database file itself, while it is written directly.
  [[nodiscard]] std::uint64_t directWritebacks() const {
    return wal_writeback_ ? wal_writeback_->databaseNudges() : 0;
  }

 private:
  std::uint64_t replaced_sightings_ = 0;
  void migrate();
  SqlitePtr db_;
  bool snapshot_ = false;  // read-only, opened as an immutable file (openReadOnly)
  std::size_t dashboard_index_min_ = DASHBOARD_INDEX_MIN_DEVICES;
  struct Statements;
  std::unique_ptr<Statements> st_;
  // A writer's only; stopped (and its descriptor closed) before db_ closes.
  std::unique_ptr<WalWriteback> wal_writeback_;
  // Certificates known to be stored, by the first 16 bytes of their SHA-256
  // (collision-resistant, unlike a hash of the text): those of committed
  // transactions, and those of the open one (forgotten if it rolls back).
  // Nothing ever deletes a certificate row. Every server chain repeats in
  // every handshake: on the 1 GB corpus most certificate writes were repeats.
  using CertKey = std::array<std::uint8_t, 16>;
  struct CertKeyHash {
    std::size_t operator()(const CertKey& k) const;
  };
  // nullopt when the text is not the lowercase hex CertInfo gives (never skipped then).
  static std::optional<CertKey> certKey(const std::string& sha256_hex);
  std::unordered_set<CertKey, CertKeyHash> certs_committed_, certs_pending_;
};

}  // namespace provaudit::store
