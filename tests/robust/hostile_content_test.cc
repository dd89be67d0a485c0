// Hostile content through the real binary (issue 8): certificate subjects and
// User-Agents with HTML, JavaScript, SQL, CSV formula prefixes, control bytes
// and invalid UTF-8 travel into the database, the JSON and the CSV intact and
// inert.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <string>
#include <vector>

#include "analyze/cert_info.h"
#include "packet_builder.h"  // tests/unit/capture: wire-order header builders
#include "robust_util.h"

namespace {
using robust::bin;
namespace tb = provaudit::capture::test;

const std::string HOSTILE_MAC = "00:0e:08:66:60:66";  // audit_cases.pcap's hostile-subject device

// RFC 4514 §2.4 unescaping of one "KEY=value,KEY=value" string into attributes.
std::vector<std::pair<std::string, std::string>> parseRdnText(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string key, value;
  bool in_value = false;
  auto hex = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      const char n = text[i + 1];
      if (i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(n)) &&
          std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        (in_value ? value : key) += static_cast<char>(hex(n) * 16 + hex(text[i + 2]));
        i += 2;
      } else {
        (in_value ? value : key) += n;
        ++i;
      }
    } else if (c == '=' && !in_value) {
      in_value = true;
    } else if (c == ',') {
      out.emplace_back(key, value);
      key.clear();
      value.clear();
      in_value = false;
    } else {
      (in_value ? value : key) += c;
    }
  }
  out.emplace_back(key, value);
  return out;
}

// RFC 4180 fields of every record (quoted fields may hold commas, quotes and line breaks).
std::vector<std::vector<std::string>> parseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (!field.empty() || !rows.back().empty()) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

// A field a spreadsheet would evaluate: starts with = + - @ (or a tab/CR that
// hides one), also once an import has trimmed the blanks and control bytes before it.
bool isFormula(const std::string& f) {
  if (f.empty()) return false;
  if (f[0] == '\t' || f[0] == '\r') return true;
  const auto first = std::find_if(f.begin(), f.end(), [](char c) { return static_cast<unsigned char>(c) > ' '; });
  return first != f.end() && (*first == '=' || *first == '+' || *first == '-' || *first == '@');
}

std::string sqlite(const std::string& db, const std::string& query) {
  const auto r = robust::run({"sqlite3", db, query});
  return r.status == 0 ? r.out : "";
}

// A capture of plain-HTTP profile fetches, one TCP connection per User-Agent,
// each from its own device (MAC 00:0e:08:77:00:NN, IP 10.0.0.NN) to 10.0.0.2:80,
// or all from the first one (`one_device`).
std::vector<std::uint8_t> httpCapture(const std::vector<std::string>& requests, bool one_device = false) {
  std::vector<std::uint8_t> file{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0,    0,    4,    0,    1, 0, 0, 0};  // pcap LE usec, snaplen 262144, Ethernet
  std::uint32_t ts = 1'800'000'000;
  std::uint32_t us = 0;
  auto record = [&](const tb::Frame& f) {
    const std::uint32_t len = static_cast<std::uint32_t>(f.size());
    tb::Frame hdr;
    hdr.u32le(ts).u32le(us += 1000).u32le(len).u32le(len);
    file.insert(file.end(), hdr.data().begin(), hdr.data().end());
    file.insert(file.end(), f.data().begin(), f.data().end());
  };
  const std::vector<std::uint8_t> server_mac{0x02, 0x77, 0, 0, 0, 2};
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto n = static_cast<std::uint8_t>(one_device ? 10 : 10 + i);
    const std::vector<std::uint8_t> mac{0x00, 0x0e, 0x08, 0x77, 0x00, n};
    const auto port = static_cast<std::uint16_t>(40000 + i);
    auto c2s = [&](const tb::Frame& seg) { record(tb::ethernet(0x0800, tb::ipv4(6, seg, n, 2), mac, server_mac)); };
    auto s2c = [&](const tb::Frame& seg) { record(tb::ethernet(0x0800, tb::ipv4(6, seg, 2, n), server_mac, mac)); };
    std::uint32_t cseq = 1000, sseq = 5000;
    c2s(tb::tcp(port, 80, cseq++, 0x02));
    s2c(tb::tcp(80, port, sseq++, 0x12));
    const std::string& req = requests[i];
    for (std::size_t off = 0; off < req.size(); off += 1400) {
      const std::string part = req.substr(off, 1400);
      c2s(tb::tcp(port, 80, cseq, 0x18, part));
      cseq += static_cast<std::uint32_t>(part.size());
    }
    const std::string resp = "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    s2c(tb::tcp(80, port, sseq, 0x19, resp));
    sseq += static_cast<std::uint32_t>(resp.size()) + 1;
    c2s(tb::tcp(port, 80, cseq, 0x11));
  }
  return file;
}
}  // namespace

TEST_CASE("audit_cases hostile subject travels intact into the DB, JSON and CSV") {
  const std::string db = robust::tmpPath("hostile.db");
  REQUIRE(robust::run({bin(), "replay", "-q", "--db", db, robust::samplePath("audit_cases.pcap")}).status == 0);
  const std::vector<std::pair<std::string, std::string>> expected{
      {"CN", "\"><img src=x onerror=alert(1)> \xe2\x98\x8e"},
      {"OU", "<script>alert(1)</script>"},
      {"L", "=HYPERLINK(\"https://evil.test\",\"click\")"},
      {"ST", "'; DROP TABLE devices;--"},
  };

  // JSON: valid, and the subject's attributes decode to the exact strings.
  const auto rep = robust::report(db);
  std::string sha;
  for (const auto& d : rep.at("devices").as_array()) {
    if (d.at("mac").as_string() != HOSTILE_MAC) continue;
    const auto& cert = d.at("cert").as_object();
    sha = std::string(cert.at("sha256").as_string());
    const auto attrs = parseRdnText(std::string(cert.at("subject").as_string()));
    INFO("subject " << cert.at("subject").as_string());
    CHECK(attrs == expected);
  }
  REQUIRE(!sha.empty());

  // DB: the certificate's DER is stored byte for byte; OpenSSL reads the same attributes back.
  if (robust::run({"sqlite3", "-version"}).status == 0) {
    const std::string hex = sqlite(db, "SELECT hex(der) FROM certificates WHERE sha256 = '" + sha + "';");
    REQUIRE(hex.size() > 2);
    std::vector<std::uint8_t> der;
    for (std::size_t i = 0; i + 1 < hex.size() && hex[i] != '\n'; i += 2)
      der.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    const auto cert = provaudit::analyze::parseCertificate(der.data(), der.size());
    REQUIRE(cert.has_value());
    CHECK(cert->sha256 == sha);
    for (const auto& [k, v] : expected) CHECK(cert->subjectGet(k) == v);
    // The SQL text was bound, not executed: the table it names is still there.
    CHECK(sqlite(db, "SELECT count(*) FROM devices;") != "0\n");
    CHECK(sqlite(db, "SELECT count(*) FROM devices WHERE cert_subject LIKE '%DROP TABLE devices%';") == "1\n");
  }

  // CSV: parses as RFC 4180, one row per device, no field a spreadsheet would evaluate.
  const auto csv = robust::run({bin(), "report", "--db", db, "--format", "csv"});
  REQUIRE(csv.status == 0);
  const auto rows = parseCsv(csv.out);
  REQUIRE(rows.size() == rep.at("devices").as_array().size() + 1);
  for (const auto& row : rows) {
    CHECK(row.size() == rows.front().size());
    for (const auto& field : row) {
      INFO("field " << field);
      CHECK(!isFormula(field));
    }
  }
}

TEST_CASE("hostile User-Agents and URLs (HTML, SQL, formulas, control bytes, invalid UTF-8, 15 KiB)") {
  const std::vector<std::string> uas{
      "<script>alert(document.cookie)</script>",
      "=HYPERLINK(\"https://evil.test\",\"x\")",
      "+cmd|' /C calc'!A0",
      "-2+3",
      "@SUM(1+1)",
      "'; DROP TABLE devices;--",
      "Linksys/SPA-2102-5.2.10 (88012BA0\x01\x1b[31m)",
      "Yealink SIP-T46G \xff\xfe\xc0\xaf 28.72.0.1",
      "Linksys/SPA-962-6.1.5(a) (88012BA01234)" + std::string(15 * 1024, 'A'),
  };
  std::vector<std::string> requests;
  for (std::size_t i = 0; i < uas.size(); ++i)
    requests.push_back("GET /prov/<svg/onload=alert(1)>/=1+1/" + std::to_string(i) + ".cfg?x='%3Cscript%3E HTTP/1.1\r\nHost: prov\r\n" +
                       "User-Agent: " + uas[i] + "\r\n\r\n");
  const std::string pcap = robust::tmpPath("hostile-ua.pcap");
  robust::writeFile(pcap, httpCapture(requests));
  const std::string db = robust::tmpPath("hostile-ua.db");
  const auto r = robust::run({bin(), "replay", "-q", "--db", db, pcap});
  INFO(r.err);
  REQUIRE(r.status == 0);

  const auto rep = robust::report(db);  // valid JSON despite the bytes above
  std::vector<std::string> seen;
  for (const auto& d : rep.at("devices").as_array())
    if (const auto* list = d.as_object().if_contains("user_agents"))
      for (const auto& ua : list->as_array()) seen.emplace_back(ua.as_string());
  for (std::size_t i = 0; i < uas.size(); ++i) {
    if (i == 7) continue;  // invalid UTF-8: only its survival as valid JSON is asserted
    INFO("UA #" << i);
    CHECK(std::count(seen.begin(), seen.end(), uas[i]) == 1);
  }

  const auto csv = robust::run({bin(), "report", "--db", db, "--format", "csv"});
  REQUIRE(csv.status == 0);
  for (const auto& row : parseCsv(csv.out))
    for (const auto& field : row) {
      INFO("field " << field);
      CHECK(!isFormula(field));
    }
  if (robust::run({"sqlite3", "-version"}).status == 0) {
    CHECK(sqlite(db, "PRAGMA integrity_check;") == "ok\n");
    CHECK(sqlite(db, "SELECT count(*) FROM devices;") != "0\n");
  }
}

TEST_CASE("40 User-Agents of 12 KiB under --max-sightings 20: the evidence fills by size, every sighting kept, said") {
  // Each request's texts are copied into its device, claims and encodings:
  // about 64 KB of memory a sighting, against the 8 KiB each the limit allows.
  std::vector<std::string> requests;
  for (int i = 0; i < 40; ++i) {
    const std::string ua = "Linksys/SPA-962-6.1.5(a) (88012BA0" + std::to_string(1000 + i) + ") " + std::string(12 * 1024, 'A');
    requests.push_back("GET /spa962-" + std::to_string(i) + ".cfg HTTP/1.1\r\nHost: prov\r\nUser-Agent: " + ua + "\r\n\r\n");
  }
  const std::string pcap = robust::tmpPath("long-ua.pcap");
  robust::writeFile(pcap, httpCapture(requests));

  const std::string all_db = robust::tmpPath("long-ua-all.db");
  REQUIRE(robust::run({bin(), "replay", "-q", "--max-sightings", "0", "--db", all_db, pcap}).status == 0);
  CHECK(robust::report(all_db).at("devices").as_array().size() == 40);

  const std::string db = robust::tmpPath("long-ua.db");
  const auto r = robust::run({bin(), "replay", "-q", "--max-sightings", "20", "--db", db, pcap});
  INFO(r.err);
  REQUIRE(r.status == 0);
  // Full by size long before its 20 sightings: 160 KiB allows two or three of these.
  const std::size_t audited = robust::report(db).at("devices").as_array().size();
  CHECK(audited >= 2);
  CHECK(audited <= 4);
  // Said once, with the size that filled it; every sighting stored, the rest counted as left out.
  CHECK(robust::lineCount(r.err) == 1);
  CHECK(r.err.find("--max-sightings 20, or 163.8 kB of evidence") != std::string::npos);
  const auto rep = robust::run({bin(), "report", "--db", db, "--format", "json"});
  REQUIRE(rep.status == 0);
  CHECK(rep.err.find(std::to_string(40 - audited) + " sightings are stored but not audited") != std::string::npos);
}

TEST_CASE("one device sending 100 User-Agents and URLs: its lists keep 64 and say how many more, every sighting counted") {
  std::vector<std::string> requests;
  for (int i = 0; i < 100; ++i) {
    requests.push_back("GET /spa962-" + std::to_string(i) + ".cfg HTTP/1.1\r\nHost: prov\r\nUser-Agent: " +
                       "Linksys/SPA-962-6.1.5(a) (88012BA01234) " + std::to_string(i) + std::string(2000, 'A') + "\r\n\r\n");
  }
  const std::string pcap = robust::tmpPath("one-device-uas.pcap");
  robust::writeFile(pcap, httpCapture(requests, true));
  const std::string db = robust::tmpPath("one-device-uas.db");
  const auto r = robust::run({bin(), "replay", "-q", "--db", db, pcap});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto rep = robust::report(db);
  const auto& devices = rep.at("devices").as_array();
  REQUIRE(devices.size() == 1);
  const auto& d = devices.at(0).as_object();
  CHECK(d.at("user_agents").as_array().size() == 64);
  CHECK(d.at("urls").as_array().size() == 64);
  CHECK(d.at("urls").as_array().at(0) == "/spa962-0.cfg");  // the first ones, in the order they came
  CHECK(boost::json::serialize(d.at("omitted")) == R"({"urls":36,"user_agents":36})");
  CHECK(d.at("sessions") == 100);
  // The report stays the size of what it lists: 64 User-Agents of 2 KB, not 100.
  CHECK(boost::json::serialize(d).size() < 64 * 2100 + 64 * 40 + 4096);
  const auto csv = robust::run({bin(), "report", "--db", db, "--format", "csv"});
  REQUIRE(csv.status == 0);
  CHECK(robust::lineCount(csv.out) == 2);
}
