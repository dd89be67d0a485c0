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
