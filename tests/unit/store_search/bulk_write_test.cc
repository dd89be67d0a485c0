// A large audit over a database that holds nothing or little (a replay's final
// audit after its first small one) is written in bulk: every table rewritten,
// the indexes dropped and built again. The result must be the same database
// as the row-by-row write gives, index definitions included.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "../../support/audit_writer.h"
#include "../../support/sqlite_dump.h"
#include "../../support/temp_dir.h"
#include "store/database.h"

using namespace provaudit;
using namespace provaudit::store;

namespace {

analyze::DeviceRecord device(int i, const std::string& model) {
  analyze::DeviceRecord d;
  char mac[32];
  std::snprintf(mac, sizeof mac, "00:0e:08:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
  d.id = std::string("mac:") + mac;
  d.mac = MacAddr::parse(mac);
  d.identity = i % 3 == 0 ? "individualized" : "unknown";
  d.identity_reason = i % 3 == 0 ? "client-cert" : "plaintext-only";
  d.vendor = "Cisco";
  d.model = model;
  d.serial = "CBT" + std::to_string(100000 + i);
  d.ips = {"10.9." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)};
  d.user_agents = {"Cisco/" + model + "-7.6.2 (" + *d.serial + ")"};
  d.first_seen = 1'700'000'000'000'000'000 + i;
  d.last_seen = d.first_seen + 1000;
  d.sessions = 1 + static_cast<std::uint64_t>(i % 4);
  d.sightings = {{"k" + std::to_string(i), i}, {"k" + std::to_string(i) + "b", i + 1}};
  d.servers = {i % 2 == 0 ? "10.77.0.2:443" : "10.77.0.2:80"};
  if (i % 5 == 0) d.findings.push_back({"plaintext-provisioning", "high", "GET /spa.cfg over HTTP"});
  if (i % 7 == 0) d.findings.push_back({"legacy-tls", "medium", "TLS 1.0"});
  return d;
}

analyze::AuditResult fleet(int n, int changed) {
  analyze::AuditResult r;
  for (int i = 0; i < n; ++i) r.devices.push_back(device(i, i < changed ? "SPA504G" : "SPA962"));
  return r;  // ids are zero-padded hex: already sorted, as the audit hands them out
}

std::string dump(const std::string& path, const char* sql) { return testing::dumpQuery(path, sql); }

}  // namespace

TEST_CASE("a bulk write after a small audit gives the same tables and indexes as a row-by-row write") {
  // With the dashboard's sort and search indexes (the threshold lowered to
  // reach them with this fleet) and without them (DASHBOARD_INDEX_MIN_DEVICES).
  const bool indexed = GENERATE(true, false);
  INFO("sort and search indexes: " << indexed);
  const std::size_t index_min = indexed ? 0 : DASHBOARD_INDEX_MIN_DEVICES;
  const int n = static_cast<int>(BULK_INDEX_MIN_DEVICES) + 500;
  const analyze::AuditResult small = fleet(40, 40);  // the first audit of a replay: 40 devices, model SPA504G
  const analyze::AuditResult large = fleet(n, 10);   // the final one: 10 of those unchanged, 30 now SPA962
  // Bulk: 40 stored, 1500 to write (40 * BULK_REWRITE_RATIO <= 1500).
  const testing::TempDir tmp("provaudit-bulk");
  const std::string bulk_path = tmp.path("bulk.db");
  std::size_t bulk_rows = 0;
  {
    Database db(bulk_path, Database::Mode::ReadWrite);
    db.setDashboardIndexMin(index_min);
    testing::AuditWriter writer;
    CHECK(writer.write(db, small) == 40);
    bulk_rows = writer.write(db, large);
  }
  // Row by row: enough stored that the same audit is written incrementally.
  const std::string rows_path = tmp.path("rows.db");
  std::size_t incremental_rows = 0;
  {
    Database db(rows_path, Database::Mode::ReadWrite);
    db.setDashboardIndexMin(index_min);
    testing::AuditWriter writer;
    const analyze::AuditResult most = fleet(n - 100, 40);
    CHECK(writer.write(db, most) == static_cast<std::size_t>(n - 100));
    incremental_rows = writer.write(db, large);
  }
  CHECK(bulk_rows == static_cast<std::size_t>(n));                 // everything rewritten
  CHECK(incremental_rows == static_cast<std::size_t>(100 + 30));   // the new and the changed only

  std::vector<const char*> compared = {
      "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
      "SELECT id, mac, identity, identity_reason, vendor, model, firmware, serial, cert_sha256, cert_subject, "
      "cert_chain, ips, user_agents, findings, worst_severity, first_seen_ns, last_seen_ns, sessions, row_hash "
      "FROM devices ORDER BY id",
      "SELECT id, report, detail FROM device_docs ORDER BY id",
      "SELECT subject_kind, subject_id, code, severity, detail FROM findings ORDER BY subject_id, code",
      "SELECT device_id, sighting_key FROM device_sightings ORDER BY device_id, sighting_key",
      "SELECT device_id, server_id FROM device_servers ORDER BY device_id, server_id",
      "SELECT subject_id FROM findings INDEXED BY findings_by_subject WHERE subject_kind = 'device' AND "
      "code = 'legacy-tls' ORDER BY subject_id",
      "PRAGMA integrity_check"};
  if (indexed) {
    compared.insert(compared.end(),
                    {"SELECT d.id FROM devices_search s JOIN devices d ON d.rowid = s.rowid "
                     "WHERE devices_search MATCH '\"SPA504G\"' ORDER BY d.id",
                     "SELECT count(*) FROM devices_search",
                     // The dashboard's plans: the sort and filter indexes are there and used.
                     "SELECT id FROM devices INDEXED BY devices_by_model WHERE coalesce(model,'') = 'SPA504G' ORDER BY id",
                     "SELECT subject_id FROM findings INDEXED BY findings_summary WHERE subject_kind = 'device' AND "
                     "code = 'legacy-tls' ORDER BY subject_id"});
  }
  for (const char* sql : compared) {
    INFO(sql);
    const std::string bulk = dump(bulk_path, sql);
    CHECK(!bulk.empty());
    CHECK(bulk == dump(rows_path, sql));
  }
  const char* const dashboard = "SELECT count(*) FROM sqlite_master WHERE name LIKE 'devices_by_%' OR name IN "
                                "('devices_search', 'findings_summary', 'findings_by_rank', 'findings_by_detail', 'findings_code')";
  CHECK(dump(bulk_path, dashboard) == (indexed ? "19|\n" : "0|\n"));
  if (!indexed) return;
  CHECK(dump(bulk_path, "SELECT count(*) FROM devices_search") == std::to_string(n) + "|\n");
  CHECK(dump(bulk_path, "SELECT count(*) FROM devices INDEXED BY devices_by_model WHERE coalesce(model,'') = 'SPA504G'") ==
        "10|\n");
}
