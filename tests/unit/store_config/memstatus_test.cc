// SQLite keeps no memory statistics in our processes (configureSqlite): they
// cost every allocation a global mutex. A binary of its own, so that nothing
// opens a connection before the Database does.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "../../support/temp_dir.h"
#include "store/database.h"

TEST_CASE("a process whose first connection is a Database keeps no SQLite memory statistics") {
  const provaudit::testing::TempDir tmp("provaudit-memstatus");
  provaudit::store::Database db(tmp.path("m.db"), provaudit::store::Database::Mode::ReadWrite);
  CHECK(db.count("devices") == 0);  // the connection is open and has run statements
  CHECK(sqlite3_memory_used() == 0);
  // Were they kept, the schema and statements above would hold some.
  sqlite3_int64 current = -1, highwater = -1;
  CHECK(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &current, &highwater, 0) == SQLITE_OK);
  CHECK(current == 0);
}
