#pragma once
// The rows a query gives on a database file, as text ("a|b|\n" per row, NULL
// for null), to compare two databases' tables. Opens the file read-only for
// the one query; a query that does not prepare fails the test.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <string>

namespace provaudit::testing {

inline std::string dumpQuery(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  INFO(sql << ": " << sqlite3_errmsg(db));
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
  std::string out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const auto* t = sqlite3_column_text(st, c);
      out += (t != nullptr ? reinterpret_cast<const char*>(t) : "NULL");
      out += '|';
    }
    out += '\n';
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace provaudit::testing
