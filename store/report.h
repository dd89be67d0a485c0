#pragma once
// The exportable device report (design.md "Report JSON" / "Report CSV"),
// streamed row by row from the store: memory does not grow with the fleet.
#include <boost/json/object.hpp>
#include <ostream>
#include <string>

#include "store/database.h"

namespace provaudit::store {

void writeJsonReport(Database& db, std::ostream& out, const std::string& generated_iso);
void writeCsvReport(Database& db, std::ostream& out);

// RFC 4180 field quoting, with cells that a spreadsheet would take for a
// formula (= + - @ tab CR at the start) prefixed with a single quote.
std::string csvField(const std::string& value);

// The CSV report's header line and one device's row, made from the device's
// report JSON; both end in CRLF. Shared by `report` and the dashboard's export.
extern const char* const CSV_HEADER;
std::string csvDeviceRow(const boost::json::object& report);

}  // namespace provaudit::store
