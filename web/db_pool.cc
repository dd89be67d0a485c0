#include "web/db_pool.h"

#include <sqlite3.h>

#include <stdexcept>

#include "store/schema.h"
#include "store/sqlite_util.h"

namespace provaudit::web {

DbLease& DbLease::operator=(DbLease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = other.pool_;
    conn_ = std::move(other.conn_);
  }
  return *this;
}

DbLease::~DbLease() { release(); }

void DbLease::release() {
  if (pool_ != nullptr && conn_) pool_->giveBack(std::move(conn_));
  conn_.reset();
}

DbPool::DbPool(std::string path, int startup_wait_ms) : path_(std::move(path)) {
  std::string error;
  SqlitePtr first = open(error);
  if (!first) throw std::runtime_error(error);
  sqlite3_busy_timeout(first.get(), startup_wait_ms);
  sqlite3_stmt* raw = nullptr;
  const char* sql = "SELECT version FROM schema_version";
  int rc = sqlite3_prepare_v2(first.get(), sql, -1, &raw, nullptr);
  SqliteStmtPtr check(raw);  // owns the statement from here, even when prepare failed
  if (rc == SQLITE_OK) rc = sqlite3_step(check.get());
  if ((rc & 0xff) == SQLITE_BUSY) {
    throw std::runtime_error(path_ + ": a writer has held the database locked for more than " +
                             std::to_string(startup_wait_ms) + " ms; try again when it is done");
  }
  if (rc != SQLITE_ROW) {
    throw std::runtime_error(path_ + ": not a provaudit database (run 'provaudit replay' or 'capture' first)");
  }
  // Its tables are this version's, or the API's queries would fail (or, from
  // a newer provaudit, mean something else).
  if (const std::string why = store::schemaVersionProblem(sqlite3_column_int64(check.get(), 0)); !why.empty()) {
    throw std::runtime_error(path_ + ": " + why);
  }
  check.reset();
  sqlite3_busy_timeout(first.get(), READ_BUSY_TIMEOUT_MS);
  giveBack(std::move(first));
  watch_ = open(error);
  if (!watch_) throw std::runtime_error(error);
}

SqlitePtr DbPool::open(std::string& error) const {
  store::configureSqlite();
  store::rollBackInterruptedWrite(path_);
  bool snapshot = false;
  SqlitePtr conn = store::openReadOnly(path_, snapshot, error);
  if (!conn) return nullptr;
  if (snapshot) snapshot_ = true;  // said once by the server's start (snapshot())
  sqlite3_busy_timeout(conn.get(), READ_BUSY_TIMEOUT_MS);
  if (sqlite3_exec(conn.get(), "PRAGMA query_only=1", nullptr, nullptr, nullptr) != SQLITE_OK) {
    error = path_ + ": cannot set query_only";
    return nullptr;
  }
  // Reads through a memory map (shared by all connections, no read() per
  // page) and a larger page cache: the queries jump between index b-trees of
  // a database that is gigabytes at a million devices. Best effort: SQLite
  // caps the map at its compile-time limit and falls back to read() past it.
  sqlite3_exec(conn.get(), READ_PRAGMAS, nullptr, nullptr, nullptr);
  return conn;
}

DbLease DbPool::acquire(std::string& error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      SqlitePtr c = std::move(idle_.back());
      idle_.pop_back();
      return DbLease(this, std::move(c));
    }
  }
  SqlitePtr c = open(error);
  if (!c) return {};
  return DbLease(this, std::move(c));
}

void DbPool::giveBack(SqlitePtr conn) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (idle_.size() < MAX_IDLE_CONNECTIONS) idle_.push_back(std::move(conn));
}

std::int64_t DbPool::changeCounter() {
  std::lock_guard<std::mutex> lock(watch_mutex_);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(watch_.get(), "PRAGMA data_version", -1, &raw, nullptr) != SQLITE_OK) return -1;
  SqliteStmtPtr s(raw);
  return sqlite3_step(s.get()) == SQLITE_ROW ? sqlite3_column_int64(s.get(), 0) : -1;
}

std::int64_t DbPool::sightingsLeftOut() {
  std::lock_guard<std::mutex> lock(watch_mutex_);
  try {
    return store::statValue(watch_.get(), store::STAT_SIGHTINGS_LEFT_OUT);
  } catch (const store::DbError& e) {
    // Busy (a writer holds the file): the caller says so, the next poll asks
    // again. Not there yet (no stats table before the first replay): none.
    const int primary = e.code() & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? -1 : 0;
  }
}

}  // namespace provaudit::web
