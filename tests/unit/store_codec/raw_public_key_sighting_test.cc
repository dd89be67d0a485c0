// A handshake whose client sent a raw public key (RFC 7250) is stored as
// such: client_cert "raw-public-key" and the key's SHA-256, read back the
// same (before, no state said so: a raw key was "not-sent" or "present").
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "store/json_codec.h"

using namespace provaudit;
using namespace provaudit::analyze;

TEST_CASE("sighting codec: a raw public key's state and digest survive the round trip") {
  TlsObservation t;
  t.flow.client = {*IpAddr::parse("10.232.0.30"), 40000};
  t.flow.server = {*IpAddr::parse("10.232.0.2"), 18480};
  t.client_cert = ClientCertState::RawPublicKey;
  t.client_raw_key_sha256 = std::string(64, 'a');
  const std::string text = store::tlsToText(t);
  const boost::json::value v = boost::json::parse(text);
  CHECK(v.at("client_cert") == "raw-public-key");
  CHECK(v.at("client_raw_key_sha256").as_string() == std::string(64, 'a'));
  TlsObservation back;
  REQUIRE(store::tlsFromJson(v, [](const std::string&) { return CertPtr(); }, back));
  CHECK(back.client_cert == ClientCertState::RawPublicKey);
  CHECK(back.client_raw_key_sha256 == t.client_raw_key_sha256);
  // A sighting stored before the field existed reads as no key.
  boost::json::object old = v.as_object();
  old.erase("client_raw_key_sha256");
  old["client_cert"] = "present";
  TlsObservation before;
  REQUIRE(store::tlsFromJson(old, [](const std::string&) { return CertPtr(); }, before));
  CHECK(before.client_cert == ClientCertState::Present);
  CHECK(before.client_raw_key_sha256.empty());
}
