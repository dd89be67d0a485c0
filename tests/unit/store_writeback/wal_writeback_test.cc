// The WAL writeback (store/wal_writeback.h): it finds the WAL once SQLite
// creates it, follows a WAL that was removed and created again, starts
// writebacks while a writer fills it, and never costs another connection its
// locks (it opens only the WAL, never the database file).
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "../../support/temp_dir.h"
#include "store/database.h"
#include "store/sqlite_util.h"
#include "store/wal_writeback.h"

using namespace provaudit::store;
using namespace std::chrono_literals;

namespace {

constexpr auto QUICK = 5ms;  // a short interval, so that the tests wait little

// Polls `done` until it holds or a generous deadline passes (an event waited
// for, not a timing asserted).
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

void writeFile(const std::string& path, std::size_t bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << std::string(bytes, 'w');
}

// The child side of childBeginImmediate, run before Catch2 starts: a fresh
// process image, so that its SQLite shares no lock bookkeeping with ours (a
// forked copy would: SQLite keeps per-file lock state in the process).
constexpr const char* CHILD_ENV = "PA_TEST_BEGIN_IMMEDIATE";
const int child_side = [] {
  const char* db = std::getenv(CHILD_ENV);
  if (db == nullptr) return 0;
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(h, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(h);  // the last connection to close checkpoints and deletes the WAL
  std::_Exit(rc & 0xff);
}();

// Exit status of another process that tries to take the write lock of `db`
// without waiting (SQLITE_BUSY while another connection holds it), then
// closes its connection.
int childBeginImmediate(const std::string& db) {
  const std::string env = std::string(CHILD_ENV) + "=" + db;
  const pid_t pid = ::fork();
  if (pid == 0) {
    char* const argv[] = {const_cast<char*>("child"), nullptr};
    char* const envp[] = {const_cast<char*>(env.c_str()), nullptr};
    ::execve("/proc/self/exe", argv, envp);
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("a WAL that does not exist yet is waited for, then written back once it does") {
  provaudit::testing::TempDir dir("pa-wal");
  const std::string wal = dir.path("x.db-wal");
  WalWriteback w(wal, QUICK);
  std::this_thread::sleep_for(10 * QUICK);
  CHECK(w.opens() == 0);
  CHECK(w.nudges() == 0);
  writeFile(wal, 1 << 20);
  REQUIRE(eventually([&] { return w.nudges() > 0; }));
  CHECK(w.opens() == 1);
}

TEST_CASE("a WAL removed and created again is opened again") {
  provaudit::testing::TempDir dir("pa-wal");
  const std::string wal = dir.path("x.db-wal");
  writeFile(wal, 4096);
  WalWriteback w(wal, QUICK);
  REQUIRE(eventually([&] { return w.nudges() > 0; }));
  CHECK(w.opens() == 1);
  std::filesystem::remove(wal);
  writeFile(wal, 4096);
  REQUIRE(eventually([&] { return w.opens() == 2; }));
  // Gone for good: no descriptor is kept on the removed file, no error either.
  std::filesystem::remove(wal);
  const auto before = w.nudges();
  REQUIRE(eventually([&] { return w.nudges() == before; }));
}

TEST_CASE("a writer's database writes its WAL back while it writes; what it wrote reads back whole") {
  provaudit::testing::TempDir dir("pa-wal");
  const std::string path = dir.path("a.db");
  {
    Database db(path, Database::Mode::ReadWrite);
    execSql(db.handle(), "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB NOT NULL)");
    // Several transactions of 4 MB each, with checkpoints in between.
    for (int t = 0; t < 8; ++t) {
      db.transaction([&] {
        Stmt ins(db.handle(), "INSERT INTO blobs(b) VALUES(randomblob(65536))");
        for (int i = 0; i < 64; ++i) ins.exec();
      });
    }
    REQUIRE(eventually([&] { return db.walWritebacks() > 0; }));
    Stmt n(db.handle(), "SELECT count(*), sum(length(b)) FROM blobs");
    REQUIRE(n.step());
    CHECK(n.int64(0) == 8 * 64);
    CHECK(n.int64(1) == 8 * 64 * 65536);
  }
  Database ro(path, Database::Mode::ReadOnly);
  CHECK(ro.walWritebacks() == 0);
  Stmt check(ro.handle(), "PRAGMA integrity_check");
  REQUIRE(check.step());
  CHECK(check.text(0) == "ok");
}

TEST_CASE("closing the writeback's descriptor leaves every lock of the process in place") {
  // POSIX advisory locks belong to the process and the file: closing any
  // descriptor of a locked file releases them all. A WAL-mode connection holds
  // a shared lock on the database file while it is open; without it, another
  // process closing its own connection would take itself for the last one,
  // checkpoint and delete the WAL and -shm under this one. The writeback opens
  // and closes the WAL only, so that lock survives it.
  provaudit::testing::TempDir dir("pa-wal");
  const std::string path = dir.path("a.db");
  Database db(path, Database::Mode::ReadWrite);
  execSql(db.handle(), "CREATE TABLE t(x)");
  db.begin();
  execSql(db.handle(), "INSERT INTO t VALUES(1)");
  REQUIRE(childBeginImmediate(path) == SQLITE_BUSY);
  REQUIRE(std::filesystem::exists(path + "-wal"));
  {
    WalWriteback extra(path + "-wal", QUICK);
    REQUIRE(eventually([&] { return extra.nudges() > 0; }));
  }  // its descriptor closes here
  // Another process's connection comes and goes while ours is in the middle
  // of a transaction: it may neither write nor remove the WAL.
  CHECK(childBeginImmediate(path) == SQLITE_BUSY);
  CHECK(std::filesystem::exists(path + "-wal"));
  db.commit();
  CHECK(childBeginImmediate(path) == SQLITE_OK);
  CHECK(std::filesystem::exists(path + "-wal"));
}
