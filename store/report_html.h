#pragma once
// The self-contained, printable HTML device report (`report --format html` and
// the dashboard's HTML export). No scripts, no external resources; every
// string from the wire goes through htmlEscape.
#include <boost/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <string_view>

#include "store/database.h"

namespace provaudit::store {

// Escapes & < > " ' so text is safe both in element content and in quoted attributes;
// shows invisible characters (bidi overrides, zero-width and other format characters) as
// "<U+202E>", so that device text reads as it was sent.
std::string htmlEscape(std::string_view text);
void appendHtmlEscaped(std::string& out, std::string_view text);

// Writes the report in pieces, so that it can be streamed row by row.
class HtmlReportWriter {
 public:
  HtmlReportWriter(std::string generated_iso, std::string filter_text);
  // summary: {"devices":N,"identity":{class:n},"sightings_left_out":n} for the selected devices.
  void begin(std::string& out, const boost::json::object& summary);
  void device(std::string& out, const boost::json::object& report);
  void beginServers(std::string& out);
  void server(std::string& out, const boost::json::object& report);
  // The explanation of every finding code that appeared, then the closing tags.
  // `damaged_rows`: rows left out because the database could not give their
  // report (ReportStream::damage()), said at the end.
  void end(std::string& out, std::uint64_t damaged_rows = 0);

 private:
  // One finding, its severity as a badge, its code kept for the explanations.
  void appendFinding(std::string& out, const boost::json::object& finding);

  std::string generated_;
  std::string filter_;
  std::set<std::string> codes_;
  std::size_t devices_ = 0;
  std::size_t servers_ = 0;
};

}  // namespace provaudit::store
