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

// A new database as provaudit wrote it at schema `version` (its migrations
// up to there); the caller closes it.
sqlite3* databaseAt(const std::string& path, int version) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  for (int v = 0; v < version; ++v) exec(db, MIGRATIONS[v]);
  exec(db, "UPDATE schema_version SET version=" + std::to_string(version));
  return db;
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
    sqlite3* db = databaseAt(path, 5);
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

TEST_CASE("a schema 6 database migrates its devices' sightings to carry their time, and the device page lists them in time order") {
  // Schema 7 put each linked sighting's time in device_sightings' key, so
  // that the device page reads its first sightings in order instead of
  // joining and sorting all of them. Keys are hashes: their order is not
  // the time's. Three sightings of one device, stored newest key first.
  const provaudit::testing::TempDir tmp("provaudit-upgrade7");
  const std::string path = tmp.path("v6.db");
  const std::string dev = "mac:00:0e:08:00:00:02";
  {
    sqlite3* db = databaseAt(path, 6);
    exec(db,
         "INSERT INTO devices(id,mac,identity,identity_reason,ips,user_agents,findings,worst_severity,first_seen_ns,"
         "last_seen_ns,sessions) VALUES('" + dev + "','00:0e:08:00:00:02','none','no-cert','10.1.0.9','','',-1,1,3,3)");
    exec(db, "INSERT INTO device_docs(id,report,detail) VALUES('" + dev + "','{}','{}')");
    const char* keys[] = {"ccc", "aaa", "bbb"};  // times 1, 2, 3: the keys' order is aaa, bbb, ccc
    for (int i = 0; i < 3; ++i) {
      exec(db, std::string("INSERT INTO sightings(key,kind,ts_ns,source,frame,client_ip,client_port,server_ip,"
                           "server_port,data) VALUES('") + keys[i] + "','http'," + std::to_string(i + 1) +
                   ",'f',1,'10.1.0.9',1000,'10.0.0.1',80,'{}')");
      exec(db, std::string("INSERT INTO device_sightings(device_id,sighting_key) VALUES('") + dev + "','" + keys[i] + "')");
    }
    sqlite3_close(db);
  }
  { Database db(path, Database::Mode::ReadWrite); }  // migrates
  const auto cols = columns(path, "device_sightings");
  CHECK(cols == std::vector<std::string>{"device_id", "ts_ns", "sighting_key"});
  Database ro(path, Database::Mode::ReadOnly);
  WebQueries q(ro.handle());
  const auto page = q.device(dev);
  REQUIRE(page.has_value());
  std::vector<std::string> listed;
  for (const auto& s : page->at("sightings").as_array()) listed.emplace_back(s.at("key").as_string());
  CHECK(listed == std::vector<std::string>{"ccc", "aaa", "bbb"});
  CHECK(page->at("sightings_total").as_int64() == 3);
}
