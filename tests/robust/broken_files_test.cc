// Broken capture files through the real binary (issue 8, "Broken input files"):
// a one-line error naming the file and the offset where reading stopped, exit
// status 1 only when nothing could be read, and everything read before the
// damage stored and reported.
#include <algorithm>
#include <catch2/catch.hpp>
#include <regex>
#include <string>
#include <vector>

#include "common/net_types.h"
#include "robust_util.h"

namespace {
using robust::bin;

struct Replay {
  robust::RunResult run;
  std::string db;
};

Replay replay(const std::string& file, const std::string& tag) {
  Replay r;
  r.db = robust::tmpPath(tag + ".db");
  r.run = robust::run({bin(), "replay", "-q", "--db", r.db, file});
  return r;
}

// The byte offset named by "... offset N ..." in an error line, or -1.
long long offsetIn(const std::string& err) {
  std::smatch m;
  if (std::regex_search(err, m, std::regex("offset ([0-9]+)"))) return std::stoll(m[1].str());
  return -1;
}

// Devices of the intact capture whose evidence all lies before `cut_ts_ns`
// must be in the damaged capture's report with the same identity and cert.
void requireDevicesBefore(const std::string& intact_db, const std::string& damaged_db, std::int64_t cut_ts_ns) {
  const auto intact = robust::devicesByMac(robust::report(intact_db));
  const auto damaged = robust::devicesByMac(robust::report(damaged_db));
  const std::string cut_iso = provaudit::isoTime(cut_ts_ns);
  int expected = 0;
  for (const auto& [mac, dev] : intact) {
    if (dev.last_seen >= cut_iso) continue;  // some of its evidence is in the damaged part
    ++expected;
    INFO("device " << mac << " (last seen " << dev.last_seen << ", cut at " << cut_iso << ")");
    const auto it = damaged.find(mac);
    REQUIRE(it != damaged.end());
    CHECK(it->second.identity == dev.identity);
    CHECK(it->second.cert_sha256 == dev.cert_sha256);
  }
  INFO("devices complete before the cut: " << expected);
}
}  // namespace

TEST_CASE("empty file: one-line error naming the file, exit 1") {
  const std::string path = robust::tmpPath("empty.pcap");
  robust::writeFile(path, {});
  const Replay r = replay(path, "empty");
  CHECK(r.run.status == 1);
  CHECK(robust::lineCount(r.run.err) == 1);
  CHECK(r.run.err.find("empty.pcap") != std::string::npos);
}

TEST_CASE("not a capture (text, ELF, random bytes): one-line error, exit 1") {
  const std::vector<std::pair<std::string, std::vector<std::uint8_t>>> cases{
      {"text.pcap", {'h', 'e', 'l', 'l', 'o', '\n'}},
      {"elf.pcap", {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0x3e, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
      {"pcapng-magic-only.pcap", {0x0a, 0x0d, 0x0d, 0x0a}},
  };
  for (const auto& [name, bytes] : cases) {
    const std::string path = robust::tmpPath(name);
    robust::writeFile(path, bytes);
    const Replay r = replay(path, "notcap");
    INFO(name << ": " << r.run.err);
    CHECK(r.run.status == 1);
    CHECK(robust::lineCount(r.run.err) == 1);
    CHECK(r.run.err.find(name) != std::string::npos);
  }
}

TEST_CASE("truncated in the file header: one-line error, exit 1") {
  const auto whole = robust::readFile(robust::samplePath("spa_mixed_tls12.pcap"));
  for (std::size_t cut : {1, 4, 10, 23}) {
    const std::string path = robust::tmpPath("header-cut.pcap");
    robust::writeFile(path, {whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)});
    const Replay r = replay(path, "hdrcut");
    INFO("cut at " << cut << ": " << r.run.err);
    CHECK(r.run.status == 1);
    CHECK(robust::lineCount(r.run.err) == 1);
    CHECK(r.run.err.find("header-cut.pcap") != std::string::npos);
  }
}

TEST_CASE("cut in a record or mid-handshake: error names the record's offset, exit 1, earlier devices kept") {
  for (const std::string sample : {"spa_mixed_tls12.pcap", "audit_cases.pcap"}) {
    const std::string whole_path = robust::samplePath(sample);
    const auto whole = robust::readFile(whole_path);
    const auto records = robust::pcapRecords(whole);
    const Replay intact = replay(whole_path, "intact");
    REQUIRE(intact.run.status == 0);
    // Cuts spread over the file: inside a record header (+5) and inside record data (+16 + caplen/2).
    for (int step = 1; step <= 7; ++step) {
      const auto& rec = records[records.size() * static_cast<std::size_t>(step) / 8];
      for (std::size_t cut : {rec.offset + 5, rec.offset + 16 + rec.caplen / 2}) {
        if (cut >= rec.end()) continue;
        const std::string path = robust::tmpPath("cut.pcap");
        robust::writeFile(path, {whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)});
        const Replay r = replay(path, "cut");
        INFO(sample << " cut at byte " << cut << " (record at " << rec.offset << "): " << r.run.err);
        // Bad input (design.md; tcpdump and tshark say so too), though every
        // packet before the damage was read and audited.
        CHECK(r.run.status == 1);
        CHECK(robust::lineCount(r.run.err) == 1);
        CHECK(r.run.err.find("cut.pcap") != std::string::npos);
        CHECK(offsetIn(r.run.err) == static_cast<long long>(rec.offset));
        // Everything before the damaged record was read; its timestamp bounds what is complete.
        std::int64_t last_complete_ts = 0;
        for (const auto& earlier : records)
          if (earlier.end() <= rec.offset) last_complete_ts = earlier.ts_ns;
        requireDevicesBefore(intact.db, r.db, last_complete_ts);
      }
    }
  }
}

TEST_CASE("absurd record length: error at that record, exit 1, earlier devices kept") {
  const std::string whole_path = robust::samplePath("audit_cases.pcap");
  auto bytes = robust::readFile(whole_path);
  const auto records = robust::pcapRecords(bytes);
  const Replay intact = replay(whole_path, "intact");
  REQUIRE(intact.run.status == 0);
  for (std::uint32_t caplen : {0x7fffffffU, 0xffffffffU, 262145U}) {
    const auto& rec = records[records.size() * 3 / 4];
    auto patched = bytes;
    for (int i = 0; i < 4; ++i) patched[rec.offset + 8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(caplen >> (8 * i));
    const std::string path = robust::tmpPath("absurd.pcap");
    robust::writeFile(path, patched);
    const Replay r = replay(path, "absurd");
    INFO("caplen " << caplen << ": " << r.run.err);
    CHECK(r.run.status == 1);
    CHECK(robust::lineCount(r.run.err) == 1);
    CHECK(r.run.err.find("absurd.pcap") != std::string::npos);
    CHECK(offsetIn(r.run.err) == static_cast<long long>(rec.offset));
    requireDevicesBefore(intact.db, r.db, records[records.size() * 3 / 4 - 1].ts_ns);
  }
}

TEST_CASE("absurd length in the very first record: nothing read, exit 1, offset 24") {
  auto first = robust::readFile(robust::samplePath("audit_cases.pcap"));
  for (int i = 0; i < 4; ++i) first[24 + 8 + static_cast<std::size_t>(i)] = 0xff;
  const std::string path = robust::tmpPath("absurd-first.pcap");
  robust::writeFile(path, first);
  const Replay r = replay(path, "absurd-first");
  INFO(r.run.err);
  CHECK(r.run.status == 1);
  CHECK(robust::lineCount(r.run.err) == 1);
  CHECK(offsetIn(r.run.err) == 24);
}

TEST_CASE("snaplen-cut packets (snaplen 100): no error, counted as snaplen_truncated, and said in one warning") {
  const auto whole = robust::readFile(robust::samplePath("spa_mixed_tls12.pcap"));
  std::vector<std::uint8_t> cut(whole.begin(), whole.begin() + 24);
  cut[16] = 100;  // snaplen = 100 (little-endian)
  cut[17] = cut[18] = cut[19] = 0;
  for (const auto& rec : robust::pcapRecords(whole)) {
    const std::uint32_t keep = std::min<std::uint32_t>(rec.caplen, 100);
    std::vector<std::uint8_t> hdr(whole.begin() + static_cast<std::ptrdiff_t>(rec.offset),
                                  whole.begin() + static_cast<std::ptrdiff_t>(rec.offset + 16));
    for (int i = 0; i < 4; ++i) hdr[8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(keep >> (8 * i));
    cut.insert(cut.end(), hdr.begin(), hdr.end());
    cut.insert(cut.end(), whole.begin() + static_cast<std::ptrdiff_t>(rec.offset + 16),
               whole.begin() + static_cast<std::ptrdiff_t>(rec.offset + 16 + keep));
  }
  const std::string path = robust::tmpPath("snap100.pcap");
  robust::writeFile(path, cut);
  const Replay r = replay(path, "snap");
  INFO(r.run.err);
  CHECK(r.run.status == 0);
  const auto rep = robust::report(r.db);  // valid JSON
  CHECK(rep.at("devices").is_array());
  const auto anomalies = robust::run({"sqlite3", r.db, "SELECT sum(count) FROM source_anomalies WHERE name = 'snaplen_truncated'"});
  REQUIRE(anomalies.status == 0);
  const long long cut_packets = std::stoll("0" + anomalies.out);
  CHECK(cut_packets > 0);
  // Not an error, but not silent either (even with -q): no handshake was read whole.
  CHECK(r.run.err == "provaudit: warning: " + path + ": " + std::to_string(cut_packets) +
                         " packets were cut short by the capture's snap length: TLS handshakes and HTTP requests in "
                         "them cannot be read whole (capture with tcpdump -s 0)\n");
}

TEST_CASE("pcapng with unknown blocks between packets: same devices as the pcap") {
  for (const std::string sample : {"spa_mixed_tls12.pcap", "audit_cases.pcap"}) {
    const auto pcap = robust::readFile(robust::samplePath(sample));
    const Replay intact = replay(robust::samplePath(sample), "intact");
    REQUIRE(intact.run.status == 0);
    const std::string path = robust::tmpPath("unknown-blocks.pcapng");
    robust::writeFile(path, robust::toPcapng(pcap, 3));
    const Replay r = replay(path, "pcapng");
    INFO(sample << ": " << r.run.err);
    CHECK(r.run.status == 0);
    CHECK(r.run.err.empty());
    const auto a = robust::devicesByMac(robust::report(intact.db));
    const auto b = robust::devicesByMac(robust::report(r.db));
    REQUIRE(a.size() == b.size());
    for (const auto& [mac, dev] : a) {
      INFO(mac);
      REQUIRE(b.count(mac) == 1);
      CHECK(b.at(mac).identity == dev.identity);
      CHECK(b.at(mac).cert_sha256 == dev.cert_sha256);
    }
  }
}

TEST_CASE("pcapng cut inside a block: error names the block's offset, exit 1") {
  const auto pcap = robust::readFile(robust::samplePath("spa_mixed_tls12.pcap"));
  const auto ng = robust::toPcapng(pcap, 0);
  // Walk the blocks (type, length, ..., length) to the middle one.
  std::vector<std::size_t> blocks;
  for (std::size_t off = 0; off + 8 <= ng.size();) {
    blocks.push_back(off);
    const std::uint32_t len = std::uint32_t{ng[off + 4]} | (std::uint32_t{ng[off + 5]} << 8) |
                              (std::uint32_t{ng[off + 6]} << 16) | (std::uint32_t{ng[off + 7]} << 24);
    off += len;
  }
  const std::size_t block = blocks[blocks.size() / 2];
  const std::string path = robust::tmpPath("cut.pcapng");
  robust::writeFile(path, {ng.begin(), ng.begin() + static_cast<std::ptrdiff_t>(block + 20)});
  const Replay r = replay(path, "ngcut");
  INFO(r.run.err);
  CHECK(r.run.status == 1);
  CHECK(robust::lineCount(r.run.err) == 1);
  CHECK(r.run.err.find("cut.pcapng") != std::string::npos);
  // The damaged block's start or the point inside it where the bytes ran out.
  CHECK(offsetIn(r.run.err) >= static_cast<long long>(block));
  CHECK(offsetIn(r.run.err) <= static_cast<long long>(block + 20));
}
