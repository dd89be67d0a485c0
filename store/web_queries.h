#pragma once
// Read-only queries behind the dashboard API and the filtered report export.
// Every value from a request is bound as a parameter; column and sort names
// are looked up in fixed tables here, never pasted from the request.
// Functions may throw DbError (SQLite failure); the web layer turns that into
// one 503 answer at a single place.
#include <sqlite3.h>

#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace provaudit::store {

// Page sizes the API accepts (a larger request is clamped).
inline constexpr std::size_t DEFAULT_PAGE = 50;
inline constexpr std::size_t MAX_PAGE = 500;
// A device's sightings come a page at a time (the total is always given):
// DEVICE_SIGHTINGS_PAGE unless asked otherwise, at most MAX_DEVICE_SIGHTINGS.
inline constexpr std::size_t DEVICE_SIGHTINGS_PAGE = 100;
inline constexpr std::size_t MAX_DEVICE_SIGHTINGS = 1000;
// A device or finding list counts its matches exactly while that is cheap
// (always for the class, vendor, severity and finding filters alone or
// combined, for one server alone, for a search alone up to TOTAL_CAP
// matches). Otherwise counting stops at TOTAL_CAP matches or when its time
// budget is spent, and the answer says "total_exact": false: `total` is then
// a lower bound ("10,000+").
inline constexpr std::int64_t TOTAL_CAP = 10000;
// A filter matching at most this many devices is answered by reading those
// devices and sorting them; a larger one by walking the sort index.
inline constexpr std::int64_t PICK_MAX = 5000;

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

// Which of a device's sightings its page lists: `limit` from `offset` on, in
// time order (oldest first) or newest first.
struct SightingsPage {
  std::size_t offset = 0;
  std::size_t limit = DEVICE_SIGHTINGS_PAGE;  // 0: the default; clamped to MAX_DEVICE_SIGHTINGS
  bool newest_first = false;
};

struct ServerFilter {
  std::string q;        // substring of ip:port or server certificate subject
  std::string cert_request;  // "yes" | "no" (seen not to ask) | "unknown" (TLS, the request not visible) | ""
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

// Counts behind the overview, the filters and the servers and findings
// pages. They change only when an audit rewrites the devices, findings and
// device_servers tables, and each audit bumps stats.audit_generation in the
// same transaction (Database::replaceAudit), so each is computed once per
// generation and shared by every request.
struct DeviceFacets {  // how many devices have one combination of filterable values
  std::string identity;
  std::optional<std::string> vendor;
  std::int64_t severity = -1;       // worst severity rank, -1 = no finding
  std::vector<std::string> codes;   // distinct finding codes, sorted
  std::int64_t devices = 0;
};

struct FleetCounts {
  std::int64_t devices = 0;
  std::vector<DeviceFacets> facets;
  // Devices matching the class, vendor, severity and finding filters of `f` (the others are ignored).
  [[nodiscard]] std::int64_t matching(const DeviceFilter& f) const;
};

struct FindingCount {
  std::string code, severity, kind;
  std::int64_t count = 0;     // finding rows
  std::int64_t subjects = 0;  // distinct devices or servers
};

// Texts searched in memory, one entry per row, scanned with memmem:
//  - every finding's subject and detail, lowercased, for the findings page's
//    text search (no index can answer a substring of a detail): entries
//    "subject\tdetail\n", about 100 bytes a finding;
//  - every device's search text (devices_search_source), folded as the
//    trigram index folds it (SearchFold), when the database has no search
//    index (below DASHBOARD_INDEX_MIN_DEVICES): about 250 bytes a device.
struct SearchTexts {
  std::string text;
  std::vector<std::size_t> offsets;  // where each entry starts in `text`
  std::vector<std::int64_t> ids;     // findings.id or devices.rowid of each entry
  // Devices: each row's devices.row_hash when it has one. The next
  // generation's copy keeps the texts of rows with the same rowid and hash.
  std::vector<std::optional<std::int64_t>> hashes;
  // Indexes of the entries that contain every one of `needles` (none: no entry).
  [[nodiscard]] std::vector<std::size_t> containingAll(const std::vector<std::string>& needles) const;
};

struct TimelineCounts {
  std::int64_t last_rowid = 0;  // sightings are only ever inserted: later rows are added on
  std::map<std::int64_t, std::array<std::int64_t, 3>> buckets;  // bucket -> {all, tls, http}
};

class SummaryCache {
 public:
  std::shared_ptr<const FleetCounts> fleet(sqlite3* db, std::int64_t generation);
  std::shared_ptr<const std::map<std::string, std::int64_t>> serverDevices(sqlite3* db, std::int64_t generation);
  std::shared_ptr<const std::vector<FindingCount>> findings(sqlite3* db, std::int64_t generation);
  std::shared_ptr<const SearchTexts> findingTexts(sqlite3* db, std::int64_t generation);
  [[nodiscard]] bool findingTextsUsed() const { return texts_used_.load(); }
  std::shared_ptr<const SearchTexts> deviceTexts(sqlite3* db, std::int64_t generation);
  [[nodiscard]] bool deviceTextsUsed() const { return device_texts_used_.load(); }
  // Sightings per bucket of `width` ns, brought up to date with the sightings added since.
  TimelineCounts timeline(sqlite3* db, std::int64_t width);

 private:
  template <typename T>
  struct Slot {
    std::mutex mutex;  // held while computing: concurrent requests wait for one computation
    std::int64_t generation = -1;
    std::shared_ptr<const T> value;
  };
  Slot<FleetCounts> fleet_;
  Slot<std::map<std::string, std::int64_t>> servers_;
  Slot<std::vector<FindingCount>> findings_;
  Slot<SearchTexts> texts_;
  std::atomic<bool> texts_used_{false};
  Slot<SearchTexts> device_texts_;
  std::atomic<bool> device_texts_used_{false};
  std::mutex timeline_mutex_;
  std::map<std::int64_t, TimelineCounts> timelines_;  // by bucket width
};

// Thresholds of the device list plans (see WebQueries::devices); tests shrink
// them to reach every plan with a small fleet.
struct DeviceListLimits {
  std::int64_t pick_max = PICK_MAX;  // a search with at most this many matches is a candidate list
  std::int64_t bitmap_max = 10000;   // beyond, a search is tested on the row text of the devices walked
  double walk_budget_us = 20000;     // a walk running longer gives way to the other plan
  double count_budget_us = 15000;    // a count stops here (its total is then a lower bound, total_exact false)
};

// Which way a device list is read (WebQueries::devices chooses; tests force each).
enum class DevicePlan {
  Auto,
  Pick,  // gather the matching devices from the smallest filter's index, sort them
  Walk,  // walk the sort index, testing each entry against the filters
};

class WebQueries {
 public:
  // `db` is a read-only connection owned by the caller; `cache` may be shared
  // between connections to the same database (nullptr: counts last as long as this object).
  explicit WebQueries(sqlite3* db, SummaryCache* cache = nullptr);

  // {"items":[…],"total":N,"total_exact":bool,"next":cursor|null,"prev":cursor|null}. nullopt: malformed cursor.
  std::optional<boost::json::object> devices(const DeviceFilter& f, const PageRequest& page,
                                             DevicePlan plan = DevicePlan::Auto);
  void setLimits(const DeviceListLimits& limits) { limits_ = limits; }
  // {"device": report, "detail": …, "sightings": […], "sightings_total", "sightings_offset",
  // "sightings_limit", "sightings_order", "servers": […]}; nullopt: no such device.
  std::optional<boost::json::object> device(const std::string& id, const SightingsPage& page = {});
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
  // Brings the cache's counts up to the latest audit (the finding texts only
  // once a text search has asked for them).
  void refreshCounts();

 private:
  std::int64_t generation();
  // Which indexes the database has: read inside each query's read
  // transaction, since an audit may build or drop them at any time.
  void readIndexes();
  [[nodiscard]] bool hasIndex(std::string_view name) const;
  sqlite3* db_;
  std::unique_ptr<SummaryCache> own_cache_;
  SummaryCache* cache_;
  DeviceListLimits limits_;
  bool has_search_index_ = false;   // devices_search (DASHBOARD_INDEX_MIN_DEVICES)
  bool has_facet_indexes_ = false;  // the devices_by_* sort indexes (idem)
  std::vector<std::string> indexes_;  // every index's name
};

// Pull-style report writer for streaming HTTP bodies: each fill() appends
// about `want` bytes to out; returns false once the report is complete.
class ReportStream {
 public:
  // Rows left out because what the database holds for them is not a report
  // (a device without its document, a document that is not a JSON object: a
  // database damaged outside provaudit): how many, and the first one's id.
  struct Damage {
    std::uint64_t rows = 0;
    std::string first;
  };
  virtual ~ReportStream() = default;
  virtual bool fill(std::string& out, std::size_t want) = 0;
  // So far (all of it once fill() has returned false).
  [[nodiscard]] virtual const Damage& damage() const = 0;
};

enum class ReportFormat { Json, Csv, Html };
std::optional<ReportFormat> parseReportFormat(std::string_view name);
std::string_view reportContentType(ReportFormat f);
std::string_view reportExtension(ReportFormat f);

// Devices matching the filter (in its sort order); the servers they talked
// to (all servers when the filter is empty).
std::unique_ptr<ReportStream> openReportStream(sqlite3* db, ReportFormat format, const DeviceFilter& filter,
                                               const std::string& generated_iso);

// Human description of a filter ("class=generic, search \"spa\"") for report headers.
std::string describeFilter(const DeviceFilter& f);

}  // namespace provaudit::store
