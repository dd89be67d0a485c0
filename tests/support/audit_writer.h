#pragma once
// One writing process's side of Database::replaceAudit: what its last audit
// wrote and the generation it wrote at, carried from audit to audit as the
// pipeline does. Each write is one transaction; returns the device rows written.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "analyze/audit.h"
#include "store/database.h"

namespace provaudit::testing {

struct AuditWriter {
  std::unordered_map<std::string, std::uint64_t> written;
  std::int64_t generation = -1;

  std::size_t write(store::Database& db, const analyze::AuditResult& r) {
    std::size_t rows = 0;
    db.transaction([&] { rows = db.replaceAudit(r, written, generation); });
    return rows;
  }
};

}  // namespace provaudit::testing
