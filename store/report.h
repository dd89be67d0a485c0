#pragma once
// The exportable device report (design.md "Report JSON" / "Report CSV"),
// streamed row by row from the store: memory does not grow with the fleet.
#include <ostream>
#include <string>

#include "store/database.h"

namespace provaudit::store {

void writeJsonReport(Database& db, std::ostream& out, const std::string& generated_iso);
void writeCsvReport(Database& db, std::ostream& out);

// RFC 4180 field quoting, with cells that a spreadsheet would take for a
// formula (= + - @ tab CR at the start) prefixed with a single quote.
std::string csvField(const std::string& value);

}  // namespace provaudit::store
