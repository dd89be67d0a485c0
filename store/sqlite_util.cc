#include "store/sqlite_util.h"

#include <algorithm>
#include <utility>

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <mutex>

namespace provaudit::store {

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) != SQLITE_OK) {
    throw DbError(std::string("cannot prepare statement: ") + sqlite3_errmsg(db), sqlite3_extended_errcode(db));
  }
  stmt_.reset(raw);  // the Stmt owns it from here
}

Stmt& Stmt::bindText(int idx, std::string_view v, sqlite3_destructor_type lifetime) {
  if (sqlite3_bind_text(stmt_.get(), idx, v.data(), static_cast<int>(v.size()), lifetime) != SQLITE_OK) {
    throw DbError(std::string("bind failed: ") + sqlite3_errmsg(db_));
  }
  return *this;
}

Stmt& Stmt::bind(int idx, std::string_view v) { return bindText(idx, v, SQLITE_TRANSIENT); }

Stmt& Stmt::bindView(int idx, std::string_view v) { return bindText(idx, v, SQLITE_STATIC); }

Stmt& Stmt::bind(int idx, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_.get(), idx, v) != SQLITE_OK) throw DbError(std::string("bind failed: ") + sqlite3_errmsg(db_));
  return *this;
}

Stmt& Stmt::bindBlob(int idx, const void* data, std::size_t n) {
  if (sqlite3_bind_blob(stmt_.get(), idx, data, static_cast<int>(n), SQLITE_TRANSIENT) != SQLITE_OK) {
    throw DbError(std::string("bind failed: ") + sqlite3_errmsg(db_));
  }
  return *this;
}

Stmt& Stmt::bindNull(int idx) {
  if (sqlite3_bind_null(stmt_.get(), idx) != SQLITE_OK) throw DbError(std::string("bind failed: ") + sqlite3_errmsg(db_));
  return *this;
}

Stmt& Stmt::bindOpt(int idx, const std::optional<std::string>& v) { return v ? bind(idx, *v) : bindNull(idx); }

bool Stmt::step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw DbError(std::string("statement failed: ") + sqlite3_errmsg(db_), sqlite3_extended_errcode(db_));
}

void Stmt::exec() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
}

std::int64_t Stmt::int64(int col) const { return sqlite3_column_int64(stmt_.get(), col); }

std::string Stmt::text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_.get(), col);
  const int n = sqlite3_column_bytes(stmt_.get(), col);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

bool Stmt::isNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }

std::string Stmt::blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_.get(), col);
  const int n = sqlite3_column_bytes(stmt_.get(), col);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

void configureSqlite() {
  static std::once_flag once;
  std::call_once(once, [] {
    // SQLITE_MISUSE when SQLite is running already (someone opened a
    // connection first): it then keeps its defaults, which are correct too.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  });
}

void rollBackInterruptedWrite(const std::string& path) {
  struct stat st {};
  if (::stat((path + "-journal").c_str(), &st) != 0 || st.st_size == 0) return;  // none, or nothing to undo
  configureSqlite();
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  SqlitePtr db(raw);
  if (rc != SQLITE_OK) return;
  // The first read of a database with a hot journal rolls it back.
  sqlite3_exec(db.get(), "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
}

namespace {

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A file name as an SQLite URI path (https://sqlite.org/uri.html): '?', '#'
// and '%' percent-encoded, so that the name is read as a name.
std::string uriPath(const std::string& path) {
  static constexpr char HEX[] = "0123456789ABCDEF";
  std::string out = "file:";
  for (const char c : path) {
    if (c == '?' || c == '#' || c == '%') {
      out.push_back('%');
      out.push_back(HEX[static_cast<unsigned char>(c) >> 4]);
      out.push_back(HEX[static_cast<unsigned char>(c) & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

SqlitePtr openReadOnly(const std::string& path, bool& snapshot, std::string& error) {
  snapshot = false;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  SqlitePtr db(raw);  // owned even when open failed: sqlite3_close_v2 frees the half-open handle
  if (rc != SQLITE_OK) {
    error = path + ": cannot open database read-only: " + (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory");
    return nullptr;
  }
  // The -shm is made at the first read: try one.
  rc = sqlite3_exec(db.get(), "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if ((rc & 0xff) != SQLITE_READONLY && (rc & 0xff) != SQLITE_CANTOPEN) return db;  // read, or another error for later
  if (fileExists(path + "-wal") || fileExists(path + "-shm")) return db;  // a writer may have it: no snapshot
  db.reset();
  raw = nullptr;
  rc = sqlite3_open_v2((uriPath(path) + "?immutable=1").c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  db.reset(raw);
  if (rc != SQLITE_OK) {
    error = path + ": cannot open database read-only: " + (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory");
    return nullptr;
  }
  snapshot = true;
  return db;
}

BatchInsert::BatchInsert(sqlite3* db, std::string head, std::size_t columns)
    : db_(db), head_(std::move(head)), columns_(columns) {
  pending_.reserve(ROWS_PER_STATEMENT * columns_);
}

BatchInsert::~BatchInsert() {
  try {
    flush();
  } catch (const DbError&) {
    // The caller's transaction fails anyway; it called flush() if it cared.
  }
}

Stmt BatchInsert::prepare(std::size_t rows) const {
  std::string sql = head_ + " VALUES";
  for (std::size_t r = 0; r < rows; ++r) {
    sql += r == 0 ? "(" : ",(";
    for (std::size_t c = 0; c < columns_; ++c) sql += c == 0 ? "?" : ",?";
    sql += ')';
  }
  return Stmt(db_, sql);
}

void BatchInsert::run(Stmt& s, std::size_t rows) {
  for (std::size_t i = 0; i < rows * columns_; ++i) {
    const int idx = static_cast<int>(i + 1);
    if (const auto* text = std::get_if<std::string_view>(&pending_[i])) s.bindView(idx, *text);
    else s.bind(idx, std::get<std::int64_t>(pending_[i]));
  }
  s.exec();
}

void BatchInsert::add(std::initializer_list<Value> row) {
  if (row.size() != columns_) throw DbError("batch insert: " + std::to_string(row.size()) + " values for " +
                                             std::to_string(columns_) + " columns");
  pending_.insert(pending_.end(), row.begin(), row.end());
  if (pending_.size() < ROWS_PER_STATEMENT * columns_) return;
  if (!full_) full_.emplace(prepare(ROWS_PER_STATEMENT));
  run(*full_, ROWS_PER_STATEMENT);
  pending_.clear();
}

void BatchInsert::flush() {
  if (pending_.empty()) return;
  const std::size_t rows = pending_.size() / columns_;
  Stmt rest = prepare(rows);
  run(rest, rows);
  pending_.clear();
}

void execSql(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    throw DbError(msg, sqlite3_extended_errcode(db));
  }
}

std::string dbErrorText(const std::string& path, std::string_view what) {
  std::string text = what.starts_with(path + ": ") ? std::string(what) : path + ": " + std::string(what);
  // The file, or the directory where it would be created.
  std::string where = path;
  struct statvfs fs {};
  if (::statvfs(where.c_str(), &fs) != 0) {
    const auto slash = path.find_last_of('/');
    where = slash == std::string::npos ? std::string(".") : path.substr(0, std::max<std::size_t>(slash, 1));
  }
  if (::statvfs(where.c_str(), &fs) == 0 && fs.f_bavail == 0) text += " (no space left on the file system that holds it)";
  return text;
}

void rollbackIfOpen(sqlite3* db) {
  if (sqlite3_get_autocommit(db) == 0) execSql(db, "ROLLBACK");
}

bool DbError::storageUnavailable() const {
  switch (code_ & 0xff) {  // the primary code
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
      return true;
    default:
      return false;
  }
}

bool hasSchemaObject(sqlite3* db, std::string_view name) {
  Stmt s(db, "SELECT 1 FROM sqlite_master WHERE name = ?");
  return s.bind(1, name).step();
}

std::int64_t statValue(sqlite3* db, std::string_view name) {
  Stmt s(db, "SELECT value FROM stats WHERE name = ?");
  return s.bind(1, name).step() ? s.int64(0) : 0;
}

}  // namespace provaudit::store
