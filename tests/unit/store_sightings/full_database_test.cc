// A database that cannot grow (a full disk; here SQLite's max_page_count,
// which fails the same way: SQLITE_FULL). SQLite rolls such a transaction
// back itself; the error that reaches the caller must be the full disk, not
// the failed ROLLBACK that followed, and it must say that the storage, not the
// statement, failed (a live sensor waits it out: Pipeline::retryStoreErrors).
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/database.h"
#include "store/sqlite_util.h"

using namespace provaudit;
using namespace provaudit::store;

namespace {

namespace fs = std::filesystem;

struct TempDb {
  fs::path path = fs::temp_directory_path() / ("pa_full_" + std::to_string(::getpid()) + ".db");
  ~TempDb() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path.string() + suffix, ec);
  }
};

std::int64_t scalar(Database& db, const char* sql) {
  Stmt s(db.handle(), sql);
  REQUIRE(s.step());
  return s.int64(0);
}

void addRows(Database& db, int rows) {
  Stmt ins(db.handle(),
           "INSERT INTO sightings(key, kind, ts_ns, source, frame, client_ip, client_port, server_ip, server_port, "
           "data) VALUES(?, 'tls', 0, 'test', 0, '10.0.0.1', 1, '10.0.0.2', 443, hex(randomblob(20000)))");
  static int next = 0;  // keys never repeat: the rows of a rolled-back transaction come again
  for (int i = 0; i < rows; ++i) ins.bind(1, "k" + std::to_string(next++)).exec();
}

}  // namespace

TEST_CASE("a database that cannot grow: the full disk is the error, and the database stays usable") {
  TempDb tmp;
  Database db(tmp.path.string(), Database::Mode::ReadWrite);
  const std::int64_t pages = scalar(db, "PRAGMA page_count");
  execSql(db.handle(), ("PRAGMA max_page_count = " + std::to_string(pages + 2)).c_str());
  std::string what;
  bool storage = false;
  int code = 0;
  try {
    db.transaction([&] { addRows(db, 200); });  // 4 MB: far past two more pages
  } catch (const DbError& e) {
    what = e.what();
    storage = e.storageUnavailable();
    code = e.code();
  }
  INFO(what);
  CHECK(what.find("database or disk is full") != std::string::npos);
  CHECK(what.find("rollback") == std::string::npos);
  CHECK((code & 0xff) == SQLITE_FULL);
  CHECK(storage);
  // Nothing of the failed transaction stayed; with room again, it all goes in.
  CHECK(scalar(db, "SELECT count(*) FROM sightings") == 0);
  execSql(db.handle(), "PRAGMA max_page_count = 1073741823");
  db.transaction([&] { addRows(db, 200); });
  CHECK(scalar(db, "SELECT count(*) FROM sightings") == 200);
}

TEST_CASE("a statement's own mistake is not a storage failure") {
  TempDb tmp;
  Database db(tmp.path.string(), Database::Mode::ReadWrite);
  bool storage = true;
  try {
    db.transaction([&] { execSql(db.handle(), "INSERT INTO no_such_table VALUES(1)"); });
  } catch (const DbError& e) {
    storage = e.storageUnavailable();
  }
  CHECK_FALSE(storage);
}

TEST_CASE("a database error names the file once") {
  const std::string path = "/nonexistent-pa-dir/x.db";
  CHECK(dbErrorText(path, "database or disk is full") == path + ": database or disk is full");
  CHECK(dbErrorText(path, path + ": cannot open database: unable to open") ==
        path + ": cannot open database: unable to open");
}
