// Stmt::bindView binds a text in place (SQLITE_STATIC): SQLite reads it when
// the statement steps and keeps its own copy in the row, and exec() clears
// the binding, so the caller's text may change or go right after exec(). The
// audit binds its device documents and the writer its sightings this way.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <string>

#include "common/c_handles.h"
#include "store/sqlite_util.h"

using namespace provaudit;
using namespace provaudit::store;

namespace {

SqlitePtr memoryDb() {
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(":memory:", &raw) == SQLITE_OK);
  SqlitePtr db(raw);
  execSql(db.get(), "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)");
  return db;
}

std::string stored(sqlite3* db, std::int64_t k) {
  Stmt q(db, "SELECT v FROM t WHERE k=?");
  q.bind(1, k);
  REQUIRE(q.step());
  return q.isNull(0) ? std::string("<null>") : q.text(0);
}

}  // namespace

TEST_CASE("a text bound in place is stored as it was at exec(), whatever becomes of it after") {
  SqlitePtr db = memoryDb();
  Stmt ins(db.get(), "INSERT INTO t(k, v) VALUES(?, ?)");
  // Larger than a page, with a NUL and UTF-8 inside: all of it, by length.
  std::string text(40000, 'x');
  text[7] = '\0';
  text += "\xce\xbb end";
  const std::string expected = text;
  ins.bind(1, std::int64_t{1}).bindView(2, text).exec();
  text.assign(text.size(), 'y');  // the caller's buffer changes, then goes
  text.clear();
  text.shrink_to_fit();
  CHECK(stored(db.get(), 1) == expected);

  // The statement again, with another text in place: each row its own.
  const std::string second = "OU=SPA-2102,L=88012BFE0001";
  ins.bind(1, std::int64_t{2}).bindView(2, second).exec();
  CHECK(stored(db.get(), 1) == expected);
  CHECK(stored(db.get(), 2) == second);
}

TEST_CASE("exec() clears a text bound in place: the next step cannot read the caller's old buffer") {
  SqlitePtr db = memoryDb();
  Stmt ins(db.get(), "INSERT INTO t(k, v) VALUES(?, ?)");
  {
    const std::string gone = "a text that ends with its scope";
    ins.bind(1, std::int64_t{1}).bindView(2, gone).exec();
  }
  ins.bind(1, std::int64_t{2}).exec();  // nothing bound to ?2 this time
  CHECK(stored(db.get(), 1) == "a text that ends with its scope");
  CHECK(stored(db.get(), 2) == "<null>");
}
