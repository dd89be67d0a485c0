// End-to-end tier (house-style §12c): the real binary replays real captures
// from samples/ and its report is compared with hand-written expected tables.
#include <catch2/catch.hpp>
#include <pcap/pcap.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include "e2e_util.h"

namespace json = boost::json;

namespace {

// The kernel's transparent-huge-page mode ("always", "madvise", "never"; ""
// when unknown), read as provaudit reads it (huge_page_heap.cc).
std::string kernelThpMode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  const std::size_t open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return line.substr(open + 1, close - open - 1);
}

std::string str(const json::value& v) { return v.is_string() ? std::string(v.as_string()) : std::string(); }

std::string field(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  return v == nullptr ? std::string() : str(*v);
}

std::set<std::string> strSet(const json::value* v, const char* member = nullptr) {
  std::set<std::string> out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    if (member != nullptr && e.is_object()) out.insert(field(e.as_object(), member));
    else out.insert(str(e));
  }
  return out;
}

std::string show(const std::set<std::string>& s) {
  std::string out = "[";
  for (const auto& x : s) out += (out.size() > 1 ? ", " : "") + x;
  return out + "]";
}

// Finds the report's device for an expected one: by MAC, else by its first IP.
const json::object* findDevice(const json::array& devices, const json::object& want) {
  const std::string mac = field(want, "mac");
  for (const auto& d : devices) {
    const auto& o = d.as_object();
    if (!mac.empty()) {
      if (field(o, "mac") == mac) return &o;
      continue;
    }
    const auto want_ips = strSet(want.if_contains("ips"));
    const auto ips = strSet(o.if_contains("ips"));
    if (!want_ips.empty() && ips.count(*want_ips.begin()) != 0) return &o;
  }
  return nullptr;
}

void compareDevice(const json::object& want, const json::object& got, const char* findings_key) {
  const std::string who = field(want, "mac").empty() ? show(strSet(want.if_contains("ips"))) : field(want, "mac");
  INFO("device " << who << ": " << json::serialize(got));
  for (const char* k : {"identity", "identity_reason", "vendor", "model", "serial", "firmware"}) {
    if (const auto* w = want.if_contains(k)) {
      INFO("field " << k);
      if (w->is_null()) CHECK(got.at(k).is_null());
      else CHECK(field(got, k) == str(*w));
    }
  }
  if (const auto* w = want.if_contains("ips")) CHECK(show(strSet(w)) == show(strSet(got.if_contains("ips"))));
  if (const auto* w = want.if_contains("user_agents")) {
    CHECK(show(strSet(w)) == show(strSet(got.if_contains("user_agents"))));
  }
  if (const auto* w = want.if_contains(findings_key)) {
    CHECK(show(strSet(w)) == show(strSet(got.if_contains("findings"), "code")));
  }
  if (const auto* w = want.if_contains("cert")) {
    const json::value& c = got.at("cert");
    if (w->is_null()) {
      CHECK(c.is_null());
    } else {
      REQUIRE(c.is_object());
      const auto& wc = w->as_object();
      const auto& gc = c.as_object();
      if (const auto* s = wc.if_contains("subject_contains")) {
        CHECK(field(gc, "subject").find(str(*s)) != std::string::npos);
      }
      for (const char* k : {"mac", "serial", "product", "chain"}) {
        if (const auto* v = wc.if_contains(k)) {
          INFO("cert field " << k);
          CHECK(field(gc, k) == str(*v));
        }
      }
    }
  }
}

void compareReport(const json::object& expected, const json::value& report, const char* findings_key) {
  const auto& devices = report.at("devices").as_array();
  const auto& want_devices = expected.at("devices").as_array();
  {
    INFO("report devices: " << json::serialize(devices));
    CHECK(devices.size() == want_devices.size());
  }
  for (const auto& w : want_devices) {
    const auto& want = w.as_object();
    const json::object* got = findDevice(devices, want);
    INFO("expected device " << json::serialize(want));
    REQUIRE(got != nullptr);
    compareDevice(want, *got, want.if_contains(findings_key) != nullptr ? findings_key : "findings");
  }
  if (const auto* ws = expected.if_contains("servers")) {
    const auto& servers = report.at("servers").as_array();
    for (const auto& w : ws->as_array()) {
      const auto& want = w.as_object();
      bool found = false;
      for (const auto& s : servers) {
        const auto& o = s.as_object();
        if (field(o, "ip") == field(want, "ip") && o.at("port") == want.at("port")) {
          found = true;
          INFO("server " << json::serialize(o));
          if (const auto* r = want.if_contains("requests_client_cert")) CHECK(o.at("requests_client_cert") == *r);
          if (const auto* f = want.if_contains("findings")) {
            CHECK(show(strSet(f)) == show(strSet(o.if_contains("findings"), "code")));
          }
        }
      }
      INFO("expected server " << json::serialize(want));
      CHECK(found);
    }
  }
}

std::string captureOf(const json::object& expected) { return field(expected, "capture"); }

// Every capture the expected tables name, once each, sorted.
std::vector<std::string> sampleCaptures() {
  std::vector<std::string> files;
  for (const auto& path : e2e::expectedFiles()) files.push_back(e2e::samplePath(captureOf(e2e::readJson(path).as_object())));
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

// The first column of the first row of `sql` over `db`, read-only.
std::int64_t sqlScalar(const std::string& db, const char* sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const std::int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close_v2(h);
  return v;
}

// How often stderr names --max-sightings (its warning says it once).
std::size_t limitWarnings(const std::string& err) {
  std::size_t n = 0;
  for (std::size_t at = err.find("--max-sightings"); at != std::string::npos; at = err.find("--max-sightings", at + 1)) {
    ++n;
  }
  return n;
}

// `provaudit report --format json` over `db`, parsed.
json::value reportJson(const std::string& db) {
  const auto r = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
  REQUIRE(r.status == 0);
  return e2e::parseJson(r.out);
}

// A report's devices and servers, as one text to compare.
std::string reportText(const std::string& db) {
  const json::value v = reportJson(db);
  return json::serialize(v.at("devices")) + json::serialize(v.at("servers"));
}

constexpr const char* LEFT_OUT_SQL = "SELECT value FROM stats WHERE name = 'audit_sightings_left_out'";
constexpr const char* OVER_LIMIT_SQL =
    "SELECT coalesce(sum(count), 0) FROM source_anomalies WHERE name = 'audit_sightings_over_limit'";

// A replay of `files` under --max-sightings `limit` into a new `db`: it succeeds
// with one warning, stores all `sightings`, and counts every one past the
// limit both where the dashboard lists anomalies and as the value of the
// moment it shows (STAT_SIGHTINGS_LEFT_OUT, counted from the rowids).
void replayLimited(const std::string& db, std::int64_t limit, const std::vector<std::string>& files,
                   std::int64_t sightings) {
  std::vector<std::string> argv{PROVAUDIT_BIN, "replay", "-q", "--max-sightings", std::to_string(limit), "--db", db};
  argv.insert(argv.end(), files.begin(), files.end());
  const auto r = e2e::run(argv);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(limitWarnings(r.err) == 1);
  CHECK(sqlScalar(db, "SELECT count(*) FROM sightings") == sightings);
  CHECK(sqlScalar(db, OVER_LIMIT_SQL) == sightings - limit);
  CHECK(sqlScalar(db, LEFT_OUT_SQL) == sightings - limit);
}

}  // namespace

TEST_CASE("every sample's report matches its expected device table") {
  const auto files = e2e::expectedFiles();
  REQUIRE(!files.empty());
  for (const auto& path : files) {
    const json::value exp = e2e::readJson(path);
    const auto& expected = exp.as_object();
    DYNAMIC_SECTION(captureOf(expected)) {
      const json::value report = e2e::replayReport({e2e::samplePath(captureOf(expected))}, {}, "expect.db");
      compareReport(expected, report, "findings");
    }
  }
}

TEST_CASE("with the device CA bundle, chain verdicts and trust findings match") {
  for (const auto& path : e2e::expectedFiles()) {
    const json::value exp = e2e::readJson(path);
    const auto& expected = exp.as_object();
    const std::string ca = field(expected, "ca");
    if (ca.empty()) continue;
    DYNAMIC_SECTION(captureOf(expected) << " with --ca " << ca) {
      const json::value report =
          e2e::replayReport({e2e::samplePath(captureOf(expected))}, {"--ca", e2e::samplePath(ca)}, "expect-ca.db");
      compareReport(expected, report, "findings_with_ca");
    }
  }
}

TEST_CASE("replaying the same file twice doubles nothing") {
  const std::string db = e2e::tmpPath("twice.db");
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  for (int i = 0; i < 2; ++i) {
    REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, sample}).status == 0);
  }
  const auto twice = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
  const json::value once = e2e::replayReport({sample}, {}, "once.db");
  json::value t = e2e::parseJson(twice.out);
  CHECK(json::serialize(t.at("devices")) == json::serialize(once.at("devices")));
  CHECK(json::serialize(t.at("servers")) == json::serialize(once.at("servers")));
}

TEST_CASE("the replay's summary line counts in words: one of a thing in the singular") {
  // tls13.pcap: one connection, one handshake, one device with one finding (cert-hidden).
  const auto one = e2e::run({PROVAUDIT_BIN, "replay", "--db", e2e::tmpPath("summary1.db"), e2e::samplePath("tls13.pcap")});
  REQUIRE(one.status == 0);
  CHECK(std::regex_search(one.err, std::regex(R"(^provaudit: \d+ packets, 1 flow, 1 TLS handshake \(0 client certificates\), 0 HTTP )"
                                               R"(requests; 1 device \(individualized 0, generic 0, none 0, unknown 1\), 1 finding, 0 anomalies\n)",
                                               std::regex::multiline)));
  // spa_mixed_tls12.pcap: five of each (its expected table: 2 individualized, 2 generic, 1 none).
  const auto five = e2e::run({PROVAUDIT_BIN, "replay", "--db", e2e::tmpPath("summary5.db"), e2e::samplePath("spa_mixed_tls12.pcap")});
  REQUIRE(five.status == 0);
  CHECK(std::regex_search(five.err, std::regex(R"(^provaudit: \d+ packets, 5 flows, 5 TLS handshakes \(4 client certificates\), 0 HTTP )"
                                                R"(requests; 5 devices \(individualized 2, generic 2, none 1, unknown 0\), \d+ findings, 0 anomalies\n)",
                                                std::regex::multiline)));
}

namespace {

// `capture` cut by editcap into pieces of `packets` packets each (as tcpdump
// -C or dumpcap's ring buffer cut a long capture), in a fresh directory;
// their paths in the order of the cut.
std::vector<std::string> cutInPieces(const std::string& capture, int packets, const std::string& dir_name) {
  const std::filesystem::path dir = e2e::tmpPath(dir_name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto r = e2e::run({"editcap", "-c", std::to_string(packets), capture, (dir / "piece.pcap").string()});
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::vector<std::string> pieces;
  for (const auto& e : std::filesystem::directory_iterator(dir)) pieces.push_back(e.path().string());
  std::sort(pieces.begin(), pieces.end());  // piece_00000_..., piece_00001_...
  return pieces;
}

// A replay of `files` (after `extra` options) into a fresh `db`; its stderr.
std::string replayInto(const std::string& db, const std::vector<std::string>& files,
                       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{PROVAUDIT_BIN, "replay", "--db", db};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), files.begin(), files.end());
  const auto r = e2e::run(argv);
  INFO(r.err);
  REQUIRE(r.status == 0);
  return r.err;
}

}  // namespace

TEST_CASE("a capture cut into pieces reports as the whole capture, whatever order the pieces are given in") {
  // Connections in progress at every cut carry on into the next piece; the
  // pieces are given last first (a glob lists cap1 cap10 cap2).
  REQUIRE(e2e::haveTool("editcap"));
  for (const auto& sample : sampleCaptures()) {
    DYNAMIC_SECTION(sample) {
      auto pieces = cutInPieces(sample, 3, "pieces");
      REQUIRE(pieces.size() > 2);
      std::reverse(pieces.begin(), pieces.end());
      const std::string whole = e2e::tmpPath("whole.db"), cut = e2e::tmpPath("cut.db");
      replayInto(whole, {sample});
      replayInto(cut, pieces);
      CHECK(reportText(cut) == reportText(whole));
    }
  }
  SECTION("decrypted with a key log: TLS 1.3 and a renegotiation, two packets a piece") {
    for (const std::string name : {"tls13", "renegotiation"}) {
      const std::string sample = e2e::samplePath(name + ".pcap");
      const std::vector<std::string> keys{"--keylog", e2e::samplePath(name + ".keylog")};
      auto pieces = cutInPieces(sample, 2, "pieces-" + name);
      std::reverse(pieces.begin(), pieces.end());
      const std::string whole = e2e::tmpPath("whole-" + name + ".db"), cut = e2e::tmpPath("cut-" + name + ".db");
      replayInto(whole, {sample}, keys);
      replayInto(cut, pieces, keys);
      INFO(name);
      CHECK(reportText(cut) == reportText(whole));
      // Its certificate, which only the keys show, was seen across the cuts.
      const json::value report = reportJson(cut);
      REQUIRE(report.at("devices").as_array().size() == 1);
      CHECK(report.at("devices").at(0).at("identity") == "individualized");
    }
  }
}

TEST_CASE("a directory of rotated captures, a subdirectory a day, reads as the whole capture; other files named, left out") {
  REQUIRE(e2e::haveTool("editcap"));
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const auto pieces = cutInPieces(sample, 40, "dir-pieces");
  REQUIRE(pieces.size() == 5);
  const std::filesystem::path dir = e2e::tmpPath("capture-dir");
  std::filesystem::remove_all(dir);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const std::filesystem::path day = dir / (i < 2 ? "day1" : "day2");
    std::filesystem::create_directories(day);
    std::filesystem::copy_file(pieces[i], day / std::filesystem::path(pieces[i]).filename());
  }
  std::filesystem::copy_file(e2e::samplePath("tls13.keylog"), dir / "tls13.keylog");
  std::filesystem::copy_file(e2e::samplePath("README.md"), dir / "README.md");
  std::filesystem::copy_file(e2e::samplePath("tls13.pcap"), dir / ".partial.pcap");  // hidden: not read
  const std::string whole = e2e::tmpPath("dir-whole.db"), db = e2e::tmpPath("dir.db");
  replayInto(whole, {sample});
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "--db", db, dir.string()});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.rfind("provaudit: " + dir.string() + ": left out, not captures: README.md, tls13.keylog\n", 0) == 0);
  CHECK(reportText(db) == reportText(whole));
  CHECK(sqlScalar(db, "SELECT count(*) FROM sources") == 5);
  CHECK(sqlScalar(db, "SELECT sum(packets) FROM sources") == 163);
  // With -q the note is not said; a directory with no capture is an error, as a missing file is.
  const auto quiet = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", e2e::tmpPath("dir-q.db"), dir.string()});
  CHECK(quiet.status == 0);
  CHECK(quiet.err.empty());
  std::filesystem::create_directories(dir / "day3");
  const auto none = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", e2e::tmpPath("dir-none.db"), (dir / "day3").string()});
  CHECK(none.status == 1);
  CHECK(none.err == "provaudit: error: " + (dir / "day3").string() +
                        ": a directory without a capture file in it (pcap, pcapng, gzip or zstd)\n");
}

TEST_CASE("a piece that starts long after the last one ended is a capture of its own: its flows do not carry over") {
  // spa_mixed_tls12.pcap cut after 82 packets, inside the third device's
  // handshake, and the second half moved later: by 10 s it still continues
  // the first (5 connections, as the whole: 2 individualized, 2 generic,
  // 1 none); by an hour, past the flows' idle timeout, it starts mid-stream
  // (a 6th flow), read as a handshake whose start was not captured: that
  // device's certificate, sent after the cut, is still seen.
  REQUIRE(e2e::haveTool("editcap"));
  const auto halves = cutInPieces(e2e::samplePath("spa_mixed_tls12.pcap"), 82, "halves");
  REQUIRE(halves.size() == 2);
  const auto replayShifted = [&](int seconds) {
    const std::string later = e2e::tmpPath("later-" + std::to_string(seconds) + ".pcap");
    REQUIRE(e2e::run({"editcap", "-t", std::to_string(seconds), halves[1], later}).status == 0);
    return replayInto(e2e::tmpPath("shifted-" + std::to_string(seconds) + ".db"), {later, halves[0]});
  };
  const std::string soon = replayShifted(10);
  INFO(soon);
  CHECK(std::regex_search(soon, std::regex(R"(, 5 flows, 5 TLS handshakes \(4 client certificates\), 0 HTTP requests; )"
                                           R"(5 devices \(individualized 2, generic 2, none 1, unknown 0\))")));
  const std::string late = replayShifted(3600);
  INFO(late);
  CHECK(std::regex_search(
      late, std::regex(R"(, 6 flows, 6 TLS handshakes \(4 client certificates\), 0 HTTP requests; )"
                       R"(5 devices \(individualized 2, generic 2, none 1, unknown 0\), \d+ findings, 1 anomaly\n)")));
}

TEST_CASE("a tap's two directions captured apart, whole or cut in pieces, are read merged: the whole capture's report") {
  // spa_mixed_tls12.pcap split by tshark into what the server sent and what
  // the clients sent, as a tap's two ports would have captured it. Read apart,
  // the server's half (its version, certificate, certificate request) was lost.
  REQUIRE(e2e::haveTool("tshark"));
  REQUIRE(e2e::haveTool("editcap"));
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const std::string server = e2e::tmpPath("tap-server.pcap"), clients = e2e::tmpPath("tap-clients.pcap");
  REQUIRE(e2e::run({"tshark", "-r", sample, "-Y", "ip.src == 10.77.0.2", "-w", server}).status == 0);
  REQUIRE(e2e::run({"tshark", "-r", sample, "-Y", "!(ip.src == 10.77.0.2)", "-w", clients}).status == 0);
  const std::string whole = e2e::tmpPath("tap-whole.db");
  replayInto(whole, {sample});
  SECTION("two files") {
    const std::string db = e2e::tmpPath("tap.db");
    const std::string err = replayInto(db, {server, clients});
    CHECK(reportText(db) == reportText(whole));
    CHECK(std::regex_search(err, std::regex(R"(\d+ packets, 5 flows, 5 TLS handshakes \(4 client certificates\))")));
    // Each file keeps its own record (its packets), together the whole capture's.
    CHECK(sqlScalar(db, "SELECT count(*) FROM sources") == 2);
    CHECK(sqlScalar(db, "SELECT sum(packets) FROM sources") == 163);
    CHECK(sqlScalar(db, "SELECT min(packets) FROM sources") > 0);
  }
  SECTION("each direction cut in pieces, all given in one shuffled list") {
    std::vector<std::string> pieces = cutInPieces(server, 4, "tap-server-pieces");
    for (const auto& p : cutInPieces(clients, 5, "tap-client-pieces")) pieces.push_back(p);
    std::shuffle(pieces.begin(), pieces.end(), std::mt19937(19));
    const std::string db = e2e::tmpPath("tap-pieces.db");
    replayInto(db, pieces);
    CHECK(reportText(db) == reportText(whole));
    CHECK(sqlScalar(db, "SELECT sum(packets) FROM sources") == 163);
  }
}

TEST_CASE("past the files that may be read merged at once, the rest wait their turn: every packet read, said once") {
  // Eighteen copies of tls13.pcap, each 0.1 ms later than the last: all
  // overlap in time, two more than capture::MAX_MERGED_FILES (16).
  REQUIRE(e2e::haveTool("editcap"));
  std::vector<std::string> copies;
  for (int i = 0; i < 18; ++i) {
    copies.push_back(e2e::tmpPath("copy" + std::to_string(i) + ".pcap"));
    char shift[16];
    std::snprintf(shift, sizeof shift, "0.%04d", i);
    REQUIRE(e2e::run({"editcap", "-t", shift, e2e::samplePath("tls13.pcap"), copies.back()}).status == 0);
  }
  const std::string db = e2e::tmpPath("copies.db");
  const std::string err = replayInto(db, copies, {"-q"});
  CHECK(err == "provaudit: warning: more than 16 files overlap in time: " + copies[16] +
                   " and those after it are read as the others end, their packets out of time order\n");
  CHECK(sqlScalar(db, "SELECT count(*) FROM sources") == 18);
  CHECK(sqlScalar(db, "SELECT sum(packets) FROM sources") == 18 * 26);
  const json::value report = reportJson(db);
  REQUIRE(report.at("devices").as_array().size() == 1);  // the same device, whichever copy showed it
  CHECK(report.at("devices").at(0).at("identity_reason") == "tls13");
}

TEST_CASE("a capture cut short by its snap length still shows its devices, unknown for the gap, and says so") {
  // spa_mixed_tls12.pcap through editcap -s 120 (as tcpdump -s 120 would
  // have captured it): no ClientHello is read whole, and the five devices
  // were missing from the report, with only an anomaly count to say why.
  REQUIRE(e2e::haveTool("editcap"));
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const std::string cut = e2e::tmpPath("snap120.pcap");
  REQUIRE(e2e::run({"editcap", "-s", "120", sample, cut}).status == 0);
  const std::string db = e2e::tmpPath("snap120.db");
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, cut});
  INFO(r.err);
  REQUIRE(r.status == 0);
  // One warning, even with -q.
  CHECK(r.err.rfind("provaudit: warning: " + cut + ": ", 0) == 0);
  CHECK(r.err.find(" packets were cut short by the capture's snap length: ") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  const json::value whole = e2e::replayReport({sample}, {}, "snap-whole.db");
  const json::value report = reportJson(db);
  const auto& devices = report.at("devices").as_array();
  REQUIRE(devices.size() == whole.at("devices").as_array().size());
  for (std::size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i].as_object();
    const auto& w = whole.at("devices").at(i).as_object();
    INFO(json::serialize(d));
    CHECK(d.at("mac") == w.at("mac"));
    CHECK(d.at("ips") == w.at("ips"));
    CHECK(d.at("identity") == "unknown");
    CHECK(d.at("identity_reason") == "handshake-gap");
    CHECK(d.at("cert").is_null());
    CHECK(d.at("tls").at("ja4").as_array().empty());  // nothing of the ClientHello is made up
  }
}

TEST_CASE("a device's sightings are linked with their own times (the device page reads them in that order)") {
  const std::string db = e2e::tmpPath("linked_times.db");
  std::vector<std::string> argv = {PROVAUDIT_BIN, "replay", "-q", "--db", db};
  for (const auto& f : sampleCaptures()) argv.push_back(f);
  REQUIRE(e2e::run(argv).status == 0);
  CHECK(sqlScalar(db, "SELECT count(*) FROM device_sightings") >= sqlScalar(db, "SELECT count(*) FROM devices"));
  CHECK(sqlScalar(db, "SELECT count(*) FROM device_sightings d JOIN sightings s ON s.key = d.sighting_key "
                      "WHERE d.ts_ns = s.ts_ns") == sqlScalar(db, "SELECT count(*) FROM device_sightings"));
}

TEST_CASE("a replay alone with its database ends through a rollback journal, and leaves it in WAL") {
  const std::string db = e2e::tmpPath("direct.db");
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const auto alone = e2e::run({PROVAUDIT_BIN, "replay", "-vv", "--db", db, sample});
  REQUIRE(alone.status == 0);
  INFO(alone.err);
  CHECK(alone.err.find("commit") != std::string::npos);
  CHECK(alone.err.find("(rollback journal)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(db + "-journal"));
  const auto mode = [&](sqlite3* h) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    std::string m = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return m;
  };
  // A reader (a dashboard, idle between its queries) holds the database open:
  // the next replay's last audit stays in WAL, and the reader sees it.
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  CHECK(mode(h) == "wal");
  const auto shared = e2e::run({PROVAUDIT_BIN, "replay", "-vv", "--db", db, e2e::samplePath("ipv6.pcap")});
  INFO(shared.err);
  CHECK(shared.status == 0);
  CHECK(shared.err.find("commit") != std::string::npos);
  CHECK(shared.err.find("(rollback journal)") == std::string::npos);
  CHECK(mode(h) == "wal");
  sqlite3_close_v2(h);
  // Both runs' devices are there, as after any two replays.
  const auto report = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
  REQUIRE(report.status == 0);
  const json::value both = e2e::replayReport({sample, e2e::samplePath("ipv6.pcap")}, {}, "direct-both.db");
  CHECK(json::serialize(e2e::parseJson(report.out).at("devices")) == json::serialize(both.at("devices")));
}

// With jemalloc (PROVAUDIT_JEMALLOC), its built-in thp:always and MALLOC_CONF
// to opt out; without it, glibc's tunable through a restart (huge_page_heap.h).
TEST_CASE("a replay's heap gets transparent huge pages where the kernel offers them, unless the environment says") {
  const std::string mode = kernelThpMode();
  const auto heapLine = [](const std::string& err) {
    const std::size_t at = err.find("provaudit: heap: ");
    return at == std::string::npos ? std::string() : err.substr(at, err.find('\n', at) - at);
  };
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const json::value expected = e2e::replayReport({sample}, {}, "heap-expected.db");
#if defined(__SANITIZE_ADDRESS__)
  const std::string plain = "provaudit: heap: the address sanitizer's allocator", opted_out = plain;
  const std::vector<std::string> opt_out = {"env", "GLIBC_TUNABLES=glibc.malloc.hugetlb=0"};
#elif defined(PROVAUDIT_JEMALLOC)
  const std::string plain = mode == "always" || mode == "madvise"
                                ? "provaudit: heap: jemalloc, transparent huge pages (thp:always)"
                                : "provaudit: heap: jemalloc, base pages (the kernel's transparent huge pages are " +
                                      (mode.empty() ? std::string("unknown") : mode) + ")";
  const std::string opted_out = "provaudit: heap: jemalloc, thp:never (MALLOC_CONF)";
  const std::vector<std::string> opt_out = {"env", "MALLOC_CONF=thp:never"};
#else
  const std::vector<std::string> opt_out = {"env", "GLIBC_TUNABLES=glibc.malloc.hugetlb=0"};
  const std::string plain = mode == "always" || mode == "madvise"
                                ? "provaudit: heap: transparent huge pages (glibc.malloc.hugetlb=1)"
                                : "provaudit: heap: base pages (the kernel's transparent huge pages are " +
                                      (mode.empty() ? std::string("unknown") : mode) + ")";
  const std::string opted_out = "provaudit: heap: as GLIBC_TUNABLES says (glibc.malloc.hugetlb=0)";
#endif
  struct Case {
    const char* name;
    std::vector<std::string> env;
    std::string input;  // a file argument, or "-" with the sample on stdin
    std::string heap;
  };
  const std::vector<Case> cases = {
      {"default", {"env", "-u", "GLIBC_TUNABLES"}, sample, plain},
      {"stdin, through the restart", {"env", "-u", "GLIBC_TUNABLES"}, "-", plain},
      {"opted out", opt_out, sample, opted_out},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const std::string db = e2e::tmpPath("heap.db");
    std::vector<std::string> argv = c.env;
    for (const std::string& a : {std::string(PROVAUDIT_BIN), std::string("replay"), std::string("-vv"),
                                 std::string("--db"), db, c.input}) {
      argv.push_back(a);
    }
    const auto r = e2e::run(argv, c.input == "-" ? sample : "");
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(heapLine(r.err) == c.heap);
    const auto report = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
    CHECK(json::serialize(e2e::parseJson(report.out).at("devices")) == json::serialize(expected.at("devices")));
  }
}

TEST_CASE("a restarted replay keeps its name: ps, pgrep and pkill find provaudit, and its threads have their own") {
  // The replay waits on stdin (a pipe held open here) while /proc is read.
  const std::string db = e2e::tmpPath("name.db");
  int in[2];
  REQUIRE(::pipe(in) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::close(in[0]);
    ::close(in[1]);
    ::unsetenv("GLIBC_TUNABLES");
    ::execl(PROVAUDIT_BIN, PROVAUDIT_BIN, "replay", "-q", "--db", db.c_str(), "-", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  const auto slurp = [&](const char* what) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/" + what, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  // Where the replay restarts itself (huge_page_heap.h), wait for the
  // restarted process (its environment names the tunable), then for it to
  // leave the kernel's name for it ("exe"); up to 5 s each.
  const std::string mode = kernelThpMode();
#if defined(__SANITIZE_ADDRESS__) || defined(PROVAUDIT_JEMALLOC)
  const bool restarts = false;  // the sanitizer's heap, or jemalloc's options read in place
#else
  const bool restarts = mode == "always" || mode == "madvise";
#endif
  const auto waitFor = [](const std::function<bool()>& done) {
    for (int i = 0; i < 500 && !done(); ++i) ::usleep(10000);
    return done();
  };
  // First the child's exec of provaudit (until then it is this test's copy).
  REQUIRE(waitFor([&] { return slurp("cmdline").find(std::string("replay") + '\0') != std::string::npos; }));
  if (restarts) {
    REQUIRE(waitFor([&] { return slurp("environ").find("glibc.malloc.hugetlb=1") != std::string::npos; }));
  }
  std::string comm;
  waitFor([&] { return (comm = slurp("comm")) != "exe\n"; });
  INFO("restarted: " << restarts);
  CHECK(comm == "provaudit\n");
  // Its threads have names of their own, for top -H and perf.
  const auto threadNames = [&] {
    std::multiset<std::string> names;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      std::ifstream f(task.path() / "comm");
      std::string name;
      if (std::getline(f, name)) names.insert(name);
    }
    return names;
  };
  std::multiset<std::string> names;
  waitFor([&] { return (names = threadNames()).count("pa-writer") > 0; });
  INFO("threads: " << [&] { std::string all; for (const auto& n : names) all += n + " "; return all; }());
  CHECK(names.count("provaudit") == 1);  // the reader, the process's own thread
  CHECK(names.count("pa-writer") == 1);
  CHECK(names.count("pa-writeback") == 1);
  // Then the capture, and the end of input: the replay finishes.
  std::ifstream sample(e2e::samplePath("spa_mixed_tls12.pcap"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(sample)), {});
  REQUIRE(::write(in[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(in[1]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const auto report = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
  CHECK(e2e::parseJson(report.out).at("devices").as_array().size() ==
        e2e::replayReport({e2e::samplePath("spa_mixed_tls12.pcap")}, {}, "name-expected.db").at("devices").as_array().size());
}

TEST_CASE("evidence kept in memory audits like the same evidence read back from the database") {
  // The replay that writes a sighting keeps it as evidence as it is; a later
  // process reads it back from the sightings table. Both must derive the same
  // devices, for every kind of sample at once (TLS 1.0-1.3, resumption,
  // renegotiation, HTTP, IPv6).
  const std::vector<std::string> files = sampleCaptures();
  REQUIRE(files.size() >= 8);
  const std::string db = e2e::tmpPath("memory-vs-stored.db");
  std::vector<std::string> argv{PROVAUDIT_BIN, "replay", "-q", "--db", db};
  argv.insert(argv.end(), files.begin(), files.end());
  REQUIRE(e2e::run(argv).status == 0);
  const auto first = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
  REQUIRE(first.status == 0);
  // Nothing new in the second run: its audit reads all its evidence back.
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, files.front()}).status == 0);
  const auto second = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
  REQUIRE(second.status == 0);
  const json::value a = e2e::parseJson(first.out), b = e2e::parseJson(second.out);
  REQUIRE(a.at("devices").as_array().size() >= 10);
  CHECK(json::serialize(a.at("devices")) == json::serialize(b.at("devices")));
  CHECK(json::serialize(a.at("servers")) == json::serialize(b.at("servers")));
}

TEST_CASE("past --max-sightings the sightings are stored, the audit keeps to what it holds and says so once") {
  const std::vector<std::string> files = sampleCaptures();
  // Without a limit (the default is far above these samples): the full audit.
  const std::string full_db = e2e::tmpPath("limit-full.db");
  std::vector<std::string> argv{PROVAUDIT_BIN, "replay", "-q", "--db", full_db};
  argv.insert(argv.end(), files.begin(), files.end());
  const auto full = e2e::run(argv);
  REQUIRE(full.status == 0);
  CHECK(limitWarnings(full.err) == 0);
  const std::int64_t sightings = sqlScalar(full_db, "SELECT count(*) FROM sightings");
  const std::int64_t devices = sqlScalar(full_db, "SELECT count(*) FROM devices");
  REQUIRE(sightings > 20);

  // Limited to 5: every sighting stored, devices from the five the audit holds (the first four, then one that
  // brings something new: these samples' sightings mostly do), one warning.
  const std::string db = e2e::tmpPath("limit.db");
  replayLimited(db, 5, files, sightings);
  // The left-out count is taken from the rowids: they run from 1 without gaps.
  CHECK(sqlScalar(db, "SELECT max(rowid) FROM sightings") == sightings);
  CHECK(sqlScalar(full_db, LEFT_OUT_SQL) == 0);
  const std::int64_t first_devices = sqlScalar(db, "SELECT count(*) FROM devices");
  CHECK(first_devices >= 1);
  CHECK(first_devices <= 5);
  CHECK(first_devices < devices);
  const std::string first = reportText(db);
  // A report from the partial audit is written whole, and says once on stderr that it is partial;
  // the HTML report says it first.
  const auto partialNotice = [](const std::string& database) {
    const auto csv = e2e::run({PROVAUDIT_BIN, "report", "--db", database, "--format", "csv"});
    REQUIRE(csv.status == 0);
    const auto html = e2e::run({PROVAUDIT_BIN, "report", "--db", database, "--format", "html"});
    REQUIRE(html.status == 0);
    const bool said = csv.err.find("not audited (--max-sightings)") != std::string::npos;
    CHECK(std::count(csv.err.begin(), csv.err.end(), '\n') == (said ? 1 : 0));
    CHECK((html.out.find("data-notice=\"audit-limit\"") != std::string::npos) == said);
    return said ? csv.err : std::string();
  };
  CHECK(partialNotice(db).find(": " + std::to_string(sightings - 5) + " sightings are stored but not audited") !=
        std::string::npos);
  CHECK(partialNotice(full_db).empty());

  // A restart with the same limit reads back the same five: the same devices, the same warning.
  const auto again = e2e::run({PROVAUDIT_BIN, "replay", "-v", "--max-sightings", "5", "--db", db, files.front()});
  INFO(again.err);
  REQUIRE(again.status == 0);
  CHECK(limitWarnings(again.err) == 1);
  CHECK(again.err.find("audit_sightings_over_limit: " + std::to_string(sightings - 5)) != std::string::npos);
  CHECK(reportText(db) == first);
  // The restart counts them again in its source's anomalies; the value of the moment stays.
  CHECK(sqlScalar(db, OVER_LIMIT_SQL) > sightings - 5);
  CHECK(sqlScalar(db, LEFT_OUT_SQL) == sightings - 5);

  // Without the limit, the next run audits everything that was stored.
  const auto unlimited = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--max-sightings", "0", "--db", db, files.front()});
  REQUIRE(unlimited.status == 0);
  CHECK(limitWarnings(unlimited.err) == 0);
  CHECK(reportText(db) == reportText(full_db));
  CHECK(sqlScalar(db, LEFT_OUT_SQL) == 0);
  CHECK(partialNotice(db).empty());

  // A limit that is not a whole number is a usage error, one line.
  for (const char* bad : {"-1", "many", "2.5"}) {
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "--max-sightings", bad, "--db", db, files.front()});
    CHECK(r.status == 1);
    CHECK(r.err.find("--max-sightings") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

namespace {

struct Packet {
  pcap_pkthdr hdr;
  std::vector<unsigned char> data;
};

std::vector<Packet> readAll(const std::string& path, int& linktype) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  REQUIRE(p != nullptr);
  linktype = pcap_datalink(p);
  std::vector<Packet> out;
  pcap_pkthdr* h = nullptr;
  const u_char* d = nullptr;
  while (pcap_next_ex(p, &h, &d) == 1) out.push_back({*h, std::vector<unsigned char>(d, d + h->caplen)});
  pcap_close(p);
  return out;
}

void writeAll(const std::string& path, int linktype, const std::vector<Packet>& pkts) {
  pcap_t* dead = pcap_open_dead(linktype, 262144);
  pcap_dumper_t* dump = pcap_dump_open(dead, path.c_str());
  REQUIRE(dump != nullptr);
  for (const auto& p : pkts) pcap_dump(reinterpret_cast<u_char*>(dump), &p.hdr, p.data.data());
  pcap_dump_close(dump);
  pcap_close(dead);
}

}  // namespace

TEST_CASE("reordered and duplicated segments give the same devices") {
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  int linktype = 0;
  auto pkts = readAll(sample, linktype);
  REQUIRE(pkts.size() > 20);
  // Swap neighbours in windows of 3 and send every 5th packet twice: out-of-order
  // segments, retransmissions and duplicates, with timestamps left as captured.
  std::mt19937 rng(7);
  std::vector<Packet> mangled;
  for (std::size_t i = 0; i < pkts.size(); i += 3) {
    std::vector<Packet> window(pkts.begin() + static_cast<long>(i),
                               pkts.begin() + static_cast<long>(std::min(i + 3, pkts.size())));
    std::shuffle(window.begin(), window.end(), rng);
    for (auto& p : window) {
      mangled.push_back(p);
      if (rng() % 5 == 0) mangled.push_back(p);
    }
  }
  const std::string out = e2e::tmpPath("mangled.pcap");
  writeAll(out, linktype, mangled);
  const json::value a = e2e::replayReport({sample}, {}, "orig.db");
  const json::value b = e2e::replayReport({out}, {}, "mangled.db");
  const auto& da = a.at("devices").as_array();
  const auto& db = b.at("devices").as_array();
  REQUIRE(da.size() == db.size());
  for (std::size_t i = 0; i < da.size(); ++i) {
    const auto& x = da[i].as_object();
    const auto& y = db[i].as_object();
    CHECK(field(x, "id") == field(y, "id"));
    CHECK(field(x, "identity") == field(y, "identity"));
    CHECK(json::serialize(x.at("cert")) == json::serialize(y.at("cert")));
    CHECK(show(strSet(x.if_contains("findings"), "code")) == show(strSet(y.if_contains("findings"), "code")));
  }
}

TEST_CASE("past four fifths of --max-sightings the audit takes only what is new, and never more than the limit") {
  int linktype = 0, spa_linktype = 0;
  const auto phone = readAll(e2e::samplePath("tls12_rsa.pcap"), linktype);  // one phone, one handshake
  const auto fleet = readAll(e2e::samplePath("spa_mixed_tls12.pcap"), spa_linktype);  // five phones
  REQUIRE(linktype == spa_linktype);
  REQUIRE(!phone.empty());
  REQUIRE(!fleet.empty());
  constexpr long HOUR = 3600;
  std::vector<Packet> capture;
  // `pkts` moved `hours` after the phone's first packet, with its client's MAC replaced when `mac` is given.
  const auto add = [&](const std::vector<Packet>& pkts, long hours, const std::optional<std::array<unsigned char, 6>>& mac) {
    const long shift = phone.front().hdr.ts.tv_sec + hours * HOUR - pkts.front().hdr.ts.tv_sec;
    const std::array<unsigned char, 6> phone_mac{0x88, 0x43, 0xe1, 0x05, 0x04, 0x05};  // tls12_rsa's client
    for (Packet p : pkts) {
      p.hdr.ts.tv_sec += shift;
      for (std::size_t at : {std::size_t{0}, std::size_t{6}}) {  // Ethernet destination, source
        if (mac && p.data.size() >= at + 6 && std::equal(phone_mac.begin(), phone_mac.end(), p.data.begin() + at)) {
          std::copy(mac->begin(), mac->end(), p.data.begin() + at);
        }
      }
      capture.push_back(std::move(p));
    }
  };
  // The phone fetches hourly for 30 hours; then five phones come that were never seen; then the first again;
  // then ten clients never seen (the phone's handshake from ten other MACs).
  for (long h = 0; h < 30; ++h) add(phone, h, std::nullopt);
  add(fleet, 30, std::nullopt);
  add(phone, 31, std::nullopt);
  for (unsigned char k = 1; k <= 10; ++k) add(phone, 31 + k, std::array<unsigned char, 6>{0x02, 0, 0, 0, 0x77, k});
  const std::string file = e2e::tmpPath("novel.pcap");
  writeAll(file, linktype, capture);

  const std::string full_db = e2e::tmpPath("novel-full.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--max-sightings", "0", "--db", full_db, file}).status == 0);
  const std::int64_t sightings = sqlScalar(full_db, "SELECT count(*) FROM sightings");
  REQUIRE(sightings == 30 + 5 + 1 + 10);
  REQUIRE(sqlScalar(full_db, "SELECT count(*) FROM devices") == 1 + 5 + 10);

  // 30: the first 24 as they come (the phone's first 24 hours), then only what is new, up to 30:
  // the phone's next six hours and its return are repeats; the five phones are new, and so is the
  // first of the ten clients, which fills the evidence; the other nine are left out.
  const std::string db = e2e::tmpPath("novel.db");
  replayLimited(db, 30, {file}, sightings);
  CHECK(sqlScalar(db, "SELECT value FROM stats WHERE name = 'audit_max_sightings'") == 30);
  const auto deviceMap = [](const std::string& database) {
    const json::value report = reportJson(database);
    std::map<std::string, json::object> devices;
    for (const auto& d : report.at("devices").as_array()) devices[field(d.as_object(), "id")] = d.as_object();
    return devices;
  };
  const auto full = deviceMap(full_db);
  const auto held = deviceMap(db);
  std::int64_t sessions = 0;
  for (const auto& [id, d] : held) sessions += d.at("sessions").as_int64();
  CHECK(sessions == 30);  // the evidence: exactly the limit
  std::set<std::string> ids;
  for (const auto& [id, d] : held) ids.insert(id);
  CHECK(show(ids) == show(std::set<std::string>{"mac:00:0e:08:12:34:56", "mac:00:0e:08:65:43:21", "mac:00:0e:08:ab:cd:ef",
                                                "mac:00:56:2b:04:36:15", "mac:02:00:00:00:77:01", "mac:88:43:e1:00:00:01",
                                                "mac:88:43:e1:05:04:05"}));
  // The phones first seen past the limit are audited as without it.
  for (const char* id : {"mac:00:0e:08:12:34:56", "mac:00:0e:08:65:43:21", "mac:00:0e:08:ab:cd:ef", "mac:00:56:2b:04:36:15",
                         "mac:88:43:e1:00:00:01", "mac:02:00:00:00:77:01"}) {
    INFO(id);
    REQUIRE(full.count(id) == 1);
    REQUIRE(held.count(id) == 1);
    CHECK(field(held.at(id), "identity") == field(full.at(id), "identity"));
    CHECK(field(held.at(id), "identity_reason") == field(full.at(id), "identity_reason"));
    CHECK(json::serialize(held.at(id).at("cert")) == json::serialize(full.at(id).at("cert")));
    CHECK(held.at(id).at("sessions") == full.at(id).at("sessions"));
  }
  // The repeating phone's record stops where its evidence does: its first 24 hours.
  const auto& repeated = held.at("mac:88:43:e1:05:04:05");
  CHECK(repeated.at("sessions").as_int64() == 24);
  CHECK(full.at("mac:88:43:e1:05:04:05").at("sessions").as_int64() == 31);

  // A restart reads back the same evidence: the same report.
  const std::string first = reportText(db);
  const auto again = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--max-sightings", "30", "--db", db, file});
  REQUIRE(again.status == 0);
  CHECK(reportText(db) == first);
  CHECK(sqlScalar(db, LEFT_OUT_SQL) == sightings - 30);
}

TEST_CASE("a gzip- or zstd-compressed capture, by name or on standard input, gives the report of the capture inside") {
  const std::vector<std::string> files = sampleCaptures();
  REQUIRE(files.size() >= 10);
  const auto gzipFile = [](const std::string& from, const std::string& to) {
    const std::string bytes = e2e::readFile(from);
    gzFile out = gzopen(to.c_str(), "wb");
    REQUIRE(out != nullptr);
    REQUIRE(gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
    REQUIRE(gzclose(out) == Z_OK);
  };
  const auto zstdFile = [](const std::string& from, const std::string& to) {
    const std::string bytes = e2e::readFile(from);
    std::string packed(ZSTD_compressBound(bytes.size()), '\0');
    const std::size_t n = ZSTD_compress(packed.data(), packed.size(), bytes.data(), bytes.size(), 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    std::ofstream(to, std::ios::binary).write(packed.data(), static_cast<std::streamsize>(n));
  };
  // Devices and servers, with the capture's name (claims keep where they came from) made the same.
  const auto normalized = [](const json::value& report, const std::string& name) {
    std::string text = json::serialize(report.at("devices")) + json::serialize(report.at("servers"));
    for (std::size_t at = text.find(name); at != std::string::npos; at = text.find(name, at)) text.replace(at, name.size(), "CAPTURE");
    return text;
  };
  for (const auto& file : files) {
    INFO(file);
    const std::string base = std::filesystem::path(file).filename().string();
    const json::value plain = e2e::replayReport({file}, {}, "plain.db");
    REQUIRE(plain.at("devices").as_array().size() >= 1);
    const std::string gz = e2e::tmpPath(base + ".gz"), zst = e2e::tmpPath(base + ".zst");
    gzipFile(file, gz);
    zstdFile(file, zst);
    CHECK(normalized(e2e::replayReport({gz}, {}, "gz.db"), gz) == normalized(plain, file));
    CHECK(normalized(e2e::replayReport({zst}, {}, "zst.db"), zst) == normalized(plain, file));
  }
  // pzstd (zstd's parallel compressor) begins its files with a skippable frame.
  const std::string spa = e2e::samplePath("spa_mixed_tls12.pcap"), pz = e2e::tmpPath("pz.pcap.zst");
  const auto pzstd = e2e::run({"pzstd", "-q", "-f", "-o", pz, spa});
  REQUIRE(pzstd.status == 0);
  REQUIRE(e2e::readFile(pz).rfind("\x50\x2a\x4d\x18", 0) == 0);
  CHECK(normalized(e2e::replayReport({pz}, {}, "pz.db"), pz) ==
        normalized(e2e::replayReport({spa}, {}, "pz-plain.db"), spa));
  // Standard input: a pipe of gzip bytes.
  const std::string packed = e2e::tmpPath("stdin.pcap.gz");
  gzipFile(e2e::samplePath("spa_mixed_tls12.pcap"), packed);
  const std::string db = e2e::tmpPath("stdin-gz.db");
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "-"}, packed);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json::value plain = e2e::replayReport({e2e::samplePath("spa_mixed_tls12.pcap")}, {}, "stdin-plain.db");
  CHECK(normalized(reportJson(db), "<stdin>") == normalized(plain, e2e::samplePath("spa_mixed_tls12.pcap")));
}

namespace {

// tshark -T fields over `file`, one vector of the fields' values per packet.
std::vector<std::vector<std::string>> tsharkFields(const std::string& file, const std::string& filter,
                                                   const std::vector<std::string>& fields) {
  std::vector<std::string> argv{"tshark", "-r", file, "-Y", filter, "-T", "fields", "-E", "separator=|"};
  for (const auto& f : fields) {
    argv.push_back("-e");
    argv.push_back(f);
  }
  const auto r = e2e::run(argv);
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> row;
    std::istringstream ls(line);
    for (std::string v; row.size() < fields.size() && std::getline(ls, v, '|');) row.push_back(v);
    row.resize(fields.size());
    rows.push_back(std::move(row));
  }
  return rows;
}

// The frame numbers of the packets of `file` that tshark's `filter` keeps.
std::vector<std::string> tsharkFrames(const std::string& file, const std::string& filter) {
  std::vector<std::string> frames;
  for (const auto& row : tsharkFields(file, filter, {"frame.number"})) frames.push_back(row[0]);
  return frames;
}

// The SHA-256 of each leaf certificate tshark sees a client send in
// `certs_file`; a client is an endpoint that sent a ClientHello in
// `hellos_file` (the same capture, or the whole one a lossy copy came from).
std::multiset<std::string> tsharkClientLeafs(const std::string& hellos_file, const std::string& certs_file) {
  std::set<std::string> clients;
  for (const auto& h : tsharkFields(hellos_file, "tls.handshake.type==1", {"ip.src", "ipv6.src", "tcp.srcport"})) {
    clients.insert((h[0].empty() ? h[1] : h[0]) + "|" + h[2]);
  }
  // tshark prints the certificates of one message as one hex blob; their
  // lengths come separately, in order. A raw public key (RFC 7250: one
  // SubjectPublicKeyInfo, no list) shows as a "certificate" without the
  // list's certificates_length: it is no certificate (the raw-key tests
  // compare it with the sighting's client_raw_key_sha256).
  std::multiset<std::string> leafs;
  for (const auto& c : tsharkFields(certs_file, "tls.handshake.type==11",
                                    {"ip.src", "ipv6.src", "tcp.srcport", "tls.handshake.certificate_length",
                                     "tls.handshake.certificate", "tls.handshake.certificates_length"})) {
    const std::string& lengths = c[3];
    if (clients.count((c[0].empty() ? c[1] : c[0]) + "|" + c[2]) == 0 || lengths.empty() || c[5].empty()) continue;
    const std::size_t leaf_len = std::stoul(lengths.substr(0, lengths.find(',')));
    const auto blob = e2e::fromHex(c[4]);
    REQUIRE(blob.size() >= leaf_len);
    leafs.insert(e2e::sha256Hex(std::vector<unsigned char>(blob.begin(), blob.begin() + static_cast<long>(leaf_len))));
  }
  return leafs;
}

// What provaudit stored: the leaf of every TLS sighting's client chain.
std::multiset<std::string> storedClientLeafs(const std::string& db) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT data FROM sightings WHERE kind='tls'", -1, &st, nullptr) == SQLITE_OK);
  std::multiset<std::string> ours;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const json::value v = e2e::parseJson(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    const auto& chain = v.at("client_chain").as_array();
    if (!chain.empty()) ours.insert(str(chain.front()));
  }
  sqlite3_finalize(st);
  sqlite3_close_v2(h);
  return ours;
}

std::string certSha(const json::object& device) {
  const json::value& cert = device.at("cert");
  return cert.is_null() ? std::string() : str(cert.at("sha256"));
}

// A copy of `capture` without the packets `frames` (1-based), as editcap writes it.
std::string withoutFrames(const std::string& capture, const std::vector<std::string>& frames, const std::string& name) {
  const std::string out = e2e::tmpPath(name);
  std::vector<std::string> argv{"editcap", capture, out};
  argv.insert(argv.end(), frames.begin(), frames.end());
  const auto r = e2e::run(argv);
  INFO(r.err);
  REQUIRE(r.status == 0);
  return out;
}

}  // namespace

TEST_CASE("tshark finds no client certificate that provaudit missed") {
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  for (const auto& path : e2e::expectedFiles()) {
    const json::value exp = e2e::readJson(path);
    const std::string capture = captureOf(exp.as_object());
    DYNAMIC_SECTION(capture) {
      const std::string file = e2e::samplePath(capture);
      const std::multiset<std::string> tshark_client_leafs = tsharkClientLeafs(file, file);
      const std::string db = e2e::tmpPath("tshark.db");
      REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file}).status == 0);
      const std::multiset<std::string> ours = storedClientLeafs(db);
      for (const auto& sha : tshark_client_leafs) {
        INFO("client certificate " << sha << " seen by tshark");
        CHECK(ours.count(sha) >= tshark_client_leafs.count(sha));
      }
      if (const auto* n = exp.as_object().if_contains("client_certificates_in_clear")) {
        CHECK(static_cast<std::int64_t>(tshark_client_leafs.size()) == n->as_int64());
        CHECK(static_cast<std::int64_t>(ours.size()) == n->as_int64());
      }
    }
  }
}

TEST_CASE("a capture that lost every ClientHello (a SPAN port under load) still shows each device, as tshark does") {
  // The packets holding the ClientHellos dropped from each sample: the rest
  // of each handshake (the client's certificate above all) was read away
  // with its first segment, and the devices were missing from the report.
  // Read without keys (a key log finds its keys by the ClientHello's random).
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  REQUIRE(e2e::haveTool("editcap"));
  for (const auto& sample : sampleCaptures()) {
    DYNAMIC_SECTION(sample) {
      const std::vector<std::string> hellos = tsharkFrames(sample, "tls.handshake.type==1");
      if (hellos.empty()) {
        // The samples without TLS: HTTP in clear, an HTTP/1.1 connection upgraded to h2c.
        const std::string name = std::filesystem::path(sample).filename().string();
        CHECK((name == "plain_http.pcap" || name == "h2c_upgrade.pcap"));
        continue;
      }
      const std::string lossy = withoutFrames(sample, hellos, "no-hellos.pcap");
      const json::value whole = e2e::replayReport({sample}, {}, "hellos-whole.db");
      const std::string db = e2e::tmpPath("no-hellos.db");
      replayInto(db, {lossy}, {"-q"});
      const json::value report = reportJson(db);
      const auto& devices = report.at("devices").as_array();
      REQUIRE(devices.size() == whole.at("devices").as_array().size());
      for (const auto& w : whole.at("devices").as_array()) {
        const auto* d = findDevice(devices, w.as_object());
        INFO(json::serialize(w));
        REQUIRE(d != nullptr);
        CHECK(d->at("identity") == w.at("identity"));
        CHECK(certSha(*d) == certSha(w.as_object()));
        CHECK(d->at("model") == w.at("model"));
        CHECK(d->at("serial") == w.at("serial"));
        CHECK(d->at("tls").at("ja4").as_array().empty());  // nothing of the lost ClientHello made up
      }
      // Every client certificate tshark sees in the lossy copy, we stored.
      const std::multiset<std::string> ours = storedClientLeafs(db);
      for (const auto& sha : tsharkClientLeafs(sample, lossy)) {
        INFO("client certificate " << sha << " seen by tshark");
        CHECK(ours.count(sha) >= 1);
      }
    }
  }
}

TEST_CASE("the handshake of a lost ClientHello names the packet tshark shows its certificate in") {
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  REQUIRE(e2e::haveTool("editcap"));
  {
    const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
    const std::vector<std::string> hellos = tsharkFrames(sample, "tls.handshake.type==1");
    const std::string lossy = withoutFrames(sample, hellos, "no-hellos-frames.pcap");
    std::map<std::string, std::string> tshark_frames;  // client IP -> frame of its Certificate
    for (const auto& row : tsharkFields(lossy, "tls.handshake.type==11 && ip.src != 10.77.0.2", {"ip.src", "frame.number"})) {
      tshark_frames[row[0]] = row[1];
    }
    REQUIRE(tshark_frames.size() == 5);
    const std::string db = e2e::tmpPath("no-hellos-frames.db");
    replayInto(db, {lossy}, {"-q"});
    std::map<std::string, std::string> ours;
    const json::value report = reportJson(db);
    for (const auto& d : report.at("devices").as_array()) {
      const std::string ip = str(d.at("ips").at(0));
      const auto r = e2e::run({"sqlite3", db, "SELECT detail FROM device_docs WHERE id = '" + str(d.at("id")) + "'"});
      REQUIRE(r.status == 0);
      ours[ip] = std::to_string(e2e::parseJson(r.out).at("handshakes").at(0).at("frame").as_int64());
    }
    CHECK(ours == tshark_frames);
  }
}

TEST_CASE("any one packet lost costs at most what it carried: no device lost, none answered wrongly") {
  // spa_mixed_tls12.pcap (individualized, generic and no-certificate devices)
  // without each of its data packets in turn: a device may become unknown
  // (its certificate was in the lost bytes), never lost, never another class,
  // never another certificate.
  REQUIRE(e2e::haveTool("tshark"));
  REQUIRE(e2e::haveTool("editcap"));
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const json::value whole = e2e::replayReport({sample}, {}, "one-lost-whole.db");
  const auto& want = whole.at("devices").as_array();
  REQUIRE(want.size() == 5);
  int data_packets = 0, became_unknown = 0;
  for (const std::string& frame : tsharkFrames(sample, "tcp.len > 0")) {
    ++data_packets;
    const std::string lossy = withoutFrames(sample, {frame}, "one-lost.pcap");
    const json::value report = e2e::replayReport({lossy}, {"-q"}, "one-lost.db");
    const auto& devices = report.at("devices").as_array();
    INFO("without frame " << frame << ": " << json::serialize(devices));
    CHECK(devices.size() == want.size());
    for (const auto& w : want) {
      const auto* d = findDevice(devices, w.as_object());
      REQUIRE(d != nullptr);
      if (d->at("identity") != w.at("identity")) {
        CHECK(d->at("identity") == "unknown");
        CHECK(d->at("identity_reason") == "handshake-gap");
        ++became_unknown;
      }
      const std::string sha = certSha(*d);
      if (!sha.empty()) CHECK(sha == certSha(w.as_object()));
    }
  }
  CHECK(data_packets > 50);
  CHECK(became_unknown > 0);  // the client Certificate's own segments
}

namespace {

struct CapturedPacket {
  std::int64_t ts_us = 0;
  std::string data;
  std::uint32_t orig_len = 0;
};

// A classic pcap's packets and link type, read with libpcap.
std::pair<int, std::vector<CapturedPacket>> capturedPackets(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  REQUIRE(p != nullptr);
  std::vector<CapturedPacket> out;
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &h, &data) == 1) {
    out.push_back({std::int64_t{h->ts.tv_sec} * 1'000'000 + h->ts.tv_usec,
                   std::string(reinterpret_cast<const char*>(data), h->caplen), h->len});
  }
  const int linktype = pcap_datalink(p);
  pcap_close(p);
  return {linktype, out};
}

// `packets` written as a classic pcap with libpcap (microsecond times).
std::string writtenPcap(int linktype, const std::vector<CapturedPacket>& packets, const std::string& name) {
  const std::string path = e2e::tmpPath(name);
  pcap_t* dead = pcap_open_dead(linktype, 262144);
  REQUIRE(dead != nullptr);
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  REQUIRE(d != nullptr);
  for (const auto& pkt : packets) {
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(pkt.ts_us / 1'000'000);
    h.ts.tv_usec = static_cast<suseconds_t>(pkt.ts_us % 1'000'000);
    h.caplen = static_cast<bpf_u_int32>(pkt.data.size());
    h.len = pkt.orig_len;
    pcap_dump(reinterpret_cast<u_char*>(d), &h, reinterpret_cast<const u_char*>(pkt.data.data()));
  }
  pcap_dump_close(d);
  pcap_close(dead);
  return path;
}

// A source's anomaly count, summed over the database's sources.
std::int64_t anomalyCount(const std::string& db, const std::string& name) {
  const std::string sql = "SELECT coalesce(sum(count), 0) FROM source_anomalies WHERE name = '" + name + "'";
  return sqlScalar(db, sql.c_str());
}

// A report's devices and servers with the capture's name made the same.
std::string reportTextAs(const std::string& db, const std::string& capture) {
  std::string text = reportText(db);
  for (std::size_t at = text.find(capture); at != std::string::npos; at = text.find(capture, at)) {
    text.replace(at, capture.size(), "CAPTURE");
  }
  return text;
}

}  // namespace

namespace {

// The stored detail of the device with `mac` in `db` (the dashboard's device page).
json::value deviceDetail(const std::string& db, const std::string& mac) {
  const auto r = e2e::run({"sqlite3", db, "SELECT detail FROM device_docs WHERE id = 'mac:" + mac + "'"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  REQUIRE(!r.out.empty());
  return e2e::parseJson(r.out);
}

}  // namespace

TEST_CASE(
    "a capture that starts mid-handshake (no SYN) still shows the device and the certificate it sends: a gap") {
  // A sensor started, or a rotated file replayed alone, while a handshake was
  // under way: spa_mixed_tls12.pcap from its first device's client
  // Certificate on, and from the ServerHello before it. That device was
  // absent (its Certificate record read as unknown bytes, the flow bypassed),
  // nothing counted.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const std::string mac = "00:0e:08:ab:cd:ef", ip = "10.77.0.11";  // SPA-962, individualized
  const json::value whole = e2e::replayReport({sample}, {}, "midstream-whole.db");
  const json::object* want = findDevice(whole.at("devices").as_array(), json::object{{"mac", mac}});
  REQUIRE(want != nullptr);
  REQUIRE(want->at("identity") == "individualized");
  const auto [linktype, packets] = capturedPackets(sample);
  // The client's second flight (its Certificate record begins the segment
  // after its ClientHello's; tshark names the segment the record ends in),
  // and the server's first.
  const std::vector<std::string> client_segments = tsharkFrames(sample, "tcp.len > 0 && ip.src==" + ip);
  const std::vector<std::string> server_hellos = tsharkFrames(sample, "tls.handshake.type==2 && ip.dst==" + ip);
  REQUIRE(client_segments.size() > 1);
  REQUIRE(server_hellos.size() == 1);
  for (const auto& [what, from] : std::vector<std::pair<std::string, std::string>>{
           {"client Certificate", client_segments[1]}, {"ServerHello", server_hellos[0]}}) {
    DYNAMIC_SECTION("from the " << what << " (frame " << from << ")") {
      const std::size_t first = std::stoul(from) - 1;  // 0-based: the packets before it are cut
      const std::string cut =
          writtenPcap(linktype, std::vector<CapturedPacket>(packets.begin() + static_cast<long>(first), packets.end()),
                      "midstream.pcap");
      const std::string db = e2e::tmpPath("midstream.db");
      replayInto(db, {cut}, {"-q"});
      const json::value report = reportJson(db);
      const json::object* got = findDevice(report.at("devices").as_array(), json::object{{"mac", mac}});
      INFO(json::serialize(report.at("devices")));
      REQUIRE(got != nullptr);
      CHECK(got->at("identity") == "individualized");
      CHECK(certSha(*got) == certSha(*want));
      CHECK(got->at("serial") == want->at("serial"));
      CHECK(got->at("tls").at("ja4").as_array().empty());  // nothing of the uncaptured ClientHello made up
      // Its evidence says bytes were missing: the handshake's start.
      const json::value detail = deviceDetail(db, mac);
      REQUIRE(detail.at("handshakes").as_array().size() == 1);
      CHECK(detail.at("handshakes").at(0).at("gap") == true);
      CHECK(anomalyCount(db, "tls_handshake_start_not_captured") == 1);
      // The devices whose handshakes were captured whole are as they were.
      CHECK(report.at("devices").as_array().size() == whole.at("devices").as_array().size());
      for (const auto& w : whole.at("devices").as_array()) {
        const json::object* d = findDevice(report.at("devices").as_array(), w.as_object());
        REQUIRE(d != nullptr);
        CHECK(d->at("identity") == w.at("identity"));
        CHECK(certSha(*d) == certSha(w.as_object()));
      }
    }
  }
}

// A sample with a key log (samples/expected/<name>.json names both), replayed
// with it: its one device's expected table, and what the replay gave.
struct KeyedReplay {
  json::value exp;
  std::string cap, keys, db, err;
  json::value report;
  [[nodiscard]] const json::object& want() const { return exp.at("devices").at(0).as_object(); }
  [[nodiscard]] const json::object& decrypted() const { return want().at("decrypted").as_object(); }
  // The expected device as read with the key log: its MAC and `fields` of its "decrypted" table.
  [[nodiscard]] json::object wantDecrypted(std::initializer_list<const char*> fields) const {
    json::object o{{"mac", want().at("mac")}};
    for (const char* k : fields) o[k] = decrypted().at(k);
    return o;
  }
  // The report's one device (each keyed sample has one).
  [[nodiscard]] const json::object& device() const {
    REQUIRE(report.at("devices").as_array().size() == 1);
    return report.at("devices").at(0).as_object();
  }
};
KeyedReplay replayWithKeyLog(const std::string& name) {
  KeyedReplay r;
  r.exp = e2e::readJson(e2e::samplePath("expected/" + name + ".json"));
  r.cap = e2e::samplePath(captureOf(r.exp.as_object()));
  r.keys = e2e::samplePath(field(r.exp.as_object(), "keylog"));
  r.db = e2e::tmpPath(name + ".db");
  r.err = replayInto(r.db, {r.cap}, {"--keylog", r.keys});
  r.report = reportJson(r.db);
  return r;
}
// SHA-256 of the first client certificate tshark decrypts from `ip` with the key log.
std::string tsharkClientCertSha(const KeyedReplay& r, const std::string& ip) {
  const auto cert = e2e::run({"tshark", "-r", r.cap, "-o", "tls.keylog_file:" + r.keys, "-Y",
                              "tls.handshake.type==11 && ip.src==" + ip, "-T", "fields", "-e",
                              "tls.handshake.certificate"});
  REQUIRE(cert.status == 0);
  REQUIRE(cert.out.size() > 1);
  return e2e::sha256Hex(e2e::fromHex(cert.out.substr(0, cert.out.find_first_of(",\n"))));
}

TEST_CASE("TLS 1.3 after a HelloRetryRequest decrypts with its key log: the certificate and User-Agent tshark shows") {
  // tls13_hrr.pcap: the middlebox-compatibility ChangeCipherSpecs around the
  // HelloRetryRequest came before the ServerHello that says TLS 1.3, were
  // taken for TLS 1.2's and stopped the session (decrypt_missing_handshake):
  // the device stayed unknown (tls13), its certificate hidden, no User-Agent.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const KeyedReplay r = replayWithKeyLog("tls13_hrr");
  const json::object& want = r.want();
  const json::object& decrypted = r.decrypted();
  const std::string& cap = r.cap;
  const std::string& keys = r.keys;
  CHECK(r.err.find(" 0 anomalies\n") != std::string::npos);
  CHECK(anomalyCount(r.db, "decrypt_missing_handshake") == 0);
  const json::value& report = r.report;
  REQUIRE(report.at("devices").as_array().size() == 1);
  const json::object& got = report.at("devices").at(0).as_object();
  CHECK(field(got, "mac") == field(want, "mac"));
  compareDevice(json::object{{"mac", want.at("mac")},
                             {"identity", decrypted.at("identity")},
                             {"identity_reason", "client-cert"},
                             {"cert", decrypted.at("cert")},
                             {"user_agents", decrypted.at("user_agents")}},
                got, "findings");
  CHECK(strSet(got.if_contains("findings"), "code").count("cert-hidden") == 0);
  // tshark, with the same key log: the same User-Agent and client certificate.
  const auto ua = e2e::run({"tshark", "-r", cap, "-o", "tls.keylog_file:" + keys, "-Y", "http.request", "-T", "fields",
                            "-e", "http.user_agent"});
  REQUIRE(ua.status == 0);
  CHECK(ua.out == str(decrypted.at("user_agents").at(0)) + "\n");
  CHECK(tsharkClientCertSha(r, str(want.at("ips").at(0))) == certSha(got));
}

TEST_CASE("TLS 1.3 post-handshake authentication: the certificate asked for after the handshake, and every request") {
  // tls13_pha.pcap: the decrypted post-handshake Finished installed the
  // client's first application traffic keys again, so the requests after
  // the certificate failed their record MAC (tls_decrypt_bad_record_mac),
  // and the handshake had been reported at its end, without the certificate:
  // the device unknown/not-requested with one URL of three.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const KeyedReplay r = replayWithKeyLog("tls13_pha");
  const json::object& want = r.want();
  const json::object& decrypted = r.decrypted();
  CHECK(r.err.find(" 0 anomalies\n") != std::string::npos);
  const json::value& report = r.report;
  const json::object& got = r.device();
  json::object expect = r.wantDecrypted({"identity", "identity_reason", "cert", "user_agents"});
  expect["findings"] = json::array{};
  compareDevice(expect, got, "findings");
  CHECK(show(strSet(got.if_contains("urls"))) == show(strSet(decrypted.if_contains("urls"))));
  REQUIRE(report.at("servers").as_array().size() == 1);
  CHECK(report.at("servers").at(0).at("requests_client_cert") == decrypted.at("requests_client_cert"));
  // tshark, with the same key log: the client certificate after the
  // handshake, and the request before it. (tshark 4.0 decrypts nothing of
  // the client's after the post-handshake Finished: the two requests after
  // it are "Application Data" there.)
  CHECK(tsharkClientCertSha(r, str(want.at("ips").at(0))) == certSha(got));
  const auto uris = e2e::run({"tshark", "-r", r.cap, "-o", "tls.keylog_file:" + r.keys, "-Y", "http.request", "-T",
                              "fields", "-e", "http.request.uri"});
  REQUIRE(uris.status == 0);
  CHECK(uris.out == "/spa000e08141401.cfg\n");
}

// Every TLS sighting's JSON, in the order stored.
std::vector<json::object> storedTlsSightings(const std::string& db) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT data FROM sightings WHERE kind='tls' ORDER BY rowid", -1, &st, nullptr) ==
          SQLITE_OK);
  std::vector<json::object> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.push_back(e2e::parseJson(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))).as_object());
  }
  sqlite3_finalize(st);
  sqlite3_close_v2(h);
  return out;
}

// tshark's view of a raw-key sample with its key log, one line a handshake
// message of `sender`: the certificate types the server selected (ServerHello
// or EncryptedExtensions), or the Certificate's bytes.
std::vector<std::string> tsharkLines(const KeyedReplay& r, const std::string& filter, const std::string& field_name) {
  const auto out = e2e::run({"tshark", "-r", r.cap, "-o", "tls.keylog_file:" + r.keys, "-Y", filter, "-T", "fields",
                             "-e", field_name});
  REQUIRE(out.status == 0);
  std::vector<std::string> lines;
  std::istringstream in(out.out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

TEST_CASE("raw public keys (RFC 7250), TLS 1.2 and 1.3: the device's key is read as a key, unknown/raw-public-key") {
  // rawpk.pcap: GnuTLS negotiated client_certificate_type RawPublicKey. In
  // TLS 1.2 the key (one SubjectPublicKeyInfo) was read as a certificate
  // list: tls_certificate_malformed, the device unknown/handshake-incomplete
  // with client_cert "not-sent"; in TLS 1.3 as a certificate:
  // x509_unparseable_certificate, unknown/unparseable-cert.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const KeyedReplay r = replayWithKeyLog("rawpk");
  const json::object& want = r.want();
  const std::string ip = str(want.at("ips").at(0));
  CHECK(r.err.find(" 0 anomalies\n") != std::string::npos);
  const json::object& got = r.device();
  compareDevice(r.wantDecrypted({"identity", "identity_reason", "user_agents"}), got, "findings");
  CHECK(got.at("identity") == "unknown");
  CHECK(got.at("identity_reason") == "raw-public-key");
  CHECK(got.at("cert").is_null());
  // tshark: the server selected RawPublicKey (2) for the client, X.509 (0)
  // for itself, in the TLS 1.2 ServerHello and the TLS 1.3 EncryptedExtensions.
  const auto types = tsharkLines(r, "ip.src==10.232.0.2 && tls.handshake.extension.type==19", "tls.handshake.cert_type.type");
  REQUIRE(types.size() == 2);
  for (const auto& t : types) CHECK(t == "0x02,0x00");
  // Both sightings name the key tshark shows in the client's Certificate.
  const auto keys = tsharkLines(r, "tls.handshake.type==11 && ip.src==" + ip, "tls.handshake.certificate");
  REQUIRE(keys.size() == 2);
  const auto sightings = storedTlsSightings(r.db);
  REQUIRE(sightings.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(field(sightings[i], "client_cert") == "raw-public-key");
    CHECK(field(sightings[i], "client_raw_key_sha256") == e2e::sha256Hex(e2e::fromHex(keys[i])));
    CHECK(sightings[i].at("client_chain").as_array().empty());
    CHECK(sightings[i].at("complete") == true);
  }
  CHECK(sightings[0].at("version") == 0x0303);
  CHECK(sightings[1].at("tls13") == true);
  // Without the key log: the TLS 1.2 key is in clear and read the same; the
  // TLS 1.3 one is hidden. Still no anomaly.
  const std::string db = e2e::tmpPath("rawpk-nokeys.db");
  const std::string err = replayInto(db, {r.cap});
  CHECK(err.find(" 0 anomalies\n") != std::string::npos);
  const auto clear = storedTlsSightings(db);
  REQUIRE(clear.size() == 2);
  CHECK(field(clear[0], "client_cert") == "raw-public-key");
  CHECK(field(clear[0], "client_raw_key_sha256") == e2e::sha256Hex(e2e::fromHex(keys[0])));
  CHECK(field(clear[1], "client_cert") == "not-sent");
  const json::value report = reportJson(db);
  REQUIRE(report.at("devices").as_array().size() == 1);
  CHECK(report.at("devices").at(0).at("identity") == want.at("identity"));
  CHECK(report.at("devices").at(0).at("identity_reason") == want.at("identity_reason"));
}

TEST_CASE("raw public keys (RFC 7250), TLS 1.2 and 1.3: a server's key is no anomaly, its cert stays empty") {
  // rawpk_srv.pcap: the server's Certificate held its raw key. The device
  // was read right, but tls_certificate_malformed (TLS 1.2) and
  // x509_unparseable_certificate (TLS 1.3) were counted.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const KeyedReplay r = replayWithKeyLog("rawpk_srv");
  const json::object& want = r.want();
  CHECK(r.err.find(" 0 anomalies\n") != std::string::npos);
  const json::object& got = r.device();
  compareDevice(r.wantDecrypted({"identity", "identity_reason", "cert", "user_agents"}), got, "findings");
  CHECK(tsharkClientCertSha(r, str(want.at("ips").at(0))) == certSha(got));
  const auto types = tsharkLines(r, "ip.src==10.232.0.2 && tls.handshake.extension.type==20", "tls.handshake.cert_type.type");
  REQUIRE(types.size() == 2);
  for (const auto& t : types) CHECK(t == "0x00,0x02");
  for (const auto& srv : r.report.at("servers").as_array()) CHECK(srv.at("cert").is_null());
  for (const auto& sighting : storedTlsSightings(r.db)) CHECK(sighting.at("server_chain").as_array().empty());
  const std::string db = e2e::tmpPath("rawpk_srv-nokeys.db");
  CHECK(replayInto(db, {r.cap}).find(" 0 anomalies\n") != std::string::npos);
}

TEST_CASE("HTTP/2 requests, in TLS with the key log and h2c in clear: the User-Agent and paths tshark shows") {
  // http2.pcap: curl's HTTP/2 requests inside TLS (ALPN h2) were read as
  // HTTP/1.x and counted as http_request_malformed; the h2c requests
  // (prior knowledge) were lost without a word: no User-Agent, no URL, no
  // plaintext-provisioning.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const KeyedReplay r = replayWithKeyLog("http2");
  const json::object& want = r.want();
  const json::object& decrypted = r.decrypted();
  CHECK(r.err.find(" 4 HTTP requests;") != std::string::npos);
  CHECK(r.err.find(" 0 anomalies\n") != std::string::npos);
  const json::object& got = r.device();
  json::object expect = r.wantDecrypted({"identity", "identity_reason", "user_agents"});
  expect["model"] = want.at("model");
  expect["firmware"] = want.at("firmware");
  expect["findings"] = json::array{"plaintext-provisioning"};
  compareDevice(expect, got, "findings");
  CHECK(show(strSet(got.if_contains("urls"))) == show(strSet(decrypted.if_contains("urls"))));
  // Every request as tshark reads it (told the h2c port), in frame order:
  // the sightings' paths and User-Agents.
  const auto h2 = e2e::run({"tshark", "-r", r.cap, "-o", "tls.keylog_file:" + r.keys, "-d", "tcp.port==18462,http2",
                            "-Y", "http2.headers.method", "-T", "fields", "-e", "http2.headers.path", "-e",
                            "http2.headers.user_agent"});
  REQUIRE(h2.status == 0);
  std::string ours;
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(r.db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h,
                             "SELECT json_extract(data,'$.uri'), json_extract(data,'$.user_agent') FROM sightings "
                             "WHERE kind='http' ORDER BY frame, json_extract(data,'$.stream_offset')",
                             -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    ours += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "\t" +
            reinterpret_cast<const char*>(sqlite3_column_text(st, 1)) + "\n";
  }
  sqlite3_finalize(st);
  sqlite3_close_v2(h);
  CHECK(ours == h2.out);
}

TEST_CASE("one packet whose time leaps ahead (a corrupt record) closes no flow: the report is the capture's") {
  // Believed, a packet dated past the flows' idle timeout would close every
  // flow open: the handshakes in progress lost, without an anomaly.
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const auto [linktype, packets] = capturedPackets(sample);
  REQUIRE(packets.size() == 163);
  const std::string whole = e2e::tmpPath("leap-whole.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", whole, sample}).status == 0);
  const std::string want = reportTextAs(whole, sample);
  std::string arp(14 + 28, '\0');
  arp.replace(0, 6, std::string(6, '\xff'));
  arp.replace(6, 6, std::string("\x02\x00\x00\x00\x00\x09", 6));
  arp.replace(12, 2, "\x08\x06");
  for (const std::size_t at : {20, 60, 80, 120}) {
    for (const std::int64_t leap_s : {400LL, 86'400LL * 365, 0xFFFFFFFFLL - packets[at].ts_us / 1'000'000}) {
      INFO("after packet " << at << ", " << leap_s << " s ahead");
      std::vector<CapturedPacket> odd = packets;
      odd.insert(
          odd.begin() + static_cast<std::ptrdiff_t>(at),
          CapturedPacket{packets[at - 1].ts_us + leap_s * 1'000'000, arp, static_cast<std::uint32_t>(arp.size())});
      const std::string file = writtenPcap(linktype, odd, "leap.pcap");
      const std::string db = e2e::tmpPath("leap.db");
      const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file});
      REQUIRE(r.status == 0);
      CHECK(reportTextAs(db, file) == want);
      CHECK(anomalyCount(db, "packet_time_leap_ignored") == 1);
    }
  }
  // A capture that paused for an hour and went on: its flows close on the
  // second packet after the pause, as idle flows do (a 6th flow starts mid-stream).
  std::vector<CapturedPacket> paused = packets;
  for (std::size_t i = 82; i < paused.size(); ++i) paused[i].ts_us += 3'600'000'000LL;
  const std::string file = writtenPcap(linktype, paused, "paused.pcap");
  const std::string db = e2e::tmpPath("paused.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file}).status == 0);
  CHECK(sqlScalar(db, "SELECT value FROM stats WHERE name = 'flows'") == 6);
  CHECK(anomalyCount(db, "packet_time_leap_ignored") == 0);
}

// `got`, the report of a capture whose packets have no time, against `want`,
// the same capture's with its times: the same devices, classes, models,
// serials, certificates and findings, but the validity findings (nothing is
// judged against an unknown time). How many of those `want` has.
std::size_t validityFindingsLost(const json::value& got_report, const json::value& want_report) {
  const auto& got = got_report.at("devices").as_array();
  const auto& want = want_report.at("devices").as_array();
  REQUIRE(got.size() == want.size());
  std::size_t validity_findings = 0;
  for (const auto& w : want) {
    const auto* d = findDevice(got, w.as_object());
    REQUIRE(d != nullptr);
    INFO(w.at("id"));
    CHECK(d->at("identity") == w.at("identity"));
    CHECK(d->at("model") == w.at("model"));
    CHECK(d->at("serial") == w.at("serial"));
    CHECK(certSha(*d) == certSha(w.as_object()));
    std::multiset<std::string> want_codes, got_codes;
    for (const auto& f : w.at("findings").as_array()) {
      const std::string code(f.at("code").as_string());
      if (code == "cert-expired" || code == "cert-not-yet-valid") {
        ++validity_findings;
      } else {
        want_codes.insert(code);
      }
    }
    for (const auto& f : d->at("findings").as_array()) got_codes.insert(std::string(f.at("code").as_string()));
    CHECK(got_codes == want_codes);
  }
  return validity_findings;
}

TEST_CASE("a pcapng of Simple Packet Blocks (no times): the capture's devices, no validity judged against 1970") {
  // spa_mixed_tls12.pcap and audit_cases.pcap (an expired and a not-yet-valid
  // certificate among its devices) as pcapng Simple Packet Blocks, which carry
  // no time: every packet is dated 1970, where each certificate would be "not
  // yet valid". Devices, certificates and every other finding as the capture's.
  for (const std::string name : {"spa_mixed_tls12.pcap", "audit_cases.pcap"}) {
    INFO(name);
    const std::string sample = e2e::samplePath(name);
    const auto [linktype, packets] = capturedPackets(sample);
    std::string ng;
    const auto u32 = [&ng](std::uint32_t v) { ng.append(reinterpret_cast<const char*>(&v), 4); };  // little-endian host
    const auto u16 = [&ng](std::uint16_t v) { ng.append(reinterpret_cast<const char*>(&v), 2); };
    u32(0x0A0D0D0A), u32(28), u32(0x1A2B3C4D), u16(1), u16(0), u32(0xFFFFFFFF), u32(0xFFFFFFFF), u32(28);  // SHB
    u32(1), u32(20), u16(static_cast<std::uint16_t>(linktype)), u16(0), u32(0), u32(20);  // IDB, no snap length
    for (const auto& pkt : packets) {
      const std::uint32_t padded = (static_cast<std::uint32_t>(pkt.data.size()) + 3) & ~3U;
      u32(3), u32(16 + padded), u32(pkt.orig_len);
      ng += pkt.data;
      ng.append(padded - pkt.data.size(), '\0');
      u32(16 + padded);
    }
    const std::string file = e2e::tmpPath("spb-" + name + "ng");
    std::ofstream(file, std::ios::binary) << ng;
    const json::value plain = e2e::replayReport({sample}, {}, "spb-plain.db");
    const std::string db = e2e::tmpPath("spb.db");
    REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file}).status == 0);
    CHECK(anomalyCount(db, "packet_time_unknown") == static_cast<std::int64_t>(packets.size()));
    const std::size_t validity_findings = validityFindingsLost(reportJson(db), plain);
    if (name == "audit_cases.pcap") CHECK(validity_findings >= 2);
  }
}

TEST_CASE("pcapng packets whose time cannot be used are read with an unknown time: the capture's devices, said once") {
  // audit_cases.pcap (nine client certificates, an expired and a not-yet-valid
  // one among them) shifted by editcap to before 1970, which pcapng writes as
  // the far future (past 2262), or behind an interface whose if_tsresol is
  // 10^-127: every packet was skipped as damaged, the file given up, exit 1,
  // nothing stored. tshark reads them all.
  REQUIRE(e2e::haveTool("editcap"));
  const std::string sample = e2e::samplePath("audit_cases.pcap");
  const json::value plain = e2e::replayReport({sample}, {}, "time-unusable-plain.db");
  const std::string shifted = e2e::tmpPath("shifted-before-1970.pcapng");
  REQUIRE(e2e::run({"editcap", "-t", "-2000000000", sample, shifted}).status == 0);
  // The same capture as pcapng, its interface given if_tsresol 10^-127.
  const std::string ng = e2e::tmpPath("time-unusable-source.pcapng");
  REQUIRE(e2e::run({"editcap", "-F", "pcapng", sample, ng}).status == 0);
  const std::string bytes = e2e::readFile(ng);
  std::string fine;
  std::size_t idbs = 0, packets = 0;
  const auto u32 = [&bytes](std::size_t at) {
    std::uint32_t v = 0;
    std::memcpy(&v, bytes.data() + at, sizeof v);  // little-endian: editcap writes this host's order
    return v;
  };
  const auto put32 = [&fine](std::uint32_t v) { fine.append(reinterpret_cast<const char*>(&v), sizeof v); };
  for (std::size_t at = 0; at + 8 <= bytes.size(); at += u32(at + 4)) {
    REQUIRE(u32(at + 4) >= 12);
    if (u32(at) == 6) ++packets;
    if (u32(at) != 1) {
      fine.append(bytes, at, u32(at + 4));
      continue;
    }
    REQUIRE(u32(at + 4) == 20);  // link type | reserved | snap length, no options
    ++idbs;
    put32(1), put32(32);                   // IDB, 32 bytes
    fine.append(bytes, at + 8, 8);         // link type | reserved | snap length
    put32(9 | 1U << 16), put32(127);       // if_tsresol (1 byte): 10^-127, padded
    put32(0), put32(32);                   // opt_endofopt | total length
  }
  REQUIRE(idbs == 1);
  const std::string tsresol = e2e::tmpPath("tsresol-127.pcapng");
  std::ofstream(tsresol, std::ios::binary) << fine;
  // (`reason` as a regular expression.)
  for (const auto& [file, reason] : {std::pair{shifted, std::string("timestamp out of range")},
                                     std::pair{tsresol, std::string(R"(interface 0's if_tsresol 10\^-127 is too fine)")}}) {
    INFO(file);
    const std::string db = e2e::tmpPath("time-unusable.db");
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file});
    INFO(r.err);
    CHECK(r.status == 0);
    CHECK(std::regex_match(r.err, std::regex("provaudit: warning: " + file + ": " + std::to_string(packets) +
                                             R"( packets read with an unknown time \(the first: pcapng block at byte )"
                                             R"(offset \d+: )" + reason + R"([^\n]*\); no certificate was judged )"
                                             R"(expired or not yet valid against them\n)")));
    CHECK(anomalyCount(db, "packet_time_unknown") == static_cast<std::int64_t>(packets));
    CHECK(anomalyCount(db, "capture_block_damaged") == 0);
    CHECK(sqlScalar(db, "SELECT packets FROM sources") == static_cast<std::int64_t>(packets));
    CHECK(validityFindingsLost(reportJson(db), plain) >= 2);
  }
}

TEST_CASE("a TLS key log the pcapng carries (editcap --inject-secrets) decrypts as --keylog does, and is said") {
  // tshark decrypts such a file with no options. provaudit ignored its
  // Decryption Secrets Block without a word: TLS 1.3's device unknown
  // (cert-hidden), TLS 1.2's User-Agent and URL hidden.
  REQUIRE(e2e::haveTool("editcap"));
  // (tls13.keylog's EXPORTER_SECRET is no key provaudit uses.)
  using Sample = std::pair<std::string, std::string>;  // name, the keys its key log gives
  for (const auto& [name, keys_taken] : {Sample{"tls13", "4 TLS keys"}, Sample{"tls12_keylog", "1 TLS key"}}) {
    INFO(name);
    const std::string cap = e2e::samplePath(name + ".pcap"), keys = e2e::samplePath(name + ".keylog");
    const std::string keyed = e2e::tmpPath("dsb-keyed.db");
    replayInto(keyed, {cap}, {"-q", "--keylog", keys});
    const std::string with_keys = e2e::tmpPath("dsb-" + name + ".pcapng");
    REQUIRE(e2e::run({"editcap", "--inject-secrets", "tls," + keys, cap, with_keys}).status == 0);
    {  // the keys in the capture, no --keylog
      const std::string db = e2e::tmpPath("dsb.db");
      const std::string err = replayInto(db, {with_keys});
      CHECK(err.find("provaudit: " + with_keys + ": " + keys_taken +
                     " taken from the TLS key log the capture carries, as --keylog's\n") != std::string::npos);
      CHECK(reportTextAs(db, with_keys) == reportTextAs(keyed, cap));
      const json::value report = reportJson(db);
      REQUIRE(report.at("devices").as_array().size() == 1);
      const auto& device = report.at("devices").at(0);
      CHECK(device.at("identity") == "individualized");
      CHECK(device.at("cert").at("subject").as_string().find("-3PCC,") != json::string::npos);  // CP-8851 / CP-8841
      REQUIRE(device.at("user_agents").as_array().size() == 1);
      if (name == "tls13") CHECK(device.at("user_agents").at(0) == "Cisco-CP-8851-3PCC/12.0.1 (00562b088501)");
      // -q: not said.
      const auto quiet = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", e2e::tmpPath("dsb-quiet.db"), with_keys});
      CHECK(quiet.status == 0);
      CHECK(quiet.err.empty());
    }
    {  // the keys both in the capture and given with --keylog
      const std::string db = e2e::tmpPath("dsb-both.db");
      replayInto(db, {with_keys}, {"-q", "--keylog", keys});
      CHECK(reportTextAs(db, with_keys) == reportTextAs(keyed, cap));
    }
    {  // beside secrets of another kind, skipped and counted
      const std::string other = e2e::tmpPath("ssh-keys.log");
      std::ofstream(other) << "0123456789abcdef SHARED_SECRET 00112233\n";
      const std::string both = e2e::tmpPath("dsb-ssh-" + name + ".pcapng");
      REQUIRE(e2e::run({"editcap", "--inject-secrets", "ssh," + other, "--inject-secrets", "tls," + keys, cap, both})
                  .status == 0);
      const std::string db = e2e::tmpPath("dsb-ssh.db");
      const std::string err = replayInto(db, {both}, {"-v"});
      CHECK(err.find("provaudit: " + both + ": 1 decryption secrets block skipped (SSH key log): only TLS key logs "
                     "are used\n") != std::string::npos);
      CHECK(anomalyCount(db, "capture_secrets_unsupported") == 1);
      CHECK(reportTextAs(db, both) == reportTextAs(keyed, cap));
    }
    {  // a damaged secrets block: its keys lost, said, counted; the packets read
      std::string bytes = e2e::readFile(with_keys);
      const auto u32 = [&bytes](std::size_t at) {
        std::uint32_t v = 0;
        std::memcpy(&v, bytes.data() + at, sizeof v);  // little-endian: editcap writes this host's order
        return v;
      };
      std::size_t dsb = 0;
      for (std::size_t at = 0; at + 8 <= bytes.size() && dsb == 0; at += u32(at + 4)) {
        REQUIRE(u32(at + 4) >= 12);
        if (u32(at) == 10) dsb = at;
      }
      REQUIRE(dsb != 0);
      const std::uint32_t too_long = u32(dsb + 4);  // more than the whole block
      std::memcpy(bytes.data() + dsb + 12, &too_long, sizeof too_long);  // its secrets length
      const std::string damaged = e2e::tmpPath("dsb-damaged-" + name + ".pcapng");
      std::ofstream(damaged, std::ios::binary) << bytes;
      const std::string db = e2e::tmpPath("dsb-damaged.db");
      const std::string plain = e2e::tmpPath("dsb-plain.db");
      replayInto(plain, {cap}, {"-q"});
      const std::string err = replayInto(db, {damaged}, {"-q"});
      CHECK(err == "provaudit: warning: " + damaged +
                       ": 1 damaged decryption secrets block skipped, the keys in it lost (the first: pcapng block "
                       "at byte offset " + std::to_string(dsb) + ": TLS key log of " + std::to_string(too_long) +
                       " bytes exceeds the block (" + std::to_string(too_long - 20) + " bytes left))\n");
      CHECK(anomalyCount(db, "capture_secrets_damaged") == 1);
      CHECK(reportTextAs(db, damaged) == reportTextAs(plain, cap));
    }
  }
}

TEST_CASE("the capture through PPPoE, an MPLS pseudowire or IP over MPLS labels: its devices, as tshark sees them") {
  // spa_mixed_tls12.pcap's frames as an access network (PPPoE sessions) or an
  // operator's core (MPLS) carries them to a mirror port.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const auto captured = capturedPackets(sample);
  const int linktype = captured.first;
  const std::vector<CapturedPacket>& packets = captured.second;
  REQUIRE(linktype == DLT_EN10MB);
  const std::string router("\x02\x00\x00\x00\x00\x01", 6), next_hop("\x02\x00\x00\x00\x00\x02", 6);
  const auto rewritten = [&](const std::function<std::string(const std::string&)>& frame, const std::string& name) {
    std::vector<CapturedPacket> out = packets;
    std::size_t ipv4 = 0;
    for (auto& p : out) {
      REQUIRE(p.data.size() >= 14);
      if (p.data.compare(12, 2, std::string("\x08\x00", 2)) != 0) continue;  // ARP and the like stay as they are
      p.data = frame(p.data);
      p.orig_len = static_cast<std::uint32_t>(p.data.size());
      ++ipv4;
    }
    REQUIRE(ipv4 >= 150);
    return writtenPcap(linktype, out, name);
  };
  const std::string two_labels("\x00\x01\x00\x40\x00\x02\x01\x40", 8), one_label("\x00\x03\x01\x40", 4);
  const std::string pppoe = rewritten(
      [](const std::string& f) {
        const std::string ip = f.substr(14);
        const auto len = static_cast<std::uint16_t>(ip.size() + 2);
        return f.substr(0, 12) + std::string("\x88\x64\x11\x00\x12\x34", 6) + static_cast<char>(len >> 8) +
               static_cast<char>(len & 0xff) + std::string("\x00\x21", 2) + ip;
      },
      "pppoe.pcap");
  const std::string pw = rewritten(
      [&](const std::string& f) { return next_hop + router + "\x88\x47" + one_label + std::string(4, '\0') + f; },
      "mpls-pw.pcap");
  const std::string l3 = rewritten(
      [&](const std::string& f) { return next_hop + router + "\x88\x47" + two_labels + f.substr(14); }, "mpls-ip.pcap");
  const std::string plain_db = e2e::tmpPath("encap-plain.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", plain_db, sample}).status == 0);
  const std::string want = reportTextAs(plain_db, sample);
  const std::multiset<std::string> want_leafs = storedClientLeafs(plain_db);
  REQUIRE(want_leafs.size() == 4);
  for (const std::string& file : {pppoe, pw, l3}) {
    INFO(file);
    const std::string db = e2e::tmpPath("encap.db");
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file});
    REQUIRE(r.status == 0);
    CHECK(sqlScalar(db, "SELECT coalesce(sum(count), 0) FROM source_anomalies") == 0);
    CHECK(storedClientLeafs(db) == want_leafs);
    // (tshark reads a pseudowire's frames only when told to: Decode As.)
    if (file != pw) CHECK(tsharkClientLeafs(file, file) == want_leafs);
    if (file != l3) {
      CHECK(reportTextAs(db, file) == want);  // the device's own MACs travel inside
      continue;
    }
    // Over bare labels the frames' MACs are the label switches': the devices
    // are the same five, by address, with the same certificates and classes.
    const json::value plain = reportJson(plain_db), got = reportJson(db);
    std::multiset<std::string> want_rows, got_rows;
    for (const auto* rep : {&plain, &got}) {
      for (const auto& d : rep->at("devices").as_array()) {
        const auto& o = d.as_object();
        (rep == &plain ? want_rows : got_rows)
            .insert(json::serialize(o.at("ips")) + str(o.at("identity")) + certSha(o));
        if (rep == &got) CHECK(str(o.at("mac")).rfind("02:00:00:00:00:", 0) != 0);
      }
    }
    CHECK(got_rows == want_rows);
  }
}

TEST_CASE("a classic pcap whose header's snap length is below its records' lengths is read as the file holds it") {
  // tcpdump -s 1500 on an interface with GRO writes merged frames longer than
  // 1500 bytes whole; so does a header rewritten after the capture. The
  // records were cut to the header's snap length: the devices' certificates
  // became gaps (unknown, handshake-gap) and the capture was said to be cut.
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  std::string bytes = e2e::readFile(sample);
  REQUIRE(bytes.size() > 24);
  const std::uint32_t snaplen = 200;  // the sample's frames are up to 590 bytes
  for (int i = 0; i < 4; ++i) bytes[16 + i] = static_cast<char>(snaplen >> (8 * i));  // little-endian header
  const std::string small = e2e::tmpPath("snap200-header.pcap");
  std::ofstream(small, std::ios::binary) << bytes;
  const std::string plain_db = e2e::tmpPath("snap200-plain.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", plain_db, sample}).status == 0);
  const std::string db = e2e::tmpPath("snap200-header.db");
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, small});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.err.empty());  // nothing said cut: nothing was
  CHECK(anomalyCount(db, "snaplen_truncated") == 0);
  CHECK(reportTextAs(db, small) == reportTextAs(plain_db, sample));
}

// Bytes [from, to) of the IPv4 payload of `whole` (Ethernet, IPv4 without
// options or with), as a fragment of its datagram: its header's length,
// More Fragments flag, offset and checksum (RFC 791 §3.1, §3.2) rewritten.
CapturedPacket ipv4Fragment(const CapturedPacket& whole, std::size_t from, std::size_t to, bool more) {
  const std::string& d = whole.data;
  REQUIRE(d.size() >= 34);
  const std::size_t ihl = (static_cast<unsigned char>(d[14]) & 0x0FU) * 4U;
  REQUIRE(from % 8 == 0);
  REQUIRE(from < to);
  REQUIRE(14 + ihl + to <= d.size());
  CapturedPacket p = whole;
  p.data = d.substr(0, 14 + ihl) + d.substr(14 + ihl + from, to - from);
  const std::size_t total = ihl + (to - from);
  p.data[14 + 2] = static_cast<char>(total >> 8);
  p.data[14 + 3] = static_cast<char>(total & 0xff);
  const std::size_t field = (more ? 0x2000U : 0U) | (from / 8);
  p.data[14 + 6] = static_cast<char>(field >> 8);
  p.data[14 + 7] = static_cast<char>(field & 0xff);
  p.data[14 + 10] = p.data[14 + 11] = 0;
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < ihl; i += 2) {
    sum += static_cast<std::uint32_t>(static_cast<unsigned char>(p.data[14 + i]) << 8 | static_cast<unsigned char>(p.data[15 + i]));
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  p.data[14 + 10] = static_cast<char>(~sum >> 8 & 0xff);
  p.data[14 + 11] = static_cast<char>(~sum & 0xff);
  p.orig_len = static_cast<std::uint32_t>(p.data.size());
  return p;
}

bool isIpv4Tcp(const CapturedPacket& p) {
  return p.data.size() >= 34 && p.data.compare(12, 2, "\x08\x00", 2) == 0 && p.data[14 + 9] == 6;
}

TEST_CASE("a fragmented datagram whose last fragment never comes is counted at the end of the capture") {
  // The sample's last TCP segment (a bare ACK) sent as two IPv4 fragments,
  // the second lost. Without a fragment after it to time it out, the
  // datagram was dropped uncounted.
  const auto captured = capturedPackets(e2e::samplePath("spa_mixed_tls12.pcap"));
  std::vector<CapturedPacket> packets = captured.second;
  std::size_t last = packets.size();
  while (last > 0 && !isIpv4Tcp(packets[last - 1])) --last;
  REQUIRE(last > 0);
  // 16 bytes: a multiple of 8 (RFC 791 §3.2), less than the TCP header.
  packets[last - 1] = ipv4Fragment(packets[last - 1], 0, 16, true);
  const std::string file = writtenPcap(captured.first, packets, "frag-lost.pcap");
  const std::string db = e2e::tmpPath("frag-lost.db");
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(anomalyCount(db, "ipv4_fragment_incomplete_at_end") == 1);
  CHECK(anomalyCount(db, "ipv4_fragment_timeout") == 0);
  CHECK(reportJson(db).at("devices").as_array().size() == 5);
}

TEST_CASE("every fragment seen twice (two capture points): the report of the capture, copies counted, none left over") {
  // Each TCP segment of 200 bytes or more sent as two IPv4 fragments, and
  // each fragment copied right after itself, as two capture points merged
  // give them: the second copy of a last fragment comes after its datagram
  // was reassembled. It started a datagram that never completed
  // (ipv4_fragment_incomplete_at_end for every one) though nothing was lost.
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const auto captured = capturedPackets(sample);
  std::vector<CapturedPacket> packets;
  std::int64_t split = 0;
  for (const CapturedPacket& p : captured.second) {
    const std::size_t ihl = p.data.size() >= 15 ? (static_cast<unsigned char>(p.data[14]) & 0x0FU) * 4U : 0;
    if (!isIpv4Tcp(p) || p.data.size() < 14 + ihl + 200) {
      packets.push_back(p);
      continue;
    }
    const std::size_t payload = p.data.size() - 14 - ihl;
    for (const CapturedPacket& f : {ipv4Fragment(p, 0, 96, true), ipv4Fragment(p, 96, payload, false)}) {
      packets.push_back(f);
      packets.push_back(f);
    }
    ++split;
  }
  REQUIRE(split >= 10);
  const std::string file = writtenPcap(captured.first, packets, "frag-twice.pcap");
  const std::string plain_db = e2e::tmpPath("frag-twice-plain.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", plain_db, sample}).status == 0);
  const std::string db = e2e::tmpPath("frag-twice.db");
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(anomalyCount(db, "ipv4_fragment_duplicate") == 2 * split);
  CHECK(anomalyCount(db, "ipv4_fragment_incomplete_at_end") == 0);
  CHECK(anomalyCount(db, "ipv4_fragment_overlap") == 0);
  CHECK(reportTextAs(db, file) == reportTextAs(plain_db, sample));
}

TEST_CASE("vendor_claims: MACs in the URL forms of Cisco's macros are the devices' claims, as tshark shows the URLs") {
  // Its expected table checks the classes and the OUI's claim-mismatch; the
  // MACs its URLs name are only in each device's detail (claims and their
  // sources). /spa$MAC.cfg and /cfg/init_$MAC.xml with $MAC's colons, and
  // the Report_Rule example's /$MA/rep.xml.enc, named no MAC before.
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const std::string sample = e2e::samplePath("vendor_claims.pcap");
  const std::string db = e2e::tmpPath("vendor-claims.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, sample}).status == 0);
  const std::map<std::string, std::pair<std::string, std::string>> want{
      {"00:0e:08:aa:01:12", {"/spa00:0e:08:aa:01:12.cfg", "cisco-spa-mac-file"}},
      {"00:0e:08:aa:01:16", {"/cfg/init_00:0e:08:aa:01:16.xml", "cisco-spa9000-init"}},
      {"00:0e:08:aa:01:17", {"/prov/000e08aa0117/rep.xml.enc", "cisco-report-rule"}},
  };
  std::map<std::string, std::string> tshark_uris;  // the requests' source MAC -> URI
  for (const auto& row : tsharkFields(sample, "http.request", {"eth.src", "http.request.uri"})) tshark_uris[row[0]] = row[1];
  for (const auto& [mac, uri_rule] : want) {
    const auto& [uri, rule] = uri_rule;
    INFO("device " << mac);
    CHECK(tshark_uris[mac] == uri);
    const json::value detail = deviceDetail(db, mac);
    const auto& sources = detail.at("claim_sources").as_array();
    std::set<std::string> url_macs;
    for (const auto& c : detail.at("claims").as_array()) {
      if (c.at("field") != "mac") continue;
      const auto& from = sources.at(static_cast<std::size_t>(c.at("from").as_int64())).as_object();
      if (from.at("origin") != "url") continue;
      CHECK(from.at("rule") == rule.c_str());
      CHECK(from.at("evidence") == uri.c_str());
      url_macs.insert(std::string(c.at("value").as_string()));
    }
    CHECK(url_macs == std::set<std::string>{mac});
  }
  // The manufacturing certificate that names only SEP<MAC>: its MAC, as tshark reads its CN.
  const auto cns = tsharkFields(sample, "tls.handshake.type==11 && eth.src==00:56:2b:aa:01:50", {"x509sat.printableString"});
  REQUIRE(cns.size() == 1);
  CHECK(cns[0][0].find("SEP00562BAA0150") != std::string::npos);
}

TEST_CASE("the capture over PPP (DLT 9, or 50 in HDLC-like framing): its devices, by address, as tshark sees them") {
  if (!e2e::haveTool("tshark")) FAIL("tshark is required for this test (scripts/install-deps.sh --test installs it)");
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const auto captured = capturedPackets(sample);
  REQUIRE(captured.first == DLT_EN10MB);
  std::vector<CapturedPacket> ppp;
  for (const auto& p : captured.second) {
    if (p.data.size() < 14 || p.data.compare(12, 2, "\x08\x00", 2) != 0) continue;  // a PPP link carries no ARP
    ppp.push_back({p.ts_us, std::string("\xff\x03\x00\x21", 4) + p.data.substr(14), 0});
    ppp.back().orig_len = static_cast<std::uint32_t>(ppp.back().data.size());
  }
  REQUIRE(ppp.size() >= 150);
  const std::string plain_db = e2e::tmpPath("ppp-plain.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", plain_db, sample}).status == 0);
  const std::multiset<std::string> want_leafs = storedClientLeafs(plain_db);
  REQUIRE(want_leafs.size() == 4);
  for (const int linktype : {DLT_PPP, DLT_PPP_SERIAL}) {
    INFO("link type " << linktype);
    const std::string file = writtenPcap(linktype, ppp, "ppp" + std::to_string(linktype) + ".pcap");
    const std::string db = e2e::tmpPath("ppp.db");
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, file});
    INFO(r.err);
    REQUIRE(r.status == 0);
    CHECK(r.err.empty());
    CHECK(sqlScalar(db, "SELECT coalesce(sum(count), 0) FROM source_anomalies") == 0);
    CHECK(storedClientLeafs(db) == want_leafs);
    CHECK(tsharkClientLeafs(file, file) == want_leafs);
    // A PPP link has no MACs: the devices are the same five, by address.
    const json::value plain = reportJson(plain_db), got = reportJson(db);
    std::multiset<std::string> want_rows, got_rows;
    for (const auto* rep : {&plain, &got}) {
      for (const auto& d : rep->at("devices").as_array()) {
        const auto& o = d.as_object();
        (rep == &plain ? want_rows : got_rows).insert(json::serialize(o.at("ips")) + str(o.at("identity")) + certSha(o));
      }
    }
    CHECK(got_rows == want_rows);
  }
}

TEST_CASE("a capture in a link type provaudit does not decode is named in one line: an error when nothing could be read") {
  // 802.11 with radiotap headers (127): its packets were counted as
  // anomalies, the replay said "0 flows" and exited 0; only -v named
  // unsupported_linktype, and nothing named the link type.
  REQUIRE(e2e::haveTool("mergecap"));
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const auto captured = capturedPackets(sample);
  const std::string radio = writtenPcap(DLT_IEEE802_11_RADIO, captured.second, "radiotap.pcap");
  const std::string n = std::to_string(captured.second.size());
  const std::string db = e2e::tmpPath("radiotap.db");
  SECTION("alone: nothing read, exit status 1") {
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "--db", db, radio});
    CHECK(r.status == 1);
    CHECK(r.err == "provaudit: error: " + radio + ": its " + n +
                       " packets are in link type 802.11 plus radiotap header (127), which provaudit does not decode: "
                       "nothing in it was read\n");
  }
  SECTION("beside a capture that is read: that one audited, the other named, exit status 1") {
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, sample, radio});
    CHECK(r.status == 1);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(radio + ": its " + n + " packets are in link type 802.11 plus radiotap header (127)") !=
          std::string::npos);
    CHECK(reportJson(db).at("devices").as_array().size() == 5);
  }
  SECTION("one interface of a pcapng in it, the other Ethernet: a warning, the rest audited, exit status 0") {
    const std::string mixed = e2e::tmpPath("mixed-linktypes.pcapng");
    REQUIRE(e2e::run({"mergecap", "-F", "pcapng", "-w", mixed, sample, radio}).status == 0);
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, mixed});
    CHECK(r.status == 0);
    CHECK(r.err == "provaudit: warning: " + mixed + ": " + n + " of its " + std::to_string(2 * captured.second.size()) +
                       " packets are in link type 802.11 plus radiotap header (127), which provaudit does not decode: "
                       "they were not read\n");
    CHECK(reportJson(db).at("devices").as_array().size() == 5);
  }
}

TEST_CASE("a pcapng packet block damaged inside (its length sound) costs that packet: the rest is read, and said") {
  // Wireshark stops at such a block; the devices after it were lost.
  REQUIRE(e2e::haveTool("editcap"));
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const std::string ng = e2e::tmpPath("damaged-source.pcapng");
  REQUIRE(e2e::run({"editcap", "-F", "pcapng", sample, ng}).status == 0);
  std::string bytes = e2e::readFile(ng);
  // The Enhanced Packet Blocks' offsets (little-endian: editcap writes this host's order).
  std::vector<std::size_t> epbs;
  const auto u32 = [&bytes](std::size_t at) {
    std::uint32_t v = 0;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    return v;
  };
  for (std::size_t at = 0; at + 8 <= bytes.size(); at += u32(at + 4)) {
    REQUIRE(u32(at + 4) >= 12);
    if (u32(at) == 6) epbs.push_back(at);
  }
  REQUIRE(epbs.size() == 163);
  // A bare ACK in the middle of the capture (it carries nothing the audit reads).
  const std::vector<std::string> acks =
      tsharkFrames(sample, "tcp.len == 0 && tcp.flags.syn == 0 && tcp.flags.fin == 0 && tcp.flags.reset == 0");
  REQUIRE(acks.size() > 20);
  const std::size_t victim = std::stoul(acks[acks.size() / 2]) - 1;
  const std::uint32_t undeclared = 7;
  std::string one = bytes;
  std::memcpy(one.data() + epbs[victim] + 8, &undeclared, sizeof undeclared);  // its interface id
  const std::string damaged = e2e::tmpPath("damaged.pcapng");
  std::ofstream(damaged, std::ios::binary) << one;
  const std::string whole = e2e::tmpPath("damaged-whole.db"), db = e2e::tmpPath("damaged.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", whole, sample}).status == 0);
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, damaged});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.err == "provaudit: warning: " + damaged +
                     ": 1 damaged packet block skipped, the packets after it read (the first: pcapng block at byte "
                     "offset " + std::to_string(epbs[victim]) + ": interface id 7 not declared (the section has 1))\n");
  CHECK(reportTextAs(db, damaged) == reportTextAs(whole, sample));
  CHECK(anomalyCount(db, "capture_block_damaged") == 1);
  CHECK(sqlScalar(db, "SELECT packets FROM sources") == 162);
  // Every packet block damaged: nothing read, an error as for an unreadable file.
  std::string all = bytes;
  for (const std::size_t at : epbs) std::memcpy(all.data() + at + 8, &undeclared, sizeof undeclared);
  const std::string none = e2e::tmpPath("all-damaged.pcapng");
  std::ofstream(none, std::ios::binary) << all;
  const auto bad = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", e2e::tmpPath("all-damaged.db"), none});
  CHECK(bad.status == 1);
  CHECK(bad.err.rfind("provaudit: error: " + none + ": 163 damaged packet blocks skipped", 0) == 0);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
}

TEST_CASE("CSV report: contract header, RFC 4180 quoting, no formula injection") {
  const std::string db = e2e::tmpPath("csv.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, e2e::samplePath("spa_mixed_tls12.pcap")}).status == 0);
  const auto r = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "--format", "csv"});
  REQUIRE(r.status == 0);
  std::istringstream in(r.out);
  std::string header;
  std::getline(in, header);
  CHECK(header ==
        "mac,ips,identity,vendor,model,firmware,serial,cert_mac,cert_sha256,cert_chain,findings,first_seen,last_seen\r");
  int rows = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) ++rows;
  }
  const json::value rep = e2e::replayReport({e2e::samplePath("spa_mixed_tls12.pcap")}, {}, "csv2.db");
  CHECK(rows == static_cast<int>(rep.at("devices").as_array().size()));
}

TEST_CASE("bad input files get a one-line error and exit status 1") {
  const std::string db = e2e::tmpPath("bad.db");
  SECTION("missing file") {
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "/nonexistent/x.pcap"});
    CHECK(r.status == 1);
    CHECK(r.err.find("/nonexistent/x.pcap") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  SECTION("not a capture") {
    const std::string txt = e2e::tmpPath("not-a-capture.pcap");
    std::ofstream(txt) << "this is not a capture file\n";
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, txt});
    CHECK(r.status == 1);
    CHECK(r.err.find("not-a-capture.pcap") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  SECTION("one good and one bad file: the good one is audited, the bad one said, exit 1") {
    const auto r =
        e2e::run({PROVAUDIT_BIN, "replay", "--db", db, "/nonexistent/y.pcap", e2e::samplePath("spa_mixed_tls12.pcap")});
    CHECK(r.status == 1);
    CHECK(r.err.rfind("provaudit: error: /nonexistent/y.pcap: ", 0) == 0);
    CHECK(r.err.find("; 5 devices (individualized 2, generic 2, none 1, unknown 0)") != std::string::npos);
    const auto rep = e2e::run({PROVAUDIT_BIN, "report", "--db", db});
    CHECK(e2e::parseJson(rep.out).at("devices").as_array().size() == 5);
  }
  SECTION("nothing readable: the error alone, no summary line") {
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "--db", db, "/nonexistent/z.pcap"});
    CHECK(r.status == 1);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  SECTION("unknown option") {
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "--no-such-option", "x.pcap"});
    CHECK(r.status == 1);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

TEST_CASE("report -o: never over the database or its journal files; the file appears whole, nothing left beside it") {
  const std::string db = e2e::tmpPath("report-out.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, e2e::samplePath("spa_mixed_tls12.pcap")}).status == 0);
  const std::string before = e2e::readFile(db);
  REQUIRE(!before.empty());
  for (const std::string& target : {db, db + "-wal", db + "-shm", db + "-journal"}) {
    const auto r = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "-o", target});
    INFO(target << ": " << r.err);
    CHECK(r.status == 1);
    CHECK(r.err == "provaudit: error: " + target + ": is the database (--db); the report needs a file of its own\n");
  }
  CHECK(e2e::readFile(db) == before);
  const std::string out = e2e::tmpPath("report-out.json");
  const auto ok = e2e::run({PROVAUDIT_BIN, "report", "--db", db, "-o", out, "-q"});
  CHECK(ok.status == 0);
  CHECK(e2e::parseJson(e2e::readFile(out)).at("devices").as_array().size() == 5);
  // A report replaced keeps its mode; through a symbolic link, the link stays and its target is replaced.
  namespace fs = std::filesystem;
  fs::permissions(out, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  const std::string link = e2e::tmpPath("report-out-link.json");
  fs::create_symlink(out, link);
  CHECK(e2e::run({PROVAUDIT_BIN, "report", "--db", db, "-o", link, "--format", "csv"}).status == 0);
  CHECK(fs::is_symlink(fs::symlink_status(link)));
  CHECK(e2e::readFile(out).rfind("mac,ips,identity,", 0) == 0);
  CHECK(fs::status(out).permissions() == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  const fs::path dir = fs::path(out).parent_path();
  for (const auto& entry : fs::directory_iterator(dir)) {
    CHECK(entry.path().filename().string().find(".partial-") == std::string::npos);
  }
}

TEST_CASE("serve and report refuse a database of another schema version, in one line naming it") {
  REQUIRE(e2e::haveTool("sqlite3"));
  const std::string db = e2e::tmpPath("schema-version.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, e2e::samplePath("spa_mixed_tls12.pcap")}).status == 0);
  for (const auto& [version, why] : {std::pair{"9", "is newer than this provaudit (8)"},
                                     std::pair{"7", "is older than this provaudit's (8): a 'provaudit replay'"}}) {
    REQUIRE(e2e::run({"sqlite3", db, std::string("UPDATE schema_version SET version=") + version}).status == 0);
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{PROVAUDIT_BIN, "serve", "--db", db, "--serve", "127.0.0.1:0"},
          std::vector<std::string>{PROVAUDIT_BIN, "report", "--db", db}}) {
      const auto r = e2e::run(cmd);
      INFO(cmd[1] << " at version " << version << ": " << r.err);
      CHECK(r.status == 1);
      CHECK(r.err.rfind("provaudit: error: " + db + ": database schema version " + version + " ", 0) == 0);
      CHECK(r.err.find(why) != std::string::npos);
      CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
  }
}

TEST_CASE(
    "a handshake stored from a capture cut short, or without its key log, is read again whole by a later replay") {
  // Each device as the report gives it: class, reason, certificate, findings.
  const auto verdicts = [](const json::value& report) {
    std::map<std::string, std::string> out;
    for (const auto& d : report.at("devices").as_array()) {
      std::string codes;
      for (const auto& f : d.at("findings").as_array()) codes += str(f.at("code")) + " ";
      const json::value& cert = d.at("cert");
      out[str(d.at("id"))] = str(d.at("identity")) + "/" + str(d.at("identity_reason")) + " " +
                             (cert.is_object() ? str(cert.at("sha256")) : "-") + " " + codes + " sessions " +
                             std::to_string(d.at("sessions").to_number<std::int64_t>());
    }
    return out;
  };
  const auto report = [](const std::string& db) {
    return e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", db}).out);
  };
  const auto sightings = [](const std::string& db) {
    return e2e::run({"sqlite3", db, "SELECT count(*) FROM sightings"}).out;
  };
  REQUIRE(e2e::haveTool("sqlite3"));
  SECTION("cut short, then whole") {
    const std::string whole = e2e::samplePath("spa_mixed_tls12.pcap");
    const auto fresh = verdicts(e2e::replayReport({whole}, {}, "upgrade-fresh.db"));
    const std::string bytes = e2e::readFile(whole);
    const std::string cut = e2e::tmpPath("upgrade-cut.pcap");
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, 20000);  // mid-handshake of the fourth device
    const std::string db = e2e::tmpPath("upgrade.db");
    CHECK(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, cut}).status == 1);  // cut: said, exit 1
    REQUIRE(verdicts(report(db)) != fresh);
    REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, whole}).status == 0);
    CHECK(verdicts(report(db)) == fresh);
    const std::string stored = sightings(db);
    // Once more, whole: nothing read further, nothing replaced or counted twice.
    REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, whole}).status == 0);
    CHECK(sightings(db) == stored);
    CHECK(verdicts(report(db)) == fresh);
  }
  SECTION("without the key log, then with it") {
    const std::string cap = e2e::samplePath("tls13.pcap"), keys = e2e::samplePath("tls13.keylog");
    const auto fresh = verdicts(e2e::replayReport({cap}, {"--keylog", keys}, "upgrade-keyed.db"));
    const std::string db = e2e::tmpPath("upgrade-keylog.db");
    REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, cap}).status == 0);
    REQUIRE(verdicts(report(db)) != fresh);
    REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "--keylog", keys, cap}).status == 0);
    CHECK(verdicts(report(db)) == fresh);
  }
}

TEST_CASE(
    "the --ca bundle is kept with the database: a later run without it judges chains by it, says so; --ca none forgets "
    "it") {
  const std::string db = e2e::tmpPath("kept-ca.db");
  const std::string forged = "mac:00:0e:08:f0:0d:01";  // audit_cases: a certificate under a look-alike CA
  const auto chainOf = [&](const std::string& id) {
    const json::value rep = e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", db}).out);
    for (const auto& d : rep.at("devices").as_array()) {
      if (str(d.at("id")) != id) continue;
      std::string codes;
      for (const auto& f : d.at("findings").as_array()) codes += " " + str(f.at("code"));
      return str(d.at("cert").at("chain")) + codes;
    }
    return std::string("no device");
  };
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "--ca", e2e::samplePath("pki/device-root.pem"),
                    e2e::samplePath("audit_cases.pcap")})
              .status == 0);
  const std::string judged = chainOf(forged);
  REQUIRE(judged.rfind("untrusted", 0) == 0);
  REQUIRE(judged.find("cert-untrusted") != std::string::npos);
  // A later run without --ca: the same verdict, and a line saying by what.
  const auto later = e2e::run({PROVAUDIT_BIN, "replay", "--db", db, e2e::samplePath("plain_http.pcap")});
  REQUIRE(later.status == 0);
  CHECK(later.err.find("provaudit: chains are checked against the --ca bundle an earlier run gave " + db +
                       " (1 certificate; --ca FILE replaces it, --ca none forgets it)\n") == 0);
  CHECK(chainOf(forged) == judged);
  // Forgotten: unchecked, no trust finding; and nothing said any more.
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "--ca", "none", e2e::samplePath("plain_http.pcap")})
              .status == 0);
  CHECK(chainOf(forged).rfind("unchecked", 0) == 0);
  CHECK(chainOf(forged).find("cert-untrusted") == std::string::npos);
  const auto after = e2e::run({PROVAUDIT_BIN, "replay", "--db", db, e2e::samplePath("plain_http.pcap")});
  CHECK(after.err.find("chains are checked") == std::string::npos);
  const auto both = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "--ca", "none", "--ca",
                              e2e::samplePath("pki/device-root.pem"), e2e::samplePath("plain_http.pcap")});
  CHECK(both.status == 1);
  CHECK(both.err == "provaudit: error: --ca none: given with bundles; it forgets the one kept, alone\n");
}

TEST_CASE("the report marks a device whose deciding evidence was decrypted, in JSON and in HTML") {
  const std::string cap = e2e::samplePath("tls13.pcap"), keys = e2e::samplePath("tls13.keylog");
  const std::string keyed_db = e2e::tmpPath("marked-keyed.db"), plain_db = e2e::tmpPath("marked-plain.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", keyed_db, "--keylog", keys, cap}).status == 0);
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", plain_db, cap}).status == 0);
  const json::value with = e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", keyed_db}).out);
  const json::value without = e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", plain_db}).out);
  REQUIRE(with.at("devices").as_array().size() == 1);
  REQUIRE(without.at("devices").as_array().size() == 1);
  const auto& d = with.at("devices").as_array().front();
  CHECK(str(d.at("identity")) != "unknown");  // the client certificate, read from the decrypted handshake
  CHECK(d.at("evidence_decrypted") == true);
  CHECK(without.at("devices").as_array().front().at("evidence_decrypted") == false);
  const auto html = e2e::run({PROVAUDIT_BIN, "report", "--format", "html", "--db", keyed_db});
  CHECK(html.out.find("<i data-evidence=\"decrypted\">decrypted</i>") != std::string::npos);
  const auto plain = e2e::run({PROVAUDIT_BIN, "report", "--format", "html", "--db", plain_db});
  CHECK(plain.out.find("data-evidence=\"decrypted\"") == std::string::npos);
}

TEST_CASE("a repeatable option takes one value each time: the captures after it are read, not taken for keys") {
  // `--keylog KEYS a.pcap b.pcap` took a.pcap as a second key log and read b.pcap alone, without a word.
  const std::string db = e2e::tmpPath("repeatable.db");
  const auto r = e2e::run({PROVAUDIT_BIN, "replay", "--db", db, "--keylog", e2e::samplePath("tls13.keylog"), "--keylog",
                           e2e::samplePath("tls12_keylog.keylog"), e2e::samplePath("tls13.pcap"),
                           e2e::samplePath("tls12_keylog.pcap")});
  INFO(r.err);
  REQUIRE(r.status == 0);
  // Both captures, each decrypted with its own key log: two devices, each with its certificate.
  CHECK(std::regex_search(r.err, std::regex(R"(, 2 flows, 2 TLS handshakes \(2 client certificates\), 2 HTTP requests; )"
                                            R"(2 devices \(individualized 2, generic 0, none 0, unknown 0\))")));
  SECTION("capture: one interface a -i") {
    // (Interfaces that do not exist: a capture that took both would stop at once, not listen.)
    const auto c = e2e::run(
        {PROVAUDIT_BIN, "capture", "--db", e2e::tmpPath("repeatable-capture.db"), "-i", "pa-none0", "pa-none1"});
    CHECK(c.status == 1);
    CHECK(c.err == "provaudit: error: The following argument was not expected: pa-none1 (see --help)\n");
  }
}

TEST_CASE("stdin replay gives the same report as the file") {
  const std::string sample = e2e::samplePath("spa_mixed_tls12.pcap");
  const std::string db = e2e::tmpPath("stdin.db");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "-"}, sample).status == 0);
  const auto viaStdin = e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", db}).out);
  const auto viaFile = e2e::replayReport({sample}, {}, "stdin-file.db");
  CHECK(json::serialize(viaStdin.at("devices")) == json::serialize(viaFile.at("devices")));
}

namespace {

// "2026-11-26T20:30:29.360734Z" as nanoseconds since the epoch.
std::int64_t isoNs(const std::string& t) {
  std::tm tm{};
  long frac = 0;
  int digits = 0;
  REQUIRE(std::sscanf(t.c_str(), "%d-%d-%dT%d:%d:%d.%ld%nZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                      &tm.tm_min, &tm.tm_sec, &frac, &digits) == 7);
  const int frac_digits = digits - static_cast<int>(t.find('.')) - 1;
  for (int i = frac_digits; i < 9; ++i) frac *= 10;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000000000 + frac;
}

std::vector<std::string> lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("replay --events: the same input gives the same events, findings as the report has them, however the audits fell") {
  // A replay audits while it reads, by wall time: a stream that stops halfway
  // is audited halfway. Its finding events still come from the last audit,
  // so they equal those of a replay of the stream in one go, and the report's.
  const std::string sample = e2e::samplePath("plain_http.pcap");
  int linktype = 0;
  const auto pkts = readAll(sample, linktype);
  const std::string whole = e2e::tmpPath("events-whole.pcap");
  writeAll(whole, linktype, pkts);
  const std::string db_file = e2e::tmpPath("events-file.db"), ev_file = e2e::tmpPath("events-file.jsonl");
  REQUIRE(e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db_file, "--events", ev_file, "-"}, whole).status == 0);
  const json::value report = e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", db_file}).out);
  // The stop falls between the sightings of the device seen longest with a finding.
  std::int64_t split_ns = 0, span = 0;
  for (const auto& d : report.at("devices").as_array()) {
    const std::int64_t first = isoNs(json::value_to<std::string>(d.at("first_seen")));
    const std::int64_t last = isoNs(json::value_to<std::string>(d.at("last_seen")));
    if (d.at("findings").as_array().empty() || d.at("sessions").to_number<int>() < 2 || last - first <= span) continue;
    span = last - first;
    split_ns = first + span / 2;
  }
  REQUIRE(span > 0);
  std::size_t offset = 24;  // the file header, then 16 bytes and the data per record
  std::size_t before = 0;
  for (const auto& p : pkts) {
    if (static_cast<std::int64_t>(p.hdr.ts.tv_sec) * 1000000000 + p.hdr.ts.tv_usec * 1000 >= split_ns) break;
    offset += 16 + p.hdr.caplen;
    ++before;
  }
  REQUIRE(before > 0);
  REQUIRE(before < pkts.size());
  // The stream stops for 2.5 s there: the replay audits what it has (-vv says so).
  const std::string db_pause = e2e::tmpPath("events-pause.db"), ev_pause = e2e::tmpPath("events-pause.jsonl");
  const std::string script = "{ head -c " + std::to_string(offset) + " '" + whole + "'; sleep 2.5; tail -c +" +
                             std::to_string(offset + 1) + " '" + whole + "'; } | '" + PROVAUDIT_BIN +
                             "' replay -vv --db '" + db_pause + "' --events '" + ev_pause + "' -";
  const auto paused = e2e::run({"sh", "-c", script});
  INFO(paused.err);
  REQUIRE(paused.status == 0);
  REQUIRE(paused.err.find("provaudit: audit 2:") != std::string::npos);  // one audit in the pause, one at the end
  CHECK(json::serialize(e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", db_pause}).out).at("devices")) ==
        json::serialize(report.at("devices")));
  const auto events = lines(ev_file);
  CHECK(lines(ev_pause) == events);
  // Every finding of the report is an event, once, timed at its device's last sighting.
  std::multiset<std::string> expected;
  for (const auto& d : report.at("devices").as_array()) {
    for (const auto& f : d.at("findings").as_array()) {
      expected.insert(json::serialize(json::object{{"event", "finding"}, {"device", d.at("id")}, {"code", f.at("code")},
                                                   {"severity", f.at("severity")}, {"detail", f.at("detail")},
                                                   {"time", d.at("last_seen")}}));
    }
  }
  CHECK(!expected.empty());
  for (const auto& file : {ev_file, ev_pause}) {
    INFO(file);
    std::multiset<std::string> got;
    for (const auto& line : lines(file)) {
      const json::value e = e2e::parseJson(line);
      if (e.at("event") == "finding" && e.as_object().contains("device")) got.insert(json::serialize(e));
    }
    CHECK(got == expected);
  }
}

TEST_CASE("rules check: bundled rules pass, a broken file gives FILE:LINE errors and exit 1") {
  const auto ok = e2e::run({PROVAUDIT_BIN, "rules", "check"});
  CHECK(ok.status == 0);
  CHECK(ok.out.find("rules OK") != std::string::npos);
  const std::string dir = e2e::tmpPath("badrules");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/broken.toml") << "# comment\n[[user_agent]]\nid = \"x\"\npattern = '(unclosed'\n";
  const auto bad = e2e::run({PROVAUDIT_BIN, "rules", "check", dir});
  CHECK(bad.status == 1);
  CHECK(bad.err.find(dir + "/broken.toml:4:") != std::string::npos);  // the directory named: one of several told apart
}

TEST_CASE("a server whose CertificateRequest a capture lost still asked: its client's Certificate shows it") {
  // tls12_rsa.pcap without frame 9 (the server's Certificate, CertificateRequest
  // and ServerHelloDone), as a SPAN port's drop loses it.
  REQUIRE(e2e::haveTool("editcap"));
  const std::string cut = e2e::tmpPath("tls12_rsa-no-frame9.pcap");
  const auto r = e2e::run({"editcap", "-F", "pcap", e2e::samplePath("tls12_rsa.pcap"), cut, "9"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const json::value report = e2e::replayReport({cut}, {}, "no-frame9.db");
  const auto& servers = report.at("servers").as_array();
  REQUIRE(servers.size() == 1);
  INFO(json::serialize(servers));
  CHECK(servers[0].at("requests_client_cert") == json::value(true));
  CHECK(servers[0].at("findings").as_array().empty());
  const auto& devices = report.at("devices").as_array();
  REQUIRE(devices.size() == 1);
  CHECK(devices[0].at("identity") == "individualized");
}

TEST_CASE("replay and capture with rules that do not load refuse to run and leave no database behind") {
  const std::string dir = e2e::tmpPath("badrules-nodb");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/broken.toml") << "[[user_agent]]\nid = \"x\"\npattern = '(unclosed'\n";
  for (const std::string& rules : {dir, e2e::tmpPath("no-such-rules-dir")}) {
    INFO(rules);
    const std::string db = e2e::tmpPath("badrules-replay.db");
    const auto r = e2e::run({PROVAUDIT_BIN, "replay", "-q", "--db", db, "--rules", rules, e2e::samplePath("plain_http.pcap")});
    CHECK(r.status == 1);
    CHECK(r.err.find("rules in " + rules + " do not load") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(db));  // an empty database file was created first
    CHECK_FALSE(std::filesystem::exists(db + "-wal"));
    if (::geteuid() == 0) {
      // Only root opens the interface, after which the rules are loaded (a
      // user is refused the interface first: no database either way).
      const std::string cdb = e2e::tmpPath("badrules-capture.db");
      const auto c = e2e::run({PROVAUDIT_BIN, "capture", "-q", "--db", cdb, "--rules", rules, "-i", "lo"});
      CHECK(c.status == 1);
      CHECK(c.err.find("rules in " + rules + " do not load") != std::string::npos);
      CHECK_FALSE(std::filesystem::exists(cdb));
    }
  }
}

TEST_CASE("the command line names what it could not take: an unknown command, a file that is no provaudit database") {
  const auto unknown = e2e::run({PROVAUDIT_BIN, "raport", "--db", "x.db"});
  CHECK(unknown.status == 1);
  CHECK(unknown.err == "provaudit: error: unknown command 'raport': expected replay, capture, report, serve or rules (see --help)\n");
  const auto sub = e2e::run({PROVAUDIT_BIN, "rules", "chek"});
  CHECK(sub.status == 1);
  CHECK(sub.err == "provaudit: error: unknown command 'rules chek': expected check (see rules --help)\n");
  const std::string empty = e2e::tmpPath("empty-file.db");
  std::ofstream(empty).flush();
  for (const char* format : {"json", "csv"}) {
    const auto r = e2e::run({PROVAUDIT_BIN, "report", "--db", empty, "--format", format});
    CHECK(r.status == 1);
    CHECK(r.err == "provaudit: error: " + empty + ": not a provaudit database (run 'provaudit replay' or 'capture' first)\n");
  }
}

TEST_CASE("the replay's summary counts the findings the dashboard and the report count, the servers' too") {
  std::vector<std::string> argv = {PROVAUDIT_BIN, "replay", "--db", e2e::tmpPath("summary-all.db")};
  for (const auto& entry : std::filesystem::directory_iterator(e2e::samplePath(""))) {
    if (entry.path().extension() == ".pcap") argv.push_back(entry.path().string());
  }
  const auto r = e2e::run(argv);
  REQUIRE(r.status == 0);
  const json::value report = e2e::parseJson(e2e::run({PROVAUDIT_BIN, "report", "--db", argv[3]}).out);
  std::size_t device_findings = 0, server_findings = 0;
  for (const auto& d : report.at("devices").as_array()) device_findings += d.at("findings").as_array().size();
  for (const auto& srv : report.at("servers").as_array()) server_findings += srv.at("findings").as_array().size();
  REQUIRE(server_findings > 0);  // the samples' servers have some (legacy TLS, weak ciphers)
  CHECK(r.err.find(", " + std::to_string(device_findings + server_findings) + " findings, ") != std::string::npos);
}
