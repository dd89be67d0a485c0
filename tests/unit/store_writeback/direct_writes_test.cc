// Direct writes (Database::beginDirectWrites): a process alone with its
// database writes one large transaction through a rollback journal instead of
// the WAL, and goes back to WAL after; with anyone else connected nothing
// changes, at once; a writer interrupted in the middle leaves a hot journal
// that read-only openers roll back before reading (rollBackInterruptedWrite).
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "../../support/interrupted_write.h"
#include "../../support/temp_dir.h"
#include "store/database.h"
#include "store/sqlite_util.h"
#include "store/wal_writeback.h"

using namespace provaudit::store;

namespace {

std::string journalMode(sqlite3* db) {
  Stmt m(db, "PRAGMA journal_mode");
  return m.step() ? m.text(0) : "";
}

std::int64_t scalar(sqlite3* db, const char* sql) {
  Stmt s(db, sql);
  return s.step() ? s.int64(0) : -1;
}

}  // namespace

TEST_CASE("alone with its database, a writer writes through a rollback journal and goes back to WAL") {
  provaudit::testing::TempDir dir("pa-direct");
  const std::string path = dir.path("a.db");
  Database db(path, Database::Mode::ReadWrite);
  REQUIRE(journalMode(db.handle()) == "wal");
  REQUIRE(db.beginDirectWrites());
  CHECK(journalMode(db.handle()) == "delete");
  CHECK(scalar(db.handle(), "PRAGMA synchronous") == 2);  // FULL: a rollback journal needs its syncs
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));    // checkpointed and removed on the way out
  db.transaction([&] {
    Stmt ins(db.handle(), "INSERT INTO stats(name, value) VALUES(?, ?)");
    for (std::int64_t i = 0; i < 500; ++i) ins.bind(1, "n" + std::to_string(i)).bind(2, i).exec();
  });
  // A failed transaction in between is undone from the journal, as in WAL.
  CHECK_THROWS(db.transaction([&] {
    execSql(db.handle(), "DELETE FROM stats");
    throw DbError("stop");
  }));
  db.endDirectWrites();
  CHECK(journalMode(db.handle()) == "wal");
  CHECK(scalar(db.handle(), "PRAGMA synchronous") == 1);  // NORMAL again, as every writer here
  CHECK_FALSE(std::filesystem::exists(path + "-journal"));
  Database ro(path, Database::Mode::ReadOnly);
  CHECK(scalar(ro.handle(), "SELECT count(*) FROM stats WHERE name LIKE 'n%'") == 500);
  CHECK(journalMode(ro.handle()) == "wal");
}

TEST_CASE("while it writes directly, the database file's own pages are sent to the disk as they fill, not after") {
  provaudit::testing::TempDir dir("pa-direct");
  const std::string path = dir.path("a.db");
  Database db(path, Database::Mode::ReadWrite);
  CHECK(db.directWritebacks() == 0);
  std::this_thread::sleep_for(3 * provaudit::store::WAL_WRITEBACK_INTERVAL);
  CHECK(db.directWritebacks() == 0);  // through the WAL: only the WAL is nudged
  REQUIRE(db.beginDirectWrites());
  db.transaction([&] {
    Stmt ins(db.handle(), "INSERT INTO stats(name, value) VALUES(?, ?)");
    const auto until = std::chrono::steady_clock::now() + 4 * provaudit::store::WAL_WRITEBACK_INTERVAL;
    for (std::int64_t i = 0; std::chrono::steady_clock::now() < until; ++i) {
      ins.bind(1, "n" + std::to_string(i)).bind(2, i).exec();
    }
  });
  // SQLite's own descriptor of the file, found and nudged while it wrote.
  CHECK(db.directWritebacks() > 0);
  db.endDirectWrites();
  const std::uint64_t after = db.directWritebacks();
  std::this_thread::sleep_for(3 * provaudit::store::WAL_WRITEBACK_INTERVAL);
  CHECK(db.directWritebacks() == after);  // back in WAL: the file is left to SQLite's checkpoints
  CHECK(journalMode(db.handle()) == "wal");
}

TEST_CASE("with another connection open, nothing changes, and the writer does not wait for it") {
  provaudit::testing::TempDir dir("pa-direct");
  const std::string path = dir.path("a.db");
  Database db(path, Database::Mode::ReadWrite);
  Database reader(path, Database::Mode::ReadOnly);  // a dashboard or report
  REQUIRE(scalar(reader.handle(), "SELECT count(*) FROM devices") == 0);
  const bool reading = GENERATE(false, true);  // idle between queries, or in the middle of one
  if (reading) execSql(reader.handle(), "BEGIN; SELECT count(*) FROM stats;");
  INFO("reader in a read transaction: " << reading);
  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(db.beginDirectWrites());
  if (reading) execSql(reader.handle(), "COMMIT");
  // It asks without the busy handler: far less than the 10 s busy timeout.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(BUSY_TIMEOUT_MS / 2));
  CHECK(journalMode(db.handle()) == "wal");
  CHECK(scalar(db.handle(), "PRAGMA synchronous") == 1);
  // The busy timeout is back: the connection still writes as before.
  CHECK(scalar(db.handle(), "PRAGMA busy_timeout") == BUSY_TIMEOUT_MS);
  db.transaction([&] { execSql(db.handle(), "INSERT INTO stats(name, value) VALUES('x', 1)"); });
  CHECK(scalar(reader.handle(), "SELECT value FROM stats WHERE name='x'") == 1);
}

TEST_CASE("a read-only open rolls back a writer's interrupted transaction first") {
  provaudit::testing::TempDir dir("pa-direct");
  const std::string copy = dir.path("interrupted.db");
  REQUIRE(provaudit::testing::makeInterruptedWrite(dir.path("scratch.db"), copy));
  {
    // What the file holds before recovery: uncommitted pages (the reason a
    // read-only connection cannot simply read it).
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(copy.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    provaudit::SqlitePtr h(raw);
    CHECK(sqlite3_exec(h.get(), "SELECT count(*) FROM t", nullptr, nullptr, nullptr) != SQLITE_OK);
  }
  Database ro(copy, Database::Mode::ReadOnly);
  CHECK_FALSE(std::filesystem::exists(copy + "-journal"));
  CHECK(scalar(ro.handle(), "SELECT count(*) FROM t") == provaudit::testing::INTERRUPTED_COMMITTED_ROWS);
  Stmt changed(ro.handle(), "SELECT count(*) FROM t WHERE v <> ?");
  REQUIRE(changed.bind(1, std::int64_t{provaudit::testing::INTERRUPTED_ROW_VALUE}).step());
  CHECK(changed.int64(0) == 0);
  Stmt check(ro.handle(), "PRAGMA integrity_check");
  REQUIRE(check.step());
  CHECK(check.text(0) == "ok");
}

TEST_CASE("recovery leaves a database without a journal alone, and never creates one") {
  provaudit::testing::TempDir dir("pa-direct");
  const std::string missing = dir.path("none.db");
  rollBackInterruptedWrite(missing);
  CHECK_FALSE(std::filesystem::exists(missing));
  // A journal beside no database: nothing to open, nothing created.
  { std::ofstream(missing + "-journal") << "not a journal"; }
  rollBackInterruptedWrite(missing);
  CHECK_FALSE(std::filesystem::exists(missing));
}

TEST_CASE("going back to WAL waits for a reader that arrived meanwhile, then syncs as a WAL writer") {
  provaudit::testing::TempDir dir("pa-direct");
  const std::string path = dir.path("a.db");
  Database db(path, Database::Mode::ReadWrite);
  REQUIRE(db.beginDirectWrites());
  db.transaction([&] { execSql(db.handle(), "INSERT INTO stats(name, value) VALUES('x', 1)"); });
  // A report opened during the direct write, in the middle of its read.
  Database reader(path, Database::Mode::ReadOnly);
  execSql(reader.handle(), "BEGIN");
  REQUIRE(scalar(reader.handle(), "SELECT value FROM stats WHERE name='x'") == 1);
  std::thread finish([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    execSql(reader.handle(), "COMMIT");
  });
  db.endDirectWrites();
  finish.join();
  CHECK(journalMode(db.handle()) == "wal");
  CHECK(scalar(db.handle(), "PRAGMA synchronous") == 1);
}
