#pragma once
// A database as a writer killed in the middle of a transaction through a
// rollback journal leaves it (Database::beginDirectWrites): the file with
// uncommitted pages already written into it, and a hot journal beside it
// holding their committed contents. Made by copying both files while a real
// writer has its transaction open, its cache spilled: no process has to be
// killed at the right moment, and no one holds a lock on the copy.
#include <filesystem>
#include <string>

#include "store/database.h"
#include "store/sqlite_util.h"

namespace provaudit::testing {

inline constexpr int INTERRUPTED_COMMITTED_ROWS = 200;
inline constexpr int INTERRUPTED_ROW_VALUE = 7;  // every committed row's value

// Writes `copy` (and `copy`-journal). Committed: table t with
// INTERRUPTED_COMMITTED_ROWS rows of value INTERRUPTED_ROW_VALUE. Written but
// not committed: every value changed, and thousands of rows more. Returns
// false if the writer could not leave WAL or the journal did not appear.
inline bool makeInterruptedWrite(const std::string& scratch, const std::string& copy) {
  using store::Database;
  using store::execSql;
  using store::Stmt;
  Database db(scratch, Database::Mode::ReadWrite);
  execSql(db.handle(), "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB)");
  db.transaction([&] {
    Stmt ins(db.handle(), "INSERT INTO t(v, pad) VALUES(?, randomblob(1000))");
    for (int i = 0; i < INTERRUPTED_COMMITTED_ROWS; ++i) ins.bind(1, std::int64_t{INTERRUPTED_ROW_VALUE}).exec();
  });
  if (!db.beginDirectWrites()) return false;
  // A cache of a few pages: the transaction's pages spill into the file.
  execSql(db.handle(), "PRAGMA cache_size=4");
  db.begin();
  execSql(db.handle(), "UPDATE t SET v = v + 1000");
  Stmt more(db.handle(), "INSERT INTO t(v, pad) VALUES(-1, randomblob(1000))");
  for (int i = 0; i < 4000; ++i) more.exec();
  namespace fs = std::filesystem;
  const bool journal = fs::exists(scratch + "-journal") && fs::file_size(scratch + "-journal") > 0;
  if (journal) {
    fs::copy_file(scratch, copy, fs::copy_options::overwrite_existing);
    fs::copy_file(scratch + "-journal", copy + "-journal", fs::copy_options::overwrite_existing);
  }
  db.rollback();
  db.endDirectWrites();
  return journal;
}

}  // namespace provaudit::testing
