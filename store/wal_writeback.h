#pragma once
// Starts the kernel writing a WAL file's dirty pages to disk while SQLite is
// still filling it. With synchronous=NORMAL, SQLite calls fdatasync only at a
// checkpoint, and Linux otherwise leaves freshly written pages in memory for
// up to 30 s: every checkpoint then waits for all of them at once (0.28 s of
// the 1 GB corpus's final commit, for a 200 MB WAL). Asked every
// WAL_WRITEBACK_INTERVAL (sync_file_range, SYNC_FILE_RANGE_WRITE: start the
// writes, wait for none), the disk works while the audit does, and the
// checkpoint's fdatasync finds little left to write. Durability is unchanged:
// SQLite still syncs where it always did. (The same idea as PostgreSQL's
// backend_flush_after and RocksDB's bytes_per_sync.)
//
// Only the WAL is opened: SQLite holds POSIX advisory locks on the database
// file, and closing any descriptor of a file drops every such lock the
// process holds on it; the WAL carries none (WAL-mode locks live in -shm).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/c_handles.h"

namespace provaudit::store {

inline constexpr std::chrono::milliseconds WAL_WRITEBACK_INTERVAL{50};

class WalWriteback {
 public:
  // `wal_path` need not exist yet (SQLite creates the WAL on the first write).
  explicit WalWriteback(std::string wal_path, std::chrono::milliseconds interval = WAL_WRITEBACK_INTERVAL);
  ~WalWriteback();
  WalWriteback(const WalWriteback&) = delete;
  WalWriteback& operator=(const WalWriteback&) = delete;

  // Writebacks started so far, and how often the file had to be (re)opened:
  // for -vv and the tests.
  [[nodiscard]] std::uint64_t nudges() const;
  [[nodiscard]] std::uint64_t opens() const;

  // While a writer writes the database file itself (Database::beginDirectWrites:
  // a rollback journal, no WAL), its pages are nudged the same way, through
  // SQLite's own descriptor `fd` (never closed here: closing any descriptor
  // of the file would drop SQLite's locks on it). -1 stops; once this
  // returns, `fd` is no longer used. The 1 GB corpus's last commit waited
  // 0.09 s for the disk, 0.01 s without the sync.
  void followDatabase(int fd);
  [[nodiscard]] std::uint64_t databaseNudges() const;

 private:
  void run();
  void nudge();

  const std::string path_;
  const std::chrono::milliseconds interval_;
  UniqueFd fd_;  // the WAL as last opened; the writeback thread's only
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::uint64_t nudges_ = 0, opens_ = 0;
  int database_fd_ = -1;  // under mu_ (and used only with mu_ held: followDatabase(-1) waits for a nudge)
  std::uint64_t database_nudges_ = 0;
  std::thread thread_;  // last: starts once everything above is ready
};

}  // namespace provaudit::store
