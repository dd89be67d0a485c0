#include "store/database.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iterator>
#include <optional>
#include <thread>

#include "common/text.h"
#include "store/device_encoder.h"
#include "store/json_codec.h"
#include "store/schema.h"
#include "store/sqlite_util.h"

namespace provaudit::store {
namespace json = boost::json;
using namespace provaudit::analyze;

namespace {

int severityRank(const std::string& s) {
  if (s == "critical") return 4;
  if (s == "high") return 3;
  if (s == "medium") return 2;
  if (s == "low") return 1;
  return 0;
}

std::string joinList(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ";") + s;
  return out;
}

}  // namespace

struct Database::Statements {
  explicit Statements(sqlite3* db)
      : insert_cert(db, "INSERT OR IGNORE INTO certificates(sha256,der,subject,issuer,not_before,not_after) "
                        "VALUES(?,?,?,?,?,?)"),
        insert_sighting(db, "INSERT OR IGNORE INTO sightings(key,kind,ts_ns,source,frame,client_ip,client_port,"
                            "server_ip,server_port,client_mac,data) VALUES(?,?,?,?,?,?,?,?,?,?,?)") {}
  Stmt insert_cert;
  Stmt insert_sighting;
};

Database::Database(const std::string& path, Mode mode) {
  configureSqlite();
  if (mode == Mode::ReadOnly) {
    rollBackInterruptedWrite(path);
    std::string error;
    db_ = openReadOnly(path, snapshot_, error);
    if (!db_) throw DbError(error);
  } else {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    db_.reset(raw);  // owned even when open failed: sqlite3_close_v2 frees the half-open handle
    if (rc != SQLITE_OK) {
      throw DbError(path + ": cannot open database: " + (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory"));
    }
  }
  sqlite3_busy_timeout(db_.get(), BUSY_TIMEOUT_MS);
  try {
    if (mode == Mode::ReadWrite) {
      // Switching a new file to WAL takes an exclusive lock without waiting in
      // the busy handler: when several processes open one new database at
      // once, the losers retry for up to the busy timeout.
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(BUSY_TIMEOUT_MS);
      for (;;) {
        try {
          // 16 KiB pages for a new database (an existing one keeps its own):
          // a quarter of the WAL frames, write calls and B-tree levels of 4 KiB
          // pages for the same rows (1 GB corpus: replay 6.6 -> 5.7 s;
          // bench/RESULTS.md, session 3). Ignored once the file has tables.
          execSql(db_.get(), "PRAGMA page_size=16384; PRAGMA journal_mode=WAL;");
          break;
        } catch (const DbError&) {
          if ((sqlite3_errcode(db_.get()) & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline) throw;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      }
      execSql(db_.get(), "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384;");
      migrate();
      st_ = std::make_unique<Statements>(db_.get());
      if (const char* file = sqlite3_db_filename(db_.get(), "main"); file != nullptr && *file != '\0') {
        wal_writeback_ = std::make_unique<WalWriteback>(std::string(file) + "-wal");
      }
    } else {
      // An empty file, or another program's database: said as such, not as SQL.
      if (!hasSchemaObject(db_.get(), "schema_version")) {
        throw DbError("not a provaudit database (run 'provaudit replay' or 'capture' first)");
      }
      Stmt v(db_.get(), "SELECT version FROM schema_version");
      if (!v.step()) throw DbError("not a provaudit database (its schema version is missing)");
      if (const std::string why = schemaVersionProblem(v.int64(0)); !why.empty()) throw DbError(why);
    }
  } catch (const DbError& e) {
    throw DbError(path + ": " + e.what(), e.code());
  }
}

Database::~Database() = default;

// One migration per write transaction, and the version is read inside it:
// two processes opening a database that needs migrating at the same moment
// take turns, and the second finds the work done.
void Database::migrate() {
  for (;;) {
    execSql(db_.get(), "BEGIN IMMEDIATE");
    try {
      int version = 0;
      {
        Stmt exists(db_.get(), "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'");
        if (exists.step() && exists.int64(0) == 1) {
          Stmt v(db_.get(), "SELECT version FROM schema_version");
          if (v.step()) version = static_cast<int>(v.int64(0));
        }
      }
      if (version > SCHEMA_VERSION) {
        throw DbError("database schema version " + std::to_string(version) + " is newer than this provaudit (" +
                      std::to_string(SCHEMA_VERSION) + ")");
      }
      if (version == SCHEMA_VERSION) {
        execSql(db_.get(), "COMMIT");
        return;
      }
      execSql(db_.get(), MIGRATIONS[version]);
      Stmt set(db_.get(), "UPDATE schema_version SET version=?");
      set.bind(1, static_cast<std::int64_t>(version + 1)).exec();
      execSql(db_.get(), "COMMIT");
    } catch (...) {
      rollbackIfOpen(db_.get());
      throw;
    }
  }
}

void Database::begin() {
  certs_pending_.clear();
  execSql(db_.get(), "BEGIN IMMEDIATE");
}
void Database::commit() {
  execSql(db_.get(), "COMMIT");
  certs_committed_.merge(certs_pending_);
  certs_pending_.clear();
}
void Database::rollback() {
  certs_pending_.clear();
  rollbackIfOpen(db_.get());
}

namespace {

// Asks for a journal mode; the mode the database is in afterwards, or "" when
// SQLite refused (SQLITE_BUSY: another connection is in the way).
std::string switchJournal(sqlite3* db, const char* pragma) {
  try {
    Stmt jm(db, pragma);
    return jm.step() ? jm.text(0) : std::string();
  } catch (const DbError&) {
    return {};
  }
}

// SQLite's own descriptor of the main database file, for WalWriteback; -1
// when it cannot be known for sure. The unix VFS's file object starts with
// its methods, its VFS, its inode record and then the descriptor (sqlite3.c,
// struct unixFile, unchanged since 3.7); the descriptor is used only when it
// names the database file's own device and inode.
int databaseDescriptor(sqlite3* db) {
  struct UnixFileHead {
    const sqlite3_io_methods* methods;
    sqlite3_vfs* vfs;
    void* inode;
    int h;
  };
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || file == nullptr) return -1;
  const sqlite3_vfs* vfs = reinterpret_cast<const UnixFileHead*>(file)->vfs;
  if (vfs == nullptr || vfs->zName == nullptr || std::string_view(vfs->zName).substr(0, 4) != "unix") return -1;
  const int fd = reinterpret_cast<const UnixFileHead*>(file)->h;
  const char* path = sqlite3_db_filename(db, "main");
  struct stat by_fd {}, by_path {};
  if (fd < 0 || path == nullptr || *path == '\0' || ::fstat(fd, &by_fd) != 0 || ::stat(path, &by_path) != 0) return -1;
  return by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino ? fd : -1;
}

}  // namespace

bool Database::beginDirectWrites() {
  // Refused at once while someone else has the database open: SQLite does
  // not use the busy handler here (idle or reading, the other connection
  // would not go away by waiting).
  if (switchJournal(db_.get(), "PRAGMA journal_mode=DELETE") != "delete") return false;
  // A rollback journal is only as safe as the syncs around it.
  execSql(db_.get(), "PRAGMA synchronous=FULL");
  if (wal_writeback_) wal_writeback_->followDatabase(databaseDescriptor(db_.get()));
  return true;
}

void Database::endDirectWrites() {
  if (wal_writeback_) wal_writeback_->followDatabase(-1);
  // Refused when a reader that came meanwhile holds the file past the busy
  // timeout: the database then stays in rollback mode, with full syncs,
  // until the next writer opens it.
  if (switchJournal(db_.get(), "PRAGMA journal_mode=WAL") == "wal") execSql(db_.get(), "PRAGMA synchronous=NORMAL");
}

std::size_t Database::CertKeyHash::operator()(const CertKey& k) const {
  std::uint64_t h = 0;
  std::memcpy(&h, k.data(), sizeof h);  // already uniformly distributed: a SHA-256
  return static_cast<std::size_t>(h);
}

std::optional<Database::CertKey> Database::certKey(const std::string& sha256_hex) {
  constexpr std::size_t HEX_DIGITS_PER_BYTE = 2;
  CertKey key{};
  if (sha256_hex.size() < key.size() * HEX_DIGITS_PER_BYTE) return std::nullopt;
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < key.size(); ++i) {
    const int hi = nibble(sha256_hex[HEX_DIGITS_PER_BYTE * i]), lo = nibble(sha256_hex[HEX_DIGITS_PER_BYTE * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    key[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return key;
}

void Database::transaction(const std::function<void()>& fn) {
  begin();
  try {
    fn();
    commit();
  } catch (...) {
    rollback();
    throw;
  }
}

namespace {

// `key` and `data` are bound in place: they must outlive the statement's exec().
void bindFlow(Stmt& s, const std::string& key, const char* kind, const ObservedFlow& f, const std::string& data) {
  s.bindView(1, key)
      .bindView(2, kind)
      .bind(3, f.ref.ts_ns)
      .bind(4, f.source)
      .bind(5, static_cast<std::int64_t>(f.ref.frame))
      .bind(6, f.client.ip.str())
      .bind(7, static_cast<std::int64_t>(f.client.port))
      .bind(8, f.server.ip.str())
      .bind(9, static_cast<std::int64_t>(f.server.port));
  if (f.client_mac) s.bind(10, f.client_mac->str());
  else s.bindNull(10);
  s.bindView(11, data);
}

}  // namespace

std::int64_t Database::addTls(const TlsObservation& t) {
  for (const auto* chain : {&t.client_chain, &t.server_chain}) {
    for (const auto& c : *chain) {
      const std::optional<CertKey> key = certKey(c->sha256);
      if (key && (certs_committed_.count(*key) != 0 || certs_pending_.count(*key) != 0)) continue;
      if (key) certs_pending_.insert(*key);
      st_->insert_cert.bind(1, c->sha256)
          .bindBlob(2, c->der.data(), c->der.size())
          .bind(3, c->subject_text)
          .bind(4, c->issuer_text)
          .bind(5, c->not_before)
          .bind(6, c->not_after)
          .exec();
    }
  }
  const std::string key = observationKey(t), data = tlsToText(t);
  bindFlow(st_->insert_sighting, key, "tls", t.flow, data);
  st_->insert_sighting.exec();
  if (sqlite3_changes(db_.get()) > 0) return sqlite3_last_insert_rowid(db_.get());
  // Stored before: kept, unless this one read more of the handshake.
  Stmt stored(db_.get(), "SELECT data FROM sightings WHERE key=? AND kind='tls'");
  stored.bind(1, key);
  if (!stored.step()) return 0;
  const std::optional<analyze::HandshakeReadDepth> before = storedReadDepth(stored.text(0));
  stored.reset();
  if (before && analyze::readDepth(t).rank() <= before->rank()) return 0;
  Stmt drop(db_.get(), "DELETE FROM sightings WHERE key=? AND kind='tls'");
  drop.bind(1, key).exec();
  bindFlow(st_->insert_sighting, key, "tls", t.flow, data);
  st_->insert_sighting.exec();
  if (sqlite3_changes(db_.get()) == 0) return 0;
  ++replaced_sightings_;
  return sqlite3_last_insert_rowid(db_.get());
}

std::int64_t Database::addHttp(const HttpObservation& h) {
  const std::string key = observationKey(h), data = httpToText(h);
  bindFlow(st_->insert_sighting, key, "http", h.flow, data);
  st_->insert_sighting.exec();
  return sqlite3_changes(db_.get()) > 0 ? sqlite3_last_insert_rowid(db_.get()) : 0;
}

std::int64_t Database::loadObservationsSince(std::int64_t after_rowid, std::vector<TlsObservation>& tls,
                                             std::vector<HttpObservation>& http, CertCache& certs,
                                             std::map<std::string, CertPtr>& by_sha, AnomalyCounters& anomalies,
                                             analyze::EvidenceAdmission* admission) {
  Stmt cert(db_.get(), "SELECT der FROM certificates WHERE sha256=?");
  const CertLookup lookup = [&](const std::string& sha) -> CertPtr {
    if (auto it = by_sha.find(sha); it != by_sha.end()) return it->second;
    cert.bind(1, sha);
    CertPtr c;
    if (cert.step()) {
      const std::string der = cert.blob(0);
      c = certs.get(std::vector<std::uint8_t>(der.begin(), der.end()), anomalies);
    }
    cert.reset();
    by_sha[sha] = c;
    return c;
  };
  std::int64_t max_rowid = after_rowid;
  Stmt s(db_.get(), "SELECT rowid, kind, data FROM sightings WHERE rowid > ? ORDER BY rowid");
  s.bind(1, after_rowid);
  while ((admission == nullptr || !admission->full()) && s.step()) {
    max_rowid = s.int64(0);
    boost::system::error_code ec;
    const json::value v = json::parse(s.text(2), ec);
    if (ec) {
      anomalies.inc(PA_ANOMALY("store_sighting_undecodable"));
      continue;
    }
    if (s.text(1) == "tls") {
      TlsObservation t;
      if (!tlsFromJson(v, lookup, t)) anomalies.inc(PA_ANOMALY("store_sighting_undecodable"));
      else if (admission == nullptr || admission->admit(t)) {
        trimForAudit(t);  // the evidence's copy: the row keeps every field
        tls.push_back(std::move(t));
      }
    } else {
      HttpObservation h;
      if (!httpFromJson(v, h)) anomalies.inc(PA_ANOMALY("store_sighting_undecodable"));
      else if (admission == nullptr || admission->admit(h)) http.push_back(std::move(h));
    }
  }
  return max_rowid;
}

std::uint64_t Database::sightingsAfter(std::int64_t rowid) {
  Stmt s(db_.get(), "SELECT max(rowid) FROM sightings");
  const std::int64_t last = s.step() && !s.isNull(0) ? s.int64(0) : 0;
  return last > rowid ? static_cast<std::uint64_t>(last - rowid) : 0;
}

void Database::saveSource(const SourceRecord& src, const AnomalyCounters& anomalies) {
  Stmt s(db_.get(),
         "INSERT INTO sources(key,name,kind,first_ts_ns,last_ts_ns,packets,bytes,status,error,updated_ns) "
         "VALUES(?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET name=excluded.name, kind=excluded.kind, "
         "first_ts_ns=excluded.first_ts_ns, last_ts_ns=excluded.last_ts_ns, packets=excluded.packets, "
         "bytes=excluded.bytes, status=excluded.status, error=excluded.error, updated_ns=excluded.updated_ns");
  // Names and errors (which name the file) are shown as JSON: bytes of a file
  // name that are not UTF-8 become \xNN, as in everything a device sends.
  const std::string key = visibleUtf8(src.key);
  s.bind(1, key).bind(2, visibleUtf8(src.name)).bind(3, src.kind);
  // A source that gave no packet (an empty capture, an interface on a quiet
  // link) has no first or last packet time: NULL, shown as null, never as
  // 0 = 1970-01-01 in the dashboard's coverage.
  if (src.packets == 0) {
    s.bindNull(4).bindNull(5);
  } else {
    s.bind(4, src.first_ts_ns).bind(5, src.last_ts_ns);
  }
  // When this row was written (wall clock): the coverage list shows the
  // sources written last first, packets or not.
  const std::int64_t updated_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  s.bind(6, static_cast<std::int64_t>(src.packets))
      .bind(7, static_cast<std::int64_t>(src.bytes))
      .bind(8, src.status)
      .bind(9, visibleUtf8(src.error))
      .bind(10, updated_ns)
      .exec();
  Stmt del(db_.get(), "DELETE FROM source_anomalies WHERE source_key=?");
  del.bind(1, key).exec();
  Stmt ins(db_.get(), "INSERT INTO source_anomalies(source_key,name,count) VALUES(?,?,?)");
  anomalies.forEach([&](const std::string& name, std::uint64_t n) {
    ins.bind(1, key).bind(2, name).bind(3, static_cast<std::int64_t>(n)).exec();
  });
}

void Database::addStat(const std::string& name, std::int64_t delta) {
  Stmt s(db_.get(), "INSERT INTO stats(name,value) VALUES(?,?) ON CONFLICT(name) DO UPDATE SET value=value+excluded.value");
  s.bind(1, name).bind(2, delta).exec();
}

std::int64_t Database::stat(const std::string& name) { return statValue(db_.get(), name); }

void Database::setStat(const std::string& name, std::int64_t value) {
  Stmt s(db_.get(), "INSERT INTO stats(name,value) VALUES(?,?) ON CONFLICT(name) DO UPDATE SET value=excluded.value");
  s.bind(1, name).bind(2, value).exec();
}

void Database::setSetting(const std::string& name, const std::string& value) {
  Stmt s(db_.get(),
         "INSERT INTO settings(name,value) VALUES(?,?) ON CONFLICT(name) DO UPDATE SET value=excluded.value");
  s.bind(1, name).bind(2, value).exec();
}

std::optional<std::string> Database::setting(const std::string& name) {
  Stmt s(db_.get(), "SELECT value FROM settings WHERE name=?");
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  return s.text(0);
}

void Database::clearSetting(const std::string& name) {
  Stmt s(db_.get(), "DELETE FROM settings WHERE name=?");
  s.bind(1, name).exec();
}

namespace {

// Below this many devices an audit's JSON is encoded inline.
constexpr std::size_t ENCODE_THREAD_MIN_DEVICES = 256;

bool isDashboardIndex(const std::string& name) {
  return std::any_of(std::begin(DASHBOARD_INDEXES), std::end(DASHBOARD_INDEXES),
                     [&](const IndexDefinition& ix) { return name == ix.name; });
}

}  // namespace

std::size_t Database::replaceAudit(const AuditResult& result, std::unordered_map<std::string, std::uint64_t>& written,
                                   std::int64_t& generation, AuditWriteTimes* times) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const std::int64_t current = statValue(db_.get(), "audit_generation");
  // `written` is what our last audit wrote, and nobody wrote since.
  const bool ours = current == generation && !written.empty();
  if (!ours) {
    // First audit of this process, or someone else audited since: compare
    // with the stored rows (their hashes) rather than with our memory.
    written.clear();
    Stmt stored(db_.get(), "SELECT id, row_hash FROM devices");
    while (stored.step()) {
      written[stored.text(0)] = stored.isNull(1) ? 0 : static_cast<std::uint64_t>(stored.int64(1));
    }
  }
  // Nothing stored, or little next to what is to be stored (a replay's
  // final audit after its first small one): delete and write all in bulk.
  const bool full = written.empty() || (result.devices.size() >= BULK_INDEX_MIN_DEVICES &&
                                        written.size() * BULK_REWRITE_RATIO <= result.devices.size());
  // The dashboard's sort and search indexes (DASHBOARD_INDEX_MIN_DEVICES):
  // a full write keeps them when the fleet it writes is large enough; an
  // incremental one keeps what is there, and builds them once the fleet grows.
  const bool large = result.devices.size() >= dashboard_index_min_;
  const bool had_sort = hasSchemaObject(db_.get(), "devices_by_id");
  const bool had_search = hasSchemaObject(db_.get(), "devices_search");
  const bool want_sort = full ? large : had_sort || large;
  const bool want_search = full ? large : had_search || large;
  if (!want_sort) {
    for (const auto& ix : DASHBOARD_INDEXES) execSql(db_.get(), ("DROP INDEX IF EXISTS " + std::string(ix.name)).c_str());
  }
  if (!want_search && had_search) execSql(db_.get(), "DROP TABLE devices_search");
  // A bulk write builds the tables' indexes afterwards: one sort per index
  // instead of a B-tree insert per row into each of twenty (1 GB corpus,
  // 24k devices: see bench/RESULTS.md, session 3). The definitions are
  // read back from the schema, so every index comes back as it was.
  std::vector<std::string> rebuild;
  if (full) {
    execSql(db_.get(),
            "DELETE FROM devices; DELETE FROM device_docs; DELETE FROM servers; DELETE FROM findings; "
            "DELETE FROM device_sightings; DELETE FROM device_servers;");
    if (result.devices.size() >= BULK_INDEX_MIN_DEVICES) {
      std::vector<std::string> names;
      Stmt idx(db_.get(), "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL AND "
                          "tbl_name IN ('devices','findings','device_sightings','device_servers')");
      while (idx.step()) {
        names.push_back(idx.text(0));
        if (!isDashboardIndex(names.back())) rebuild.push_back(idx.text(1));  // those follow want_sort below
      }
      for (const auto& n : names) execSql(db_.get(), ("DROP INDEX \"" + n + "\"").c_str());
    }
  } else {
    execSql(db_.get(), "DELETE FROM servers; DELETE FROM findings WHERE subject_kind='server';");
  }
  // The devices' sightings and servers, and every finding (devices' and
  // servers'), many to a statement (their texts live in `result` until the end).
  BatchInsert dsig(db_.get(), "INSERT OR IGNORE INTO device_sightings(device_id,ts_ns,sighting_key)", 3);
  BatchInsert dsrv(db_.get(), "INSERT OR IGNORE INTO device_servers(device_id,server_id)", 2);
  BatchInsert findings(db_.get(), "INSERT INTO findings(subject_kind,subject_id,code,severity,detail)", 5);
  Stmt dev(db_.get(),
           "INSERT INTO devices(id,mac,identity,identity_reason,vendor,model,firmware,serial,cert_sha256,cert_subject,"
           "cert_chain,ips,user_agents,findings,worst_severity,first_seen_ns,last_seen_ns,sessions,row_hash) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  Stmt doc(db_.get(), "INSERT INTO device_docs(id,report,detail) VALUES(?,?,?)");
  Stmt del_dev(db_.get(), "DELETE FROM devices WHERE id=?");
  Stmt del_fnd(db_.get(), "DELETE FROM findings WHERE subject_kind='device' AND subject_id=?");
  Stmt del_sig(db_.get(), "DELETE FROM device_sightings WHERE device_id=?");
  Stmt del_srv(db_.get(), "DELETE FROM device_servers WHERE device_id=?");
  Stmt del_doc(db_.get(), "DELETE FROM device_docs WHERE id=?");
  // The search index (FTS5) follows the devices table and is written last:
  // once an FTS5 table is part of a transaction, every later statement that
  // uses a statement journal makes it flush its pending terms into a new
  // segment. So rowids are collected here and indexed in two statements.
  Stmt rowid_of(db_.get(), "SELECT rowid FROM devices WHERE id=?");
  std::string unindex = "[", index = "[";  // JSON arrays of rowids, for json_each
  auto addRowid = [](std::string& list, std::int64_t rowid) {
    if (list.size() > 1) list += ',';
    list += std::to_string(rowid);
  };
  auto removeDevice = [&](const std::string& id) {
    if (rowid_of.bind(1, id).step()) addRowid(unindex, rowid_of.int64(0));
    rowid_of.reset();
    for (Stmt* st : {&del_dev, &del_doc, &del_fnd, &del_sig, &del_srv}) st->bind(1, id).exec();
  };
  std::unordered_map<std::string, std::uint64_t> now;
  now.reserve(result.devices.size());
  std::size_t rows = 0;
  // A device the audit took over unchanged (DeviceRecord::unchanged) is what
  // our last audit wrote: its rows stay, and it is not encoded again (a live
  // sensor's audit every second encoded its whole fleet to find the few
  // devices that changed). The encoding thread only reads `written`.
  const bool skip_unchanged = ours && !full;
  DeviceEncoder encoder(result.devices, result.devices.size() >= ENCODE_THREAD_MIN_DEVICES,
                        [&written, skip_unchanged](const analyze::DeviceRecord& d, EncodedDevice& out) {
                          if (skip_unchanged && d.unchanged) {
                            if (auto it = written.find(d.id); it != written.end()) {
                              out.report.clear();
                              out.detail.clear();
                              out.hash = it->second;
                              return;
                            }
                          }
                          encodeDevice(d, out);
                        });
  for (const auto& d : result.devices) {
    const EncodedDevice& encoded = encoder.next();
    const std::uint64_t h = encoded.hash;
    now[d.id] = h;
    if (!full) {
      auto it = written.find(d.id);
      if (it != written.end() && it->second == h) continue;  // unchanged since we wrote it
      if (it != written.end()) removeDevice(d.id);
    }
    ++rows;
    for (const auto& s : d.sightings) dsig.add({d.id, s.ts_ns, s.key});
    for (const auto& srv : d.servers) dsrv.add({d.id, srv});
    std::vector<std::string> codes;
    int worst = -1;
    for (const auto& f : d.findings) {
      if (std::find(codes.begin(), codes.end(), f.code) == codes.end()) codes.push_back(f.code);
      worst = std::max(worst, severityRank(f.severity));
      findings.add({"device", d.id, f.code, f.severity, f.detail});
    }
    // The device's own strings (and its encoding) outlive each exec(): bound in place.
    dev.bindView(1, d.id);
    if (d.mac) dev.bind(2, d.mac->str());
    else dev.bindNull(2);
    dev.bindView(3, d.identity).bindView(4, d.identity_reason).bindOpt(5, d.vendor).bindOpt(6, d.model).bindOpt(7, d.firmware);
    dev.bindOpt(8, d.serial);
    if (d.cert) dev.bindView(9, d.cert->cert->sha256).bindView(10, d.cert->cert->subject_text).bindView(11, d.cert->chain);
    else dev.bindNull(9).bindNull(10).bindNull(11);
    dev.bind(12, joinList(d.ips))
        .bind(13, joinList(d.user_agents))
        .bind(14, joinList(codes))
        .bind(15, static_cast<std::int64_t>(worst))
        .bind(16, d.first_seen)
        .bind(17, d.last_seen)
        .bind(18, static_cast<std::int64_t>(d.sessions))
        .bind(19, static_cast<std::int64_t>(h))
        .exec();
    if (!full) addRowid(index, sqlite3_last_insert_rowid(db_.get()));  // the device row's (before the document's)
    doc.bindView(1, d.id).bindView(2, encoded.report).bindView(3, encoded.detail).exec();
  }
  for (BatchInsert* b : {&dsig, &dsrv}) b->flush();
  if (!full) {
    for (const auto& [id, h] : written) {
      if (now.count(id) == 0) removeDevice(id);  // merged into another device, or gone
    }
  }
  written = std::move(now);
  Stmt srv(db_.get(), "INSERT INTO servers(id,ip,port,requests_client_cert,report) VALUES(?,?,?,?,?)");
  for (const auto& s : result.servers) {
    for (const auto& f : s.findings) findings.add({"server", s.id, f.code, f.severity, f.detail});
    srv.bind(1, s.id)
        .bind(2, s.endpoint.ip.str())
        .bind(3, static_cast<std::int64_t>(s.endpoint.port))
        .bind(4, static_cast<std::int64_t>(s.requests_client_cert ? 1 : 0))
        .bind(5, serverReportText(s))
        .exec();
  }
  findings.flush();
  const auto rows_done = Clock::now();
  for (const auto& sql : rebuild) execSql(db_.get(), sql.c_str());
  if (want_sort) {
    for (const auto& ix : DASHBOARD_INDEXES) {
      if (!hasSchemaObject(db_.get(), ix.name)) execSql(db_.get(), ix.sql);
    }
  }
  const auto indexes_done = Clock::now();
  addStat("audit_generation", 1);
  generation = current + 1;
  // Without the search index, searches read the devices' text (WebQueries, SearchFold).
  if (want_search && (full || !had_search)) {
    if (!hasSchemaObject(db_.get(), "devices_search")) execSql(db_.get(), SEARCH_INDEX_SQL);
    execSql(db_.get(), "DELETE FROM devices_search; "
                       "INSERT INTO devices_search(rowid, body) SELECT rid, body FROM devices_search_source;");
  } else if (want_search) {
    Stmt del(db_.get(), "DELETE FROM devices_search WHERE rowid IN (SELECT value FROM json_each(?))");
    del.bind(1, unindex + "]").exec();
    Stmt add(db_.get(), "INSERT INTO devices_search(rowid, body) SELECT rid, body FROM devices_search_source "
                        "WHERE rid IN (SELECT value FROM json_each(?))");
    add.bind(1, index + "]").exec();
  }
  if (times != nullptr) {
    const auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    times->rows_s += seconds(started, rows_done);
    times->indexes_s += seconds(rows_done, indexes_done);
    times->search_s += seconds(indexes_done, Clock::now());
  }
  return rows;
}

void Database::forEachDeviceJson(const std::function<void(const std::string&)>& fn) {
  Stmt s(db_.get(), "SELECT report FROM device_docs ORDER BY id");
  while (s.step()) fn(s.text(0));
}

std::uint64_t Database::count(const char* table) {
  const std::string t(table);
  // Table names cannot be bound; only our own constant names are accepted here.
  if (t != "devices" && t != "servers" && t != "sightings" && t != "findings" && t != "certificates" && t != "sources") {
    return 0;
  }
  Stmt s(db_.get(), "SELECT count(*) FROM " + t);
  return s.step() ? static_cast<std::uint64_t>(s.int64(0)) : 0;
}

std::vector<std::string> Database::findingKeys() {
  std::vector<std::string> out;
  Stmt s(db_.get(), "SELECT subject_id || '|' || code FROM findings");
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> Database::anomalyTotals() {
  std::vector<std::pair<std::string, std::int64_t>> out;
  Stmt s(db_.get(), "SELECT name, sum(count) FROM source_anomalies GROUP BY name ORDER BY name");
  while (s.step()) out.emplace_back(s.text(0), s.int64(1));
  return out;
}

}  // namespace provaudit::store
