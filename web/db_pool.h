#pragma once
// Read-only SQLite connections for the dashboard. The server never writes:
// every connection is opened SQLITE_OPEN_READONLY with query_only on, so a
// replay or capture can write the same file at the same time (WAL).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/c_handles.h"

namespace provaudit::web {

// How long a dashboard query waits for a writer's lock before answering 503.
inline constexpr int READ_BUSY_TIMEOUT_MS = 2000;
// How long a starting dashboard waits for a writer's lock (a replay's last
// audit, written through a rollback journal, holds readers off until its
// commit): as long as the command-line readers wait.
inline constexpr int STARTUP_BUSY_TIMEOUT_MS = 10000;
// Idle connections kept for reuse; more are opened on demand and closed after use.
inline constexpr std::size_t MAX_IDLE_CONNECTIONS = 8;
// Per read connection: a memory map of up to 2 GiB and a 32 MiB page cache.
inline constexpr const char* READ_PRAGMAS = "PRAGMA mmap_size=2147418112; PRAGMA cache_size=-32768";

class DbPool;

// A borrowed connection; goes back to the pool when destroyed.
class DbLease {
 public:
  DbLease() = default;
  DbLease(DbPool* pool, SqlitePtr conn) : pool_(pool), conn_(std::move(conn)) {}
  DbLease(DbLease&& other) noexcept = default;
  DbLease& operator=(DbLease&& other) noexcept;
  ~DbLease();
  DbLease(const DbLease&) = delete;
  DbLease& operator=(const DbLease&) = delete;
  [[nodiscard]] sqlite3* get() const { return conn_.get(); }
  explicit operator bool() const { return conn_ != nullptr; }

 private:
  void release();
  DbPool* pool_ = nullptr;
  SqlitePtr conn_;
};

class DbPool {
 public:
  // Throws std::runtime_error (one line) when the file is not a provaudit
  // database, or a writer holds it locked for longer than `startup_wait_ms`.
  explicit DbPool(std::string path, int startup_wait_ms = STARTUP_BUSY_TIMEOUT_MS);
  // An empty lease (and the reason in `error`) when no connection can be opened.
  DbLease acquire(std::string& error);
  // PRAGMA data_version on a dedicated connection: changes when a writer commits.
  // -1 when it cannot be read.
  std::int64_t changeCounter();
  // The stats table's STAT_SIGHTINGS_LEFT_OUT, read on the same connection
  // (one row, for /api/change: every page shows it, none need the whole stats);
  // -1 when it cannot be read (busy).
  std::int64_t sightingsLeftOut();
  [[nodiscard]] const std::string& path() const { return path_; }
  // The database is read as a snapshot (store::openReadOnly): its directory
  // lets no -shm be made, so no writer has it open, and a later one's changes
  // are not seen.
  [[nodiscard]] bool snapshot() const { return snapshot_; }

 private:
  friend class DbLease;
  SqlitePtr open(std::string& error) const;
  void giveBack(SqlitePtr conn);
  std::string path_;
  mutable std::atomic<bool> snapshot_{false};
  std::mutex mutex_;
  std::vector<SqlitePtr> idle_;
  std::mutex watch_mutex_;
  SqlitePtr watch_;
};

}  // namespace provaudit::web
