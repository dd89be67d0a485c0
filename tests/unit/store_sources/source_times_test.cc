// The sources table (one row per capture file or interface read): a source
// that gave no packet has no first or last packet time. It is stored as NULL
// and shown as null in /api/stats (it was 0, shown as 1970-01-01, and pulled
// the coverage's first packet back to 1970), and updated_ns is when the row
// was written, not a packet time.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <string>

#include "../../support/temp_dir.h"
#include "common/anomaly.h"
#include "store/database.h"
#include "store/sqlite_util.h"
#include "store/web_queries.h"

using namespace provaudit;
using namespace provaudit::store;

namespace {

std::int64_t wallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SourceRecord source(const std::string& name, std::uint64_t packets, std::int64_t first_ns, std::int64_t last_ns) {
  SourceRecord r;
  r.key = name + "@" + std::to_string(first_ns);
  r.name = name;
  r.kind = "file";
  r.packets = packets;
  r.bytes = packets * 100;
  r.first_ts_ns = first_ns;
  r.last_ts_ns = last_ns;
  r.status = "complete";
  return r;
}

const boost::json::object* listed(const boost::json::object& stats, const std::string& name) {
  for (const auto& v : stats.at("coverage").at("list").as_array()) {
    if (v.at("name").as_string() == name) return &v.as_object();
  }
  return nullptr;
}

}  // namespace

TEST_CASE("sources: no packets, no first or last time (null, not 1970)", "[sources]") {
  testing::TempDir dir("pa-sources");
  Database db(dir.path("s.db"), Database::Mode::ReadWrite);
  constexpr std::int64_t FIRST = 1'700'000'000'000'000'000;  // 2023-11-14T22:13:20Z
  const std::int64_t before = wallNs();
  db.transaction([&] {
    db.saveSource(source("empty.pcap", 0, 0, 0), AnomalyCounters{});
    db.saveSource(source("site-a.pcap", 10, FIRST, FIRST + 5'000'000'000), AnomalyCounters{});
  });
  const std::int64_t after = wallNs();

  Stmt raw(db.handle(), "SELECT first_ts_ns IS NULL, last_ts_ns IS NULL, updated_ns FROM sources WHERE name = 'empty.pcap'");
  REQUIRE(raw.step());
  CHECK(raw.int64(0) == 1);
  CHECK(raw.int64(1) == 1);
  CHECK(raw.int64(2) >= before);  // the time it was written, not a packet time (there was none)
  CHECK(raw.int64(2) <= after);

  WebQueries q(db.handle());
  const boost::json::object stats = q.stats();
  const auto* empty = listed(stats, "empty.pcap");
  REQUIRE(empty);
  CHECK(empty->at("first").is_null());
  CHECK(empty->at("last").is_null());
  const auto* full = listed(stats, "site-a.pcap");
  REQUIRE(full);
  CHECK(full->at("first").as_string().starts_with("2023-11-14T22:13:20"));
  // The coverage spans the packets there were: the empty file does not pull it back to 1970.
  const auto& cov = stats.at("coverage").as_object();
  CHECK(cov.at("first").as_string().starts_with("2023-11-14T22:13:20"));
  CHECK(cov.at("span_seconds").as_double() == Approx(5.0));
}

TEST_CASE("sources: an error source without packets does not pull the coverage back to 1970", "[sources]") {
  testing::TempDir dir("pa-sources");
  Database db(dir.path("s.db"), Database::Mode::ReadWrite);
  SourceRecord broken = source("broken.pcap", 0, 0, 0);
  broken.status = "error";
  broken.error = "broken.pcap: not a capture file";
  db.transaction([&] { db.saveSource(broken, AnomalyCounters{}); });
  WebQueries q(db.handle());
  const boost::json::object stats = q.stats();
  const auto& cov = stats.at("coverage").as_object();
  CHECK(cov.at("errors").as_int64() == 1);
  CHECK(cov.at("first").is_null());
  CHECK(cov.at("last").is_null());
  CHECK(cov.at("span_seconds").as_double() == 0.0);
}
