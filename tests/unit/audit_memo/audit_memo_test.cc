// An audit that takes over the devices of the one before (AuditMemo) must give
// exactly what an audit from scratch gives over the same evidence: the same
// devices, byte for byte in the store's encoding, and the same servers. A
// device it marks unchanged must encode as it did in the audit before. The
// evidence grows in random batches: devices come and go from behind routers
// (a MAC seen with a second address), resumed sessions link to full
// handshakes, one certificate is cloned onto several units, fingerprints
// stray from the fleet's, and some observations arrive out of time order.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "analyze/audit.h"
#include "../../support/audit_fixtures.h"
#include "../../support/audit_writer.h"
#include "../../support/sqlite_dump.h"
#include "../../support/temp_dir.h"
#include "analyze/rules.h"
#include "store/database.h"
#include "store/device_encoder.h"
#include "store/json_codec.h"

using namespace provaudit;
using namespace provaudit::analyze;

namespace {

const RuleSet& rules() { return testing::bundledRules(); }

using testing::SEC;
using testing::T0;

CertPtr cert(const std::string& sha, std::vector<RdnAttr> subject) { return testing::makeCert(sha, std::move(subject)); }

CertPtr cert(const std::string& sha, const std::string& serial, const std::string& mac) {
  return cert(sha, {{"OU", "SPA-962"}, {"L", serial}, {"ST", mac}});
}

CertPtr genericCisco() { return cert("bb02", {{"OU", "cisco.com"}, {"L", "ciscogeneric"}, {"ST", "ciscogeneric"}}); }

std::string hex2(int v) {
  char b[3];
  std::snprintf(b, sizeof b, "%02x", v & 0xff);
  return b;
}

// Random observations of a small site: `units` phones, each with its MAC, address and certificate.
class Site {
 public:
  explicit Site(unsigned seed, int units = 14) : rng_(seed), units_(units) {}

  void add(std::vector<TlsObservation>& tls, std::vector<HttpObservation>& http) {
    const int u = pick(units_);
    ObservedFlow f;
    now_ += SEC * (1 + pick(30));
    // Now and then an observation from the past (another capture file, read later).
    f.ref.ts_ns = pick(12) == 0 ? now_ - SEC * (1 + pick(600)) : now_;
    f.ref.frame = static_cast<std::uint64_t>(++frame_);
    f.source = pick(2) == 0 ? "a.pcap" : "b.pcap";
    const std::string mac = "00:0e:08:00:00:" + hex2(u);
    if (pick(10) != 0) f.client_mac = MacAddr::parse(mac);  // else seen behind a router
    // Rarely a second address behind the unit's MAC: the MAC turns into a router's.
    const int host = pick(40) == 0 ? 200 + pick(3) : 10 + u;
    f.client = {*IpAddr::parse("10.1.0." + std::to_string(host)), static_cast<std::uint16_t>(40000 + pick(20000))};
    f.server = {*IpAddr::parse(pick(5) == 0 ? "192.0.2.2" : "192.0.2.1"), 443};
    const std::string serial = "88012BA0" + std::to_string(1000 + u);
    if (pick(5) < 2) {
      HttpObservation h;
      h.flow = f;
      h.flow.server.port = pick(3) == 0 ? 80 : 443;
      h.over_tls = h.flow.server.port == 443;
      h.method = "GET";
      h.uri = "/spa" + mac.substr(0, 2) + mac.substr(3, 2) + mac.substr(6, 2) + "0000" + hex2(u) + ".cfg";
      // Sometimes a User-Agent whose serial disagrees with the certificate.
      h.user_agent = "Cisco/SPA962-7.6.2c (" + (pick(8) == 0 ? std::string("88012BA09999") : serial) + ")";
      http.push_back(std::move(h));
      return;
    }
    TlsObservation t;
    t.flow = f;
    t.first = f.ref;
    t.version = pick(10) == 0 ? 0x0301 : 0x0303;
    t.cipher_suite = 0xc02f;
    t.server_hello_seen = true;
    t.complete = true;
    t.certificate_requested = true;
    t.ja3 = "ja3common";
    t.ja4 = pick(6) == 0 ? "t12d_stray" : "t12d_common";
    const int kind = pick(10);
    if (kind == 0 && pick(3) == 0) {
      // Resumes a session whose full handshake (earlier) is read in a later batch.
      t.resumed = true;
      t.session_id = "f" + std::to_string(++sessions_);
      later_.emplace_back(t.session_id, t.first.ts_ns - SEC);
    } else if (kind == 0 && !issued_.empty()) {
      t.resumed = true;
      t.session_id = issued_[static_cast<std::size_t>(pick(static_cast<int>(issued_.size())))];
    } else {
      if (!later_.empty() && pick(2) == 0) {
        t.server_session_id = later_.front().first;
        t.flow.ref.ts_ns = t.first.ts_ns = later_.front().second;
        later_.erase(later_.begin());
      } else {
        t.server_session_id = "5e55" + std::to_string(++sessions_);
      }
      issued_.push_back(t.server_session_id);
      t.client_cert = ClientCertState::Present;
      if (kind == 1) t.client_chain = {genericCisco()};
      else if (kind == 2) t.client_cert = ClientCertState::Empty;
      else if (kind == 3) t.client_chain = {cert("c10e", "88012BA00001", "000e08000001")};  // cloned onto many
      else t.client_chain = {cert("c" + std::to_string(u), serial, "000e080000" + hex2(u))};
      if (t.client_cert == ClientCertState::Empty) t.client_chain.clear();
    }
    tls.push_back(std::move(t));
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  std::mt19937 rng_;
  int units_;
  std::int64_t now_ = T0;
  int frame_ = 0, sessions_ = 0;
  std::vector<std::string> issued_;
  std::vector<std::pair<std::string, std::int64_t>> later_;  // session ids resumed before their full handshake was read
};

store::EncodedDevice encoded(const DeviceRecord& d) {
  store::EncodedDevice e;
  store::encodeDevice(d, e);
  return e;
}

void requireSame(const AuditResult& memoized, const AuditResult& fresh) {
  REQUIRE(memoized.devices.size() == fresh.devices.size());
  for (std::size_t i = 0; i < fresh.devices.size(); ++i) {
    INFO("device " << fresh.devices[i].id);
    REQUIRE(memoized.devices[i].id == fresh.devices[i].id);
    const auto a = encoded(memoized.devices[i]), b = encoded(fresh.devices[i]);
    REQUIRE(a.report == b.report);
    REQUIRE(a.detail == b.detail);
    REQUIRE(a.hash == b.hash);
  }
  REQUIRE(memoized.servers.size() == fresh.servers.size());
  for (std::size_t i = 0; i < fresh.servers.size(); ++i) {
    REQUIRE(store::serverReportText(memoized.servers[i]) == store::serverReportText(fresh.servers[i]));
  }
}

std::string dump(const std::string& path, const char* sql) { return testing::dumpQuery(path, sql); }

}  // namespace

TEST_CASE("an audit taking over unchanged devices gives what an audit from scratch gives") {
  const unsigned seed = GENERATE(1u, 2u, 3u, 4u, 5u, 6u);
  INFO("seed " << seed);
  Site site(seed);
  std::vector<TlsObservation> tls;
  std::vector<HttpObservation> http;
  AuditMemo memo;
  std::map<std::string, std::string> before;  // each device's encoding in the audit before
  std::size_t unchanged = 0, changed = 0, clones = 0, strays = 0, routers = 0;
  std::mt19937 batches(seed * 7919);
  for (int round = 0; round < 40; ++round) {
    const int n = std::uniform_int_distribution<int>(0, 12)(batches);
    for (int i = 0; i < n; ++i) site.add(tls, http);
    const AuditResult fresh = runAudit({&tls, &http}, rules(), nullptr, nullptr);
    const AuditResult& memoized = runAudit({&tls, &http}, rules(), nullptr, nullptr, memo);
    requireSame(memoized, fresh);
    std::map<std::string, std::string> now;
    for (const auto& d : memoized.devices) {
      const auto e = encoded(d);
      now[d.id] = e.report + e.detail;
      if (d.unchanged) {
        ++unchanged;
        INFO("device " << d.id << " marked unchanged in round " << round);
        REQUIRE(before.count(d.id) == 1);
        REQUIRE(before[d.id] == now[d.id]);
      } else {
        ++changed;
      }
      for (const auto& f : d.findings) {
        clones += f.code == "cert-clone";
        strays += f.code == "fingerprint-mismatch";
      }
      routers += d.id.rfind("ip:", 0) == 0;
    }
    // A round that added nothing changes nothing.
    if (n == 0) {
      for (const auto& d : memoized.devices) CHECK(d.unchanged);
    }
    before = std::move(now);
  }
  // The rounds exercised what they are meant to: devices taken over and
  // built again, clones, strays and devices keyed by address.
  CHECK(unchanged > 0);
  CHECK(changed > 0);
  CHECK(clones > 0);
  CHECK(strays > 0);
  CHECK(routers > 0);
}

TEST_CASE("a device whose evidence did not change is built again when another unit clones its certificate") {
  std::vector<TlsObservation> tls;
  std::vector<HttpObservation> http;
  const auto handshake = [](const char* mac, const char* ip, std::int64_t ts, CertPtr c) {
    TlsObservation t;
    t.flow.ref.ts_ns = ts;
    t.flow.source = "x.pcap";
    t.flow.client_mac = MacAddr::parse(mac);
    t.flow.client = {*IpAddr::parse(ip), 40000};
    t.flow.server = {*IpAddr::parse("192.0.2.1"), 443};
    t.first = t.flow.ref;
    t.version = 0x0303;
    t.cipher_suite = 0xc02f;
    t.server_hello_seen = t.complete = t.certificate_requested = true;
    t.client_cert = ClientCertState::Present;
    t.client_chain = {std::move(c)};
    return t;
  };
  const CertPtr shared = cert("c10e", "88012BA00001", "000e08000001");
  tls.push_back(handshake("00:0e:08:00:00:01", "10.1.0.1", T0, shared));
  AuditMemo memo;
  const auto& first = runAudit({&tls, &http}, rules(), nullptr, nullptr, memo);
  REQUIRE(first.devices.size() == 1);
  CHECK_FALSE(first.devices[0].unchanged);  // nothing to take over yet
  const auto& again = runAudit({&tls, &http}, rules(), nullptr, nullptr, memo);
  REQUIRE(again.devices.size() == 1);
  CHECK(again.devices[0].unchanged);

  tls.push_back(handshake("00:0e:08:00:00:02", "10.1.0.2", T0 + SEC, shared));
  const auto& cloned = runAudit({&tls, &http}, rules(), nullptr, nullptr, memo);
  REQUIRE(cloned.devices.size() == 2);
  const DeviceRecord& original = cloned.devices[0];
  REQUIRE(original.id == "mac:00:0e:08:00:00:01");
  CHECK_FALSE(original.unchanged);  // same evidence, but now a clone
  bool clone_finding = false;
  for (const auto& f : original.findings) clone_finding |= f.code == "cert-clone";
  CHECK(clone_finding);

  // Other rules: nothing is taken over, whatever the evidence.
  auto other = RuleSet::load(PROVAUDIT_RULES_DIR);
  REQUIRE(other.second.empty());
  const auto& reread = runAudit({&tls, &http}, *other.first, nullptr, nullptr, memo);
  for (const auto& d : reread.devices) CHECK_FALSE(d.unchanged);
  // Fewer observations than the memo saw (the evidence was replaced): neither.
  tls.pop_back();
  const auto& shrunk = runAudit({&tls, &http}, *other.first, nullptr, nullptr, memo);
  REQUIRE(shrunk.devices.size() == 1);
  CHECK_FALSE(shrunk.devices[0].unchanged);
}

TEST_CASE("the rows of devices taken over unchanged stay, and the tables end as a fresh write's") {
  const testing::TempDir tmp("provaudit-memo");
  Site site(11, 40);
  std::vector<TlsObservation> tls;
  std::vector<HttpObservation> http;
  const std::string path = tmp.path("memo.db");
  {
    store::Database db(path, store::Database::Mode::ReadWrite);
    testing::AuditWriter writer;
    AuditMemo memo;
    for (int round = 0; round < 30; ++round) {
      INFO("round " << round);
      const int n = round % 5 == 4 ? 0 : 1 + round * 7 % 9;
      for (int i = 0; i < n; ++i) site.add(tls, http);
      const std::size_t rows = writer.write(db, runAudit({&tls, &http}, rules(), nullptr, nullptr, memo));
      if (n == 0) CHECK(rows == 0);  // nothing new: every device taken over, nothing written
      if (round == 15) {
        // Another process audits the same database meanwhile (a second
        // replay, with part of the evidence): our memory of what we wrote is
        // stale, and the next audit must put back what it changed.
        const std::vector<TlsObservation> some_tls(tls.begin(), tls.begin() + static_cast<std::ptrdiff_t>(tls.size() / 2));
        const std::vector<HttpObservation> no_http;
        store::Database other(path, store::Database::Mode::ReadWrite);
        testing::AuditWriter other_writer;
        CHECK(other_writer.write(other, runAudit({&some_tls, &no_http}, rules(), nullptr, nullptr)) > 0);
      }
      if (round == 16) CHECK(rows > 0);
    }
  }
  const std::string fresh_path = tmp.path("fresh.db");
  {
    store::Database db(fresh_path, store::Database::Mode::ReadWrite);
    testing::AuditWriter writer;
    REQUIRE(writer.write(db, runAudit({&tls, &http}, rules(), nullptr, nullptr)) > 0);
  }
  for (const char* sql :
       {"SELECT id, mac, identity, identity_reason, vendor, model, firmware, serial, cert_sha256, cert_subject, "
        "cert_chain, ips, user_agents, findings, worst_severity, first_seen_ns, last_seen_ns, sessions, row_hash "
        "FROM devices ORDER BY id",
        "SELECT id, report, detail FROM device_docs ORDER BY id",
        "SELECT subject_kind, subject_id, code, severity, detail FROM findings ORDER BY subject_kind, subject_id, code, detail",
        "SELECT device_id, sighting_key FROM device_sightings ORDER BY device_id, sighting_key",
        "SELECT device_id, server_id FROM device_servers ORDER BY device_id, server_id", "PRAGMA integrity_check"}) {
    INFO(sql);
    CHECK(dump(path, sql) == dump(fresh_path, sql));
  }
  CHECK(dump(path, "SELECT count(*) FROM devices") != "0|\n");
}

TEST_CASE("the evidence's handshakes trimmed of what the audit never reads give the same audit") {
  const unsigned seed = GENERATE(1u, 2u, 3u);
  INFO("seed " << seed);
  Site site(seed);
  std::vector<TlsObservation> tls;
  std::vector<HttpObservation> http;
  for (int i = 0; i < 300; ++i) site.add(tls, http);
  // What the wire gives besides: the JA3 string, the offered versions, and a
  // session id and ticket offered by every client (the full handshakes' too).
  std::size_t resumed = 0;
  for (std::size_t i = 0; i < tls.size(); ++i) {
    auto& t = tls[i];
    t.ja3_string = "771,4866-4867-49195,0-11-10-35-13-43-45-51," + std::to_string(i % 7) + ",0";
    t.offered_versions = {0x0304, 0x0303};
    if (t.session_id.empty()) t.session_id = "c1e0" + std::to_string(i);
    t.ticket_sha256 = "7e" + std::to_string(i);
    resumed += t.resumed;
  }
  REQUIRE(resumed > 0);
  std::vector<TlsObservation> trimmed = tls;
  for (auto& t : trimmed) trimForAudit(t);
  for (std::size_t i = 0; i < tls.size(); ++i) {
    CHECK(trimmed[i].ja3_string.empty());
    CHECK(trimmed[i].offered_versions.empty());
    CHECK(trimmed[i].ja3 == tls[i].ja3);
    CHECK(trimmed[i].server_session_id == tls[i].server_session_id);
    // A resumed handshake keeps what links it to the full one it resumes.
    CHECK(trimmed[i].session_id == (tls[i].resumed ? tls[i].session_id : ""));
    CHECK(trimmed[i].ticket_sha256 == (tls[i].resumed ? tls[i].ticket_sha256 : ""));
    // The size estimates split the texts as the trim does.
    CHECK(keptTextBytes(trimmed[i]) == keptTextBytes(tls[i]));
    CHECK(trimmedTextBytes(trimmed[i]) == 0);
    CHECK(trimmedTextBytes(tls[i]) > 0);
  }
  requireSame(runAudit({&trimmed, &http}, rules(), nullptr, nullptr), runAudit({&tls, &http}, rules(), nullptr, nullptr));
}
