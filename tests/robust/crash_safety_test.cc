// Crash safety and concurrent access through the real binary (issue 8):
// kill -9 during a long replay leaves a database that opens, passes
// PRAGMA integrity_check and holds what was flushed; the next run continues.
// A replay and report readers, and two replays, share one database without
// "database is locked" failures.
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "robust_util.h"

namespace {
using robust::bin;
using Clock = std::chrono::steady_clock;

// The sample's packets again and again: timestamps shifted past the previous
// copy and client ports changed per copy, so every copy is a new set of flows.
class LongCapture {
 public:
  explicit LongCapture(const std::string& sample) : src_(robust::readFile(robust::samplePath(sample))) {
    records_ = robust::pcapRecords(src_);
    span_ns_ = records_.back().ts_ns - records_.front().ts_ns + 1'000'000'000;
  }
  [[nodiscard]] std::vector<std::uint8_t> header() const { return {src_.begin(), src_.begin() + 24}; }
  [[nodiscard]] std::size_t packetsPerCopy() const { return records_.size(); }

  // Copy number `k` of every record.
  [[nodiscard]] std::vector<std::uint8_t> copy(std::uint32_t k) const {
    std::vector<std::uint8_t> out;
    for (const auto& rec : records_) {
      const auto begin = src_.begin() + static_cast<std::ptrdiff_t>(rec.offset);
      std::vector<std::uint8_t> r(begin, begin + static_cast<std::ptrdiff_t>(16 + rec.caplen));
      const std::int64_t ts = rec.ts_ns + static_cast<std::int64_t>(k) * span_ns_;
      put32(r, 0, static_cast<std::uint32_t>(ts / 1'000'000'000));
      put32(r, 4, static_cast<std::uint32_t>((ts % 1'000'000'000) / 1000));
      shiftClientPort(r, k);
      out.insert(out.end(), r.begin(), r.end());
    }
    return out;
  }
  [[nodiscard]] std::vector<std::uint8_t> file(std::uint32_t copies) const {
    std::vector<std::uint8_t> out = header();
    for (std::uint32_t k = 0; k < copies; ++k) {
      const auto c = copy(k);
      out.insert(out.end(), c.begin(), c.end());
    }
    return out;
  }

 private:
  static void put32(std::vector<std::uint8_t>& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  // r = 16-byte record header + Ethernet frame. The port below 1024 is the server's.
  static void shiftClientPort(std::vector<std::uint8_t>& r, std::uint32_t k) {
    const std::size_t eth = 16;
    if (r.size() < eth + 14) return;
    const unsigned ethertype = (unsigned{r[eth + 12]} << 8) | r[eth + 13];
    std::size_t tcp = 0;
    if (ethertype == 0x0800 && r.size() >= eth + 34 && r[eth + 23] == 6) tcp = eth + 14 + (r[eth + 14] & 0x0fU) * 4U;
    if (ethertype == 0x86DD && r.size() >= eth + 54 && r[eth + 20] == 6) tcp = eth + 54;
    if (tcp == 0 || r.size() < tcp + 4) return;
    for (std::size_t at : {tcp, tcp + 2}) {
      const unsigned port = (unsigned{r[at]} << 8) | r[at + 1];
      if (port < 1024) continue;
      const unsigned shifted = 1024 + (port - 1024 + 61 * k) % 64000;
      r[at] = static_cast<std::uint8_t>(shifted >> 8);
      r[at + 1] = static_cast<std::uint8_t>(shifted);
    }
  }

  std::vector<std::uint8_t> src_;
  std::vector<robust::PcapRecord> records_;
  std::int64_t span_ns_ = 0;
};

bool writeAll(int fd, const std::vector<std::uint8_t>& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// Writes copies of the capture into a replay's stdin for `how_long`, 5 ms
// apart, counting them in `copies`. False once a write fails (the replay died).
bool feedFor(int fd, const LongCapture& cap, std::chrono::milliseconds how_long, std::uint32_t& copies) {
  const auto start = Clock::now();
  while (Clock::now() - start < how_long) {
    if (!writeAll(fd, cap.copy(copies++))) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

std::string sql(const std::string& db, const std::string& query) {
  // Waits for a running writer's lock like provaudit does (the shell's default is not to wait).
  const auto r = robust::run({"sqlite3", "-cmd", ".timeout 10000", db, query});
  return r.status == 0 ? r.out : "sqlite3 failed: " + r.err;
}

bool haveSqlite3() { return robust::run({"sqlite3", "-version"}).status == 0; }
}  // namespace

TEST_CASE("kill -9 during a long replay leaves a sound database, and the next run completes") {
  if (!haveSqlite3()) {
    WARN("sqlite3 shell not installed: skipped");
    return;
  }
  const LongCapture cap("audit_cases.pcap");
  const std::string db = robust::tmpPath("killed.db");
  robust::Child replay = robust::spawn({bin(), "replay", "-q", "--db", db, "-"}, true);
  ::signal(SIGPIPE, SIG_IGN);  // the child dies while we write
  REQUIRE(writeAll(replay.stdin_fd, cap.header()));
  // Feed copies for three seconds: the first second's findings must be flushed by then.
  std::uint32_t copies = 0;
  REQUIRE(feedFor(replay.stdin_fd, cap, std::chrono::seconds(3), copies));
  ::kill(replay.pid, SIGKILL);
  const auto killed = robust::wait(replay);
  INFO("fed " << copies << " copies (" << copies * cap.packetsPerCopy() << " packets); stderr: " << killed.err);
  CHECK(killed.status == 128 + SIGKILL);

  CHECK(sql(db, "PRAGMA integrity_check;") == "ok\n");
  CHECK(std::stoll("0" + sql(db, "SELECT count(*) FROM devices;")) > 0);

  // The next run on the same database completes and reports.
  const auto next = robust::run({bin(), "replay", "-q", "--db", db, robust::samplePath("spa_mixed_tls12.pcap")});
  INFO(next.err);
  CHECK(next.status == 0);
  CHECK(sql(db, "PRAGMA integrity_check;") == "ok\n");
  CHECK(!robust::report(db).at("devices").as_array().empty());
}

TEST_CASE("report readers during a replay never see 'database is locked'") {
  const LongCapture cap("audit_cases.pcap");
  const std::string db = robust::tmpPath("shared.db");
  robust::Child replay = robust::spawn({bin(), "replay", "-q", "--db", db, "-"}, true);
  ::signal(SIGPIPE, SIG_IGN);
  REQUIRE(writeAll(replay.stdin_fd, cap.header()));
  // Writer: copies for four seconds on a thread; readers: report in a loop meanwhile.
  std::thread writer([&] {
    std::uint32_t copies = 0;
    feedFor(replay.stdin_fd, cap, std::chrono::seconds(4), copies);
  });
  int reports = 0, ok = 0;
  std::string failures;
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(4)) {
    for (const char* format : {"json", "csv"}) {
      const auto r = robust::run({bin(), "report", "--db", db, "--format", format});
      ++reports;
      // Before the replay created the schema a reader may fail cleanly, but never on a lock.
      if (r.status == 0) ++ok;
      if (r.err.find("locked") != std::string::npos || r.err.find("busy") != std::string::npos) failures += r.err;
    }
  }
  writer.join();
  const auto done = robust::wait(replay);
  INFO("reports " << reports << ", ok " << ok << "; replay stderr: " << done.err);
  CHECK(failures.empty());
  CHECK(done.status == 0);
  CHECK(done.err.find("locked") == std::string::npos);
  CHECK(ok > reports / 2);
}

TEST_CASE("two replays into one database at once both complete") {
  const LongCapture cap("audit_cases.pcap");
  const std::string file_a = robust::tmpPath("long-a.pcap");
  robust::writeFile(file_a, cap.file(150));
  const LongCapture cap_b("spa_mixed_tls12.pcap");
  const std::string file_b = robust::tmpPath("long-b.pcap");
  robust::writeFile(file_b, cap_b.file(250));
  const std::string db = robust::tmpPath("two-writers.db");
  // Create the schema first, as an operator would, then start both.
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", db, robust::samplePath("ipv6.pcap")}).status == 0);
  robust::Child a = robust::spawn({bin(), "replay", "-q", "--db", db, file_a}, false);
  robust::Child b = robust::spawn({bin(), "replay", "-q", "--db", db, file_b}, false);
  const auto ra = robust::wait(a);
  const auto rb = robust::wait(b);
  INFO("a: " << ra.err << "\nb: " << rb.err);
  CHECK(ra.status == 0);
  CHECK(rb.status == 0);
  CHECK(ra.err.find("locked") == std::string::npos);
  CHECK(rb.err.find("locked") == std::string::npos);
  const auto last = robust::report(db);
  const auto devices = robust::devicesByMac(last);
  CHECK(devices.count("00:0e:08:66:60:66") == 1);  // from audit_cases (replay a)
  CHECK(devices.count("00:0e:08:12:34:56") == 1);  // from spa_mixed_tls12 (replay b)
  if (haveSqlite3()) CHECK(sql(db, "PRAGMA integrity_check;") == "ok\n");
  // Each writer kept its own new sightings as evidence and read the other's
  // back, interleaved: the last audit must equal a fresh audit of everything
  // stored (a run that adds nothing reads all its evidence from the database).
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", db, robust::samplePath("ipv6.pcap")}).status == 0);
  const auto fresh = robust::report(db);
  CHECK(boost::json::serialize(fresh.at("devices")) == boost::json::serialize(last.at("devices")));
  CHECK(boost::json::serialize(fresh.at("servers")) == boost::json::serialize(last.at("servers")));
}

TEST_CASE("a database that fails under a running replay: one-line error, exit 1, no hang") {
  // The writer thread meets the error; the reading thread must neither wait
  // for it forever nor lose the reason.
  if (!haveSqlite3()) {
    WARN("sqlite3 shell not installed: skipped");
    return;
  }
  const LongCapture cap("audit_cases.pcap");
  const std::string db = robust::tmpPath("failing.db");
  robust::Child replay = robust::spawn({bin(), "replay", "-q", "--db", db, "-"}, true);
  ::signal(SIGPIPE, SIG_IGN);
  REQUIRE(writeAll(replay.stdin_fd, cap.header()));
  std::uint32_t copies = 0;
  feedFor(replay.stdin_fd, cap, std::chrono::milliseconds(1500), copies);
  // Every later write of a sighting fails: the table is gone.
  CHECK(sql(db, "DROP TABLE sightings;").empty());
  feedFor(replay.stdin_fd, cap, std::chrono::milliseconds(2000), copies);
  const auto done = robust::wait(replay);  // closes stdin: end of input
  INFO("fed " << copies << " copies; stderr: " << done.err);
  CHECK(done.status == 1);
  CHECK(done.err.find("sightings") != std::string::npos);
  CHECK(done.err.find(db) != std::string::npos);  // names the database
  CHECK(std::count(done.err.begin(), done.err.end(), '\n') == 1);
}

TEST_CASE("an events file that cannot be written: said once, counted, the database complete, exit 1") {
  // /dev/full refuses every write (ENOSPC), as a full disk would. The stream
  // failed silently before: a SIEM fed by --events lost everything after
  // the disk filled, and nobody was told.
  const std::vector<std::string> inputs = {robust::samplePath("audit_cases.pcap"), robust::samplePath("plain_http.pcap")};
  const std::string good_db = robust::tmpPath("events_good.db"), good_events = robust::tmpPath("events_good.jsonl");
  std::vector<std::string> argv = {bin(), "replay", "-q", "--db", good_db, "--events", good_events};
  argv.insert(argv.end(), inputs.begin(), inputs.end());
  REQUIRE(robust::run(argv).status == 0);
  std::ifstream in(good_events);
  const auto lines = std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
  REQUIRE(lines > 0);

  const std::string db = robust::tmpPath("events_full.db");
  argv = {bin(), "replay", "-q", "--db", db, "--events", "/dev/full"};
  argv.insert(argv.end(), inputs.begin(), inputs.end());
  const auto r = robust::run(argv);
  INFO(r.err);
  CHECK(r.status == 1);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 2);
  CHECK(r.err.find("warning: /dev/full: events not written (No space left on device)") != std::string::npos);
  CHECK(r.err.find("error: /dev/full: " + std::to_string(lines) + " events could not be written") != std::string::npos);
  // The database has everything the events would have said.
  CHECK(boost::json::serialize(robust::report(db).at("devices")) ==
        boost::json::serialize(robust::report(good_db).at("devices")));
}

TEST_CASE("a database damaged inside its rows: report writes what it can read, says what it left out, exit 1") {
  // integrity_check passes such a database (the damage is in the values):
  // JSON was copied through broken, CSV lost the rows unsaid, both exit 0.
  const std::string db = robust::tmpPath("damaged-rows.db");
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", db, robust::samplePath("spa_mixed_tls12.pcap")}).status == 0);
  const boost::json::value sound = robust::report(db);
  const auto& devices = sound.at("devices").as_array();
  REQUIRE(devices.size() == 5);
  REQUIRE(!sound.at("servers").as_array().empty());
  const std::string cut_id(devices.front().at("id").as_string());    // its document cut short
  const std::string gone_id(devices.back().at("id").as_string());    // its document deleted
  {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
    const std::string damage = "UPDATE device_docs SET report = substr(report, 1, 40) WHERE id = '" + cut_id +
                               "'; DELETE FROM device_docs WHERE id = '" + gone_id +
                               "'; UPDATE servers SET report = '[1,2]';";
    CHECK(sqlite3_exec(h, damage.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(h);
  }
  const std::size_t servers = sound.at("servers").as_array().size();
  const std::string first = "first: " + std::min(cut_id, gone_id);
  SECTION("json") {
    const auto r = robust::run({bin(), "report", "--db", db, "--format", "json"});
    INFO(r.err);
    CHECK(r.status == 1);
    boost::system::error_code ec;
    const boost::json::value v = boost::json::parse(r.out, ec);  // still one sound document
    REQUIRE(!ec);
    CHECK(v.at("devices").as_array().size() == 3);
    CHECK(v.at("servers").as_array().empty());
    CHECK(r.err.find(db + ": " + std::to_string(2 + servers) + " rows could not be read") != std::string::npos);
    CHECK(r.err.find(first) != std::string::npos);
    CHECK(robust::lineCount(r.err) == 1);
  }
  SECTION("csv, to a file: written all the same") {
    const std::string out = robust::tmpPath("damaged-rows.csv");
    const auto r = robust::run({bin(), "report", "--db", db, "--format", "csv", "-o", out});
    INFO(r.err);
    CHECK(r.status == 1);
    const auto bytes = robust::readFile(out);
    CHECK(robust::lineCount(std::string(bytes.begin(), bytes.end())) == 1 + 3);  // the header, the three sound devices
    CHECK(r.err.find(db + ": 2 rows could not be read") != std::string::npos);  // CSV has no servers
    CHECK(robust::lineCount(r.err) == 1);
  }
  SECTION("html: the report itself says it is incomplete") {
    const auto r = robust::run({bin(), "report", "--db", db, "--format", "html"});
    CHECK(r.status == 1);
    CHECK(r.out.find("data-notice=\"damaged\"><b>Incomplete:</b> " + std::to_string(2 + servers) + " rows") !=
          std::string::npos);
    CHECK(r.out.find("</html>") != std::string::npos);
  }
}

TEST_CASE("a database on read-only media (no -shm can be made beside it) is reported and served as it is") {
  // Evidence handed to an auditor on a read-only mount: SQLite could not make
  // the WAL index (-shm) and report failed with "unable to open database file".
  const std::string dir = robust::tmpPath("read-only-media");
  std::filesystem::create_directories(dir);
  const std::string db = dir + "/evidence.db";
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", db, robust::samplePath("spa_mixed_tls12.pcap")}).status == 0);
  REQUIRE_FALSE(std::filesystem::exists(db + "-shm"));  // the writer's last close removed it
  // A private mount namespace: the folder bound read-only onto itself, the report run there.
  const std::string script = "mount --bind '" + dir + "' '" + dir + "' && mount -o remount,ro,bind '" + dir +
                             "' && ! touch '" + dir + "/probe' 2>/dev/null && exec '" + bin() +
                             "' report --db '" + db + "' --format csv";
  const auto ro = robust::run({"unshare", "-m", "--propagation", "private", "sh", "-c", script});
  if (ro.status != 0 && ro.err.find("unshare") != std::string::npos) {
    WARN("no mount namespace here (unshare: " << ro.err << "): skipped");
    return;
  }
  INFO(ro.err);
  CHECK(ro.status == 0);
  CHECK(ro.err.empty());
  CHECK_FALSE(std::filesystem::exists(db + "-shm"));
  const auto writable = robust::run({bin(), "report", "--db", db, "--format", "csv"});
  REQUIRE(writable.status == 0);
  CHECK(robust::lineCount(ro.out) == 1 + 5);
  CHECK(ro.out == writable.out);
}
