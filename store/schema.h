#pragma once
// The database schema as a list of migrations. Entry i moves a database from
// version i to i + 1; SCHEMA_VERSION is their number.
#include <cstdint>
#include <string>
#include <string_view>

namespace provaudit::store {

inline constexpr int SCHEMA_VERSION = 8;
// Why a reader cannot use a database at `version` ("" when it can): newer than
// this provaudit, or older (a replay or capture into it upgrades it).
std::string schemaVersionProblem(std::int64_t version);
extern const char* const MIGRATIONS[SCHEMA_VERSION];

// The dashboard's sort indexes, as migration 4 made them: the fourteen
// device sorts (devices_by_*, devices_by_id first) and the findings page's
// sorts and filters other than by subject. A database carries them from
// DASHBOARD_INDEX_MIN_DEVICES devices on (see Database::replaceAudit), so
// they are dropped and built again at run time.
struct IndexDefinition {
  const char* name;
  const char* sql;
};
inline constexpr int DASHBOARD_INDEX_COUNT = 18;
extern const IndexDefinition DASHBOARD_INDEXES[DASHBOARD_INDEX_COUNT];
// The trigram search index of migration 2 (filled from devices_search_source).
extern const char* const SEARCH_INDEX_SQL;

// The stats table holds cumulative counters (each run adds its own) and these
// values of the moment, set rather than added, the last writer's standing:
// the sightings stored but left out of its evidence by --max-sightings (0
// when every stored sighting is audited; the dashboard shows it, not the
// per-source anomaly counts, which a restart counts again and a later run
// without the limit does not take back), and that limit (0: none), so that
// /api/stats and /metrics show how close the evidence is to it; and the
// memory that writer may use (bytes, 0: unknown; common/memory_limit.h), so
// that they also show when its limit may need more (the sensor's log says
// it once, at its start; the dashboard says it as long as it holds); and
// the evidence's estimated size (bytes, analyze::EvidenceAdmission::bytes),
// which large sightings bring to its limit before their number does; and what
// that writer holds besides its evidence beyond the usual (bytes: a live
// capture's buffers past one interface at the default -B, analyze::MemoryExtra).
inline constexpr const char* STAT_SIGHTINGS_LEFT_OUT = "audit_sightings_left_out";
// settings: the trusted CA bundles (PEM text) of the last run given --ca / --server-ca.
inline constexpr const char* SETTING_DEVICE_CA = "device_ca_pem";
inline constexpr const char* SETTING_SERVER_CA = "server_ca_pem";
inline constexpr const char* STAT_AUDIT_MAX_SIGHTINGS = "audit_max_sightings";
inline constexpr const char* STAT_AUDIT_MEMORY_LIMIT = "audit_memory_limit";
inline constexpr const char* STAT_AUDIT_EVIDENCE_BYTES = "audit_evidence_bytes";
inline constexpr const char* STAT_AUDIT_MEMORY_EXTRA = "audit_memory_extra";
// Whether a stats row is one of those values of the moment (not a counter).
inline bool isMomentStat(std::string_view name) {
  return name == STAT_SIGHTINGS_LEFT_OUT || name == STAT_AUDIT_MAX_SIGHTINGS || name == STAT_AUDIT_MEMORY_LIMIT ||
         name == STAT_AUDIT_EVIDENCE_BYTES || name == STAT_AUDIT_MEMORY_EXTRA;
}
// What a report says when sightings were left out (HTML report, `report` on stderr).
inline constexpr const char* SIGHTINGS_LEFT_OUT_NOTICE =
    " sightings are stored but not audited (--max-sightings): devices and findings come from the first ones "
    "and from those that brought something new";

}  // namespace provaudit::store
