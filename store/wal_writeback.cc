#include "store/wal_writeback.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <utility>

#include "common/thread_name.h"

namespace provaudit::store {

WalWriteback::WalWriteback(std::string wal_path, std::chrono::milliseconds interval)
    : path_(std::move(wal_path)), interval_(interval), thread_([this] { run(); }) {
  nameThread(thread_, "pa-writeback");
}

WalWriteback::~WalWriteback() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

std::uint64_t WalWriteback::nudges() const {
  std::lock_guard lock(mu_);
  return nudges_;
}

std::uint64_t WalWriteback::opens() const {
  std::lock_guard lock(mu_);
  return opens_;
}

void WalWriteback::followDatabase(int fd) {
  std::lock_guard lock(mu_);
  database_fd_ = fd;
}

std::uint64_t WalWriteback::databaseNudges() const {
  std::lock_guard lock(mu_);
  return database_nudges_;
}

void WalWriteback::run() {
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, interval_, [&] { return stop_; })) {
    lock.unlock();
    nudge();
    lock.lock();
  }
}

void WalWriteback::nudge() {
#ifdef __linux__
  {
    // Written directly, the database has no WAL: only its own pages to nudge.
    std::lock_guard lock(mu_);
    if (database_fd_ >= 0) {
      if (::sync_file_range(database_fd_, 0, 0, SYNC_FILE_RANGE_WRITE) == 0) ++database_nudges_;
      return;
    }
  }
  // A WAL that was removed (the last connection closed it) and created again
  // is another file: drop the old one and open the new.
  struct stat st {};
  if (fd_ && (::fstat(fd_.get(), &st) != 0 || st.st_nlink == 0)) fd_.reset();
  bool opened = false;
  if (!fd_) {
    fd_.reset(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd_) return;  // not created yet, or gone: nothing to write
    opened = true;
  }
  // Offset 0 and length 0: the whole file. Only starts the writes.
  const bool started = ::sync_file_range(fd_.get(), 0, 0, SYNC_FILE_RANGE_WRITE) == 0;
  std::lock_guard lock(mu_);
  if (opened) ++opens_;
  if (started) ++nudges_;
#endif
}

}  // namespace provaudit::store
