#pragma once
// Thin RAII helpers over SQLite: prepared statements with bound parameters
// only (never string-built SQL with data in it), return codes compared with
// their named constants.
#include <sqlite3.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/c_handles.h"

namespace provaudit::store {

class DbError : public std::runtime_error {
 public:
  explicit DbError(const std::string& what, int code = 0) : std::runtime_error(what), code_(code) {}
  // SQLite's extended result code (0 when the error is not SQLite's).
  [[nodiscard]] int code() const { return code_; }
  // The storage, not the statement, failed, and may work again later: the
  // disk or the file system is full (SQLITE_FULL), an I/O error, another
  // connection holds the lock past the busy timeout, the file was made
  // read-only or its journal cannot be created. What a long-running sensor
  // waits out (keeping what it has not stored) rather than dies of.
  [[nodiscard]] bool storageUnavailable() const;

 private:
  int code_ = 0;
};

class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  Stmt& bind(int idx, std::string_view v);  // copied: `v` may go before the step
  // Not copied (SQLITE_STATIC): `v` must stay unchanged until the statement
  // is stepped and reset (exec() does both). For the large texts an audit
  // writes, which live in the caller's records anyway: a copy and an
  // allocation less per text (1 GB corpus: 61 MB of device documents).
  Stmt& bindView(int idx, std::string_view v);
  Stmt& bind(int idx, std::int64_t v);
  Stmt& bindBlob(int idx, const void* data, std::size_t n);
  Stmt& bindNull(int idx);
  Stmt& bindOpt(int idx, const std::optional<std::string>& v);
  // Steps once: true while a row is available, false when done. Throws DbError on failure.
  bool step();
  void exec();  // steps to completion, then resets
  void reset();
  [[nodiscard]] std::int64_t int64(int col) const;
  [[nodiscard]] std::string text(int col) const;
  [[nodiscard]] bool isNull(int col) const;
  [[nodiscard]] std::string blob(int col) const;
  [[nodiscard]] sqlite3_stmt* get() const { return stmt_.get(); }

 private:
  Stmt& bindText(int idx, std::string_view v, sqlite3_destructor_type lifetime);

  sqlite3* db_;
  SqliteStmtPtr stmt_;
};

// Rows of text inserted ROWS_PER_STATEMENT at a time: one statement step for
// many rows, where an audit writes tens of thousands of small ones (findings,
// a device's sightings and servers). The texts are bound in place
// (Stmt::bindView): they must stay unchanged until flush() (or the
// destructor, which does not throw: call flush() to see errors).
class BatchInsert {
 public:
  static constexpr std::size_t ROWS_PER_STATEMENT = 64;
  // `head` is "INSERT [OR ...] INTO table(col, ...)" naming `columns` columns.
  BatchInsert(sqlite3* db, std::string head, std::size_t columns);
  ~BatchInsert();
  BatchInsert(const BatchInsert&) = delete;
  BatchInsert& operator=(const BatchInsert&) = delete;

  // A row's values: texts (bound in place: they must live until flush()) and integers.
  using Value = std::variant<std::string_view, std::int64_t>;
  void add(std::initializer_list<Value> row);  // `columns` values
  void flush();

 private:
  Stmt prepare(std::size_t rows) const;
  void run(Stmt& s, std::size_t rows);

  sqlite3* db_;
  const std::string head_;
  const std::size_t columns_;
  std::vector<Value> pending_;             // row after row
  std::optional<Stmt> full_;               // ROWS_PER_STATEMENT rows, prepared at first use
};

// An error of the database at `path`, for one line on stderr: "PATH: what"
// (the path once: errors from opening it already start with it), and when
// the file system that holds it has no space left, that too (SQLite then
// says "database or disk is full", or only "disk I/O error" when the
// journal or WAL file could not be created).
std::string dbErrorText(const std::string& path, std::string_view what);

void execSql(sqlite3* db, const char* sql);
// ROLLBACK, if a transaction is still open. A full disk, an I/O error or no
// memory can end the transaction in SQLite itself (it rolls back on its
// own): a ROLLBACK then fails with "no transaction is active", and that
// error would hide the one that happened.
void rollbackIfOpen(sqlite3* db);

// Whether the schema has a table, view or index of this name.
bool hasSchemaObject(sqlite3* db, std::string_view name);

// One value of the stats table, 0 when it has none.
std::int64_t statValue(sqlite3* db, std::string_view name);

// Process-wide SQLite settings, made once before the first connection opens
// (sqlite3_config refuses them after): no memory statistics, which nothing
// here reads and which cost every SQLite allocation and free a global mutex
// (a sixth of writing an audit's rows). Every opener calls it.
void configureSqlite();

// A writer killed in the middle of a transaction through a rollback journal
// (Database::beginDirectWrites) leaves a hot journal, which only a read-write
// connection can roll back: until one does, every read-only open fails
// ("attempt to write a readonly database"). Read-only openers call this
// first. When `<path>-journal` exists, it opens the database read-write once
// (never creating it) and reads the schema, which is SQLite's own recovery:
// the interrupted transaction is undone, what was committed stays, as a WAL
// reader would have seen it. It never waits: a journal under a live writer's
// lock is not hot, and the read-only open waits for that writer itself (as
// it does for another process recovering the same journal). Best effort:
// without write permission, the read-only open reports the error.
void rollBackInterruptedWrite(const std::string& path);

// Opens `path` read-only (SQLITE_OPEN_READONLY; the caller sets its busy
// timeout and pragmas). A WAL database whose -shm file does not exist and
// cannot be made (a directory this user may not write: evidence on read-only
// media, another user's folder) cannot be read that way; when neither its
// -wal nor its -shm exists, no writer has it open, and it is opened as an
// immutable file instead (`snapshot` set: changes made after are not seen).
// Null on failure, with `error` one line naming the path.
SqlitePtr openReadOnly(const std::string& path, bool& snapshot, std::string& error);

}  // namespace provaudit::store
