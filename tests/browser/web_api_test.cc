// API tests of the dashboard: a DashboardServer on 127.0.0.1 (port 0) over
// databases that the real provaudit binary replays from samples/, spoken to
// with a small synchronous Beast client.
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/c_handles.h"
#include "common/text.h"
#include "web/handler.h"
#include "web/server.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

// A folder of this test process's own (CTest runs test cases as parallel
// processes), removed when the process ends.
const std::string& tempDir() {
  struct Dir {
    std::string path = std::string(PROVAUDIT_TEST_TMP) + "/" + std::to_string(::getpid());
    Dir() { fs::create_directories(path); }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

// Replays the named samples into a fresh database (once per name) and returns its path.
std::string database(const std::string& name, const std::vector<std::string>& samples) {
  static std::map<std::string, std::string> made;
  if (auto it = made.find(name); it != made.end()) return it->second;
  const std::string db = tempDir() + "/" + name + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix);
  std::string cmd = std::string("'") + PROVAUDIT_BIN + "' replay -q --db '" + db + "'";
  for (const auto& s : samples) cmd += " '" + std::string(PROVAUDIT_SOURCE_DIR) + "/samples/" + s + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  made[name] = db;
  return db;
}

std::string mixedDb() { return database("mixed", {"spa_mixed_tls12.pcap"}); }

struct Server {
  explicit Server(const std::string& db, const std::string& token = "") : server(options(db, token)) { server.start(); }
  static provaudit::web::ServerOptions options(const std::string& db, const std::string& token) {
    provaudit::web::ServerOptions o;
    o.port = 0;
    o.db_path = db;
    o.token = token;
    return o;
  }
  provaudit::web::DashboardServer server;
};

Response request(std::uint16_t port, http::request<http::string_body> req) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(20));
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  if (req.find(http::field::host) == req.end()) req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.skip(req.method() == http::verb::head);  // a HEAD answer announces a length but has no body
  http::read(stream, buffer, parser);
  Response res = parser.release();
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return res;
}

Response get(std::uint16_t port, const std::string& target, const std::map<std::string, std::string>& headers = {}) {
  http::request<http::string_body> req{http::verb::get, target, 11};
  for (const auto& [k, v] : headers) req.set(k, v);
  return request(port, std::move(req));
}

json::object getJson(std::uint16_t port, const std::string& target) {
  const Response res = get(port, target);
  INFO(target << " -> " << res.result_int() << " " << res.body());
  REQUIRE(res.result() == http::status::ok);
  REQUIRE(res[http::field::content_type].starts_with("application/json"));
  return json::parse(res.body()).as_object();
}

std::string urlEncode(const std::string& s) {
  std::string out;
  static constexpr char HEX[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += HEX[c >> 4];
      out += HEX[c & 15];
    }
  }
  return out;
}

std::vector<std::string> ids(const json::object& page) {
  std::vector<std::string> out;
  for (const auto& d : page.at("items").as_array()) out.emplace_back(d.at("id").as_string());
  return out;
}

}  // namespace

TEST_CASE("device list: spa_mixed has 2 individualized, 2 generic, 1 none") {
  Server s(mixedDb());
  const auto port = s.server.port();
  REQUIRE(getJson(port, "/api/devices").at("total").as_int64() == 5);
  CHECK(getJson(port, "/api/devices?class=individualized").at("total").as_int64() == 2);
  CHECK(getJson(port, "/api/devices?class=generic").at("total").as_int64() == 2);
  CHECK(getJson(port, "/api/devices?class=none").at("total").as_int64() == 1);
  CHECK(getJson(port, "/api/devices?class=unknown").at("total").as_int64() == 0);
  const auto generic = getJson(port, "/api/devices?class=generic");
  for (const auto& d : generic.at("items").as_array()) {
    CHECK(d.at("identity").as_string() == "generic");
    CHECK(d.at("findings").as_array().size() >= 1);
  }
  CHECK(getJson(port, "/api/devices?finding=generic-cert").at("total").as_int64() == 2);
  CHECK(getJson(port, "/api/devices?finding=no-client-cert").at("total").as_int64() == 1);
  CHECK(getJson(port, "/api/devices?vendor=Cisco").at("total").as_int64() >= 1);
}

TEST_CASE("device list: sort by any column, both directions") {
  Server s(mixedDb());
  const auto port = s.server.port();
  const auto asc = ids(getJson(port, "/api/devices?sort=mac"));
  auto desc = ids(getJson(port, "/api/devices?sort=mac&dir=desc"));
  std::reverse(desc.begin(), desc.end());
  CHECK(asc == desc);
  for (const char* col : {"id", "mac", "ips", "identity", "vendor", "model", "firmware", "serial", "chain", "findings",
                          "severity", "first_seen", "last_seen", "sessions"}) {
    INFO(col);
    CHECK(getJson(port, std::string("/api/devices?sort=") + col).at("items").as_array().size() == 5);
  }
  CHECK(get(port, "/api/devices?sort=password").result() == http::status::bad_request);
  CHECK(get(port, "/api/devices?class=bogus").result() == http::status::bad_request);
  // A NUL in a search: refused with its reason, on every list (and the export).
  for (const char* path : {"/api/devices?q=spa%00zzz", "/api/devices?q=%00", "/api/servers?q=10.%00",
                           "/api/findings?q=cert%00", "/api/export?format=csv&q=%00abc"}) {
    INFO(path);
    const auto res = get(port, path);
    CHECK(res.result() == http::status::bad_request);
    CHECK(res.body().find("NUL") != std::string::npos);
  }
}

TEST_CASE("device list: keyset paging walks every device once, forwards and back") {
  Server s(mixedDb());
  const auto port = s.server.port();
  for (const char* sort : {"id", "identity", "last_seen&dir=desc"}) {
    INFO(sort);
    const std::string base = std::string("/api/devices?limit=2&sort=") + sort;
    std::vector<std::string> seen;
    std::vector<json::object> pages;
    std::string target = base;
    for (int guard = 0; guard < 10; ++guard) {
      const auto page = getJson(port, target);
      pages.push_back(page);
      for (const auto& id : ids(page)) seen.push_back(id);
      if (page.at("next").is_null()) break;
      target = base + "&after=" + urlEncode(std::string(page.at("next").as_string()));
    }
    CHECK(pages.size() == 3);
    CHECK(seen.size() == 5);
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 5);
    CHECK(seen == ids(getJson(port, std::string("/api/devices?limit=10&sort=") + sort)));
    // Back from the last page gives the middle page again.
    const auto back = getJson(port, base + "&before=" + urlEncode(std::string(pages[2].at("prev").as_string())));
    CHECK(ids(back) == ids(pages[1]));
  }
  CHECK(get(port, "/api/devices?after=notjson").result() == http::status::bad_request);
}

TEST_CASE("device search and detail, 404 for unknown ids") {
  Server s(mixedDb());
  const auto port = s.server.port();
  const auto all = getJson(port, "/api/devices");
  const auto& first = all.at("items").as_array()[0].as_object();
  const std::string id(first.at("id").as_string());
  // Search by a piece of the MAC without colons (as it appears in certificate subjects).
  const std::string mac(first.at("mac").as_string());
  std::string bare;
  for (char c : mac) {
    if (c != ':') bare.push_back(c);
  }
  const auto found = getJson(port, "/api/devices?q=" + bare.substr(4));
  CHECK(found.at("total").as_int64() >= 1);
  CHECK(getJson(port, "/api/devices?q=ciscogeneric").at("total").as_int64() == 2);
  CHECK(getJson(port, "/api/devices?q=no-such-device-anywhere").at("total").as_int64() == 0);

  const auto detail = getJson(port, "/api/devices/" + urlEncode(id));
  CHECK(detail.at("device").at("id").as_string() == id);
  CHECK(detail.at("detail").as_object().contains("claims"));
  // Stored with each source text once; served with every claim complete.
  CHECK(!detail.at("detail").as_object().contains("claim_sources"));
  for (const auto& c : detail.at("detail").at("claims").as_array()) {
    for (const char* key : {"field", "value", "origin", "evidence", "rule", "time", "frame", "source"}) {
      INFO(key);
      CHECK(c.as_object().contains(key));
    }
    CHECK(!c.as_object().contains("from"));
    if (c.at("origin") != "oui") {
      CHECK(!c.at("evidence").as_string().empty());
      CHECK(std::string(c.at("source").as_string()).find("spa_mixed_tls12.pcap") != std::string::npos);
    }
  }
  CHECK(!detail.at("detail").at("claims").as_array().empty());
  const auto& sightings = detail.at("sightings").as_array();
  REQUIRE(!sightings.empty());
  CHECK(sightings[0].at("frame").as_int64() > 0);
  CHECK(std::string(sightings[0].at("source").as_string()).find("spa_mixed_tls12.pcap") != std::string::npos);
  CHECK(get(port, "/api/devices/mac%3Aff%3Aff%3Aff%3Aff%3Aff%3Aff").result() == http::status::not_found);
  CHECK(get(port, "/api/nothing-here").result() == http::status::not_found);
}

TEST_CASE("a device's sightings come a page at a time, oldest or newest first") {
  // One Cisco SPA (mac:00:0e:08:ab:cd:ef) seen in four of the captures: five
  // handshakes, in the captures' time order (the samples were recorded one
  // after the other), as capture file and frame.
  Server s(database("spa_four", {"audit_cases.pcap", "no_cert_request.pcap", "resumption.pcap", "spa_mixed_tls12.pcap"}));
  const auto port = s.server.port();
  const std::string base = "/api/devices/" + urlEncode("mac:00:0e:08:ab:cd:ef");
  const std::vector<std::string> expected = {"spa_mixed_tls12.pcap#19", "resumption.pcap#12", "resumption.pcap#75",
                                             "no_cert_request.pcap#18", "audit_cases.pcap#19"};
  const auto seen = [](const json::object& page) {
    std::vector<std::string> out;
    for (const auto& v : page.at("sightings").as_array()) {
      const std::string source(v.at("source").as_string());
      out.push_back(source.substr(source.rfind('/') + 1) + "#" + std::to_string(v.at("frame").as_int64()));
    }
    return out;
  };
  const auto all = getJson(port, base);
  CHECK(seen(all) == expected);
  CHECK(all.at("sightings_total").as_int64() == 5);
  CHECK(all.at("sightings_offset").as_int64() == 0);
  CHECK(all.at("sightings_limit").as_int64() == 100);
  CHECK(all.at("sightings_order").as_string() == "oldest");

  // Pages of two: 2 + 2 + 1, the same sightings in the same order, each page saying where it is.
  std::vector<std::string> paged;
  for (int offset = 0; offset < 5; offset += 2) {
    const auto page = getJson(port, base + "?sightings_limit=2&sightings_offset=" + std::to_string(offset));
    CHECK(page.at("sightings_total").as_int64() == 5);
    CHECK(page.at("sightings_offset").as_int64() == offset);
    CHECK(page.at("sightings_limit").as_int64() == 2);
    CHECK(page.at("sightings").as_array().size() == (offset == 4 ? 1U : 2U));
    for (auto& k : seen(page)) paged.push_back(k);
  }
  CHECK(paged == expected);

  // Newest first: the same five reversed, paged the same way.
  const auto newest = getJson(port, base + "?sightings_order=newest");
  CHECK(newest.at("sightings_order").as_string() == "newest");
  CHECK(seen(newest) == std::vector<std::string>(expected.rbegin(), expected.rend()));
  CHECK(seen(getJson(port, base + "?sightings_order=newest&sightings_limit=2&sightings_offset=2")) ==
        std::vector<std::string>{"resumption.pcap#75", "resumption.pcap#12"});

  // Past the end: nothing listed, the total still given. A page larger than
  // the most allowed is that most (the answer says so); empty is the default;
  // 0 or a malformed number is refused, never answered as if it were absent.
  const auto past = getJson(port, base + "?sightings_offset=5");
  CHECK(past.at("sightings").as_array().empty());
  CHECK(past.at("sightings_total").as_int64() == 5);
  CHECK(getJson(port, base + "?sightings_limit=5000").at("sightings_limit").as_int64() == 1000);
  CHECK(getJson(port, base + "?sightings_limit=").at("sightings_limit").as_int64() == 100);
  for (const char* q : {"?sightings_limit=0", "?sightings_limit=two", "?sightings_offset=abc", "?sightings_offset=-1"}) {
    INFO(q);
    const Response r = get(port, base + q);
    CHECK(r.result() == http::status::bad_request);
    CHECK(json::parse(r.body()).at("error").as_string().starts_with(std::string_view(q + 1, 9)));
  }
  const Response bad = get(port, base + "?sightings_order=sideways");
  CHECK(bad.result() == http::status::bad_request);
  CHECK(bad.body().find("sightings_order") != std::string::npos);
}

TEST_CASE("a device that made many handshakes: its history keeps the first and the last, its sightings all of them") {
  // resumption.pcap holds two handshakes of one Cisco SPA (mac:00:0e:08:ab:cd:ef):
  // 51 copies, each an hour later than the one before (editcap -t; the same
  // handshakes at the same time would be the same sightings), make 102.
  const std::string dir = tempDir() + "/copies";
  fs::create_directories(dir);
  const std::string db = tempDir() + "/copies.db";
  std::string cmd = std::string("'") + PROVAUDIT_BIN + "' replay -q --db '" + db + "'";
  for (int i = 0; i < 51; ++i) {
    const std::string copy = dir + "/resumption-" + std::to_string(i) + ".pcap";
    const std::string shift = "editcap -t " + std::to_string(i * 3600) + " '" + PROVAUDIT_SOURCE_DIR +
                              "/samples/resumption.pcap' '" + copy + "'";
    REQUIRE(std::system(shift.c_str()) == 0);
    cmd += " '" + copy + "'";
  }
  REQUIRE(std::system(cmd.c_str()) == 0);
  Server s(db);
  const auto port = s.server.port();
  const auto page = getJson(port, "/api/devices/" + urlEncode("mac:00:0e:08:ab:cd:ef"));
  CHECK(page.at("sightings_total").as_int64() == 102);
  CHECK(page.at("device").at("sessions").as_int64() == 102);
  const auto& detail = page.at("detail").as_object();
  const auto& history = detail.at("handshakes").as_array();
  CHECK(history.size() == 100);
  CHECK(detail.at("handshakes_omitted").as_int64() == 2);
  // The first fifty come from the first copies read, the last fifty from the last ones.
  const auto copyOf = [](const json::value& h) {
    const std::string source(h.at("source").as_string());
    return std::stoi(source.substr(source.rfind('-') + 1));
  };
  CHECK(copyOf(history.front()) == 0);
  CHECK(copyOf(history[49]) == 24);
  CHECK(copyOf(history[50]) == 26);
  CHECK(copyOf(history.back()) == 50);
  // A device with few handshakes says nothing of the kind.
  Server mixed(mixedDb());
  const auto few = getJson(mixed.server.port(), "/api/devices/" + urlEncode("mac:00:0e:08:ab:cd:ef"));
  CHECK_FALSE(few.at("detail").as_object().contains("handshakes_omitted"));
}

TEST_CASE("servers, findings, stats, timeline") {
  Server s(mixedDb());
  const auto port = s.server.port();
  const auto servers = getJson(port, "/api/servers");
  CHECK(servers.at("total").as_int64() >= 1);
  CHECK(servers.at("items").as_array()[0].as_object().contains("devices"));
  const auto findings = getJson(port, "/api/findings?code=generic-cert");
  CHECK(findings.at("total").as_int64() == 2);
  const auto summary = getJson(port, "/api/findings/summary");
  std::set<std::string> codes;
  for (const auto& c : summary.at("catalogue").as_array()) codes.emplace(c.at("code").as_string());
  for (const char* code : {"generic-cert", "no-client-cert", "cert-untrusted", "cert-expired", "cert-not-yet-valid",
                           "cert-weak-key", "cert-weak-signature", "cert-clone", "cert-mac-mismatch", "serial-mismatch",
                           "plaintext-provisioning", "legacy-tls", "weak-cipher", "cert-hidden",
                           "server-no-cert-request", "fingerprint-mismatch", "ccert-mismatch", "claim-mismatch"}) {
    INFO(code);
    CHECK(codes.count(code) == 1);
  }
  const auto stats = getJson(port, "/api/stats");
  CHECK(stats.at("devices").at("total").as_int64() == 5);
  CHECK(stats.at("devices").at("by_identity").at("generic").as_int64() == 2);
  CHECK(stats.at("coverage").at("packets").as_int64() > 0);
  CHECK(stats.at("coverage").at("files").as_int64() == 1);
  const auto timeline = getJson(port, "/api/timeline");
  CHECK(!timeline.at("buckets").as_array().empty());
  CHECK(getJson(port, "/api/timeline?bucket=hour").at("bucket_seconds").as_int64() == 3600);
}

TEST_CASE("a server whose certificate request could not be seen is neither asking nor not asking") {
  // tls13.pcap: TLS 1.3 encrypts the CertificateRequest (the report's requests_client_cert is null).
  Server s(database("tls13_only", {"tls13.pcap"}));
  const auto port = s.server.port();
  const auto servers = getJson(port, "/api/stats").at("servers");
  CHECK(servers.at("total").as_int64() == 1);
  CHECK(servers.at("requesting_client_cert").as_int64() == 0);
  CHECK(servers.at("not_requesting").as_int64() == 0);
  CHECK(servers.at("request_not_visible").as_int64() == 1);
  CHECK(getJson(port, "/api/servers?cert_request=unknown").at("total").as_int64() == 1);
  CHECK(getJson(port, "/api/servers?cert_request=no").at("total").as_int64() == 0);
  CHECK(getJson(port, "/api/servers?cert_request=yes").at("total").as_int64() == 0);
  CHECK(getJson(port, "/api/servers").at("items").at(0).at("requests_client_cert").is_null());
  const std::string metrics = get(port, "/metrics").body();
  CHECK(metrics.find("provaudit_servers{requests_client_cert=\"unknown\"} 1\n") != std::string::npos);
  CHECK(metrics.find("provaudit_servers{requests_client_cert=\"false\"} 0\n") != std::string::npos);
  // The device's own list of servers says the same, not false.
  const auto device_id = getJson(port, "/api/devices").at("items").at(0).at("id").as_string();
  const auto detail = getJson(port, "/api/devices/" + urlEncode(std::string(device_id)));
  REQUIRE(detail.at("servers").as_array().size() == 1);
  CHECK(detail.at("servers").at(0).at("requests_client_cert").is_null());
  // The HTML export says so too, rather than leaving the cell empty.
  const auto html = get(port, "/api/export?format=html");
  CHECK(html.body().find("<td class=\"mono nw\">10.77.0.2 port 443</td><td>not visible</td><td>TLS 1.3</td>") !=
        std::string::npos);
  // spa_mixed: its server asks, visibly; none unknown.
  Server mixed(mixedDb());
  const auto m = getJson(mixed.server.port(), "/api/stats").at("servers");
  CHECK(m.at("requesting_client_cert").as_int64() == 1);
  CHECK(m.at("request_not_visible").as_int64() == 0);
  CHECK(getJson(mixed.server.port(), "/api/servers?cert_request=unknown").at("total").as_int64() == 0);
}

TEST_CASE("export streams the report formats and honours the filter") {
  Server s(mixedDb());
  const auto port = s.server.port();
  const Response csv = get(port, "/api/export?format=csv&class=generic");
  REQUIRE(csv.result() == http::status::ok);
  CHECK(csv[http::field::content_disposition].find("attachment") != std::string::npos);
  CHECK(csv.body().rfind("mac,ips,identity,", 0) == 0);
  CHECK(std::count(csv.body().begin(), csv.body().end(), '\n') == 3);
  // Unfiltered, the export is the report command's CSV, byte for byte.
  const Response all = get(port, "/api/export?format=csv");
  REQUIRE(all.result() == http::status::ok);
  std::string reported;
  {
    const std::string cmd = std::string("'") + PROVAUDIT_BIN + "' report --db '" + mixedDb() + "' --format csv";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) reported.append(buf, n);
    CHECK(::pclose(p) == 0);
  }
  CHECK(std::count(reported.begin(), reported.end(), '\n') == 6);  // header and five devices
  CHECK(all.body() == reported);
  const Response js = get(port, "/api/export?format=json&class=none");
  REQUIRE(js.result() == http::status::ok);
  const auto report = json::parse(js.body()).as_object();
  CHECK(report.at("schema").as_string() == "provaudit.report/1");
  CHECK(report.at("devices").as_array().size() == 1);
  CHECK(!report.at("servers").as_array().empty());
  const Response html = get(port, "/api/export?format=html");
  REQUIRE(html.result() == http::status::ok);
  CHECK(html.body().find("</html>") != std::string::npos);
  CHECK(get(port, "/api/export?format=pdf").result() == http::status::bad_request);
}

TEST_CASE("a device whose document is missing (a database damaged by hand) is left out of the export, as of the report") {
  const std::string db = database("nodoc", {"spa_mixed_tls12.pcap"});
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    provaudit::SqlitePtr conn(raw);
    REQUIRE(sqlite3_exec(raw, "DELETE FROM device_docs WHERE id = (SELECT min(id) FROM device_docs)", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_changes(raw) == 1);
  }
  Server s(db);
  const Response js = get(s.server.port(), "/api/export?format=json");
  REQUIRE(js.result() == http::status::ok);
  json::value report;
  REQUIRE_NOTHROW(report = json::parse(js.body()));
  CHECK(report.at("devices").as_array().size() == 4);
  const Response csv = get(s.server.port(), "/api/export?format=csv");
  CHECK(std::count(csv.body().begin(), csv.body().end(), '\n') == 5);  // the header and four devices
}

TEST_CASE("an HTTP/1.0 client gets the export without chunks, ended by the close") {
  Server s(mixedDb());
  const Response chunked = get(s.server.port(), "/api/export?format=csv");
  REQUIRE(chunked.result() == http::status::ok);
  CHECK(chunked.chunked());
  http::request<http::string_body> old{http::verb::get, "/api/export?format=csv", 10};
  const Response r = request(s.server.port(), old);
  REQUIRE(r.result() == http::status::ok);
  CHECK(r.version() == 10);
  CHECK_FALSE(r.chunked());
  CHECK(r.find(http::field::transfer_encoding) == r.end());
  CHECK(r.body() == chunked.body());
}

TEST_CASE("/api/change says 503 while a writer holds a rollback-journal database, never a counter") {
  const std::string db = database("busy", {"spa_mixed_tls12.pcap"});
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  provaudit::SqlitePtr writer(raw);
  REQUIRE(sqlite3_exec(raw, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) == SQLITE_OK);
  Server s(db);
  const auto port = s.server.port();
  const json::object before = getJson(port, "/api/change");
  REQUIRE(sqlite3_exec(raw, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  const Response busy = get(port, "/api/change");
  CHECK(busy.result() == http::status::service_unavailable);
  CHECK(busy.body().find("busy") != std::string::npos);
  REQUIRE(sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  const json::object after = getJson(port, "/api/change");
  CHECK(after.at("change") == before.at("change"));  // nothing was written
  CHECK(after.at("sightings_left_out") == before.at("sightings_left_out"));
}

TEST_CASE("a filtered export lists only the servers its devices talked to") {
  // audit_cases: HTTP and HTTPS servers; the cloned-certificate devices only used HTTPS.
  Server s(database("audit", {"audit_cases.pcap"}));
  const auto port = s.server.port();
  const auto serversOf = [](const json::array& servers) {
    std::set<std::string> out;
    for (const auto& v : servers) out.insert(std::string(v.at("ip").as_string()) + " " + std::to_string(v.at("port").as_int64()));
    return out;
  };
  const auto clones = getJson(port, "/api/devices?finding=cert-clone");
  REQUIRE(!clones.at("items").as_array().empty());
  std::set<std::string> talked;
  for (const auto& d : clones.at("items").as_array()) {
    const auto detail = getJson(port, "/api/devices/" + urlEncode(std::string(d.at("id").as_string())));
    const auto mine = serversOf(detail.at("servers").as_array());
    talked.insert(mine.begin(), mine.end());
  }
  REQUIRE(!talked.empty());
  REQUIRE(static_cast<std::int64_t>(talked.size()) < getJson(port, "/api/servers").at("total").as_int64());
  for (const char* format : {"json", "html"}) {
    INFO(format);
    const Response res = get(port, std::string("/api/export?format=") + format + "&finding=cert-clone");
    REQUIRE(res.result() == http::status::ok);
    if (std::string(format) == "json") {
      const auto report = json::parse(res.body()).as_object();
      CHECK(serversOf(report.at("servers").as_array()) == talked);
    } else {
      // One row per server in the servers table, its first cell "IP port PORT".
      const auto all = getJson(port, "/api/servers?limit=500");
      for (const auto& srv : all.at("items").as_array()) {
        const std::string ip(srv.at("ip").as_string());
        const std::string port_text = std::to_string(srv.at("port").as_int64());
        INFO(ip << " " << port_text);
        const bool listed = res.body().find("<td class=\"mono nw\">" + ip + " port " + port_text + "</td>") != std::string::npos;
        CHECK(listed == (talked.count(ip + " " + port_text) == 1));
      }
    }
  }
  // Without a filter: every server, as the CLI report.
  const auto everything = json::parse(get(port, "/api/export?format=json").body()).as_object();
  CHECK(static_cast<std::int64_t>(everything.at("servers").as_array().size()) ==
        getJson(port, "/api/servers").at("total").as_int64());
}

TEST_CASE("device list totals say whether they are exact") {
  Server s(mixedDb());
  const auto port = s.server.port();
  for (const char* target : {"/api/devices", "/api/devices?class=generic", "/api/devices?q=cisco", "/api/findings",
                             "/api/findings?q=generic"}) {
    INFO(target);
    const auto page = getJson(port, target);
    CHECK(page.at("total_exact").as_bool());
    CHECK(page.at("total").as_int64() >= static_cast<std::int64_t>(page.at("items").as_array().size()));
  }
}

TEST_CASE("hostile certificate strings come back as JSON text, escaped in the HTML export") {
  Server s(database("audit", {"audit_cases.pcap"}));
  const auto port = s.server.port();
  const auto list = getJson(port, "/api/devices?q=alert");
  REQUIRE(list.at("total").as_int64() >= 1);
  const std::string subject(list.at("items").as_array()[0].at("cert_subject").as_string());
  CHECK(subject.find("<script") != std::string::npos);
  CHECK(subject.find("<img src=x onerror") != std::string::npos);
  const Response html = get(port, "/api/export?format=html&q=alert");
  CHECK(html.body().find("<script") == std::string::npos);
  CHECK(html.body().find("<img") == std::string::npos);
  CHECK(html.body().find("&lt;script") != std::string::npos);
  CHECK(html[http::field::content_type].starts_with("text/html"));
  CHECK(std::string(html["Content-Security-Policy"]).find("default-src 'none'") != std::string::npos);
}

TEST_CASE("a capture file whose name is not UTF-8: every answer is still valid UTF-8 JSON") {
  // The operator's file name is bytes (here 0xff, and a control byte); it is
  // shown as device text is, its invalid bytes as \xNN.
  const std::string dir = tempDir() + "/names";
  fs::create_directories(dir);
  const std::string name = "bad\xff\x01name.pcap";
  fs::copy_file(std::string(PROVAUDIT_SOURCE_DIR) + "/samples/spa_mixed_tls12.pcap", dir + "/" + name,
                fs::copy_options::overwrite_existing);
  const std::string db = dir + "/names.db";
  const std::string cmd = std::string("'") + PROVAUDIT_BIN + "' replay -q --db '" + db + "' '" + dir + "/" + name + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  Server s(db);
  const auto port = s.server.port();
  const auto validUtf8 = [](const std::string& text) {
    for (std::size_t i = 0; i < text.size();) {
      const std::size_t n = provaudit::utf8SequenceLength(text, i);
      if (n == 0) return false;
      i += n;
    }
    return true;
  };
  std::vector<std::string> targets{"/api/stats",
                                   "/api/devices",
                                   "/api/servers",
                                   "/api/findings",
                                   "/api/export?format=json",
                                   "/api/export?format=csv",
                                   "/api/export?format=html"};
  const auto list = getJson(port, "/api/devices");
  REQUIRE(list.at("items").as_array().size() == 5);
  for (const auto& d : list.at("items").as_array()) {
    targets.push_back("/api/devices/" + std::string(d.at("id").as_string()));
  }
  bool source_shown = false;
  for (const auto& t : targets) {
    const Response r = get(port, t);
    INFO(t);
    REQUIRE(r.result() == http::status::ok);
    CHECK(validUtf8(r.body()));
    if (t.rfind("/api/export", 0) != 0) CHECK_NOTHROW(json::parse(r.body()));
    if (t.rfind("/api/devices/", 0) == 0) {
      const auto detail = json::parse(r.body()).as_object();
      for (const auto* entries : {&detail.at("detail").at("handshakes"), &detail.at("sightings")}) {
        for (const auto& h : entries->as_array()) {
          CHECK(h.at("source").as_string() == dir + "/bad\\xff\x01name.pcap");
          source_shown = true;
        }
      }
    }
  }
  CHECK(source_shown);
  const auto stats = getJson(port, "/api/stats");
  const auto& listed = stats.at("coverage").at("list").as_array();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].at("name").as_string() == dir + "/bad\\xff\x01name.pcap");
}

TEST_CASE("a finding filter is one finding code") {
  Server s(mixedDb());
  const auto port = s.server.port();
  // Codes are joined with ';' in a device's row: two codes in one filter would
  // match there and not in the counts; neither list nor export takes one.
  for (const std::string t : {"/api/devices?finding=generic-cert%3Bno-client-cert",
                              "/api/export?format=csv&finding=generic-cert%3Bno-client-cert",
                              "/api/devices?finding=%25", "/api/devices?finding=Generic-Cert"}) {
    INFO(t);
    const Response r = get(port, t);
    CHECK(r.result() == http::status::bad_request);
    CHECK(r.body().find("finding") != std::string::npos);
  }
  CHECK(getJson(port, "/api/devices?finding=generic-cert").at("total").as_int64() == 2);
  CHECK(getJson(port, "/api/devices?finding=no-such-code").at("total").as_int64() == 0);
}

TEST_CASE("no traversal: only embedded assets by exact name") {
  Server s(mixedDb());
  const auto port = s.server.port();
  CHECK(get(port, "/").result() == http::status::ok);
  CHECK(get(port, "/app.js").result() == http::status::ok);
  for (const char* t : {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd", "/app.js/../index.html",
                        "/.%2e/app.js", "/index.html%00", "//etc/passwd", "/web/assets/app.js", "/login.html",
                        "/index.html"}) {
    INFO(t);
    const auto status = get(port, t).result();
    CHECK((status == http::status::not_found || status == http::status::bad_request));
  }
}

TEST_CASE("security headers, methods, Host and size limits") {
  Server s(mixedDb());
  const auto port = s.server.port();
  for (const char* t : {"/", "/api/stats", "/metrics", "/nope"}) {
    const Response r = get(port, t);
    INFO(t);
    CHECK(std::string(r["Content-Security-Policy"]).find("default-src 'none'; script-src 'self'") != std::string::npos);
    CHECK(std::string(r["Content-Security-Policy"]).find("frame-ancestors 'none'") != std::string::npos);
    CHECK(r["X-Content-Type-Options"] == "nosniff");
    CHECK(r["Referrer-Policy"] == "no-referrer");
  }
  {
    http::request<http::string_body> req{http::verb::post, "/api/stats", 11};
    CHECK(request(port, req).result() == http::status::method_not_allowed);
    http::request<http::string_body> del{http::verb::delete_, "/api/devices", 11};
    CHECK(request(port, del).result() == http::status::method_not_allowed);
  }
  {
    http::request<http::string_body> head{http::verb::head, "/api/stats", 11};
    const Response r = request(port, head);
    CHECK(r.result() == http::status::ok);
    CHECK(r.body().empty());
  }
  CHECK(get(port, "/api/stats", {{"Host", "attacker.example:80"}}).result() == http::status::misdirected_request);
  // Without a token, loopback addresses and localhost only: a name that begins
  // like a loopback address is a name its owner can point anywhere (DNS rebinding).
  for (const std::string& host :
       std::vector<std::string>{"127.evil.example", "127.0.0.1.rebind.example:" + std::to_string(port), "127.",
                                "127.0.0.1x", "[::1].example", "[::2]", "localhost.example", "0x7f.0.0.1"}) {
    INFO(host);
    CHECK(get(port, "/api/stats", {{"Host", host}}).result() == http::status::misdirected_request);
  }
  for (const std::string& host : std::vector<std::string>{
           "127.0.0.1:" + std::to_string(port), "127.0.0.1", "127.3.2.1:80", "localhost",
           "localhost:" + std::to_string(port), "[::1]:" + std::to_string(port), "[0:0:0:0:0:0:0:1]"}) {
    INFO(host);
    CHECK(get(port, "/api/stats", {{"Host", host}}).result() == http::status::ok);
  }
  // Errors met before the request is read whole are JSON too, as web/API.md says of every error.
  const Response huge = get(port, "/api/stats", {{"X-Padding", std::string(9000, 'a')}});
  CHECK(huge.result() == http::status::request_header_fields_too_large);
  CHECK(huge[http::field::content_type] == "application/json; charset=utf-8");
  CHECK(json::parse(huge.body()).at("error") == "request header fields too large");
  {
    http::request<http::string_body> big{http::verb::get, "/api/stats", 11};
    big.body() = std::string(4096, 'x');
    const Response r = request(port, big);
    CHECK((r.result() == http::status::payload_too_large || r.result() == http::status::bad_request));
    CHECK(json::parse(r.body()).at("error").is_string());
  }
}

TEST_CASE("a parameter value the API does not know is a 400 naming it, never an unfiltered answer") {
  Server s(mixedDb());
  const auto port = s.server.port();
  const std::pair<const char*, const char*> cases[] = {
      {"/api/servers?cert_request=maybe", "cert_request"}, {"/api/findings?kind=bogus", "kind"},
      {"/api/devices?dir=sideways", "dir"},                {"/api/servers?dir=up", "dir"},
      {"/api/findings?dir=down", "dir"},                   {"/api/devices?limit=0", "limit"},
      {"/api/devices?limit=-1", "limit"},                  {"/api/devices?limit=abc", "limit"},
      {"/api/servers?limit=0", "limit"},                   {"/api/servers?offset=x", "offset"},
      {"/api/findings?limit=1e3", "limit"},                {"/api/findings?offset=-5", "offset"},
      {"/api/export?format=csv&dir=sideways", "dir"},
  };
  for (const auto& [target, name] : cases) {
    INFO(target);
    const Response r = get(port, target);
    CHECK(r.result() == http::status::bad_request);
    CHECK(std::string(json::parse(r.body()).at("error").as_string()).starts_with(std::string(name) + ":"));
  }
  // The values it knows still answer, and a page size past the most is that most.
  for (const char* target : {"/api/servers?cert_request=yes", "/api/servers?cert_request=unknown", "/api/findings?kind=server",
                             "/api/devices?dir=asc", "/api/devices?dir=desc&limit=1", "/api/findings?dir=asc&offset=0"}) {
    INFO(target);
    CHECK(get(port, target).result() == http::status::ok);
  }
  CHECK(getJson(port, "/api/devices?limit=5000").at("limit").as_int64() == 500);
  // dir applies to the findings' default sort too (it was always descending).
  const auto asc = getJson(port, "/api/findings?dir=asc").at("items").as_array();
  const auto desc = getJson(port, "/api/findings").at("items").as_array();
  REQUIRE(asc.size() > 1);
  CHECK(asc.front().at("severity") == desc.back().at("severity"));
}

TEST_CASE("/metrics is Prometheus text") {
  Server s(mixedDb());
  const Response r = get(s.server.port(), "/metrics");
  REQUIRE(r.result() == http::status::ok);
  CHECK(r[http::field::content_type].starts_with("text/plain; version=0.0.4"));
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$)");
  std::set<std::string> names;
  std::istringstream in(r.body());
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      CHECK((line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0));
      continue;
    }
    INFO(line);
    CHECK(std::regex_match(line, sample));
    names.insert(line.substr(0, line.find_first_of("{ ")));
    ++samples;
  }
  CHECK(samples > 10);
  for (const char* n : {"provaudit_packets_total", "provaudit_bytes_total", "provaudit_drops_total", "provaudit_flows_total",
                        "provaudit_devices", "provaudit_findings"}) {
    INFO(n);
    CHECK(names.count(n) == 1);
  }
  CHECK(r.body().find("provaudit_devices{identity=\"generic\"} 2") != std::string::npos);
  // A replay drops nothing, and the three places a capture drops have their series all the same (0).
  for (const char* where : {"kernel", "interface", "queue"}) {
    CHECK(r.body().find(std::string("provaudit_drops_total{where=\"") + where + "\"} 0\n") != std::string::npos);
  }
  // A value of the moment: a gauge of its own, not one of the counters.
  CHECK(r.body().find("# TYPE provaudit_sightings_left_out gauge\nprovaudit_sightings_left_out 0\n") != std::string::npos);
  CHECK(r.body().find("name=\"audit_sightings_left_out\"") == std::string::npos);
  // How full the evidence is: the mixed sample's five sightings, under the default limit.
  CHECK(r.body().find("# TYPE provaudit_audit_evidence_sightings gauge\nprovaudit_audit_evidence_sightings 5\n") !=
        std::string::npos);
  CHECK(r.body().find("# TYPE provaudit_audit_evidence_limit gauge\nprovaudit_audit_evidence_limit 150000\n") !=
        std::string::npos);
  // What that limit may need at most (256 MiB + 8 KiB a sighting), and what the writer may use.
  const std::int64_t need = (std::int64_t{256} << 20) + std::int64_t{150000} * 8192;
  CHECK(r.body().find("# TYPE provaudit_audit_evidence_memory_need_bytes gauge\n"
                      "provaudit_audit_evidence_memory_need_bytes " + std::to_string(need) + "\n") != std::string::npos);
  const std::string limit_sample = "\nprovaudit_audit_memory_limit_bytes ";
  const auto limit_at = r.body().find(limit_sample);
  REQUIRE(limit_at != std::string::npos);
  CHECK(std::stoll(r.body().substr(limit_at + limit_sample.size())) > need);
  CHECK(r.body().find("name=\"audit_memory_limit\"") == std::string::npos);
  CHECK(r.body().find("name=\"audit_max_sightings\"") == std::string::npos);
  // The evidence's size: five sightings, each counted as 8 KiB at least.
  const std::string bytes_sample = "# TYPE provaudit_audit_evidence_bytes gauge\nprovaudit_audit_evidence_bytes ";
  const auto bytes_at = r.body().find(bytes_sample);
  REQUIRE(bytes_at != std::string::npos);
  CHECK(std::stoll(r.body().substr(bytes_at + bytes_sample.size())) >= 5 * 8192);
  CHECK(r.body().find("name=\"audit_evidence_bytes\"") == std::string::npos);
}

TEST_CASE("a non-loopback bind needs a token; with one, requests need it") {
  provaudit::web::ServerOptions open;
  open.address = "0.0.0.0";
  open.port = 0;
  open.db_path = mixedDb();
  CHECK_THROWS_WITH(provaudit::web::DashboardServer(open), Catch::Contains("--token"));
  open.address = "::";
  CHECK_THROWS_AS(provaudit::web::DashboardServer(open), std::runtime_error);

  Server s(mixedDb(), "s3cret-token");
  const auto port = s.server.port();
  CHECK(get(port, "/api/stats").result() == http::status::unauthorized);
  CHECK(get(port, "/metrics").result() == http::status::unauthorized);
  CHECK(get(port, "/api/stats", {{"Authorization", "Bearer wrong-token!"}}).result() == http::status::unauthorized);
  CHECK(get(port, "/api/stats", {{"Authorization", "Bearer s3cret-token"}}).result() == http::status::ok);
  CHECK(get(port, "/").result() == http::status::see_other);  // to the login form
  CHECK(get(port, "/login").result() == http::status::ok);

  http::request<http::string_body> login{http::verb::post, "/login", 11};
  login.set(http::field::content_type, "application/x-www-form-urlencoded");
  login.body() = "token=wrong";
  CHECK(request(port, login)[http::field::location] == "/login#failed");
  login.body() = "token=s3cret-token";
  const Response ok = request(port, login);
  CHECK(ok.result() == http::status::see_other);
  const std::string cookie(ok[http::field::set_cookie]);
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);
  CHECK(get(port, "/api/stats", {{"Cookie", cookie.substr(0, cookie.find(';'))}}).result() == http::status::ok);
  CHECK(get(port, "/api/stats", {{"Cookie", "provaudit_session=0000"}}).result() == http::status::unauthorized);
}

TEST_CASE("signing in returns to the view the login page came from, and only to a view of this page") {
  Server s(mixedDb(), "s3cret-token");
  const auto port = s.server.port();
  // The login page's script is public, as the form it serves.
  const Response script = get(port, "/login.js");
  CHECK(script.result() == http::status::ok);
  CHECK(script.body().find("next") != std::string::npos);
  const auto post = [&](const std::string& body) {
    http::request<http::string_body> login{http::verb::post, "/login", 11};
    login.set(http::field::content_type, "application/x-www-form-urlencoded");
    login.body() = body;
    return request(port, login);
  };
  // A view (the hash of the link that led to the login page): back to it, after a wrong token too.
  CHECK(post("token=s3cret-token&next=%23%2Fdevices%3Fclass%3Dgeneric")[http::field::location] == "/#/devices?class=generic");
  CHECK(post("token=wrong&next=%23%2Fdevices%3Fclass%3Dgeneric")[http::field::location] ==
        "/login?next=%23%2Fdevices%3Fclass%3Dgeneric#failed");
  // Anything else is no view of this page: to "/" (or the plain failure), never elsewhere.
  for (const std::string& next : std::vector<std::string>{"https%3A%2F%2Fevil.example%2F", "%2F%2Fevil.example%2F", "%2F%5Cevil.example", "devices",
                                 "%23devices", "%23%2Fdevices%0D%0ASet-Cookie%3A+x%3D1", "%23%2Fa+b", "%23%2F%C3%A9",
                                 "%23%2F" + std::string(provaudit::web::MAX_RETURN_VIEW_BYTES, 'a')}) {
    INFO(next);
    const Response ok = post("token=s3cret-token&next=" + next);
    CHECK(ok.result() == http::status::see_other);
    CHECK(ok[http::field::location] == "/");
    CHECK(post("token=wrong&next=" + next)[http::field::location] == "/login#failed");
  }
  CHECK(post("token=s3cret-token")[http::field::location] == "/");
}

TEST_CASE("signing out is a POST: GET /logout signs nobody out") {
  Server s(mixedDb(), "s3cret-token");
  const auto port = s.server.port();
  http::request<http::string_body> login{http::verb::post, "/login", 11};
  login.set(http::field::content_type, "application/x-www-form-urlencoded");
  login.body() = "token=s3cret-token";
  const std::string set_cookie(request(port, login)[http::field::set_cookie]);
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  REQUIRE(get(port, "/api/stats", {{"Cookie", cookie}}).result() == http::status::ok);

  // A link, an <img src=/logout> or a prefetch is a GET: refused, the session lives on.
  const Response get_logout = get(port, "/logout", {{"Cookie", cookie}});
  CHECK(get_logout.result() == http::status::method_not_allowed);
  CHECK(get_logout[http::field::allow] == "POST");
  CHECK(get_logout[http::field::set_cookie].empty());
  http::request<http::string_body> head{http::verb::head, "/logout", 11};
  head.set(http::field::cookie, cookie);
  CHECK(request(port, head).result() == http::status::method_not_allowed);
  CHECK(get(port, "/api/stats", {{"Cookie", cookie}}).result() == http::status::ok);

  // Another site's form cannot sign the browser out either.
  http::request<http::string_body> foreign{http::verb::post, "/logout", 11};
  foreign.set(http::field::cookie, cookie);
  foreign.set(http::field::origin, "http://attacker.example");
  CHECK(request(port, foreign).result() == http::status::forbidden);
  foreign.set(http::field::origin, "null");
  foreign.set("Sec-Fetch-Site", "cross-site");
  CHECK(request(port, foreign).result() == http::status::forbidden);
  CHECK(get(port, "/api/stats", {{"Cookie", cookie}}).result() == http::status::ok);

  // The page's button: POST /logout ends the session on the server, not only in the browser.
  // (A browser sends it as "Origin: null", the page's referrer policy being no-referrer.)
  http::request<http::string_body> logout{http::verb::post, "/logout", 11};
  logout.set(http::field::cookie, cookie);
  logout.set(http::field::origin, "null");
  logout.set("Sec-Fetch-Site", "same-origin");
  const Response out = request(port, logout);
  CHECK(out.result() == http::status::see_other);
  CHECK(out[http::field::location] == "/login");
  CHECK(std::string(out[http::field::set_cookie]).find("Max-Age=0") != std::string::npos);
  CHECK(get(port, "/api/stats", {{"Cookie", cookie}}).result() == http::status::unauthorized);
  // The page learns whether to offer the button.
  CHECK(get(port, "/api/change", {{"Authorization", "Bearer s3cret-token"}}).body().find("\"auth\":true") != std::string::npos);
}

TEST_CASE("a kept-alive connection is told how long it stays open when idle; a closing one is not") {
  Server s(mixedDb());
  const auto port = s.server.port();
  for (const std::string target : {"/api/stats", "/api/export?format=csv"}) {
    INFO(target);
    const Response kept = get(port, target);
    REQUIRE(kept.result() == http::status::ok);
    CHECK(kept.keep_alive());
    CHECK(kept[http::field::keep_alive] == "timeout=20");
    const Response closing = get(port, target, {{"Connection", "close"}});
    REQUIRE(closing.result() == http::status::ok);
    CHECK_FALSE(closing.keep_alive());
    CHECK(closing.find(http::field::keep_alive) == closing.end());
  }
}

TEST_CASE("parseListen") {
  using provaudit::web::parseListen;
  CHECK(parseListen("127.0.0.1:8080").port == 8080);
  CHECK(parseListen(":9000").address == "127.0.0.1");
  CHECK(parseListen(":9000").port == 9000);
  CHECK(parseListen("[::1]:8443").address == "::1");
  CHECK(parseListen("0.0.0.0:0").port == 0);
  for (const char* bad : {"", "8080", "host:80", "1.2.3.4:", "1.2.3.4:65536", "::1:80", "[::1]80", "1.2.3.4:-1", ":http"}) {
    INFO(bad);
    CHECK_THROWS_AS(parseListen(bad), std::invalid_argument);
  }
}

TEST_CASE("the server sees a replay that writes while it runs") {
  const std::string db = database("live", {"spa_mixed_tls12.pcap"});
  Server s(db);
  const auto port = s.server.port();
  const auto change = getJson(port, "/api/change").at("change").as_int64();
  CHECK(getJson(port, "/api/stats").at("devices").at("total").as_int64() == 5);
  const std::string cmd = std::string("'") + PROVAUDIT_BIN + "' replay -q --db '" + db + "' '" + PROVAUDIT_SOURCE_DIR +
                          "/samples/tls13.pcap'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(getJson(port, "/api/change").at("change").as_int64() != change);
  CHECK(getJson(port, "/api/stats").at("devices").at("total").as_int64() > 5);
  CHECK(getJson(port, "/api/change").at("sightings_left_out").as_int64() == 0);
  // A run limited to one sighting: the poll carries the count the pages' banner shows, as the stats do.
  const std::string limited = std::string("'") + PROVAUDIT_BIN + "' replay -q --max-sightings 1 --db '" + db + "' '" +
                              PROVAUDIT_SOURCE_DIR + "/samples/tls13.pcap'";
  REQUIRE(std::system(limited.c_str()) == 0);
  const auto left = getJson(port, "/api/change").at("sightings_left_out").as_int64();
  CHECK(left > 0);
  const json::value stats = getJson(port, "/api/stats");
  CHECK(stats.at("sightings_left_out").as_int64() == left);
  // The evidence under that limit: the one sighting it holds, all the others left out.
  CHECK(stats.at("evidence").at("limit").as_int64() == 1);
  CHECK(stats.at("evidence").at("in_order").as_int64() == 1);
  CHECK(stats.at("evidence").at("held").as_int64() == 1);
  CHECK(stats.at("evidence").at("memory_need").as_int64() == (256 << 20) + 8192);
  // Its size: the one sighting, 8 KiB at least (more with the server's chain, counted once), against 8 KiB allowed.
  CHECK(stats.at("evidence").at("bytes").as_int64() >= 8192);
  CHECK(stats.at("evidence").at("bytes_limit").as_int64() == 8192);
  CHECK(stats.at("evidence").at("memory_limit").as_int64() > 0);
  CHECK_FALSE(stats.at("counters").as_object().contains("audit_max_sightings"));
  CHECK_FALSE(stats.at("counters").as_object().contains("audit_memory_limit"));
  CHECK_FALSE(stats.at("counters").as_object().contains("audit_memory_extra"));
  {
    // A capture's buffers beyond the base (what `capture -B 256` records) count in the need.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
    provaudit::SqlitePtr conn(raw);
    sqlite3_busy_timeout(raw, 5000);
    REQUIRE(sqlite3_exec(raw, "UPDATE stats SET value = 201326592 WHERE name = 'audit_memory_extra'", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_changes(raw) == 1);  // the replay wrote it (0)
  }
  CHECK(getJson(port, "/api/stats").at("evidence").at("memory_need").as_int64() == (256 << 20) + (192 << 20) + 8192);
  // Without a limit again: everything held, nothing left out.
  const std::string unlimited = std::string("'") + PROVAUDIT_BIN + "' replay -q --max-sightings 0 --db '" + db + "' '" +
                                PROVAUDIT_SOURCE_DIR + "/samples/tls13.pcap'";
  REQUIRE(std::system(unlimited.c_str()) == 0);
  const json::value after = getJson(port, "/api/stats");
  CHECK(after.at("sightings_left_out").as_int64() == 0);
  CHECK(after.at("evidence").at("limit").as_int64() == 0);
  CHECK(after.at("evidence").at("held").as_int64() == left + 1);
}
