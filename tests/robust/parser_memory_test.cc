// Handshakes that never end, through the real binary: a flood of clients each
// sending most of a 250 KB ClientHello and stopping, with a real device's
// handshake (samples/tls12_rsa.pcap) in the middle of it. The parsers' bytes
// stay within their limit (capture::FlowLimits::max_handler_bytes_total), the
// flows cut at it are counted, and the device is audited as when alone. And
// the queue before the writer, while another process holds the database:
// within its size (app::MAX_PENDING_BYTES), nothing lost.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <regex>
#include <thread>
#include <unistd.h>
#include <string>
#include <vector>

#include "packet_builder.h"  // tests/unit/capture: wire-order header builders
#include "robust_util.h"

namespace {
using robust::bin;
namespace tb = provaudit::capture::test;

constexpr std::size_t FLOWS = 300;                 // 300 x 249 KB: more than the 64 MiB the parsers may hold
constexpr std::size_t ANNOUNCED = 250000;          // the ClientHello's length, under TLS_MAX_HANDSHAKE_MESSAGE
constexpr std::size_t SENT = ANNOUNCED - 1000;     // what comes of it
constexpr std::size_t MSS = 1448;
constexpr double PARSER_LIMIT_MIB = 64;            // FlowLimits::max_handler_bytes_total

void put32le(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void record(std::vector<std::uint8_t>& file, std::int64_t ts_ns, const std::uint8_t* data, std::size_t len) {
  put32le(file, static_cast<std::uint32_t>(ts_ns / 1'000'000'000));
  put32le(file, static_cast<std::uint32_t>(ts_ns % 1'000'000'000 / 1000));
  put32le(file, static_cast<std::uint32_t>(len));
  put32le(file, static_cast<std::uint32_t>(len));
  file.insert(file.end(), data, data + len);
}

// The sample's pcap with the flood around its packets, which keep their order
// and come one microsecond apart, three quarters of the way through.
std::vector<std::uint8_t> floodAround(const std::vector<std::uint8_t>& sample) {
  const auto packets = robust::pcapRecords(sample);
  REQUIRE(!packets.empty());
  std::vector<std::uint8_t> file(sample.begin(), sample.begin() + 24);  // its file header (Ethernet, usec)
  std::string stream;  // each stalled client's bytes: 16 KiB records carrying the ClientHello
  for (std::size_t left = 4 + SENT, first = 1; left > 0; first = 0) {
    const std::size_t n = std::min<std::size_t>(16384, left);
    stream += {0x16, 0x03, 0x01, static_cast<char>(n >> 8), static_cast<char>(n & 0xff)};
    if (first != 0) stream += {0x01, static_cast<char>(ANNOUNCED >> 16), static_cast<char>((ANNOUNCED >> 8) & 0xff),
                               static_cast<char>(ANNOUNCED & 0xff)};
    stream.append(n - (first != 0 ? 4 : 0), 'A');
    left -= n;
  }
  std::int64_t ts = packets.front().ts_ns - 1'000'000'000;
  auto c2s = [&](std::size_t flow, std::uint32_t seq, std::uint8_t flags, const std::string& payload) {
    const auto port = static_cast<std::uint16_t>(20000 + flow);
    const tb::Frame f = tb::ethernet(0x0800, tb::ipv4(6, tb::tcp(port, 443, seq, flags, payload), 1, 2), tb::MAC_ROUTER,
                                     std::vector<std::uint8_t>{0x02, 0x77, 0, 0, 0, 2});
    ts += 1000;
    record(file, ts, f.data().data(), f.size());
  };
  for (std::size_t f = 0; f < FLOWS; ++f) c2s(f, 999, 0x02, "");
  const std::size_t rounds = (stream.size() + MSS - 1) / MSS;
  for (std::size_t r = 0; r < rounds; ++r) {
    const std::string part = stream.substr(r * MSS, MSS);
    for (std::size_t f = 0; f < FLOWS; ++f) c2s(f, 1000 + static_cast<std::uint32_t>(r * MSS), 0x10, part);
    if (r == rounds * 3 / 4) {
      for (const auto& p : packets) {
        ts += 1000;
        record(file, ts, sample.data() + p.offset + 16, p.caplen);
      }
    }
  }
  return file;
}

// The number of MiB just before `what` (a regular expression) in stderr.
double mibAfter(const std::string& err, const std::string& what) {
  std::smatch m;
  const std::regex re("([0-9.]+) MiB " + what);
  REQUIRE(std::regex_search(err, m, re));
  return std::stod(m[1]);
}

long long countAfter(const std::string& err, const std::string& what) {
  std::smatch m;
  const std::regex re(what + ": ([0-9]+)");
  return std::regex_search(err, m, re) ? std::stoll(m[1]) : 0;
}
}  // namespace

TEST_CASE("300 handshakes that never end around a real device's: parsers bounded, cuts counted, the device audited") {
  const std::string sample = robust::samplePath("tls12_rsa.pcap");
  const std::string pcap = robust::tmpPath("stalled-handshakes.pcap");
  robust::writeFile(pcap, floodAround(robust::readFile(sample)));

  const std::string alone_db = robust::tmpPath("stalled-alone.db");
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", alone_db, sample}).status == 0);
  const auto alone = robust::devicesByMac(robust::report(alone_db));
  REQUIRE(alone.size() == 1);

  const std::string db = robust::tmpPath("stalled.db");
  const auto r = robust::run({bin(), "replay", "-v", "--db", db, pcap});
  INFO(r.err);
  REQUIRE(r.status == 0);
  // What the parsers held at most: their limit, and what one packet added past it before the cut.
  CHECK(mibAfter(r.err, "in parsers") <= PARSER_LIMIT_MIB + 1);
  const long long cut = countAfter(r.err, "anomaly flow_handler_memory_limit");
  CHECK(cut >= static_cast<long long>(FLOWS - PARSER_LIMIT_MIB * (1 << 20) / SENT));
  CHECK(cut < static_cast<long long>(FLOWS));
  // The device, whose handshake held a few KiB, was not among them.
  const auto with_flood = robust::devicesByMac(robust::report(db));
  REQUIRE(with_flood.size() == 1);
  const auto& [mac, device] = *alone.begin();
  REQUIRE(with_flood.count(mac) == 1);
  CHECK(with_flood.at(mac).identity == device.identity);
  CHECK(with_flood.at(mac).identity == "individualized");
  CHECK(with_flood.at(mac).cert_sha256 == device.cert_sha256);
  CHECK(!device.cert_sha256.empty());
}

TEST_CASE("a writer held by another process's write: the queue before it stays within its size, every request stored") {
  // 6,000 requests of 16 KiB of headers each (96 MB): more than the 64 MiB
  // the writer's queue may hold, fewer than its 8,192 observations.
  constexpr int REQUESTS = 6000;
  std::vector<std::uint8_t> file(24);
  const std::vector<std::uint8_t> header{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0};
  std::copy(header.begin(), header.end(), file.begin());
  std::int64_t ts = 1'800'000'000'000'000'000;
  auto c2s = [&](int i, std::uint32_t seq, std::uint8_t flags, const std::string& payload) {
    const auto port = static_cast<std::uint16_t>(20000 + i % 40000);
    const std::vector<std::uint8_t> mac{0x00, 0x0e, 0x08, 0x55, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    const tb::Frame f = tb::ethernet(0x0800, tb::ipv4(6, tb::tcp(port, 80, seq, flags, payload), static_cast<std::uint8_t>(i), 2),
                                     mac, std::vector<std::uint8_t>{0x02, 0x77, 0, 0, 0, 2});
    ts += 1000;
    record(file, ts, f.data().data(), f.size());
  };
  for (int i = 0; i < REQUESTS; ++i) {
    const std::string req = "GET /spa962-" + std::to_string(i) + ".cfg HTTP/1.1\r\nHost: prov\r\nUser-Agent: Linksys/SPA-962-6.1.5(a) " +
                            std::to_string(i) + " " + std::string(16000, 'U') + "\r\n\r\n";
    c2s(i, 999, 0x02, "");
    for (std::size_t at = 0; at < req.size(); at += MSS) c2s(i, 1000 + static_cast<std::uint32_t>(at), 0x18, req.substr(at, MSS));
  }
  const std::string db = robust::tmpPath("held-writer.db");
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", db, robust::samplePath("plain_http.pcap")}).status == 0);

  // The capture comes on a pipe: its first request, then, once another
  // connection holds a write transaction, the rest (from a thread: the pipe
  // blocks when the queue is full), and the transaction ends once the pipe
  // has stopped taking bytes for two seconds (the queue is full), or after
  // nine seconds at most: the replay's writer waits for it up to its busy
  // timeout of 10 s. (A fixed five seconds was too short under the sanitizers
  // with builds beside them: the queue had reached 55 MiB.)
  robust::Child child = robust::spawn({bin(), "replay", "-q", "-v", "--max-sightings", "100", "--db", db, "-"}, true);
  const std::size_t first = robust::pcapRecords(file).at(3).offset;  // the header, the first request's SYN and two segments
  std::atomic<std::size_t> written{0};
  auto put = [&](std::size_t from, std::size_t to) {
    for (std::size_t at = from; at < to;) {
      // In 64 KiB writes, so that `written` shows when the pipe stops taking them.
      const ssize_t n = ::write(child.stdin_fd, file.data() + at, std::min<std::size_t>(to - at, 65536));
      if (n <= 0) return false;
      at += static_cast<std::size_t>(n);
      written = at;
    }
    return true;
  };
  REQUIRE(put(0, first));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &other) == SQLITE_OK);
  sqlite3_busy_timeout(other, 10000);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  bool sent = false;
  std::thread feeder([&] {
    sent = put(first, file.size());
    ::close(child.stdin_fd);
  });
  using Clock = std::chrono::steady_clock;
  const auto held_since = Clock::now();
  std::size_t seen = written;
  auto moved = held_since;
  while (Clock::now() - held_since < std::chrono::seconds(9) && written < file.size() &&
         Clock::now() - moved < std::chrono::seconds(2)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (written != seen) {
      seen = written;
      moved = Clock::now();
    }
  }
  REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);
  feeder.join();
  child.stdin_fd = -1;
  CHECK(sent);
  const auto r = robust::wait(child);
  INFO(r.err);
  REQUIRE(r.status == 0);
  // Held at its size limit (and one request past it at most), not at its count.
  const double held = mibAfter(r.err, "\\(limit 64\\)\\n");
  CHECK(held <= 64.1);
  CHECK(held >= 60);  // the writer was held: the queue did fill
  // Nothing lost: every request stored (and audited as far as --max-sightings goes).
  sqlite3* check = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &check) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(check, "SELECT count(*) FROM sightings WHERE kind='http' AND data LIKE '%SPA-962-6.1.5(a)%'", -1, &st,
                             nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(sqlite3_column_int64(st, 0) == REQUESTS);
  sqlite3_finalize(st);
  sqlite3_close(check);
}
