#pragma once
// The database schema as a list of migrations. Entry i moves a database from
// version i to i + 1; SCHEMA_VERSION is their number.

namespace provaudit::store {

inline constexpr int SCHEMA_VERSION = 6;
extern const char* const MIGRATIONS[SCHEMA_VERSION];

// The dashboard's device sort indexes, as migration 4 made them: a database
// carries them from DASHBOARD_INDEX_MIN_DEVICES devices on (see
// Database::replaceAudit), so they are dropped and built again at run time.
struct IndexDefinition {
  const char* name;
  const char* sql;
};
inline constexpr int DEVICE_SORT_INDEX_COUNT = 14;
extern const IndexDefinition DEVICE_SORT_INDEXES[DEVICE_SORT_INDEX_COUNT];
// The trigram search index of migration 2 (filled from devices_search_source).
extern const char* const SEARCH_INDEX_SQL;

}  // namespace provaudit::store
