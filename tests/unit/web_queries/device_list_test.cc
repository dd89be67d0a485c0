// The dashboard's device list (WebQueries::devices) against a plain SQL
// reference, over a fleet written through Database::replaceAudit: every
// filter combination, sort and direction, paged forwards and back, read by
// each plan (pick and walk) — and the per-generation counts after full and
// incremental audits, and totals that stop counting.
#include <sqlite3.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../../support/temp_dir.h"
#include "store/database.h"
#include "store/sqlite_util.h"
#include "store/web_queries.h"

using namespace provaudit;
using namespace provaudit::store;
namespace json = boost::json;

namespace {

constexpr std::int64_t T0 = 1'790'000'000'000'000'000;
const std::vector<std::string> CLASSES = {"individualized", "generic", "none", "unknown"};
const std::vector<std::string> VENDORS = {"Cisco", "Yealink", "Polycom", "Snom", "Rare"};
const std::vector<std::pair<std::string, std::string>> CODES = {
    {"plaintext-provisioning", "high"}, {"cert-hidden", "info"}, {"legacy-tls", "medium"},
    {"cert-clone", "critical"},         {"fingerprint-mismatch", "low"}, {"generic-cert", "high"}};
const std::vector<std::string> SERVERS = {"10.0.0.1:443", "10.0.0.1:80", "10.0.0.2:443", "10.0.0.3:443"};

analyze::CertPtr cert(const std::string& subject, std::uint32_t n) {
  auto c = std::make_shared<analyze::CertInfo>();
  c->der = {0x30, static_cast<std::uint8_t>(n), static_cast<std::uint8_t>(n >> 8)};
  c->sha256 = std::to_string(1000000 + n) + "abcdef";
  c->subject_text = subject;
  c->issuer_text = "CN=Test CA";
  c->key_type = "RSA";
  c->key_bits = 2048;
  return c;
}

// A skewed fleet: big and tiny classes, vendors and findings, NULL MACs and
// vendors, equal sort values (ties broken by id), several servers per device.
analyze::DeviceRecord makeDevice(std::uint32_t i, std::mt19937& rng, int variant = 0) {
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  analyze::DeviceRecord d;
  d.id = "mac:02:00:" + std::to_string(10 + i / 100) + ":" + std::to_string(10 + i % 100) + ":00:0" + std::to_string(i % 7);
  if (i % 11 != 3) d.mac = MacAddr::parse("02:00:00:" + std::to_string(10 + (i * 7) % 90) + ":00:" + std::to_string(10 + i % 90));
  const std::size_t c = pick(20);
  d.identity = CLASSES[c < 10 ? 0 : c < 12 ? 1 : c < 13 ? 2 : 3];
  if (variant == 1) d.identity = CLASSES[(std::find(CLASSES.begin(), CLASSES.end(), d.identity) - CLASSES.begin() + 1) % 4];
  d.identity_reason = "test";
  const std::size_t v = pick(40);
  if (v < 36) d.vendor = VENDORS[v < 18 ? 0 : v < 28 ? 1 : v < 33 ? 2 : v < 35 ? 3 : 4];
  if (variant == 1 && i % 2 == 0) d.vendor = "Changed";
  if (d.vendor) d.model = *d.vendor + "-M" + std::to_string(pick(4));
  if (pick(3) != 0) d.firmware = std::to_string(pick(3)) + ".0";
  if (pick(4) != 0) d.serial = "SN" + std::to_string(1000 + pick(500));
  d.ips = {"10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)};
  if (d.identity == "individualized" || d.identity == "generic") {
    analyze::CertVerdict verdict;
    verdict.cert = cert("CN=dev" + std::to_string(i) + ",O=" + d.vendor.value_or("x"), i);
    verdict.chain_sent = {verdict.cert};
    verdict.chain = pick(3) == 0 ? "trusted" : "unchecked";
    d.cert = verdict;
  }
  if (pick(3) == 0) d.user_agents = {"UA/" + d.model.value_or("none") + " x" + std::to_string(pick(9))};
  for (std::size_t k = 0; k < CODES.size(); ++k) {
    const std::size_t odds = k == 0 ? 3 : k == 3 ? 150 : 6;  // cert-clone is rare
    if (pick(odds) == 0) d.findings.push_back({CODES[k].first, CODES[k].second, "detail " + std::to_string(i)});
  }
  if (variant == 1) d.findings.push_back({"legacy-tls", "medium", "changed"});
  d.first_seen = T0 + static_cast<std::int64_t>(pick(1000)) * 1'000'000'000;
  d.last_seen = d.first_seen + static_cast<std::int64_t>(pick(50)) * 1'000'000'000;
  d.sessions = 1 + pick(5);
  d.sightings = {{"s" + std::to_string(i), i}};
  d.servers.push_back(SERVERS[pick(10) < 7 ? 0 : 1 + pick(3)]);
  if (pick(4) == 0) d.servers.push_back(SERVERS[3]);
  std::sort(d.servers.begin(), d.servers.end());
  d.servers.erase(std::unique(d.servers.begin(), d.servers.end()), d.servers.end());
  return d;
}

analyze::AuditResult fleet(std::uint32_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  analyze::AuditResult r;
  for (std::uint32_t i = 0; i < n; ++i) r.devices.push_back(makeDevice(i, rng));
  std::sort(r.devices.begin(), r.devices.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& id : SERVERS) {
    analyze::ServerRecord s;
    s.id = id;
    s.endpoint.ip = *IpAddr::parse(id.substr(0, id.find(':')));
    s.endpoint.port = static_cast<std::uint16_t>(std::stoi(id.substr(id.find(':') + 1)));
    r.servers.push_back(s);
  }
  return r;
}

// A database in a folder of its own, and one writer process's audit memory.
// `indexed`: with the dashboard's sort and search indexes, which a fleet this
// small has only when the threshold is lowered (DASHBOARD_INDEX_MIN_DEVICES).
struct Store {
  explicit Store(bool indexed = true) {
    if (indexed) db.setDashboardIndexMin(0);
  }
  const testing::TempDir tmp{"provaudit-webq"};
  Database db{tmp.path("fleet.db"), Database::Mode::ReadWrite};
  std::unordered_map<std::string, std::uint64_t> written;
  std::int64_t generation = 0;
  void audit(const analyze::AuditResult& r) {
    db.begin();
    db.replaceAudit(r, written, generation);
    db.commit();
  }
};

std::string sortExpr(const std::string& sort) {
  static const std::map<std::string, std::string> exprs = {
      {"id", "id"}, {"mac", "coalesce(mac,'')"}, {"ips", "ips"}, {"identity", "identity"},
      {"vendor", "coalesce(vendor,'')"}, {"model", "coalesce(model,'')"}, {"firmware", "coalesce(firmware,'')"},
      {"serial", "coalesce(serial,'')"}, {"chain", "coalesce(cert_chain,'')"}, {"findings", "findings"},
      {"severity", "worst_severity"}, {"first_seen", "first_seen_ns"}, {"last_seen", "last_seen_ns"},
      {"sessions", "sessions"}};
  return exprs.at(sort);
}

// The device ids a filter selects, in its order: the plain SQL of the
// contract, with the search as substrings of the indexed text.
std::vector<std::string> reference(sqlite3* db, const DeviceFilter& f) {
  std::string where = " WHERE 1";
  std::vector<std::string> params;
  if (!f.identity.empty()) where += " AND identity = ?", params.push_back(f.identity);
  if (f.vendor == "-") where += " AND vendor IS NULL";
  else if (!f.vendor.empty()) where += " AND vendor = ?", params.push_back(f.vendor);
  if (!f.finding.empty()) {
    where += " AND id IN (SELECT subject_id FROM findings WHERE code = ? AND subject_kind = 'device')";
    params.push_back(f.finding);
  }
  if (!f.severity.empty()) {
    const std::map<std::string, std::string> rank = {{"info", "0"}, {"low", "1"}, {"medium", "2"}, {"high", "3"}, {"critical", "4"}};
    where += " AND worst_severity = " + rank.at(f.severity);
  }
  if (!f.server.empty()) {
    where += " AND id IN (SELECT device_id FROM device_servers WHERE server_id = ?)";
    params.push_back(f.server);
  }
  std::string word;
  std::istringstream words(f.q);
  while (words >> word) {
    where += " AND rowid IN (SELECT rid FROM devices_search_source WHERE instr(lower(body), lower(?)) > 0)";
    params.push_back(word);
  }
  const char* dir = f.desc ? " DESC" : " ASC";
  Stmt s(db, "SELECT id FROM devices" + where + " ORDER BY " + sortExpr(f.sort) + dir + ", id" + dir);
  for (std::size_t i = 0; i < params.size(); ++i) s.bind(static_cast<int>(i + 1), params[i]);
  std::vector<std::string> ids;
  while (s.step()) ids.push_back(s.text(0));
  return ids;
}

std::vector<std::string> ids(const json::object& page) {
  std::vector<std::string> out;
  for (const auto& d : page.at("items").as_array()) out.emplace_back(d.at("id").as_string());
  return out;
}

// Pages through the whole list with `next`, checks each total, then walks
// back from the last page with `prev`: both ways must give the reference.
void checkPaging(WebQueries& q, sqlite3* db, const DeviceFilter& f, DevicePlan plan, std::size_t page_size) {
  const auto want = reference(db, f);
  INFO("q=" << f.q << " class=" << f.identity << " vendor=" << f.vendor << " finding=" << f.finding
            << " severity=" << f.severity << " server=" << f.server << " sort=" << f.sort << (f.desc ? " desc" : "")
            << " plan=" << static_cast<int>(plan) << " page=" << page_size << " want=" << want.size());
  std::vector<std::vector<std::string>> pages;
  std::vector<std::string> got;
  PageRequest page;
  page.limit = page_size;
  std::string last_prev;
  for (int guard = 0; guard < 1000; ++guard) {
    const auto res = q.devices(f, page, plan);
    REQUIRE(res.has_value());
    const auto& total = res->at("total");
    if (res->at("total_exact").as_bool()) {
      CHECK(total.as_int64() == static_cast<std::int64_t>(want.size()));
    } else {
      CHECK(total.as_int64() <= static_cast<std::int64_t>(want.size()));
    }
    pages.push_back(ids(*res));
    got.insert(got.end(), pages.back().begin(), pages.back().end());
    if (res->at("prev").is_string()) last_prev = std::string(res->at("prev").as_string());
    if (res->at("next").is_null()) break;
    page.after = std::string(res->at("next").as_string());
  }
  CHECK(got == want);
  if (pages.size() >= 2) {
    PageRequest back;
    back.limit = page_size;
    back.before = last_prev;
    const auto res = q.devices(f, back, plan);
    REQUIRE(res.has_value());
    CHECK(ids(*res) == pages[pages.size() - 2]);
  }
}

}  // namespace

TEST_CASE("device list: every filter, sort and direction agrees with plain SQL, by each plan") {
  const bool indexed = GENERATE(true, false);
  INFO("sort and search indexes: " << indexed);
  Store store(indexed);
  Database& db = store.db;
  store.audit(fleet(700, 7));
  REQUIRE(hasSchemaObject(db.handle(), "devices_by_id") == indexed);
  REQUIRE(hasSchemaObject(db.handle(), "devices_search") == indexed);
  SummaryCache cache;
  WebQueries q(db.handle(), &cache);
  // The same fleet with thresholds a 700-device fleet crosses: searches
  // become bitmaps and row-text tests, and every walk is interrupted at once
  // and handed to the other plan.
  WebQueries small(db.handle(), &cache);
  small.setLimits({.pick_max = 15, .bitmap_max = 60, .walk_budget_us = 20000});
  WebQueries hasty(db.handle(), &cache);
  hasty.setLimits({.pick_max = 15, .bitmap_max = 60, .walk_budget_us = 0});

  std::mt19937 rng(42);
  const auto any = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> searches = {"",       "",      "",      "mac:02", "cisco-m1", "10.1.1.", "sn10", "ua/",
                                             "o=rare", "zz-nothing", "1", "ab",  "dev1 x", "cn=dev", "02:00", "yealink-m",
                                             "\xe2\x98\x8e"};
  const std::vector<std::string> vendors = {"Cisco", "Yealink", "Rare", "-", "Nobody"};
  const std::vector<std::string> codes = {"plaintext-provisioning", "cert-clone", "legacy-tls", "no-such-code"};
  const std::vector<std::string> severities = {"info", "medium", "critical"};
  const std::vector<std::string> sorts = {"id", "mac", "ips", "identity", "vendor", "model", "firmware", "serial",
                                          "chain", "findings", "severity", "first_seen", "last_seen", "sessions"};
  for (int round = 0; round < 60; ++round) {
    DeviceFilter f;
    if (rng() % 3 == 0) f.identity = any(CLASSES);
    if (rng() % 3 == 0) f.vendor = any(vendors);
    if (rng() % 4 == 0) f.finding = any(codes);
    if (rng() % 5 == 0) f.severity = any(severities);
    if (rng() % 4 == 0) f.server = any(SERVERS);
    f.q = any(searches);
    f.sort = sorts[static_cast<std::size_t>(round) % sorts.size()];
    f.desc = rng() % 2 == 0;
    for (const auto plan : {DevicePlan::Auto, DevicePlan::Pick, DevicePlan::Walk}) {
      checkPaging(q, db.handle(), f, plan, 1 + rng() % 60);
      checkPaging(small, db.handle(), f, plan, 1 + rng() % 60);
    }
    checkPaging(hasty, db.handle(), f, DevicePlan::Auto, 1 + rng() % 60);
  }
}

TEST_CASE("device list: a malformed cursor is refused; an unknown filter value matches nothing") {
  Store store;
  Database& db = store.db;
  store.audit(fleet(50, 1));
  WebQueries q(db.handle());
  DeviceFilter f;
  PageRequest page;
  page.after = "[1,2]";
  CHECK_FALSE(q.devices(f, page).has_value());
  f.sort = "sessions";
  page.after = "[\"text\",\"id\"]";  // an integer sort needs an integer cursor
  CHECK_FALSE(q.devices(f, page).has_value());
  DeviceFilter none;
  none.finding = "generic-cert;cert-clone";  // not one code
  const auto res = q.devices(none, {});
  REQUIRE(res.has_value());
  CHECK(res->at("total").as_int64() == 0);
  CHECK(res->at("items").as_array().empty());
}

TEST_CASE("counts follow an incremental audit that removes and changes devices") {
  const bool indexed = GENERATE(true, false);
  INFO("sort and search indexes: " << indexed);
  Store store(indexed);
  Database& db = store.db;
  analyze::AuditResult r = fleet(300, 3);
  store.audit(r);
  SummaryCache cache;  // shared, as the web server shares it between requests

  const auto check = [&]() {
    WebQueries q(db.handle(), &cache);
    const auto stats = q.stats();
    CHECK(stats.at("devices").at("total").as_int64() == static_cast<std::int64_t>(reference(db.handle(), {}).size()));
    for (const auto& cls : CLASSES) {
      DeviceFilter f;
      f.identity = cls;
      const auto want = static_cast<std::int64_t>(reference(db.handle(), f).size());
      CHECK(stats.at("devices").at("by_identity").at(cls).as_int64() == want);
      CHECK(q.devices(f, {})->at("total").as_int64() == want);
    }
    for (const auto& vendor : {"Cisco", "Changed", "-"}) {
      DeviceFilter f;
      f.vendor = vendor;
      CHECK(q.devices(f, {})->at("total").as_int64() == static_cast<std::int64_t>(reference(db.handle(), f).size()));
    }
    for (const auto& [code, severity] : CODES) {
      DeviceFilter f;
      f.finding = code;
      f.identity = "individualized";
      CHECK(q.devices(f, {})->at("total").as_int64() == static_cast<std::int64_t>(reference(db.handle(), f).size()));
    }
    for (const auto& server : SERVERS) {
      DeviceFilter f;
      f.server = server;
      CHECK(q.devices(f, {})->at("total").as_int64() == static_cast<std::int64_t>(reference(db.handle(), f).size()));
    }
    Stmt n(db.handle(), "SELECT count(*) FROM findings");
    REQUIRE(n.step());
    CHECK(stats.at("findings").at("total").as_int64() == n.int64(0));
    std::int64_t vendors = 0;
    for (const auto& v : q.vendors()) vendors += v.at("devices").as_int64();
    CHECK(vendors == stats.at("devices").at("total").as_int64());
  };
  check();

  // Incremental: the same process audits again (its `written` memory is
  // current): a third of the devices are gone, a third changed class, vendor
  // and findings, and some are new.
  analyze::AuditResult next;
  std::mt19937 rng(99);
  for (std::size_t i = 0; i < r.devices.size(); ++i) {
    if (i % 3 == 0) continue;
    if (i % 3 == 1) {
      next.devices.push_back(r.devices[i]);
      continue;
    }
    analyze::DeviceRecord changed = makeDevice(static_cast<std::uint32_t>(i), rng, 1);
    changed.id = r.devices[i].id;
    next.devices.push_back(changed);
  }
  for (std::uint32_t i = 1000; i < 1040; ++i) next.devices.push_back(makeDevice(i, rng));
  std::sort(next.devices.begin(), next.devices.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  next.servers = r.servers;
  const std::int64_t before = store.generation;
  store.audit(next);
  REQUIRE(store.generation == before + 1);
  check();
}

TEST_CASE("a total too costly to count exactly is a lower bound, flagged total_exact false") {
  Store store;
  Database& db = store.db;
  // More matches than TOTAL_CAP for a filter whose count is not kept: a server
  // and a one-letter word (tested on each device's text).
  analyze::AuditResult r = fleet(static_cast<std::uint32_t>(TOTAL_CAP) + 600, 5);
  for (auto& d : r.devices) d.servers = {SERVERS[0]};
  store.audit(r);
  WebQueries q(db.handle());
  DeviceFilter f;
  f.server = SERVERS[0];
  f.q = "m";
  const auto res = q.devices(f, {});
  REQUIRE(res.has_value());
  CHECK_FALSE(res->at("total_exact").as_bool());
  // At least the page and the one after it; at most where counting stops.
  CHECK(res->at("total").as_int64() > static_cast<std::int64_t>(DEFAULT_PAGE));
  CHECK(res->at("total").as_int64() <= TOTAL_CAP);
  CHECK(res->at("items").as_array().size() == DEFAULT_PAGE);
  // The same filter without the word is counted exactly (per-server counts).
  f.q.clear();
  const auto exact = q.devices(f, {});
  CHECK(exact->at("total_exact").as_bool());
  CHECK(exact->at("total").as_int64() == static_cast<std::int64_t>(r.devices.size()));
}

TEST_CASE("findings list: filters, text search, sorts and offsets agree with plain SQL") {
  const bool indexed = GENERATE(true, false);
  INFO("sort indexes: " << indexed);
  Store store(indexed);
  Database& db = store.db;
  analyze::AuditResult r = fleet(400, 11);
  r.servers[1].findings.push_back({"plaintext-provisioning", "high", "serves provisioning over plain HTTP"});
  r.servers[2].findings.push_back({"legacy-tls", "medium", "negotiated TLS 1.0 (Detail 7)"});
  store.audit(r);
  REQUIRE(hasSchemaObject(db.handle(), "findings_by_rank") == indexed);
  REQUIRE(hasSchemaObject(db.handle(), "findings_by_subject"));
  SummaryCache cache;
  WebQueries q(db.handle(), &cache);
  // Every total counted to its end, however slow the machine (the
  // sanitizers, builds beside them): exactness within the 15 ms a count has
  // by default is timing, tested apart (a total too costly to count exactly).
  q.setLimits({.count_budget_us = 60e6});
  const std::map<std::string, std::string> order = {
      {"severity", "CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END#id"},
      {"code", "code#subject_id#id"},
      {"subject", "subject_id#subject_kind#id"},
      {"kind", "subject_kind#code#severity#subject_id#id"},
      {"detail", "detail#id"}};
  std::mt19937 rng(5);
  const std::vector<std::string> texts = {"", "", "detail 1", "DETAIL 7", "mac:02:00:1", "nothing-like-this", "plain", "\t"};
  for (int round = 0; round < 80; ++round) {
    FindingFilter f;
    if (rng() % 3 == 0) f.code = CODES[rng() % CODES.size()].first;
    if (rng() % 4 == 0) f.severity = CODES[rng() % CODES.size()].second;
    if (rng() % 4 == 0) f.kind = rng() % 2 == 0 ? "device" : "server";
    f.q = texts[rng() % texts.size()];
    auto it = order.begin();
    std::advance(it, static_cast<long>(rng() % order.size()));
    f.sort = it->first;
    f.desc = rng() % 2 == 0;
    PageRequest page;
    page.limit = 1 + rng() % 40;
    page.offset = rng() % 3 == 0 ? rng() % 100 : 0;
    std::string where = " WHERE 1";
    std::vector<std::string> params;
    if (!f.code.empty()) where += " AND code = ?", params.push_back(f.code);
    if (!f.severity.empty()) where += " AND severity = ?", params.push_back(f.severity);
    if (!f.kind.empty()) where += " AND subject_kind = ?", params.push_back(f.kind);
    if (!f.q.empty()) {
      where += " AND (instr(lower(subject_id), lower(?)) > 0 OR instr(lower(detail), lower(?)) > 0)";
      params.push_back(f.q);
      params.push_back(f.q);
    }
    std::string by;
    std::string terms = it->second;
    for (std::size_t start = 0; start < terms.size();) {
      const std::size_t hash = terms.find('#', start);
      const std::string term = terms.substr(start, hash == std::string::npos ? std::string::npos : hash - start);
      by += (by.empty() ? " ORDER BY " : ", ") + term + (f.desc ? " DESC" : " ASC");
      start = hash == std::string::npos ? terms.size() : hash + 1;
    }
    Stmt all(db.handle(), "SELECT id FROM findings" + where + by);
    for (std::size_t i = 0; i < params.size(); ++i) all.bind(static_cast<int>(i + 1), params[i]);
    std::vector<std::int64_t> want;
    while (all.step()) want.push_back(all.int64(0));
    INFO("code=" << f.code << " severity=" << f.severity << " kind=" << f.kind << " q=" << f.q << " sort=" << f.sort
                 << (f.desc ? " desc" : "") << " offset=" << page.offset << " limit=" << page.limit);
    const auto res = q.findings(f, page);
    CHECK(res.at("total").as_int64() == static_cast<std::int64_t>(want.size()));
    CHECK(res.at("total_exact").as_bool());
    std::vector<std::int64_t> got;
    for (const auto& item : res.at("items").as_array()) got.push_back(item.at("id").as_int64());
    const std::size_t from = std::min<std::size_t>(page.offset, want.size());
    const std::vector<std::int64_t> slice(want.begin() + static_cast<long>(from),
                                          want.begin() + static_cast<long>(std::min(want.size(), from + page.limit)));
    CHECK(got == slice);
  }
}

TEST_CASE("servers list: device counts from the per-generation counts, every sort") {
  Store store;
  Database& db = store.db;
  store.audit(fleet(300, 13));
  WebQueries q(db.handle());
  const std::map<std::string, std::string> exprs = {
      {"id", "s.id"}, {"ip", "s.ip"}, {"port", "s.port"}, {"cert_request", "s.requests_client_cert"},
      {"devices", "(SELECT count(*) FROM device_servers d WHERE d.server_id = s.id)"},
      {"sessions", "json_extract(s.report,'$.sessions')"}};
  for (const auto& [sort, expr] : exprs) {
    for (const bool desc : {false, true}) {
      ServerFilter f;
      f.sort = sort;
      f.desc = desc;
      const char* dir = desc ? " DESC" : " ASC";
      Stmt s(db.handle(), "SELECT s.id, (SELECT count(*) FROM device_servers d WHERE d.server_id = s.id) FROM servers s ORDER BY " +
                              expr + dir + ", s.id" + dir);
      std::vector<std::pair<std::string, std::int64_t>> want;
      while (s.step()) want.emplace_back(s.text(0), s.int64(1));
      const auto res = q.servers(f, {});
      std::vector<std::pair<std::string, std::int64_t>> got;
      for (const auto& item : res.at("items").as_array()) got.emplace_back(item.at("id").as_string(), item.at("devices").as_int64());
      INFO(sort << (desc ? " desc" : ""));
      CHECK(got == want);
    }
  }
}

namespace {

// Every device a filter selects, page after page, in order.
std::vector<std::string> allIds(WebQueries& q, const DeviceFilter& f) {
  std::vector<std::string> out;
  PageRequest page;
  page.limit = MAX_PAGE;
  for (int guard = 0; guard < 100; ++guard) {
    const auto res = q.devices(f, page);
    REQUIRE(res.has_value());
    const auto got = ids(*res);
    out.insert(out.end(), got.begin(), got.end());
    if (res->at("next").is_null()) break;
    page.after = std::string(res->at("next").as_string());
  }
  return out;
}

std::string exportCsv(sqlite3* db, const DeviceFilter& f) {
  const auto stream = openReportStream(db, ReportFormat::Csv, f, "2026-11-27T00:00:00Z");
  std::string out;
  while (stream->fill(out, 1 << 16)) {
  }
  return out;
}

}  // namespace

TEST_CASE("a search finds the same devices with the search index and without it, in any case and script") {
  // Without the index (a fleet below DASHBOARD_INDEX_MIN_DEVICES) the words
  // are looked for in the devices' text folded by FTS5's own trigram
  // tokenizer (SearchFold), so a fleet growing past the threshold keeps its answers.
  analyze::AuditResult r = fleet(300, 5);
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"CN=M\xc3\xbcller-L\xc3\xbc" "denscheidt,O=Stra\xc3\x9f" "e", "Phone/1.0"},  // Müller-Lüdenscheidt, Straße
      {"CN=\xce\x91\xce\x98\xce\x97\xce\x9d\xce\x91", "T\xc3\xa9l\xc3\xa9phone/2.1 \xc3\x89" "COLE"},  // ΑΘΗΝΑ; Téléphone, ÉCOLE
      {"CN=\xc4\xb0stanbul", "raw \xff\xfe bytes"},                                      // İstanbul; bytes that are not UTF-8
      {"CN=caf\xc3\xa9 \xe2\x98\x8e", "ASCII/1"},                                          // café ☎
  };
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto& d = r.devices[i * 7];
    analyze::CertVerdict verdict;
    verdict.cert = cert(texts[i].first, static_cast<std::uint32_t>(9000 + i));
    verdict.chain_sent = {verdict.cert};
    d.cert = verdict;
    d.user_agents = {texts[i].second};
  }
  Store with(true), without(false);
  with.audit(r);
  without.audit(r);
  REQUIRE(hasSchemaObject(with.db.handle(), "devices_search"));
  REQUIRE_FALSE(hasSchemaObject(without.db.handle(), "devices_search"));
  REQUIRE_FALSE(hasSchemaObject(without.db.handle(), "devices_by_id"));
  WebQueries a(with.db.handle()), b(without.db.handle());
  WebQueries b_small(without.db.handle());
  b_small.setLimits({.pick_max = 3, .bitmap_max = 60, .walk_budget_us = 20000});  // a bitmap, not a list

  const auto ids_of = [&](std::initializer_list<std::size_t> devices) {
    std::vector<std::string> out;
    for (const std::size_t i : devices) out.push_back(r.devices[i * 7].id);
    std::sort(out.begin(), out.end());
    return out;
  };
  // Case folded beyond ASCII, as the index folds it (no ß -> ss, diacritics kept).
  const std::map<std::string, std::vector<std::string>> expected = {
      {"M\xc3\x9cLLER", ids_of({0})},                     // MÜLLER
      {"m\xc3\xbcller-l\xc3\xbc", ids_of({0})},          // müller-lü
      {"STRA\xc3\x9f" "E", ids_of({0})},                    // STRAßE
      {"strasse", {}},
      {"\xce\xb1\xce\xb8\xce\xb7\xce\xbd\xce\xb1", ids_of({1})},  // αθηνα
      {"t\xc3\xa9l\xc3\xa9phone/2", ids_of({1})},         // téléphone/2
      {"TELEPHONE", {}},
      {"\xc3\xa9" "cole phone", ids_of({1})},               // école + phone
      {"CAF\xc3\x89", ids_of({3})},                         // CAFÉ
      {"\xe2\x98\x8e caf", ids_of({3})},                   // ☎ caf
  };
  for (const auto& [q, want] : expected) {
    INFO("q=" << q);
    DeviceFilter f;
    f.q = q;
    CHECK(allIds(a, f) == want);
    CHECK(allIds(b, f) == want);
  }
  // Everything else: the two forms agree, by list and by export.
  const std::vector<std::string> searches = {"dev1", "DEV1 o=cisco", "cisco-m", "sn10", "UA/", "10.1.0.", "zz-nothing",
                                             "02:00", "x1", "1", "stanbul", "\xc4\xb0stanbul", "\xff\xfe", "raw",
                                             "1 2 3", "trusted", "\"", "%", "_"};
  for (const auto& q : searches) {
    INFO("q=" << q);
    DeviceFilter f;
    f.q = q;
    const auto want = allIds(a, f);
    CHECK(allIds(b, f) == want);
    CHECK(allIds(b_small, f) == want);
    f.vendor = "Cisco";
    f.sort = "mac";
    CHECK(allIds(b, f) == allIds(a, f));
    CHECK(exportCsv(without.db.handle(), f) == exportCsv(with.db.handle(), f));
  }
}

TEST_CASE("without the search index, searches follow incremental and full audits (the cached texts of changed rows are read again)") {
  Store store(false);
  SummaryCache cache;  // shared across the audits, as the server shares it
  const std::vector<std::string> words = {"changed", "cisco-m", "yealink", "sn10", "10.1.0.", "dev2", "mac:02:00:1"};
  const auto check = [&](const char* when) {
    REQUIRE_FALSE(hasSchemaObject(store.db.handle(), "devices_search"));
    WebQueries q(store.db.handle(), &cache);
    for (const auto& w : words) {
      INFO(when << ": q=" << w);
      DeviceFilter f;
      f.q = w;
      CHECK(allIds(q, f) == reference(store.db.handle(), f));
    }
  };
  // 250 devices, every search once (the texts are cached).
  analyze::AuditResult r = fleet(250, 3);
  store.audit(r);
  check("first audit");
  store.audit(r);  // nothing changed: a new generation all the same
  check("an audit that changed nothing");
  // Incremental: half of them change vendor and model, some go, some come.
  std::mt19937 rng(3);
  for (std::uint32_t i = 0; i < r.devices.size(); i += 2) {
    r.devices[i].vendor = "Changed";
    r.devices[i].model = "Changed-M9";
  }
  r.devices.erase(r.devices.begin() + 10, r.devices.begin() + 20);
  for (std::uint32_t i = 250; i < 270; ++i) r.devices.push_back(makeDevice(i, rng));
  std::sort(r.devices.begin(), r.devices.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  store.audit(r);
  check("incremental audit");
  // Full: 1,200 others (more than four times what is stored): every row is
  // deleted and written again, and the rowids start over with other devices.
  analyze::AuditResult big = fleet(1200, 9);
  for (std::uint32_t i = 1; i < big.devices.size(); i += 3) big.devices[i].vendor = "Changed";
  store.audit(big);
  check("full rewrite");
}

TEST_CASE("the export leaves out rows the database cannot give, counts them, and stays one sound document") {
  Store store;
  store.audit(fleet(40, 11));
  sqlite3* db = store.db.handle();
  std::string exists;
  {
    Stmt s(db, "SELECT id FROM devices WHERE vendor = 'Cisco' ORDER BY id LIMIT 2");
    REQUIRE(s.step());
    exists = s.text(0);
    REQUIRE(s.step());
    execSql(db, ("UPDATE device_docs SET report = '{\"id\": 1' WHERE id = '" + exists + "';"
                 "UPDATE device_docs SET report = '\"text\"' WHERE id = '" + s.text(0) + "'")
                    .c_str());
  }
  DeviceFilter f;
  f.vendor = "Cisco";
  std::size_t cisco = 0;
  {
    Stmt c(db, "SELECT count(*) FROM devices WHERE vendor = 'Cisco'");
    REQUIRE(c.step());
    cisco = static_cast<std::size_t>(c.int64(0));
  }
  for (const ReportFormat format : {ReportFormat::Json, ReportFormat::Csv, ReportFormat::Html}) {
    const auto stream = openReportStream(db, format, f, "2026-11-27T00:00:00Z");
    std::string out;
    while (stream->fill(out, 1 << 10)) {
    }
    INFO("format " << static_cast<int>(format));
    CHECK(stream->damage().rows == 2);
    CHECK(stream->damage().first == exists);
    if (format == ReportFormat::Json) {
      boost::system::error_code ec;
      const json::value v = json::parse(out, ec);
      REQUIRE(!ec);
      CHECK(v.at("devices").as_array().size() == cisco - 2);
    } else if (format == ReportFormat::Csv) {
      CHECK(static_cast<std::size_t>(std::count(out.begin(), out.end(), '\n')) == 1 + cisco - 2);
    } else {
      CHECK(out.find("<b>Incomplete:</b> 2 rows") != std::string::npos);
    }
  }
}
