#include "store/schema.h"

namespace provaudit::store {

// Each entry moves the schema from version i to i+1. Never edit a released
// entry; append a new one.
const char* const MIGRATIONS[SCHEMA_VERSION] = {
    R"sql(
CREATE TABLE schema_version(version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (0);
CREATE TABLE certificates(
  sha256 TEXT PRIMARY KEY,
  der BLOB NOT NULL,
  subject TEXT NOT NULL,
  issuer TEXT NOT NULL,
  not_before INTEGER,
  not_after INTEGER
);
CREATE TABLE sightings(
  key TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK (kind IN ('tls','http')),
  ts_ns INTEGER NOT NULL,
  source TEXT NOT NULL,
  frame INTEGER NOT NULL,
  client_ip TEXT NOT NULL, client_port INTEGER NOT NULL,
  server_ip TEXT NOT NULL, server_port INTEGER NOT NULL,
  client_mac TEXT,
  data TEXT NOT NULL
);
CREATE INDEX sightings_client ON sightings(client_ip);
CREATE INDEX sightings_ts ON sightings(ts_ns);
CREATE TABLE sources(
  key TEXT PRIMARY KEY,
  name TEXT NOT NULL, kind TEXT NOT NULL,
  first_ts_ns INTEGER, last_ts_ns INTEGER,
  packets INTEGER NOT NULL, bytes INTEGER NOT NULL,
  status TEXT NOT NULL, error TEXT NOT NULL,
  updated_ns INTEGER NOT NULL
);
CREATE TABLE source_anomalies(
  source_key TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (source_key, name)
);
CREATE TABLE stats(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE devices(
  id TEXT PRIMARY KEY,
  mac TEXT, identity TEXT NOT NULL, identity_reason TEXT NOT NULL,
  vendor TEXT, model TEXT, firmware TEXT, serial TEXT,
  cert_sha256 TEXT, cert_subject TEXT, cert_chain TEXT,
  ips TEXT NOT NULL, user_agents TEXT NOT NULL,
  findings TEXT NOT NULL, worst_severity INTEGER NOT NULL,
  first_seen_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL, sessions INTEGER NOT NULL,
  report TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX devices_identity ON devices(identity, id);
CREATE INDEX devices_vendor ON devices(vendor, id);
CREATE INDEX devices_last_seen ON devices(last_seen_ns, id);
CREATE TABLE device_sightings(
  device_id TEXT NOT NULL, sighting_key TEXT NOT NULL, PRIMARY KEY (device_id, sighting_key)
) WITHOUT ROWID;
CREATE TABLE device_servers(
  device_id TEXT NOT NULL, server_id TEXT NOT NULL, PRIMARY KEY (device_id, server_id)
) WITHOUT ROWID;
CREATE INDEX device_servers_server ON device_servers(server_id, device_id);
CREATE TABLE servers(
  id TEXT PRIMARY KEY, ip TEXT NOT NULL, port INTEGER NOT NULL,
  requests_client_cert INTEGER NOT NULL, report TEXT NOT NULL
);
CREATE TABLE findings(
  id INTEGER PRIMARY KEY,
  subject_kind TEXT NOT NULL CHECK (subject_kind IN ('device','server')),
  subject_id TEXT NOT NULL, code TEXT NOT NULL, severity TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX findings_code ON findings(code, subject_id);
CREATE INDEX findings_subject ON findings(subject_kind, subject_id);
)sql",
    // 2: dashboard. Keyset-pagination indexes, one per sortable device column
    // (NULLs folded to '' so row-value comparisons work), and a trigram
    // full-text index over the searchable text, kept by triggers so that
    // Database::replaceAudit needs no change.
    R"sql(
CREATE INDEX devices_sort_mac ON devices(coalesce(mac,''), id);
CREATE INDEX devices_sort_ips ON devices(ips, id);
CREATE INDEX devices_sort_vendor ON devices(coalesce(vendor,''), id);
CREATE INDEX devices_sort_model ON devices(coalesce(model,''), id);
CREATE INDEX devices_sort_firmware ON devices(coalesce(firmware,''), id);
CREATE INDEX devices_sort_serial ON devices(coalesce(serial,''), id);
CREATE INDEX devices_sort_chain ON devices(coalesce(cert_chain,''), id);
CREATE INDEX devices_sort_findings ON devices(findings, id);
CREATE INDEX devices_sort_severity ON devices(worst_severity, id);
CREATE INDEX devices_sort_first_seen ON devices(first_seen_ns, id);
CREATE INDEX devices_sort_sessions ON devices(sessions, id);
CREATE INDEX findings_severity ON findings(severity, code);
CREATE INDEX device_sightings_key ON device_sightings(sighting_key);
CREATE VIRTUAL TABLE devices_search USING fts5(body, tokenize='trigram');
CREATE VIEW devices_search_source(rid, body) AS
  SELECT rowid, id || ' ' || coalesce(mac,'') || ' ' || replace(coalesce(mac,''),':','') || ' ' || ips || ' ' ||
    coalesce(vendor,'') || ' ' || coalesce(model,'') || ' ' || coalesce(firmware,'') || ' ' ||
    coalesce(serial,'') || ' ' || coalesce(cert_subject,'') || ' ' || coalesce(cert_sha256,'') || ' ' || user_agents
  FROM devices;
CREATE TRIGGER devices_search_insert AFTER INSERT ON devices BEGIN
  DELETE FROM devices_search WHERE rowid = new.rowid;
  INSERT INTO devices_search(rowid, body) SELECT rid, body FROM devices_search_source WHERE rid = new.rowid;
END;
CREATE TRIGGER devices_search_delete AFTER DELETE ON devices BEGIN
  DELETE FROM devices_search WHERE rowid = old.rowid;
END;
CREATE TRIGGER devices_search_update AFTER UPDATE ON devices BEGIN
  DELETE FROM devices_search WHERE rowid = old.rowid;
  INSERT INTO devices_search(rowid, body) SELECT rid, body FROM devices_search_source WHERE rid = new.rowid;
END;
INSERT INTO devices_search(rowid, body) SELECT rid, body FROM devices_search_source;
)sql",
    // 3: the search index is kept by Database::replaceAudit in bulk. Row
    // triggers made FTS5 flush a new segment for every device written (each
    // trigger runs under a statement savepoint), most of an audit's cost.
    R"sql(
DROP TRIGGER devices_search_insert;
DROP TRIGGER devices_search_delete;
DROP TRIGGER devices_search_update;
)sql",
    // 4: the dashboard at 1 M devices (issue 4). Each device sort index also
    // carries the columns the list filters test (identity, vendor,
    // worst_severity, findings), so that walking an index in sort order checks
    // a filter on the index entry without reading the wide device row (which
    // holds the report and detail JSON). They replace the device indexes of
    // migrations 1 and 2, one for one. Findings get one index per sort of the
    // findings page and one the summary counts read in order; the timeline
    // counts sightings per time bucket from an index.
    R"sql(
DROP INDEX IF EXISTS devices_identity;
DROP INDEX IF EXISTS devices_vendor;
DROP INDEX IF EXISTS devices_last_seen;
DROP INDEX IF EXISTS devices_sort_mac;
DROP INDEX IF EXISTS devices_sort_ips;
DROP INDEX IF EXISTS devices_sort_vendor;
DROP INDEX IF EXISTS devices_sort_model;
DROP INDEX IF EXISTS devices_sort_firmware;
DROP INDEX IF EXISTS devices_sort_serial;
DROP INDEX IF EXISTS devices_sort_chain;
DROP INDEX IF EXISTS devices_sort_findings;
DROP INDEX IF EXISTS devices_sort_severity;
DROP INDEX IF EXISTS devices_sort_first_seen;
DROP INDEX IF EXISTS devices_sort_sessions;
CREATE INDEX IF NOT EXISTS devices_by_id ON devices(id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_mac ON devices(coalesce(mac,''), id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_ips ON devices(ips, id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_identity ON devices(identity, id, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_vendor ON devices(coalesce(vendor,''), id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_model ON devices(coalesce(model,''), id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_firmware ON devices(coalesce(firmware,''), id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_serial ON devices(coalesce(serial,''), id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_chain ON devices(coalesce(cert_chain,''), id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_findings ON devices(findings, id, identity, vendor, worst_severity);
CREATE INDEX IF NOT EXISTS devices_by_severity ON devices(worst_severity, id, identity, vendor, findings);
CREATE INDEX IF NOT EXISTS devices_by_first_seen ON devices(first_seen_ns, id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_last_seen ON devices(last_seen_ns, id, identity, vendor, worst_severity, findings);
CREATE INDEX IF NOT EXISTS devices_by_sessions ON devices(sessions, id, identity, vendor, worst_severity, findings);
DROP INDEX IF EXISTS findings_severity;
DROP INDEX IF EXISTS findings_subject;
CREATE INDEX IF NOT EXISTS findings_by_subject ON findings(subject_id, subject_kind);
CREATE INDEX IF NOT EXISTS findings_summary ON findings(subject_kind, code, severity, subject_id);
CREATE INDEX IF NOT EXISTS findings_by_rank ON findings(
  CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END);
CREATE INDEX IF NOT EXISTS findings_by_detail ON findings(detail);
DROP INDEX IF EXISTS sightings_ts;
CREATE INDEX IF NOT EXISTS sightings_by_time ON sightings(ts_ns, kind);
)sql",
    // 5: each device row keeps the hash of what was written, so that a new
    // process (or one that finds another's audit) compares with the stored
    // rows and writes only what changed, instead of rewriting every device.
    R"sql(
ALTER TABLE devices ADD COLUMN row_hash INTEGER;
)sql",
    // 6: a device's report and detail JSON (about 3 KB, one device row per
    // page) move to a table of their own. The devices table holds the
    // columns lists sort, filter and search by: a scan of it (building an
    // index, the search index, a count) reads a tenth of the pages.
    R"sql(
CREATE TABLE device_docs(id TEXT PRIMARY KEY, report TEXT NOT NULL, detail TEXT NOT NULL);
INSERT INTO device_docs(id, report, detail) SELECT id, report, detail FROM devices ORDER BY id;
ALTER TABLE devices DROP COLUMN report;
ALTER TABLE devices DROP COLUMN detail;
)sql",
    // 7: a device's sightings carry their time, first after the device in
    // the key, so that the device page's first sightings in time order are
    // read from the key's order (a device with 100,000 sightings: 140-160 ms
    // to join and sort them all for the first 1,000, bench/RESULTS.md session
    // 16), not by joining and sorting all of them.
    R"sql(
CREATE TABLE device_sightings_by_time(
  device_id TEXT NOT NULL, ts_ns INTEGER NOT NULL, sighting_key TEXT NOT NULL,
  PRIMARY KEY (device_id, ts_ns, sighting_key)
) WITHOUT ROWID;
INSERT INTO device_sightings_by_time(device_id, ts_ns, sighting_key)
  SELECT d.device_id, coalesce(s.ts_ns, 0), d.sighting_key
  FROM device_sightings d LEFT JOIN sightings s ON s.key = d.sighting_key;
DROP TABLE device_sightings;
ALTER TABLE device_sightings_by_time RENAME TO device_sightings;
CREATE INDEX device_sightings_key ON device_sightings(sighting_key);
)sql",
    // 8: what a run was told that later runs audit by (the --ca and
    // --server-ca bundles, as PEM text): a replay without --ca judged every
    // chain again as unchecked, and the untrusted and expired findings were
    // gone without a word.
    R"sql(
CREATE TABLE settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);
)sql",
};

const IndexDefinition DASHBOARD_INDEXES[DASHBOARD_INDEX_COUNT] = {
    {"devices_by_id",
     "CREATE INDEX devices_by_id ON devices(id, identity, vendor, worst_severity, findings)"},
    {"devices_by_mac",
     "CREATE INDEX devices_by_mac ON devices(coalesce(mac,''), id, identity, vendor, worst_severity, findings)"},
    {"devices_by_ips",
     "CREATE INDEX devices_by_ips ON devices(ips, id, identity, vendor, worst_severity, findings)"},
    {"devices_by_identity",
     "CREATE INDEX devices_by_identity ON devices(identity, id, vendor, worst_severity, findings)"},
    {"devices_by_vendor",
     "CREATE INDEX devices_by_vendor ON devices(coalesce(vendor,''), id, identity, vendor, worst_severity, findings)"},
    {"devices_by_model",
     "CREATE INDEX devices_by_model ON devices(coalesce(model,''), id, identity, vendor, worst_severity, findings)"},
    {"devices_by_firmware",
     "CREATE INDEX devices_by_firmware ON devices(coalesce(firmware,''), id, identity, vendor, worst_severity, findings)"},
    {"devices_by_serial",
     "CREATE INDEX devices_by_serial ON devices(coalesce(serial,''), id, identity, vendor, worst_severity, findings)"},
    {"devices_by_chain",
     "CREATE INDEX devices_by_chain ON devices(coalesce(cert_chain,''), id, identity, vendor, worst_severity, findings)"},
    {"devices_by_findings",
     "CREATE INDEX devices_by_findings ON devices(findings, id, identity, vendor, worst_severity)"},
    {"devices_by_severity",
     "CREATE INDEX devices_by_severity ON devices(worst_severity, id, identity, vendor, findings)"},
    {"devices_by_first_seen",
     "CREATE INDEX devices_by_first_seen ON devices(first_seen_ns, id, identity, vendor, worst_severity, findings)"},
    {"devices_by_last_seen",
     "CREATE INDEX devices_by_last_seen ON devices(last_seen_ns, id, identity, vendor, worst_severity, findings)"},
    {"devices_by_sessions",
     "CREATE INDEX devices_by_sessions ON devices(sessions, id, identity, vendor, worst_severity, findings)"},
    {"findings_summary", "CREATE INDEX findings_summary ON findings(subject_kind, code, severity, subject_id)"},
    {"findings_by_rank",
     "CREATE INDEX findings_by_rank ON findings(\n"
     "  CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END)"},
    {"findings_by_detail", "CREATE INDEX findings_by_detail ON findings(detail)"},
    {"findings_code", "CREATE INDEX findings_code ON findings(code, subject_id)"},
};

const char* const SEARCH_INDEX_SQL = "CREATE VIRTUAL TABLE devices_search USING fts5(body, tokenize='trigram')";

std::string schemaVersionProblem(std::int64_t version) {
  if (version > SCHEMA_VERSION) {
    return "database schema version " + std::to_string(version) + " is newer than this provaudit (" +
           std::to_string(SCHEMA_VERSION) + ")";
  }
  if (version < SCHEMA_VERSION) {
    return "database schema version " + std::to_string(version) + " is older than this provaudit's (" +
           std::to_string(SCHEMA_VERSION) + "): a 'provaudit replay' or 'capture' into it upgrades it";
  }
  return "";
}

}  // namespace provaudit::store
