// A database written by an older provaudit opens, migrates and keeps what it
// held. Schema 6 moved each device's report and detail JSON out of the
// devices table into device_docs.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "../../support/temp_dir.h"
#include "store/database.h"
#include "store/schema.h"
#include "store/web_queries.h"

using namespace provaudit::store;

namespace {

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err != nullptr ? err : "") << " in: " << sql.substr(0, 200));
  sqlite3_free(err);
  REQUIRE(rc == SQLITE_OK);
}

std::vector<std::string> columns(const std::string& path, const char* table) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, (std::string("SELECT name FROM pragma_table_info('") + table + "')").c_str(), -1,
                             &st, nullptr) == SQLITE_OK);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("a schema 5 database migrates to the current schema and keeps its devices' report and detail") {
  const provaudit::testing::TempDir tmp("provaudit-upgrade");
  const std::string path = tmp.path("v5.db");
  {
    // What provaudit wrote before schema 6: migrations 1 to 5, one device.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    for (int v = 0; v < 5; ++v) exec(db, MIGRATIONS[v]);
    exec(db, "UPDATE schema_version SET version=5");
    exec(db,
         "INSERT INTO devices(id,mac,identity,identity_reason,vendor,model,ips,user_agents,findings,worst_severity,"
         "first_seen_ns,last_seen_ns,sessions,report,detail,row_hash) VALUES('mac:00:0e:08:00:00:01',"
         "'00:0e:08:00:00:01','individualized','client-cert','Cisco','SPA962','10.1.0.9','','',-1,1,2,1,"
         "'{\"id\":\"mac:00:0e:08:00:00:01\",\"model\":\"SPA962\"}','{\"claims\":[],\"handshakes\":[]}',7)");
    sqlite3_close(db);
  }
  const auto before = columns(path, "devices");
  REQUIRE(std::find(before.begin(), before.end(), "report") != before.end());
  {
    Database db(path, Database::Mode::ReadWrite);  // migrates
    std::vector<std::string> reports;
    db.forEachDeviceJson([&](const std::string& r) { reports.push_back(r); });
    CHECK(reports == std::vector<std::string>{"{\"id\":\"mac:00:0e:08:00:00:01\",\"model\":\"SPA962\"}"});
  }
  const auto cols = columns(path, "devices");
  CHECK(std::find(cols.begin(), cols.end(), "report") == cols.end());
  CHECK(std::find(cols.begin(), cols.end(), "detail") == cols.end());
  CHECK(std::find(cols.begin(), cols.end(), "row_hash") != cols.end());
  {
    Database ro(path, Database::Mode::ReadOnly);
    WebQueries q(ro.handle());
    const auto dev = q.device("mac:00:0e:08:00:00:01");
    REQUIRE(dev.has_value());
    CHECK(dev->at("device").at("model").as_string() == "SPA962");
    CHECK(dev->at("detail").as_object().contains("handshakes"));
  }
}
