// The device detail document names, for every claim, where it was read: the
// dashboard's evidence view shows these fields as they are.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <memory>

#include "store/json_codec.h"

using namespace provaudit;
using namespace provaudit::analyze;
namespace json = boost::json;

TEST_CASE("the detail document gives each claim's origin, evidence, rule, packet time, frame and capture") {
  DeviceRecord d;
  d.id = "mac:00:15:65:4a:a9:37";
  const auto ua = std::make_shared<const ClaimSource>(ClaimSource{
      "user-agent", "Yealink SIP-T46G 28.72.0.1", "yealink-ua", {1'750'000'000'123'456'000, 42, 0}, "a.pcap"});
  d.claims.push_back({"vendor", "Yealink", ua});
  d.claims.push_back({"model", "SIP-T46G", ua});
  d.claims.push_back({"vendor", "Yealink",
                      std::make_shared<const ClaimSource>(ClaimSource{"oui", "00:15:65:4a:a9:37", "oui", {}, ""})});
  const json::object o = store::deviceDetailJson(d);
  const json::array& claims = o.at("claims").as_array();
  REQUIRE(claims.size() == 3);
  const json::object& model = claims.at(1).as_object();
  CHECK(model.at("field") == "model");
  CHECK(model.at("value") == "SIP-T46G");
  CHECK(model.at("origin") == "user-agent");
  CHECK(model.at("evidence") == "Yealink SIP-T46G 28.72.0.1");
  CHECK(model.at("rule") == "yealink-ua");
  CHECK(model.at("time") == "2025-06-15T15:06:40.123456Z");
  CHECK(model.at("frame") == 42);
  CHECK(model.at("source") == "a.pcap");
  const json::object& oui = claims.at(2).as_object();
  CHECK(oui.at("origin") == "oui");
  CHECK(oui.at("evidence") == "00:15:65:4a:a9:37");
  CHECK(oui.at("time").is_null());
  CHECK(oui.at("frame") == 0);
  CHECK(oui.at("source") == "");
}

TEST_CASE("the stored detail names each claim source once; expanding it gives the dashboard's form back") {
  DeviceRecord d;
  d.id = "mac:00:15:65:4a:a9:37";
  const auto ua = std::make_shared<const ClaimSource>(ClaimSource{
      "user-agent", "Yealink SIP-T46G 28.72.0.1", "yealink-ua", {1'750'000'000'000'000'000, 9, 0}, "a.pcap"});
  const auto url = std::make_shared<const ClaimSource>(
      ClaimSource{"url", "/001565 4aa937.cfg", "yealink-url", {1'750'000'001'000'000'000, 10, 0}, "a.pcap"});
  d.claims = {{"vendor", "Yealink", ua},
              {"model", "SIP-T46G", ua},
              {"mac", "00:15:65:4a:a9:37", url},
              {"firmware", "28.72.0.1", ua}};
  json::object stored = json::parse(store::deviceDetailText(d)).as_object();
  const json::array& sources = stored.at("claim_sources").as_array();
  REQUIRE(sources.size() == 2);  // the User-Agent once, the URL once
  CHECK(sources.at(0).at("evidence") == "Yealink SIP-T46G 28.72.0.1");
  CHECK(sources.at(1).at("evidence") == "/001565 4aa937.cfg");
  const json::array& compact = stored.at("claims").as_array();
  REQUIRE(compact.size() == 4);
  CHECK(compact.at(2).at("from") == 1);
  CHECK(compact.at(3).at("from") == 0);
  CHECK(!compact.at(0).as_object().contains("evidence"));
  const std::size_t stored_bytes = json::serialize(stored).size();

  const json::object full = store::deviceDetailJson(d);
  // As the dashboard gets it: read back from the text in the database.
  json::object read_back = json::parse(json::serialize(stored)).as_object();
  store::expandStoredDetail(read_back);
  CHECK(json::serialize(read_back) == json::serialize(full));
  store::expandStoredDetail(stored);
  CHECK(json::serialize(stored) == json::serialize(full));  // the same keys, values and order
  CHECK(stored_bytes < json::serialize(full).size());
  CHECK(!stored.contains("claim_sources"));
  CHECK(stored.begin()->key() == "claims");
  const json::object& mac = stored.at("claims").as_array().at(2).as_object();
  CHECK(mac.at("origin") == "url");
  CHECK(mac.at("rule") == "yealink-url");
  CHECK(mac.at("frame") == 10);
  CHECK(!mac.contains("from"));

  // A document stored before claim_sources existed passes as it is.
  json::object old = full;
  store::expandStoredDetail(old);
  CHECK(json::serialize(old) == json::serialize(full));
  // A damaged one loses nothing it still has, and never throws.
  json::object damaged =
      json::parse(R"({"claims":[{"field":"model","value":"X","from":7},3],"claim_sources":[]})").as_object();
  store::expandStoredDetail(damaged);
  CHECK(json::serialize(damaged) == R"({"claims":[{"field":"model","value":"X"}]})");
}

TEST_CASE("a device with a hundred User-Agents: its detail keeps the claims of 64 of them and counts the others; the report says what its lists left out") {
  DeviceRecord d;
  d.id = "mac:00:0e:08:ab:cd:ef";
  for (int i = 0; i < 100; ++i) {
    const auto ua = std::make_shared<const ClaimSource>(ClaimSource{
        "user-agent", "Linksys/SPA-962 build " + std::to_string(i), "spa-ua", {1'750'000'000'000'000'000 + i, 9, 0}, "a.pcap"});
    d.claims.push_back({"vendor", "Cisco", ua});
    d.claims.push_back({"model", "SPA-962", ua});
  }
  d.claims.push_back({"vendor", "Cisco", std::make_shared<const ClaimSource>(ClaimSource{"oui", "00:0e:08:ab:cd:ef", "oui", {}, ""})});
  const json::object stored = json::parse(store::deviceDetailText(d)).as_object();
  CHECK(stored.at("claim_sources").as_array().size() == DEVICE_LIST_MAX + 1);  // 64 User-Agents and the OUI
  CHECK(stored.at("claims").as_array().size() == 2 * DEVICE_LIST_MAX + 1);
  CHECK(stored.at("claims_omitted") == 2 * (100 - DEVICE_LIST_MAX));
  const json::object full = store::deviceDetailJson(d);
  CHECK(full.at("claims").as_array().back().at("origin") == "oui");  // the OUI's claim, after them all, kept
  CHECK(full.at("claims").as_array().at(2 * DEVICE_LIST_MAX - 1).at("evidence") == "Linksys/SPA-962 build 63");

  d.omitted = {{"user_agents", 36}, {"urls", 7}};
  const json::object report = json::parse(store::deviceReportText(d)).as_object();
  CHECK(json::serialize(report.at("omitted")) == R"({"urls":7,"user_agents":36})");
  ServerRecord server;
  server.id = "192.0.2.1:443";
  server.omitted = {{"sni", 36}};
  CHECK(json::serialize(json::parse(store::serverReportText(server)).at("omitted")) == R"({"sni":36})");
  server.omitted.clear();
  CHECK(!json::parse(store::serverReportText(server)).as_object().contains("omitted"));
  // An ordinary device: neither.
  d.omitted.clear();
  d.claims.resize(2 * DEVICE_LIST_MAX);
  CHECK(!json::parse(store::deviceReportText(d)).as_object().contains("omitted"));
  CHECK(!json::parse(store::deviceDetailText(d)).as_object().contains("claims_omitted"));
}

TEST_CASE("a certificate valid to 9999-12-31 is reported so, in the report and in the chain as sent") {
  DeviceRecord d;
  d.id = "mac:00:0e:08:ab:cd:ef";
  auto c = std::make_shared<CertInfo>();
  c->sha256 = std::string(64, 'a');
  c->not_before = 1700000000;
  c->not_after = 253402300799;  // past the end of int64 nanoseconds (2262)
  d.cert = CertVerdict{};
  d.cert->cert = c;
  d.cert->chain_sent = {c};
  const json::object report = json::parse(store::deviceReportText(d)).as_object();
  CHECK(report.at("cert").at("not_after") == "9999-12-31T23:59:59.000000Z");
  CHECK(report.at("cert").at("not_before") == "2023-11-14T22:13:20.000000Z");
  const json::object detail = store::deviceDetailJson(d);
  CHECK(detail.at("chain_sent").at(0).at("not_after") == "9999-12-31T23:59:59.000000Z");
}
