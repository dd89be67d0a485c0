// The devices' full-text search index (FTS5, devices_search) follows the
// devices table through full and incremental audits: Database::replaceAudit
// maintains it in bulk, without triggers.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <string>

#include "../../support/audit_writer.h"
#include "../../support/temp_dir.h"
#include "store/database.h"
#include "store/sqlite_util.h"

using namespace provaudit;
using namespace provaudit::store;

namespace {

analyze::DeviceRecord device(const std::string& serial, const std::string& model) {
  analyze::DeviceRecord d;
  d.id = "serial:" + serial;
  d.identity = "unknown";
  d.identity_reason = "plaintext-only";
  d.serial = serial;
  d.model = model;
  d.ips = {"10.9.0.1"};
  d.first_seen = d.last_seen = 1'700'000'000'000'000'000;
  d.sessions = 1;
  return d;
}

// Device ids whose search text contains `term` (the trigram index), and a
// check that the index holds exactly one entry per device row.
std::set<std::string> search(const std::string& path, const std::string& term) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::set<std::string> ids;
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT d.id FROM devices_search s JOIN devices d ON d.rowid = s.rowid "
                             "WHERE devices_search MATCH ?",
                             -1, &st, nullptr) == SQLITE_OK);
  const std::string phrase = "\"" + term + "\"";
  sqlite3_bind_text(st, 1, phrase.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(st) == SQLITE_ROW) ids.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT (SELECT count(*) FROM devices_search), (SELECT count(*) FROM devices), "
                             "(SELECT count(*) FROM devices_search WHERE rowid NOT IN (SELECT rowid FROM devices))",
                             -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(st, 0) == sqlite3_column_int64(st, 1));
  CHECK(sqlite3_column_int64(st, 2) == 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ids;
}

// A fresh database and the audit state of the process writing it; it keeps
// the search index however small its fleet (DASHBOARD_INDEX_MIN_DEVICES).
struct SearchDb {
  explicit SearchDb(std::size_t index_min = 0) { db.setDashboardIndexMin(index_min); }
  const testing::TempDir tmp{"provaudit-search"};
  const std::string path = tmp.path("search.db");
  Database db{path, Database::Mode::ReadWrite};
  testing::AuditWriter writer;
  void audit(const analyze::AuditResult& r) { writer.write(db, r); }
};

// Two devices; then the first one's model changes and a third appears.
analyze::AuditResult firstFleet() {
  analyze::AuditResult r;
  r.devices = {device("CBT11111AAA", "SPA962"), device("CBT22222BBB", "SPA504G")};
  return r;
}
analyze::AuditResult secondFleet() {
  analyze::AuditResult r;
  r.devices = {device("CBT11111AAA", "SPA122"), device("CBT22222BBB", "SPA504G"), device("CBT33333CCC", "SPA112")};
  return r;
}

}  // namespace

TEST_CASE("the search index follows full and incremental audits: changed, new and removed devices") {
  SearchDb s;
  const std::string& path = s.path;

  const analyze::AuditResult first = firstFleet();
  s.audit(first);  // full rewrite
  CHECK(search(path, "SPA962") == std::set<std::string>{"serial:CBT11111AAA"});
  CHECK(search(path, "22222") == std::set<std::string>{"serial:CBT22222BBB"});

  // Incremental: the first device's model changes, the second stays, a third appears.
  s.audit(secondFleet());
  CHECK(search(path, "SPA962").empty());  // the old text is gone
  CHECK(search(path, "SPA122") == std::set<std::string>{"serial:CBT11111AAA"});
  CHECK(search(path, "SPA504G") == std::set<std::string>{"serial:CBT22222BBB"});
  CHECK(search(path, "33333") == std::set<std::string>{"serial:CBT33333CCC"});
  CHECK(search(path, "CBT") ==
        std::set<std::string>{"serial:CBT11111AAA", "serial:CBT22222BBB", "serial:CBT33333CCC"});

  // Incremental: the first device is gone (merged into another, say).
  analyze::AuditResult third;
  third.devices = {device("CBT22222BBB", "SPA504G"), device("CBT33333CCC", "SPA112")};
  s.audit(third);
  CHECK(search(path, "11111").empty());
  CHECK(search(path, "CBT") == std::set<std::string>{"serial:CBT22222BBB", "serial:CBT33333CCC"});

  // Another writer's audit (the generation moved): the next one rewrites everything.
  testing::AuditWriter other;
  other.write(s.db, first);
  s.audit(third);
  CHECK(search(path, "SPA962").empty());
  CHECK(search(path, "CBT") == std::set<std::string>{"serial:CBT22222BBB", "serial:CBT33333CCC"});
}

TEST_CASE("the search index takes the device row's rowid, however the document rows are numbered") {
  // Migration 6 numbered the documents in id order, apart from the device
  // rows' own numbering: an upgraded database has the two differ.
  SearchDb s;
  s.audit(firstFleet());
  execSql(s.db.handle(), "UPDATE device_docs SET rowid = rowid + 1000");
  s.audit(secondFleet());
  CHECK(search(s.path, "SPA962").empty());
  CHECK(search(s.path, "SPA122") == std::set<std::string>{"serial:CBT11111AAA"});
  CHECK(search(s.path, "SPA112") == std::set<std::string>{"serial:CBT33333CCC"});
}

namespace {

analyze::AuditResult numberedFleet(int n) {
  analyze::AuditResult r;
  for (int i = 0; i < n; ++i) {
    char serial[16];
    std::snprintf(serial, sizeof serial, "CBT%06d", i);
    r.devices.push_back(device(serial, i % 2 == 0 ? "SPA504G" : "SPA962"));
  }
  return r;  // ids "serial:CBT000000"..., in order
}

// The dashboard's index objects (sort indexes, search index) and their SQL.
std::string dashboardSchema(sqlite3* db) {
  std::string out;
  Stmt s(db, "SELECT name, sql FROM sqlite_master WHERE name LIKE 'devices\\_by\\_%' ESCAPE '\\' OR name IN "
             "('devices_search', 'findings_summary', 'findings_by_rank', 'findings_by_detail', 'findings_code') "
             "ORDER BY name");
  while (s.step()) out += s.text(0) + ": " + s.text(1) + "\n";
  return out;
}

}  // namespace

TEST_CASE("the dashboard's sort and search indexes come with a large fleet and stay with it") {
  // What migrations 2 and 4 made: the definitions the writer builds again.
  const std::string migrated = dashboardSchema(SearchDb{}.db.handle());
  REQUIRE(migrated.find("devices_by_sessions: CREATE INDEX") != std::string::npos);
  REQUIRE(migrated.find("findings_by_rank: CREATE INDEX") != std::string::npos);
  REQUIRE(migrated.find("devices_search: CREATE VIRTUAL TABLE") != std::string::npos);

  SECTION("incremental audits build them once the fleet reaches the threshold, and keep them") {
    SearchDb s(500);
    s.audit(numberedFleet(300));  // a full write below the threshold: none
    CHECK(dashboardSchema(s.db.handle()).empty());
    s.audit(numberedFleet(600));  // incremental (300 stored, 600 < 4 x 300), past the threshold
    CHECK(dashboardSchema(s.db.handle()) == migrated);
    CHECK(search(s.path, "CBT000599") == std::set<std::string>{"serial:CBT000599"});
    s.audit(numberedFleet(300));  // smaller again, incremental: kept, and kept in step
    CHECK(dashboardSchema(s.db.handle()) == migrated);
    CHECK(search(s.path, "CBT000599").empty());
    CHECK(search(s.path, "CBT000299") == std::set<std::string>{"serial:CBT000299"});
  }
  SECTION("a full write decides by the fleet it writes, whether it rebuilds every index or not") {
    for (const int n : {600, static_cast<int>(BULK_INDEX_MIN_DEVICES) + 200}) {
      INFO(n << " devices");
      SearchDb large(500), small(5000);
      large.audit(numberedFleet(n));
      small.audit(numberedFleet(n));
      CHECK(dashboardSchema(large.db.handle()) == migrated);
      CHECK(search(large.path, "CBT000599") == std::set<std::string>{"serial:CBT000599"});
      CHECK(dashboardSchema(small.db.handle()).empty());
      // The tables and their other indexes are there either way.
      Stmt others(small.db.handle(), "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                                     "('device_sightings_key', 'device_servers_server', 'findings_by_subject', "
                                     "'sightings_client', 'sightings_by_time')");
      REQUIRE(others.step());
      CHECK(others.int64(0) == 5);
      Stmt rows(small.db.handle(), "SELECT count(*) FROM devices");
      REQUIRE(rows.step());
      CHECK(rows.int64(0) == n);
    }
  }
}
