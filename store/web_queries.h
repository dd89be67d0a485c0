#pragma once
// Read-only queries behind the dashboard API and the filtered report export.
// Every value from a request is bound as a parameter; column and sort names
// are looked up in fixed tables here, never pasted from the request.
// Functions may throw DbError (SQLite failure); the web layer turns that into
// one 503 answer at a single place.
#include <sqlite3.h>

#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace provaudit::store {

// Page sizes the API accepts (a larger request is clamped).
inline constexpr std::size_t DEFAULT_PAGE = 50;
inline constexpr std::size_t MAX_PAGE = 500;
// Sightings listed on a device page (the total is always given).
inline constexpr std::size_t MAX_DEVICE_SIGHTINGS = 1000;

struct DeviceFilter {
  std::string q;         // words, each must occur in MAC/IP/serial/model/vendor/subject/User-Agent/id
  std::string identity;  // individualized | generic | none | unknown
  std::string vendor;    // exact; "-" means no vendor
  std::string finding;   // finding code the device has
  std::string severity;  // worst severity of the device's findings
  std::string server;    // server id "ip:port" the device talked to
  std::string sort = "id";
  bool desc = false;
  [[nodiscard]] bool empty() const {
    return q.empty() && identity.empty() && vendor.empty() && finding.empty() && severity.empty() && server.empty();
  }
};

// Keyset paging: a cursor is the JSON text [sort value, id] of the row to continue from.
struct PageRequest {
  std::size_t limit = DEFAULT_PAGE;
  std::string after;
  std::string before;
  std::size_t offset = 0;  // only for the small tables (servers, findings)
};

struct ServerFilter {
  std::string q;        // substring of ip:port or server certificate subject
  std::string cert_request;  // "yes" | "no" | ""
  std::string finding;
  std::string sort = "id";
  bool desc = false;
};

struct FindingFilter {
  std::string q;  // substring of subject id or detail
  std::string code;
  std::string severity;
  std::string kind;  // device | server
  std::string sort = "severity";
  bool desc = true;
};

// What a finding code means and what to do about it.
struct FindingInfo {
  std::string_view code;
  std::string_view title;
  std::string_view meaning;
  std::string_view action;
};
const std::vector<FindingInfo>& findingCatalogue();
const FindingInfo* findingInfo(std::string_view code);

bool isDeviceSort(std::string_view name);
bool isServerSort(std::string_view name);
bool isFindingSort(std::string_view name);
bool isIdentityClass(std::string_view name);
bool isSeverity(std::string_view name);
std::vector<std::string> deviceSortNames();

class WebQueries {
 public:
  // `db` is a read-only connection owned by the caller.
  explicit WebQueries(sqlite3* db);

  // {"items":[…],"total":N,"next":cursor|null,"prev":cursor|null}. nullopt: malformed cursor.
  std::optional<boost::json::object> devices(const DeviceFilter& f, const PageRequest& page);
  // {"device": report, "detail": …, "sightings": […], "sightings_total", "servers": […]}; nullopt: no such device.
  std::optional<boost::json::object> device(const std::string& id);
  boost::json::object servers(const ServerFilter& f, const PageRequest& page);
  boost::json::object findings(const FindingFilter& f, const PageRequest& page);
  boost::json::object findingSummary();
  boost::json::object stats();
  // Sightings per bucket; bucket "auto" picks a width that gives at most ~120 bars.
  boost::json::object timeline(const std::string& bucket);
  boost::json::array vendors();
  std::string metrics();
  // Changes whenever another connection commits (PRAGMA data_version).
  std::int64_t changeCounter();

 private:
  sqlite3* db_;
  bool has_search_index_ = false;
};

// Pull-style report writer for streaming HTTP bodies: each fill() appends
// about `want` bytes to out; returns false once the report is complete.
class ReportStream {
 public:
  virtual ~ReportStream() = default;
  virtual bool fill(std::string& out, std::size_t want) = 0;
};

enum class ReportFormat { Json, Csv, Html };
std::optional<ReportFormat> parseReportFormat(std::string_view name);
std::string_view reportContentType(ReportFormat f);
std::string_view reportExtension(ReportFormat f);

// Devices matching the filter (in its sort order); all servers.
std::unique_ptr<ReportStream> openReportStream(sqlite3* db, ReportFormat format, const DeviceFilter& filter,
                                               const std::string& generated_iso);

// Human description of a filter ("class=generic, search \"spa\"") for report headers.
std::string describeFilter(const DeviceFilter& f);

}  // namespace provaudit::store
