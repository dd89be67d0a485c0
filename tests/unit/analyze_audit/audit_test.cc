// The audit's identity rules (design.md "Device identity") and findings, on
// synthetic observations: each test names the rule it pins down.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "../../support/audit_fixtures.h"
#include "analyze/audit.h"
#include "analyze/rules.h"

using namespace provaudit;
using namespace provaudit::analyze;

namespace {

const RuleSet& rules() { return testing::bundledRules(); }

using testing::SEC;
using testing::T0;

CertPtr cert(const std::string& sha, std::vector<RdnAttr> subject, std::int64_t not_after_s = 2'000'000'000,
             int bits = 2048, const std::string& digest = "sha256") {
  return testing::makeCert(sha, std::move(subject), not_after_s, bits, digest);
}

CertPtr spa962() { return cert("aa01", {{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000e08abcdef"}}); }
CertPtr genericCisco() { return cert("bb02", {{"OU", "cisco.com"}, {"L", "ciscogeneric"}, {"ST", "ciscogeneric"}}); }

ObservedFlow flow(const char* mac, const char* ip, std::uint16_t port, std::int64_t ts) {
  ObservedFlow f;
  f.ref.ts_ns = ts;
  f.ref.frame = 1;
  f.source = "synthetic";
  if (mac != nullptr) f.client_mac = MacAddr::parse(mac);
  f.client = {*IpAddr::parse(ip), port};
  f.server = {*IpAddr::parse("192.0.2.1"), 443};
  return f;
}

TlsObservation handshake(const char* mac, const char* ip, std::int64_t ts) {
  TlsObservation t;
  t.flow = flow(mac, ip, static_cast<std::uint16_t>(40000 + ts / SEC % 1000), ts);
  t.first = t.flow.ref;
  t.version = 0x0303;
  t.cipher_suite = 0xc02f;
  t.server_hello_seen = true;
  t.complete = true;
  t.certificate_requested = true;
  t.ja4 = "t12d_common";
  t.ja3 = "ja3common";
  return t;
}

TlsObservation withCert(TlsObservation t, CertPtr c) {
  t.client_cert = ClientCertState::Present;
  t.client_chain = {std::move(c)};
  return t;
}

HttpObservation request(const char* mac, const char* ip, std::int64_t ts, std::string ua, std::string uri = "/x.cfg") {
  HttpObservation h;
  h.flow = flow(mac, ip, 50000, ts);
  h.flow.server.port = 80;
  h.method = "GET";
  h.uri = std::move(uri);
  h.user_agent = std::move(ua);
  return h;
}

struct Run {
  std::vector<TlsObservation> tls;
  std::vector<HttpObservation> http;
  AuditResult audit() const { return runAudit({&tls, &http}, rules(), nullptr, nullptr); }
};

const DeviceRecord& device(const AuditResult& r, const std::string& id) {
  for (const auto& d : r.devices) {
    if (d.id == id) return d;
  }
  FAIL("no device " << id);
  throw std::logic_error("unreachable");
}

std::set<std::string> codes(const std::vector<Finding>& f) {
  std::set<std::string> out;
  for (const auto& x : f) out.insert(x.code);
  return out;
}

}  // namespace

TEST_CASE("individualized certificate: class, claims and no findings") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 1);
  const auto& d = res.devices[0];
  CHECK(d.id == "mac:00:0e:08:ab:cd:ef");
  CHECK(d.identity == "individualized");
  CHECK(d.identity_reason == "client-cert");
  CHECK(d.model == "SPA-962");
  CHECK(d.serial == "88012BA01234");
  CHECK(d.vendor == "Cisco");
  CHECK(codes(d.findings).empty());
}

TEST_CASE("generic certificate marker makes the class generic, the serial comes from the User-Agent") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:12:34:56", "10.0.0.12", T0), genericCisco()));
  r.http.push_back(request("00:0e:08:12:34:56", "10.0.0.12", T0 + SEC, "Linksys/SPA-2102-2.0.5 (88012BA01234)"));
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 1);
  const auto& d = res.devices[0];
  CHECK(d.identity == "generic");
  CHECK(d.identity_reason == "generic-cert");
  CHECK(d.serial == "88012BA01234");
  CHECK(d.model == "SPA-2102");
  CHECK(codes(d.findings) == std::set<std::string>{"generic-cert", "plaintext-provisioning"});
}

TEST_CASE("a generic certificate shared by many devices is generic-cert, not a clone") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:00:00:01", "10.0.0.1", T0), genericCisco()));
  r.tls.push_back(withCert(handshake("00:0e:08:00:00:02", "10.0.0.2", T0 + SEC), genericCisco()));
  for (const auto& d : r.audit().devices) CHECK(codes(d.findings) == std::set<std::string>{"generic-cert"});
}

TEST_CASE("an individual certificate on two devices is a clone, each naming the other") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  r.tls.push_back(withCert(handshake("00:0e:08:99:99:01", "10.0.0.41", T0 + SEC), spa962()));
  const auto res = r.audit();
  const auto& a = device(res, "mac:00:0e:08:ab:cd:ef");
  const auto& b = device(res, "mac:00:0e:08:99:99:01");
  CHECK(codes(a.findings) == std::set<std::string>{"cert-clone"});
  CHECK(codes(b.findings) == std::set<std::string>{"cert-clone", "cert-mac-mismatch"});
  CHECK(a.findings[0].detail.find("mac:00:0e:08:99:99:01") != std::string::npos);
}

TEST_CASE("a certificate cloned onto many devices: the first seen are named, the rest counted to an order of magnitude") {
  // The finding text of the early holders must not change as more clones show
  // up (each change rewrites every holder), and must not grow with the fleet.
  auto holderDetail = [](int clones) {
    Run r;
    for (int i = 0; i < clones; ++i) {
      char mac[18];
      std::snprintf(mac, sizeof mac, "00:0e:08:00:%02x:%02x", i / 256, i % 256);
      const std::string ip = "10.0.1." + std::to_string(i % 250);
      r.tls.push_back(withCert(handshake(mac, ip.c_str(), T0 + i * SEC), spa962()));
    }
    const auto res = r.audit();
    return device(res, "mac:00:0e:08:00:00:00").findings;
  };
  const auto detail = [](const std::vector<Finding>& fs) {
    for (const auto& f : fs) {
      if (f.code == "cert-clone") return f.detail;
    }
    return std::string();
  };
  const std::string at_120 = detail(holderDetail(120));
  CHECK(at_120.find("mac:00:0e:08:00:00:01, ") != std::string::npos);   // seen second, named
  CHECK(at_120.find("mac:00:0e:08:00:00:0a") != std::string::npos);     // the tenth other
  CHECK(at_120.find("mac:00:0e:08:00:00:0b") == std::string::npos);     // the eleventh is counted
  CHECK(at_120.find(" and 100+ more") != std::string::npos);           // 109 more
  CHECK(detail(holderDetail(150)) == at_120);                          // 139 more: same text
  CHECK(detail(holderDetail(15)).find(" and 4 more") != std::string::npos);
}

TEST_CASE("empty Certificate after a request is class none") {
  Run r;
  auto t = handshake("88:43:e1:00:00:01", "10.0.0.14", T0);
  t.client_cert = ClientCertState::Empty;
  r.tls.push_back(t);
  const auto res = r.audit();
  const auto& d = res.devices.at(0);
  CHECK(d.identity == "none");
  CHECK(d.identity_reason == "empty-certificate");
  CHECK(codes(d.findings) == std::set<std::string>{"no-client-cert"});
}

TEST_CASE("unknown reasons: not requested, TLS 1.3, resumed, renegotiation, gap") {
  auto one = [](auto mutate) {
    Run r;
    auto t = handshake("00:0e:08:00:00:09", "10.0.0.9", T0);
    mutate(t);
    r.tls.push_back(t);
    return r.audit().devices.at(0);
  };
  auto d = one([](TlsObservation& t) { t.certificate_requested = false; });
  CHECK(d.identity == "unknown");
  CHECK(d.identity_reason == "not-requested");
  CHECK(codes(d.findings).empty());
  d = one([](TlsObservation& t) {
    t.tls13 = true;
    t.version = 0x0304;
  });
  CHECK(d.identity_reason == "tls13");
  CHECK(codes(d.findings) == std::set<std::string>{"cert-hidden"});
  d = one([](TlsObservation& t) { t.resumed = true; });
  CHECK(d.identity_reason == "resumed");
  CHECK(codes(d.findings) == std::set<std::string>{"cert-hidden"});
  d = one([](TlsObservation& t) {
    t.certificate_requested = false;
    t.renegotiation = true;
  });
  CHECK(d.identity_reason == "renegotiation");
  CHECK(codes(d.findings) == std::set<std::string>{"cert-hidden"});
  d = one([](TlsObservation& t) {
    t.gap = true;
    t.certificate_requested = false;
  });
  CHECK(d.identity_reason == "handshake-gap");
}

TEST_CASE("a TLS 1.3 handshake decrypted to its end without a CertificateRequest was not asked: not cert-hidden") {
  // t13notreq.pcap with its key log: the server's encrypted flight was
  // ServerHello, EncryptedExtensions, Certificate, CertificateVerify,
  // Finished; no CertificateRequest. It was reported unknown/tls13 and
  // cert-hidden ("the wire cannot tell"), the server's request unknown.
  Run r;
  auto t = handshake("00:0e:08:00:00:13", "10.0.0.13", T0);
  t.tls13 = true;
  t.version = 0x0304;
  t.cipher_suite = 0x1301;
  t.certificate_requested = false;
  t.decrypted = true;
  r.tls.push_back(t);
  auto res = r.audit();
  const auto& d = res.devices.at(0);
  CHECK(d.identity == "unknown");
  CHECK(d.identity_reason == "not-requested");
  CHECK(codes(d.findings).empty());
  REQUIRE(res.servers.size() == 1);
  CHECK_FALSE(res.servers.at(0).requests_client_cert);
  CHECK(res.servers.at(0).cert_request_visible);
  CHECK(codes(res.servers.at(0).findings) == std::set<std::string>{"server-no-cert-request"});
  // Not decrypted: the wire cannot tell, as before.
  r.tls.back().decrypted = false;
  res = r.audit();
  CHECK(res.devices.at(0).identity_reason == "tls13");
  CHECK(codes(res.devices.at(0).findings) == std::set<std::string>{"cert-hidden"});
  CHECK_FALSE(res.servers.at(0).cert_request_visible);
  CHECK(codes(res.servers.at(0).findings).empty());
}

TEST_CASE("a resumed session never downgrades a device that showed a certificate") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  auto resumed = handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + 60 * SEC);
  resumed.resumed = true;
  r.tls.push_back(resumed);
  const auto res = r.audit();
  const auto& d = res.devices.at(0);
  CHECK(d.identity == "individualized");
  CHECK(codes(d.findings).empty());
  CHECK(d.handshakes.size() == 2);
}

TEST_CASE("the latest decisive handshake sets the class (history kept)") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  auto later = handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + 3600 * SEC);
  later.client_cert = ClientCertState::Empty;
  r.tls.push_back(later);
  const auto res = r.audit();
  const auto& d = res.devices.at(0);
  CHECK(d.identity == "none");
  CHECK(d.handshakes.size() == 2);
  CHECK(d.handshakes[0].outcome == "individualized");
}

TEST_CASE("a MAC behind which several hosts claim other MACs is a router: devices key on their claims") {
  Run r;
  // A router (one MAC) forwards two phones whose User-Agents name their own MACs.
  r.http.push_back(request("00:00:5e:00:53:01", "10.1.0.5", T0, "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37"));
  r.http.push_back(request("00:00:5e:00:53:01", "10.1.0.6", T0 + SEC, "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:38"));
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 2);
  const auto& a = device(res, "mac:00:15:65:4a:a9:37");
  CHECK(a.mac->str() == "00:15:65:4a:a9:37");
  CHECK_FALSE(a.mac_from_wire);
  CHECK(a.ips == std::vector<std::string>{"10.1.0.5"});
}

TEST_CASE("units behind one address (NAT) are keyed by their own connections' claims, not merged into the address") {
  // A SPAN port at the provisioning server: every frame comes from the
  // router's MAC, and an office's phones share its one public address.
  const char* router = "00:1b:4f:00:00:02";
  Run r;
  // Unit A: a certificate naming its MAC, and the request decrypted on the
  // same connection (its User-Agent names its serial).
  auto a = withCert(handshake(router, "198.51.100.7", T0),
                    cert("a1", {{"OU", "SPA112"}, {"L", "CCQ111111AA"}, {"ST", "000e08000a01"}}));
  r.tls.push_back(a);
  auto a_req = request(router, "198.51.100.7", T0 + SEC / 10, "Cisco/SPA112-1.4.1(SR5) (CCQ111111AA)");
  a_req.flow.client = a.flow.client;
  a_req.flow.server = a.flow.server;
  a_req.over_tls = true;
  r.http.push_back(a_req);
  // Unit B: another certificate; later a plain request naming only its
  // serial, which B's certificate ties to B's MAC.
  r.tls.push_back(withCert(handshake(router, "198.51.100.7", T0 + 2 * SEC),
                           cert("b2", {{"OU", "SPA122"}, {"L", "CCQ222222BB"}, {"ST", "000e08000b02"}})));
  auto b_req = request(router, "198.51.100.7", T0 + 3 * SEC, "Cisco/SPA122-1.4.2 (CCQ222222BB)");
  b_req.flow.client.port = 50002;
  r.http.push_back(b_req);
  // Unit C: plain HTTP only, its MAC in the User-Agent.
  auto c = request(router, "198.51.100.7", T0 + 4 * SEC, "Yealink SIP-T46G 28.72.0.1 80:5e:c0:00:0c:03");
  c.flow.client.port = 50003;
  r.http.push_back(c);
  // B resumes its session later; a TLS 1.3 handshake names nobody.
  r.tls[1].server_session_id = "b5e5";
  auto resumed = handshake(router, "198.51.100.7", T0 + 600 * SEC);
  resumed.resumed = true;
  resumed.session_id = "b5e5";
  r.tls.push_back(resumed);
  auto hidden = handshake(router, "198.51.100.7", T0 + 700 * SEC);
  hidden.tls13 = true;
  hidden.version = 0x0304;
  r.tls.push_back(hidden);
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 4);
  const auto& da = device(res, "mac:00:0e:08:00:0a:01");
  CHECK(da.serial == "CCQ111111AA");
  CHECK(da.firmware == "1.4.1(SR5)");
  CHECK(da.sessions == 2);
  CHECK(codes(da.findings).empty());
  const auto& db = device(res, "mac:00:0e:08:00:0b:02");
  CHECK(db.serial == "CCQ222222BB");
  CHECK(db.firmware == "1.4.2");
  CHECK(db.handshakes.size() == 2);
  CHECK(codes(db.findings) == std::set<std::string>{"plaintext-provisioning"});
  const auto& dc = device(res, "mac:80:5e:c0:00:0c:03");
  CHECK(dc.vendor == "Yealink");
  CHECK(dc.identity == "unknown");
  const auto& rest = device(res, "ip:198.51.100.7");
  CHECK(rest.identity_reason == "tls13");
  CHECK(rest.handshakes.size() == 1);
}

TEST_CASE("a lease handed from one unit to another behind a router: two devices, no clone, none lost") {
  const char* router = "00:1b:4f:00:00:01";
  Run r;
  const auto spa = cert("c1", {{"OU", "SPA112"}, {"L", "CCQ444444AA"}, {"ST", "000e08000c01"}});
  r.tls.push_back(withCert(handshake(router, "10.9.0.150", T0), spa));
  r.http.push_back(request(router, "10.9.0.153", T0 + SEC, "Fanvil X4 2.10.2.6887 0c383e07e16c", "/0c383e07e16c.cfg"));
  r.tls.push_back(withCert(handshake(router, "10.9.0.153", T0 + 2 * SEC), spa));
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 2);
  const auto& unit = device(res, "mac:00:0e:08:00:0c:01");
  CHECK(unit.ips == std::vector<std::string>{"10.9.0.150", "10.9.0.153"});
  CHECK(codes(unit.findings).empty());
  const auto& fanvil = device(res, "mac:0c:38:3e:07:e1:6c");
  CHECK(fanvil.vendor == "Fanvil");
  CHECK(codes(fanvil.findings) == std::set<std::string>{"plaintext-provisioning"});
}

TEST_CASE("a device's firmware is what its latest request says, in whatever order the evidence comes") {
  // A phone upgraded between two profile fetches: the report must not keep the old version.
  for (const bool newest_first : {false, true}) {
    Run r;
    auto before = request("00:15:65:4a:a9:37", "10.1.0.5", T0, "Yealink SIP-T46G 28.81.0.110 00:15:65:4a:a9:37");
    auto after = request("00:15:65:4a:a9:37", "10.1.0.5", T0 + 3600 * SEC, "Yealink SIP-T46G 28.83.0.50 00:15:65:4a:a9:37");
    if (newest_first) std::swap(before, after);  // stored the other way round: the times decide
    r.http.push_back(before);
    r.http.push_back(after);
    const auto res = r.audit();
    REQUIRE(res.devices.size() == 1);
    CHECK(res.devices[0].firmware == "28.83.0.50");
  }
}

TEST_CASE("a host MAC keeps one device across its TLS and HTTP evidence") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + SEC, "Linksys/SPA-962-5.1.5 (88012BA01234)",
                           "/spa000e08abcdef.cfg"));
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 1);
  CHECK(res.devices[0].firmware == "5.1.5");
  CHECK(res.devices[0].sessions == 2);
}

TEST_CASE("certificate MAC differing from the User-Agent or URL MAC is cert-mac-mismatch") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + SEC, "curl/8", "/spa000e08000001.cfg"));
  const auto res = r.audit();
  const auto& d = res.devices.at(0);
  CHECK(codes(d.findings).count("cert-mac-mismatch") == 1);
}

TEST_CASE("a device whose claims disagree keeps its wire MAC when one of them names it; two such on one IP stay two") {
  Run r;
  // The SPA's certificate names its wire MAC, its URL another MAC: one device,
  // keyed by the MAC on the wire, the disagreement a finding.
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + SEC, "curl/8", "/spa000e08999999.cfg"));
  // Later, another unit takes the same address (a reused DHCP lease): its
  // User-Agent names its wire MAC, its certificate (a copy) a third one.
  r.tls.push_back(withCert(handshake("00:15:65:11:11:11", "10.0.0.11", T0 + 3600 * SEC),
                           cert("cc03", {{"CN", "0015654aa937"}})));
  r.http.push_back(request("00:15:65:11:11:11", "10.0.0.11", T0 + 3601 * SEC,
                           "Yealink SIP-T46G 28.72.0.1 00:15:65:11:11:11"));
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 2);
  const auto& spa = device(res, "mac:00:0e:08:ab:cd:ef");
  REQUIRE(spa.mac.has_value());
  CHECK(spa.mac->str() == "00:0e:08:ab:cd:ef");
  CHECK(spa.mac_from_wire);
  CHECK(spa.cert->cert->sha256 == "aa01");
  CHECK(codes(spa.findings).count("cert-mac-mismatch") == 1);
  const auto& yealink = device(res, "mac:00:15:65:11:11:11");
  CHECK(yealink.mac_from_wire);
  CHECK(yealink.cert->cert->sha256 == "cc03");
  CHECK(yealink.ips == std::vector<std::string>{"10.0.0.11"});
}

TEST_CASE("claims that disagree without a certificate MAC to compare are claim-mismatch; agreeing ones are not") {
  Run r;
  // No certificate: the User-Agent's MAC against the frames' host MAC.
  r.http.push_back(request("00:0e:08:0a:0a:01", "10.0.0.61", T0, "Cisco/SPA504G-7.4.9c (000E08BBBBBB)(CCQ162306EB)"));
  auto d = r.audit().devices.at(0);
  CHECK(codes(d.findings) == std::set<std::string>{"claim-mismatch", "plaintext-provisioning"});
  for (const auto& f : d.findings) {
    if (f.code == "claim-mismatch") {
      CHECK(f.detail == "the user-agent names MAC 00:0e:08:bb:bb:bb, the device's frames come from 00:0e:08:0a:0a:01");
    }
  }
  r.http.back().user_agent = "Cisco/SPA504G-7.4.9c (000E080A0A01)(CCQ162306EB)";
  CHECK(codes(r.audit().devices.at(0).findings) == std::set<std::string>{"plaintext-provisioning"});
  // Behind a router: one connection whose User-Agent and URL name two units.
  r.http = {request(nullptr, "10.0.0.62", T0, "Yealink SIP-T46G 28.72.0.1 80:5e:c0:00:0c:03", "/805ec0000c04.cfg")};
  d = r.audit().devices.at(0);
  CHECK(codes(d.findings).count("claim-mismatch") == 1);
  // A certificate and a User-Agent of different vendors.
  r.http.clear();
  auto yealink = std::make_shared<CertInfo>(*cert("y1", {{"CN", "805ec0778899"}}));
  yealink->issuer = {{"CN", "Yealink Equipment Issuing CA"}};
  yealink->issuer_text = "CN=Yealink Equipment Issuing CA";
  r.tls = {withCert(handshake("80:5e:c0:77:88:99", "10.0.0.63", T0), yealink)};
  auto ua = request("80:5e:c0:77:88:99", "10.0.0.63", T0 + SEC, "Cisco/SPA504G-7.4.9c (805EC0778899)(CCQ162306EA)");
  ua.flow.client = r.tls.back().flow.client;
  ua.flow.server = r.tls.back().flow.server;
  ua.over_tls = true;
  r.http = {ua};
  d = r.audit().devices.at(0);
  REQUIRE(d.vendor.has_value());
  INFO("vendor " << *d.vendor);
  std::set<std::string> details;
  for (const auto& f : d.findings) {
    if (f.code == "claim-mismatch") details.insert(f.detail);
  }
  CHECK(details == std::set<std::string>{"the certificate names vendor Yealink, the User-Agent names Cisco"});
}

TEST_CASE("certificate serial differing from the User-Agent serial is serial-mismatch, equal is not") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + SEC, "Linksys/SPA-962-5.1.5 (88012BA09999)"));
  CHECK(codes(r.audit().devices.at(0).findings).count("serial-mismatch") == 1);
  r.http.back().user_agent = "Linksys/SPA-962-5.1.5 (88012BA01234)";
  CHECK(codes(r.audit().devices.at(0).findings).count("serial-mismatch") == 0);
}

TEST_CASE("validity is judged at packet time, not wall-clock time") {
  Run r;
  // Expired in 2020, presented in 2025: expired. The same certificate presented
  // in 2019 (packet time) is fine, whatever today's date.
  r.tls.push_back(withCert(handshake("00:0e:08:e0:00:01", "10.0.0.44", T0),
                           cert("ee01", {{"OU", "SPA-2102"}, {"L", "88012BE00001"}, {"ST", "000e08e00001"}}, 1'590'000'000)));
  CHECK(codes(r.audit().devices.at(0).findings) == std::set<std::string>{"cert-expired"});
  r.tls.back().first.ts_ns = 1'560'000'000LL * SEC;
  r.tls.back().flow.ref.ts_ns = r.tls.back().first.ts_ns;
  const auto fs = codes(r.audit().devices.at(0).findings);
  CHECK(fs.count("cert-expired") == 0);
  CHECK(fs.count("cert-not-yet-valid") == 1);  // valid only from 2020-09
}

TEST_CASE("a certificate that expired at the epoch itself is expired (0 is a date)") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:e0:00:02", "10.0.0.45", T0),
                           cert("ee02", {{"OU", "SPA-2102"}, {"L", "88012BE00002"}, {"ST", "000e08e00002"}}, 0)));
  CHECK(codes(r.audit().devices.at(0).findings) == std::set<std::string>{"cert-expired"});
}

TEST_CASE("RSA-1024 and SHA-1 are weak key and weak signature; RSA-2048/SHA-256 is not") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:a4:28:05", "10.0.0.45", T0),
                           cert("ww01", {{"OU", "SPA-942"}, {"L", "88019FA42805"}, {"ST", "000e08a42805"}}, 2'000'000'000,
                                1024, "sha1")));
  CHECK(codes(r.audit().devices.at(0).findings) == std::set<std::string>{"cert-weak-key", "cert-weak-signature"});
}

TEST_CASE("a MAC in another vendor's OUI than its certificate or User-Agent names is claim-mismatch") {
  // domain.md §1.3: the certificate's MAC "should belong to the vendor (§4).
  // A mismatch is a finding in itself: a cloned profile, a proxy, or a
  // spoofed device." An SPA-962 certificate naming a MAC in Yealink's OUI,
  // sent from that MAC, raised nothing.
  const auto mismatches = [](const DeviceRecord& d) {
    std::set<std::string> out;
    for (const auto& f : d.findings) {
      if (f.code == "claim-mismatch") out.insert(f.detail);
    }
    return out;
  };
  Run r;
  r.tls.push_back(withCert(handshake("00:15:65:aa:01:41", "10.0.0.71", T0),
                           cert("vc01", {{"OU", "SPA-962"}, {"L", "88012BA01241"}, {"ST", "001565aa0141"}})));
  auto d = r.audit().devices.at(0);
  CHECK(d.vendor == std::optional<std::string>("Cisco"));
  CHECK(mismatches(d) == std::set<std::string>{
                             "the certificate names vendor Cisco, the device's MAC 00:15:65:aa:01:41 is in an OUI of Yealink"});
  CHECK(codes(d.findings).count("cert-mac-mismatch") == 0);  // the MACs agree; the vendor does not
  // The same certificate from a Linksys OUI (Cisco's, as the rules name it): nothing.
  r.tls = {withCert(handshake("00:0e:08:aa:01:41", "10.0.0.71", T0),
                    cert("vc02", {{"OU", "SPA-962"}, {"L", "88012BA01241"}, {"ST", "000e08aa0141"}}))};
  CHECK(mismatches(r.audit().devices.at(0)).empty());
  // No certificate: the User-Agent's vendor against the OUI.
  r.tls.clear();
  r.http = {request("00:04:f2:aa:01:42", "10.0.0.72", T0, "Cisco/SPA504G-7.4.9c (CCQ162306EA)")};
  d = r.audit().devices.at(0);
  CHECK(mismatches(d) == std::set<std::string>{
                             "the User-Agent names vendor Cisco, the device's MAC 00:04:f2:aa:01:42 is in an OUI of Polycom"});
  r.http = {request("00:04:f2:aa:01:42", "10.0.0.72", T0, "FileTransport PolycomVVX-VVX_411-UA/5.9.5.0614")};
  CHECK(mismatches(r.audit().devices.at(0)).empty());
  // Behind a router, the MAC its claims name stands for the device's: the same comparison.
  r.http = {request(nullptr, "10.0.0.73", T0, "Cisco/SPA504G-7.4.9c (001565AA0143)(CCQ162306EA)")};
  d = r.audit().devices.at(0);
  CHECK_FALSE(d.mac_from_wire);
  CHECK(mismatches(d) == std::set<std::string>{
                             "the User-Agent names vendor Cisco, the device's MAC 00:15:65:aa:01:43 is in an OUI of Yealink"});
  // A MAC in no OUI the rules know, or no vendor named: nothing to compare.
  r.http = {request("02:00:00:aa:01:44", "10.0.0.74", T0, "Cisco/SPA504G-7.4.9c (CCQ162306EA)")};
  CHECK(mismatches(r.audit().devices.at(0)).empty());
  r.http = {request("00:15:65:aa:01:45", "10.0.0.75", T0, "curl/7.88.1")};
  CHECK(mismatches(r.audit().devices.at(0)).empty());
}

TEST_CASE("$CCERT that contradicts the wire is ccert-mismatch; agreeing is not") {
  Run r;
  r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + SEC, "x", "/p.cfg?ccert=Not%20Installed"));
  CHECK(codes(r.audit().devices.at(0).findings).count("ccert-mismatch") == 1);
  r.http.back().uri = "/p.cfg?ccert=Installed";
  CHECK(codes(r.audit().devices.at(0).findings).count("ccert-mismatch") == 0);
}

TEST_CASE("legacy TLS and weak ciphers are flagged on the device and the server") {
  Run r;
  auto t = withCert(handshake("00:0e:08:10:10:10", "10.0.0.18", T0),
                    cert("tt01", {{"OU", "SPA-2102"}, {"L", "88012BA01010"}, {"ST", "000e08101010"}}));
  t.version = 0x0301;
  t.cipher_suite = 0x0005;  // TLS_RSA_WITH_RC4_128_SHA
  r.tls.push_back(t);
  const auto res = r.audit();
  CHECK(codes(res.devices.at(0).findings) == std::set<std::string>{"legacy-tls", "weak-cipher"});
  CHECK(codes(res.servers.at(0).findings) == std::set<std::string>{"legacy-tls", "weak-cipher"});
}

TEST_CASE("a server that never requests a certificate gets server-no-cert-request, unless a renegotiation hid it") {
  Run r;
  auto t = handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0);
  t.certificate_requested = false;
  r.tls.push_back(t);
  CHECK(codes(r.audit().servers.at(0).findings) == std::set<std::string>{"server-no-cert-request"});
  r.tls.back().renegotiation = true;
  CHECK(codes(r.audit().servers.at(0).findings).empty());
  r.tls.back().renegotiation = false;
  r.tls.back().certificate_requested = true;
  CHECK(r.audit().servers.at(0).requests_client_cert);
  CHECK(codes(r.audit().servers.at(0).findings).empty());
}

TEST_CASE("server-no-cert-request counts the full handshakes read whole, not the server's sightings") {
  // A decrypted connection with two HTTP requests in it, a resumption and a
  // handshake with a gap: the detail read "in 5 sessions" (every sighting
  // of the server), where only one handshake could have shown a request.
  Run r;
  auto t = handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0);
  t.certificate_requested = false;
  t.decrypted = true;
  r.tls.push_back(t);
  for (const char* uri : {"/a.cfg", "/b.cfg"}) {
    r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + SEC, "x", uri));
    r.http.back().flow.server.port = 443;
  }
  auto resumed = handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + 2 * SEC);
  resumed.certificate_requested = false;
  resumed.resumed = true;
  r.tls.push_back(resumed);
  auto gapped = handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + 3 * SEC);
  gapped.certificate_requested = false;
  gapped.gap = true;
  r.tls.push_back(gapped);
  auto res = r.audit();
  REQUIRE(res.servers.size() == 1);
  REQUIRE(res.servers.at(0).findings.size() == 1);
  CHECK(res.servers.at(0).findings.at(0).code == "server-no-cert-request");
  CHECK(res.servers.at(0).findings.at(0).detail ==
        "never sent CertificateRequest in 1 full handshake: its clients' certificates cannot be observed");
  CHECK(res.servers.at(0).sessions == 5);  // the server's sightings, as a device's
  auto again = handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + 4 * SEC);
  again.certificate_requested = false;
  r.tls.push_back(again);
  res = r.audit();
  CHECK(res.servers.at(0).findings.at(0).detail ==
        "never sent CertificateRequest in 2 full handshakes: its clients' certificates cannot be observed");
}

TEST_CASE("a client's Certificate shows the server asked, though the request was lost; a gap shows nothing") {
  Run r;
  // The packet with the CertificateRequest was lost (a SPAN drop): the
  // client's answer, present or empty, still says it was sent.
  for (const auto answer : {ClientCertState::Present, ClientCertState::Empty}) {
    r.tls = {handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0)};
    r.tls.back().certificate_requested = false;
    r.tls.back().client_cert = answer;
    if (answer == ClientCertState::Present) r.tls.back().client_chain = {spa962()};
    const auto res = r.audit();
    CHECK(res.servers.at(0).requests_client_cert);
    CHECK(codes(res.servers.at(0).findings).empty());
  }
  // No answer and a gap in the handshake's bytes: the request may be in the gap.
  r.tls = {handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0)};
  r.tls.back().certificate_requested = false;
  r.tls.back().gap = true;
  CHECK(codes(r.audit().servers.at(0).findings).empty());
}

TEST_CASE("a renegotiation decrypted to its end without a CertificateRequest hides nothing") {
  // t12renrsa_kl.pcap with its key log: an abbreviated renegotiation (no
  // CertificateRequest) was taken for one that hid the request: cert-hidden
  // "the certificate was requested in an encrypted renegotiation".
  Run r;
  auto t = handshake("00:0e:08:00:00:12", "10.0.0.12", T0);
  t.certificate_requested = false;
  t.renegotiation = true;
  t.decrypted = true;
  r.tls.push_back(t);
  auto res = r.audit();
  CHECK(res.devices.at(0).identity_reason == "not-requested");
  CHECK(codes(res.devices.at(0).findings).empty());
  CHECK_FALSE(res.servers.at(0).requests_client_cert);
  CHECK(codes(res.servers.at(0).findings) == std::set<std::string>{"server-no-cert-request"});
  // Not decrypted, it may have hidden the request.
  r.tls.back().decrypted = false;
  res = r.audit();
  CHECK(res.devices.at(0).identity_reason == "renegotiation");
  CHECK(codes(res.devices.at(0).findings) == std::set<std::string>{"cert-hidden"});
  CHECK(codes(res.servers.at(0).findings).empty());
}

TEST_CASE("a device whose fingerprint differs from its product fleet's majority is fingerprint-mismatch") {
  Run r;
  const char* macs[] = {"00:0e:08:00:00:01", "00:0e:08:00:00:02", "00:0e:08:00:00:03", "00:0e:08:00:00:04"};
  for (int i = 0; i < 4; ++i) {
    const std::string ip = "10.0.0." + std::to_string(20 + i);
    const std::string m(macs[i]);
    std::string hexmac;
    for (char c : m) {
      if (c != ':') hexmac.push_back(c);
    }
    auto t = withCert(handshake(macs[i], ip.c_str(), T0 + i * SEC),
                      cert("c" + std::to_string(i), {{"OU", "SPA-962"}, {"L", "88012BA0000" + std::to_string(i)}, {"ST", hexmac}}));
    if (i == 3) t.ja4 = "t13d_laptop";
    r.tls.push_back(t);
  }
  const auto res = r.audit();
  for (int i = 0; i < 4; ++i) {
    const auto& d = device(res, std::string("mac:") + macs[i]);
    INFO(macs[i]);
    CHECK(codes(d.findings).count("fingerprint-mismatch") == (i == 3 ? 1U : 0U));
  }
}

TEST_CASE("plain HTTP evidence only: unknown, plaintext-only, plaintext-provisioning") {
  Run r;
  r.http.push_back(request("00:15:65:4a:a9:37", "10.0.0.33", T0, "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37"));
  const auto res = r.audit();
  const auto& d = res.devices.at(0);
  CHECK(d.identity == "unknown");
  CHECK(d.identity_reason == "plaintext-only");
  CHECK(d.vendor == "Yealink");
  CHECK(codes(d.findings) == std::set<std::string>{"plaintext-provisioning"});
}

TEST_CASE("a proxy's CONNECT: its User-Agent counts, it is no profile fetched in clear") {
  Run r;
  auto connect = request("00:0e:08:aa:bb:cc", "10.0.0.34", T0, "Cisco/SPA504G-7.6.2 (000E08AABBCC)(88012BA01234)",
                         "prov.example.test:443");
  connect.method = "CONNECT";
  connect.flow.server.port = 3128;
  r.http.push_back(connect);
  const auto res = r.audit();
  const auto& d = res.devices.at(0);
  CHECK(d.identity == "unknown");
  CHECK(d.model == "SPA504G");
  CHECK(d.serial == "88012BA01234");
  CHECK(d.user_agents == std::vector<std::string>{"Cisco/SPA504G-7.6.2 (000E08AABBCC)(88012BA01234)"});
  CHECK(d.urls.empty());
  CHECK(codes(d.findings).count("plaintext-provisioning") == 0);
  for (const auto& c : d.claims) CHECK(c.origin() != "url");
}

TEST_CASE("a resumed session linked by session id to a full handshake keeps that handshake's class") {
  Run r;
  // Behind a router (no host MAC): the phone's address changes between the
  // full handshake and the resumption; the session id links them.
  auto full = withCert(handshake(nullptr, "10.2.0.5", T0), genericCisco());
  full.server_session_id = "5e55";
  r.tls.push_back(full);
  auto resumed = handshake(nullptr, "10.2.0.9", T0 + 600 * SEC);
  resumed.resumed = true;
  resumed.session_id = "5e55";
  r.tls.push_back(resumed);
  // A resumption of an unknown session stays unknown.
  auto orphan = handshake(nullptr, "10.2.0.7", T0 + 700 * SEC);
  orphan.resumed = true;
  orphan.session_id = "0bad";
  r.tls.push_back(orphan);
  const auto res = r.audit();
  const auto& moved = device(res, "ip:10.2.0.9");
  CHECK(moved.identity == "generic");
  CHECK(moved.handshakes.at(0).resumes_ts_ns == T0);
  const auto& lone = device(res, "ip:10.2.0.7");
  CHECK(lone.identity == "unknown");
  CHECK(lone.identity_reason == "resumed");
}

TEST_CASE("a resumed session linked by ticket to a full handshake keeps that handshake's class") {
  Run r;
  // RFC 5077: the full handshake issues a ticket (and no session id); the
  // resuming client offers the ticket with a session id of its own choosing.
  auto full = withCert(handshake(nullptr, "10.2.0.5", T0), genericCisco());
  full.issued_ticket_sha256 = "71c4";
  r.tls.push_back(full);
  auto resumed = handshake(nullptr, "10.2.0.9", T0 + 600 * SEC);
  resumed.resumed = true;
  resumed.session_id = "c11e";  // random: no full handshake has it
  resumed.ticket_offered = true;
  resumed.ticket_sha256 = "71c4";
  resumed.issued_ticket_sha256 = "71c5";  // renewed ticket for the same session
  r.tls.push_back(resumed);
  // Resuming with the renewed ticket still continues the first full handshake.
  auto again = handshake(nullptr, "10.2.0.11", T0 + 1200 * SEC);
  again.resumed = true;
  again.ticket_offered = true;
  again.ticket_sha256 = "71c5";
  r.tls.push_back(again);
  // The same ticket offered to another server links nothing.
  auto elsewhere = handshake(nullptr, "10.2.0.7", T0 + 700 * SEC);
  elsewhere.flow.server.port = 8443;
  elsewhere.resumed = true;
  elsewhere.ticket_offered = true;
  elsewhere.ticket_sha256 = "71c4";
  r.tls.push_back(elsewhere);
  const auto res = r.audit();
  const auto& moved = device(res, "ip:10.2.0.9");
  CHECK(moved.identity == "generic");
  CHECK(moved.handshakes.at(0).resumes_ts_ns == T0);
  const auto& renewed = device(res, "ip:10.2.0.11");
  CHECK(renewed.identity == "generic");
  CHECK(renewed.handshakes.at(0).resumes_ts_ns == T0);
  const auto& lone = device(res, "ip:10.2.0.7");
  CHECK(lone.identity == "unknown");
  CHECK(lone.identity_reason == "resumed");
}

TEST_CASE("a fleet large enough to be built on two threads: every device once, in order, with its own findings") {
  // PARALLEL_BUILD_MIN_DEVICES and more: the devices are built in chunks of
  // BUILD_CHUNK_DEVICES, taken in turn by two threads. Every device must keep
  // its own per-device findings (legacy TLS on every third), in its place, and
  // the clones of one certificate, spread over many chunks, must all name
  // each other.
  const int n = static_cast<int>(PARALLEL_BUILD_MIN_DEVICES) + 1000;
  Run r;
  std::set<std::string> legacy, clones;
  for (int i = 0; i < n; ++i) {
    char mac[18];
    std::snprintf(mac, sizeof mac, "00:0e:08:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
    const std::string ip = "10." + std::to_string(1 + i / 62500) + "." + std::to_string(i / 250 % 250) + "." +
                           std::to_string(i % 250 + 1);
    char serial[16];
    std::snprintf(serial, sizeof serial, "CBT%08d", i);
    char subject_mac[13];
    std::snprintf(subject_mac, sizeof subject_mac, "000e08%06x", i);
    // Every 500th device holds the same certificate; the others their own.
    auto t = withCert(handshake(mac, ip.c_str(), T0 + i * 1000),
                      i % 500 == 0 ? spa962() : cert("c" + std::to_string(i), {{"OU", "SPA-962"}, {"L", serial},
                                                                               {"ST", subject_mac}}));
    if (i % 3 == 0) t.version = 0x0301;
    if (i % 3 == 0) legacy.insert(std::string("mac:") + mac);
    if (i % 500 == 0) clones.insert(std::string("mac:") + mac);
    r.tls.push_back(t);
  }
  const auto res = r.audit();
  REQUIRE(res.devices.size() == static_cast<std::size_t>(n));
  for (std::size_t i = 1; i < res.devices.size(); ++i) REQUIRE(res.devices[i - 1].id < res.devices[i].id);
  std::size_t legacy_seen = 0, clones_seen = 0;
  for (const auto& d : res.devices) {
    INFO(d.id);
    REQUIRE(d.identity == "individualized");
    const auto c = codes(d.findings);
    CHECK(c.count("legacy-tls") == legacy.count(d.id));
    legacy_seen += c.count("legacy-tls");
    CHECK(c.count("cert-clone") == clones.count(d.id));
    if (c.count("cert-clone") != 0) {
      ++clones_seen;
      for (const auto& f : d.findings) {
        if (f.code != "cert-clone") continue;
        for (const auto& other : clones) {  // seven holders: each names the six others
          CHECK((f.detail.find(other) != std::string::npos) == (other != d.id));
        }
      }
    }
  }
  CHECK(legacy_seen == legacy.size());
  CHECK(clones_seen == clones.size());
}

TEST_CASE("each claim names the text, rule, packet and capture it was read from; one text's claims share them") {
  Run r;
  auto h = request("00:15:65:4a:a9:37", "10.0.0.33", T0 + 5 * SEC, "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
                   "/y000000000028.cfg");
  h.flow.ref.frame = 77;
  h.flow.source = "site-a.pcapng";
  r.http.push_back(h);
  const auto res = r.audit();
  const auto& d = res.devices.at(0);
  std::map<std::string, std::vector<const ClaimRecord*>> by_origin;
  for (const auto& c : d.claims) {
    REQUIRE(c.from != nullptr);
    by_origin[c.origin()].push_back(&c);
  }
  // The User-Agent gave vendor, model, firmware and MAC, all read from it.
  const auto& ua = by_origin.at("user-agent");
  std::set<std::string> fields;
  for (const auto* c : ua) {
    fields.insert(c->field);
    CHECK(c->evidence() == "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37");
    CHECK(c->ref().ts_ns == T0 + 5 * SEC);
    CHECK(c->ref().frame == 77);
    CHECK(c->source() == "site-a.pcapng");
    CHECK(!c->rule().empty());
    CHECK(c->from == ua.front()->from);  // one ClaimSource for the one text
  }
  CHECK(fields == std::set<std::string>{"vendor", "model", "firmware", "mac"});
  for (const auto* c : ua) {
    if (c->field == "model") CHECK(c->value == "SIP-T46G");
    if (c->field == "firmware") CHECK(c->value == "28.72.0.1");
    if (c->field == "mac") CHECK(c->value == "00:15:65:4a:a9:37");
  }
  // The OUI's claim stands on the device's MAC alone: no packet, no capture.
  const auto& oui = by_origin.at("oui");
  REQUIRE(oui.size() == 1);
  CHECK(oui.front()->field == "vendor");
  CHECK(oui.front()->evidence() == "00:15:65:4a:a9:37");
  CHECK(oui.front()->ref().frame == 0);
  CHECK(oui.front()->source().empty());
}

TEST_CASE("a server's record counts its distinct clients, sessions, versions and weak suites once each") {
  Run r;
  // Three devices; the first comes back twice, with another weak suite the second time.
  auto a = handshake("00:0e:08:20:20:01", "10.0.0.21", T0);
  a.version = 0x0301;
  a.cipher_suite = 0x0005;  // TLS_RSA_WITH_RC4_128_SHA
  r.tls.push_back(a);
  auto again = handshake("00:0e:08:20:20:01", "10.0.0.21", T0 + 10 * SEC);
  again.version = 0x0301;
  again.cipher_suite = 0x000a;  // TLS_RSA_WITH_3DES_EDE_CBC_SHA
  r.tls.push_back(again);
  auto third = again;
  third.flow.ref.ts_ns = third.first.ts_ns = T0 + 20 * SEC;
  r.tls.push_back(third);
  r.tls.push_back(handshake("00:0e:08:20:20:02", "10.0.0.22", T0 + 30 * SEC));
  r.http.push_back(request("00:0e:08:20:20:03", "10.0.0.23", T0 + 40 * SEC, "Cisco/SPA112-1.4.1"));
  const auto res = r.audit();
  const ServerRecord* tls_server = nullptr;
  for (const auto& s : res.servers) {
    if (s.endpoint.port == 443) tls_server = &s;
  }
  REQUIRE(tls_server != nullptr);
  CHECK(tls_server->sessions == 4);
  CHECK(tls_server->clients == 2);  // the HTTP request went to port 80
  CHECK(tls_server->tls_versions == std::vector<std::string>{"TLS 1.0", "TLS 1.2"});
  CHECK(tls_server->cipher_suites.size() == 3);
  std::string weak;
  for (const auto& f : tls_server->findings) {
    if (f.code == "weak-cipher") weak = f.detail;
  }
  CHECK(weak == "negotiated TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_RSA_WITH_RC4_128_SHA");
}

TEST_CASE("a server's TLS versions are listed oldest first, whatever order its sessions came in") {
  Run r;
  const std::uint16_t versions[] = {0x0304, 0x0303, 0x0301, 0x0303, 0x0300};
  for (std::size_t i = 0; i < std::size(versions); ++i) {
    auto t = handshake("00:0e:08:20:30:01", "10.0.0.31", T0 + static_cast<std::int64_t>(i) * SEC);
    t.version = versions[i];
    r.tls.push_back(t);
  }
  const auto res = r.audit();
  REQUIRE(res.servers.size() == 1);
  CHECK(res.servers[0].tls_versions == std::vector<std::string>{"SSL 3.0", "TLS 1.0", "TLS 1.2", "TLS 1.3"});
  CHECK(res.servers[0].sessions == 5);
  // The device keeps the order it used them in (which a downgrade shows).
  CHECK(device(res, "mac:00:0e:08:20:30:01").tls_versions == std::vector<std::string>{"TLS 1.3", "TLS 1.2", "TLS 1.0", "SSL 3.0"});
}

TEST_CASE("a device that sends a hundred User-Agents and URLs keeps its first 64 of each and counts the rest") {
  Run r;
  for (int i = 0; i < 100; ++i) {
    r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.5", T0 + i * SEC,
                             "Linksys/SPA-962-6.1.5(a) (88012BA01234) build " + std::to_string(i),
                             "/spa962-" + std::to_string(i) + ".cfg"));
    r.http.push_back(r.http.back());  // each sent twice: a value is counted once
    r.http.back().flow.ref.ts_ns += SEC / 2;
  }
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 1);
  const DeviceRecord& d = res.devices[0];
  REQUIRE(d.user_agents.size() == DEVICE_LIST_MAX);
  CHECK(d.user_agents.front() == "Linksys/SPA-962-6.1.5(a) (88012BA01234) build 0");  // the first ones, in order
  CHECK(d.user_agents.back() == "Linksys/SPA-962-6.1.5(a) (88012BA01234) build 63");
  CHECK(d.urls.size() == DEVICE_LIST_MAX);
  CHECK(d.omitted == std::map<std::string, std::uint64_t>{{"urls", 36}, {"user_agents", 36}});
  CHECK(d.sessions == 200);  // every sighting still counts
  CHECK(d.vendor == std::optional<std::string>("Cisco"));  // and what they claim
  // An ordinary device omits nothing.
  Run one;
  one.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.5", T0, "Linksys/SPA-962-6.1.5(a) (88012BA01234)"));
  CHECK(one.audit().devices.at(0).omitted.empty());
}

TEST_CASE("a server that a hundred clients reach by a hundred names keeps 64 and counts the rest") {
  Run r;
  for (int i = 0; i < 100; ++i) {
    char mac[18];
    std::snprintf(mac, sizeof mac, "00:0e:08:00:00:%02x", i);
    const std::string ip = "10.0.1." + std::to_string(i + 1);
    TlsObservation t = handshake(mac, ip.c_str(), T0 + i * SEC);
    t.sni = "prov" + std::to_string(i) + ".example.net";
    r.tls.push_back(std::move(t));
  }
  const auto res = r.audit();
  REQUIRE(res.servers.size() == 1);
  const ServerRecord& s = res.servers[0];
  CHECK(s.sni.size() == DEVICE_LIST_MAX);
  CHECK(s.sni.front() == "prov0.example.net");
  CHECK(s.omitted == std::map<std::string, std::uint64_t>{{"sni", 36}});
  CHECK(s.clients == 100);
  CHECK(res.devices.size() == 100);
  for (const auto& d : res.devices) CHECK(d.omitted.empty());
}

TEST_CASE("a device that reaches 200 servers keeps them all, each once, in the order reached") {
  Run r;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 200; ++i) {
      r.http.push_back(request("00:0e:08:ab:cd:ef", "10.0.0.5", T0 + (round * 200 + i) * SEC, "Linksys/SPA-962-6.1.5(a) (88012BA01234)"));
      r.http.back().flow.server.ip = *IpAddr::parse("192.0.2." + std::to_string(i / 100 + 1));
      r.http.back().flow.server.port = static_cast<std::uint16_t>(8000 + i);
    }
  }
  const auto res = r.audit();
  REQUIRE(res.devices.size() == 1);
  const DeviceRecord& d = res.devices[0];
  REQUIRE(d.servers.size() == 200);
  CHECK(d.servers.front() == "192.0.2.1:8000");
  CHECK(d.servers[DEVICE_LIST_MAX] == "192.0.2.1:" + std::to_string(8000 + DEVICE_LIST_MAX));
  CHECK(d.servers.back() == "192.0.2.2:8199");
  CHECK(std::set<std::string>(d.servers.begin(), d.servers.end()).size() == 200);
  CHECK(res.servers.size() == 200);
  CHECK(d.omitted.empty());  // servers are kept whole
}

TEST_CASE("handshake history: the first and the last HANDSHAKE_HISTORY_ENDS, those between counted") {
  // A phone fetching its profile every second for a while: 130 handshakes.
  Run r;
  const std::size_t n = 2 * HANDSHAKE_HISTORY_ENDS + 30;
  for (std::size_t i = 0; i < n; ++i) {
    r.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + static_cast<std::int64_t>(i) * SEC),
                             spa962()));
  }
  const auto res = r.audit();
  const auto& d = device(res, "mac:00:0e:08:ab:cd:ef");
  REQUIRE(d.handshakes.size() == 2 * HANDSHAKE_HISTORY_ENDS);
  CHECK(d.handshakes_omitted == 30);
  CHECK(d.sessions == n);  // every one still counts
  for (std::size_t i = 0; i < HANDSHAKE_HISTORY_ENDS; ++i) {
    INFO(i);
    CHECK(d.handshakes[i].ts_ns == T0 + static_cast<std::int64_t>(i) * SEC);  // the first, in order
    CHECK(d.handshakes[HANDSHAKE_HISTORY_ENDS + i].ts_ns ==
          T0 + static_cast<std::int64_t>(n - HANDSHAKE_HISTORY_ENDS + i) * SEC);  // the last, in order
  }
  CHECK(d.identity == "individualized");
  CHECK(d.first_seen == T0);
  CHECK(d.last_seen == T0 + static_cast<std::int64_t>(n - 1) * SEC);

  // Up to twice the ends, all are kept and nothing is said.
  Run few;
  for (std::size_t i = 0; i < 2 * HANDSHAKE_HISTORY_ENDS; ++i) {
    few.tls.push_back(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + static_cast<std::int64_t>(i) * SEC));
  }
  const auto all = few.audit();
  const auto& kept = device(all, "mac:00:0e:08:ab:cd:ef");
  CHECK(kept.handshakes.size() == 2 * HANDSHAKE_HISTORY_ENDS);
  CHECK(kept.handshakes_omitted == 0);
  CHECK(std::is_sorted(kept.handshakes.begin(), kept.handshakes.end(),
                       [](const HandshakeSummary& a, const HandshakeSummary& b) { return a.ts_ns < b.ts_ns; }));
}

TEST_CASE("raw public key (RFC 7250): unknown/raw-public-key, and a certificate shown before is kept") {
  // A bare key names no unit: no subject, no issuer, no claims.
  auto rawKey = [](TlsObservation t) {
    t.client_cert = ClientCertState::RawPublicKey;
    t.client_raw_key_sha256 = std::string(64, 'c');
    return t;
  };
  Run only_key;
  only_key.tls.push_back(rawKey(handshake("00:0e:08:18:48:30", "10.0.0.30", T0)));
  const auto res = only_key.audit();
  REQUIRE(res.devices.size() == 1);
  CHECK(res.devices[0].identity == "unknown");
  CHECK(res.devices[0].identity_reason == "raw-public-key");
  CHECK_FALSE(res.devices[0].cert);
  CHECK(codes(res.devices[0].findings).empty());
  Run cert_then_key;
  cert_then_key.tls.push_back(withCert(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0), spa962()));
  cert_then_key.tls.push_back(rawKey(handshake("00:0e:08:ab:cd:ef", "10.0.0.11", T0 + SEC)));
  const auto kept = cert_then_key.audit();
  REQUIRE(kept.devices.size() == 1);
  CHECK(kept.devices[0].identity == "individualized");
  CHECK(kept.devices[0].identity_reason == "client-cert");
}
