#pragma once
// The database schema as a list of migrations. Entry i moves a database from
// version i to i + 1; SCHEMA_VERSION is their number.

namespace provaudit::store {

inline constexpr int SCHEMA_VERSION = 6;
extern const char* const MIGRATIONS[SCHEMA_VERSION];

}  // namespace provaudit::store
