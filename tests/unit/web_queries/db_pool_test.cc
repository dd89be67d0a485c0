// The dashboard's read-only connections open a database that a writer left
// in the middle of a transaction through a rollback journal (killed during a
// replay's last audit): the interrupted transaction is rolled back first,
// and the dashboard reads what was committed.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <filesystem>
#include <string>

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
