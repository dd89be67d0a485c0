#pragma once
// The exportable device report (design.md "Report JSON" / "Report CSV"),
// streamed row by row from the store: memory does not grow with the fleet.
#include <boost/json/object.hpp>
#include <ostream>
#include <string>

#include "store/database.h"
#include "store/web_queries.h"

namespace provaudit::store {

// The whole store's report in `format` (the dashboard's export without a
// filter writes the same). Rows the database could not give are left out and
// returned (the caller says so: the report is incomplete).
ReportStream::Damage writeReport(Database& db, ReportFormat format, std::ostream& out, const std::string& generated_iso);

// RFC 4180 field quoting, with cells that a spreadsheet would take for a
// formula (= + - @ tab CR at the start) prefixed with a single quote.
std::string csvField(const std::string& value);

// The CSV report's header line and one device's row, made from the device's
// report JSON; both end in CRLF. Shared by `report` and the dashboard's export.
extern const char* const CSV_HEADER;
std::string csvDeviceRow(const boost::json::object& report);

}  // namespace provaudit::store
