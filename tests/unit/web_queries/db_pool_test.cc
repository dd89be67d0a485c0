// The dashboard's read-only connections and a writer that goes through a
// rollback journal (a replay's last audit, Database::beginDirectWrites): a
// transaction the writer left unfinished (killed) is rolled back before the
// dashboard reads, and a starting dashboard waits for the writer's lock.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "../../support/interrupted_write.h"
#include "../../support/temp_dir.h"
#include "web/db_pool.h"

TEST_CASE("the dashboard's pool opens a database with an interrupted write, and reads what was committed") {
  provaudit::testing::TempDir dir("pa-pool");
  const std::string copy = dir.path("interrupted.db");
  REQUIRE(provaudit::testing::makeInterruptedWrite(dir.path("scratch.db"), copy));
  REQUIRE(std::filesystem::exists(copy + "-journal"));
  provaudit::web::DbPool pool(copy);  // reads the schema version through its first connection
  CHECK_FALSE(std::filesystem::exists(copy + "-journal"));
  std::string error;
  auto lease = pool.acquire(error);
  REQUIRE(lease);
  provaudit::store::Stmt n(lease.get(), "SELECT count(*), min(v), max(v) FROM t");
  REQUIRE(n.step());
  CHECK(n.int64(0) == provaudit::testing::INTERRUPTED_COMMITTED_ROWS);
  CHECK(n.int64(1) == provaudit::testing::INTERRUPTED_ROW_VALUE);
  CHECK(n.int64(2) == provaudit::testing::INTERRUPTED_ROW_VALUE);
}

TEST_CASE("a starting dashboard waits for a writer's lock, and names it when the wait runs out") {
  provaudit::testing::TempDir dir("pa-pool");
  const std::string path = dir.path("locked.db");
  provaudit::store::Database db(path, provaudit::store::Database::Mode::ReadWrite);
  // A replay's last audit, written directly: its lock keeps readers out until the commit.
  REQUIRE(db.beginDirectWrites());
  provaudit::store::execSql(db.handle(), "BEGIN EXCLUSIVE");
  constexpr int WAIT_MS = 300;
  const auto started = std::chrono::steady_clock::now();
  try {
    provaudit::web::DbPool pool(path, WAIT_MS);
    FAIL("the pool opened a database under an exclusive lock");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("a writer has held the database locked for more than 300 ms") != std::string::npos);
    CHECK(msg.find("not a provaudit database") == std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(WAIT_MS));
  // A commit within the startup wait lets it in, even one that comes after
  // a dashboard query would have given up (READ_BUSY_TIMEOUT_MS, for each of
  // the two statements a connection's opening may wait in).
  std::thread commit([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * provaudit::web::READ_BUSY_TIMEOUT_MS + 500));
    provaudit::store::execSql(db.handle(), "COMMIT");
  });
  provaudit::web::DbPool pool(path);
  commit.join();
  std::string error;
  auto lease = pool.acquire(error);
  REQUIRE(lease);
  CHECK(provaudit::store::Stmt(lease.get(), "SELECT count(*) FROM devices").step());
  db.endDirectWrites();
}
