// Stmt::bindView binds a text in place (SQLITE_STATIC): SQLite reads it when
// the statement steps and keeps its own copy in the row, and exec() clears
// the binding, so the caller's text may change or go right after exec(). The
// audit binds its device documents and the writer its sightings this way.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <string>
#include <vector>

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

// BatchInsert: many rows to a statement, the texts bound in place; a part
// batch at the end goes in with flush(), and nothing is lost or doubled at
// either size.
TEST_CASE("a batch insert stores every row once, full statements and the rest alike") {
  for (const std::size_t rows : {std::size_t{0}, std::size_t{1}, BatchInsert::ROWS_PER_STATEMENT - 1,
                                 BatchInsert::ROWS_PER_STATEMENT, 3 * BatchInsert::ROWS_PER_STATEMENT + 5}) {
    INFO("rows " << rows);
    SqlitePtr db = memoryDb();
    std::vector<std::string> keys, values;  // stable until flush(): reserved, never reallocated
    keys.reserve(rows);
    values.reserve(rows);
    {
      BatchInsert batch(db.get(), "INSERT INTO t(k, v)", 2);
      for (std::size_t i = 0; i < rows; ++i) {
        keys.push_back(std::to_string(i + 1));
        values.push_back("value " + std::to_string(i) + std::string(i % 3, '\0'));
        batch.add({keys.back(), values.back()});
      }
      batch.flush();
    }
    Stmt count(db.get(), "SELECT count(*), count(DISTINCT k) FROM t");
    REQUIRE(count.step());
    CHECK(count.int64(0) == static_cast<std::int64_t>(rows));
    CHECK(count.int64(1) == static_cast<std::int64_t>(rows));
    for (std::size_t i = 0; i < rows; ++i) CHECK(stored(db.get(), static_cast<std::int64_t>(i + 1)) == values[i]);
  }
}

TEST_CASE("a batch insert names a row of the wrong width, and a constraint's failure reaches flush()") {
  SqlitePtr db = memoryDb();
  BatchInsert batch(db.get(), "INSERT INTO t(k, v)", 2);
  CHECK_THROWS_WITH(batch.add({"1"}), Catch::Contains("1 values for 2 columns"));
  batch.add({"1", "a"});
  batch.add({"1", "b"});  // the same primary key twice
  CHECK_THROWS_AS(batch.flush(), DbError);
}
