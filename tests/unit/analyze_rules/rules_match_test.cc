// Request URLs (domain.md §3.3), POST bodies (§2.2), certificate subjects (§1.1,
// §3.1), OUIs (§4) and severities against the bundled rules.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "analyze/cert_info.h"
#include "analyze/rules.h"
#include "bundled_rules.h"

using provaudit::MacAddr;
using provaudit::analyze::CertClaims;
using provaudit::analyze::CertInfo;
using provaudit::analyze::Claims;
using provaudit::analyze::RdnAttr;
using provaudit::analyze::test::bundledRules;
using provaudit::analyze::test::macText;
using provaudit::analyze::test::orNone;
using provaudit::analyze::test::text;

namespace {

struct UrlCase {
  std::string uri;
  const char* vendor;
  const char* model;
  const char* mac;
  const char* serial;
  const char* ccert;
};

}  // namespace

TEST_CASE("rules: request URLs of domain.md §3.3") {
  const auto& rules = bundledRules();
  const std::vector<UrlCase> cases{
      // Cisco SPA / MPP
      {"/spa000e08aabbcc.cfg", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/spa000E08AABBCC.xml", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/linksys/spa000e08aabbcc.cfg", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/cpe/Linksys000e08aabbcc.cfg", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/cfg/init_000e08aabbcc.xml", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      // $MAC (colon-separated, domain.md §2.2) where $MA goes
      {"/spa00:0e:08:aa:bb:cc.cfg", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/cpe/Linksys00:0E:08:AA:BB:CC.xml", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/cfg/init_00:0e:08:aa:bb:cc.xml", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/spa00:0e:08:aa:bb.cfg", nullptr, nullptr, nullptr, nullptr, nullptr},  // five bytes
      // the Report_Rule example's /$MA/rep.xml.enc
      {"/prov/000e08aabbcc/rep.xml.enc", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/000E08AABBCC/rep.xml", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/prov/000e08aabbcc/rep.xml.enc.bak", nullptr, nullptr, nullptr, nullptr, nullptr},
      {"/000e08aabbcc.cfg", nullptr, nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},  // shared by vendors
      {"/SEP00562B043615.cnf.xml", "Cisco", nullptr, "00:56:2b:04:36:15", nullptr, nullptr},
      {"/CTLSEP00562B043615.tlv", "Cisco", nullptr, "00:56:2b:04:36:15", nullptr, nullptr},
      {"/ATA00562B043615.cnf.xml", "Cisco", nullptr, "00:56:2b:04:36:15", nullptr, nullptr},
      {"/CP-8841-3PCC.xml", "Cisco", "CP-8841-3PCC", nullptr, nullptr, nullptr},
      {"/spa2102.cfg", nullptr, nullptr, nullptr, nullptr, nullptr},  // $PSN, not a MAC
      // query parameters, URL-decoded
      {"/prov?mac=000e08aabbcc", nullptr, nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/prov?MAC=00%3A0E%3A08%3AAA%3ABB%3ACC&x=1", nullptr, nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},
      {"/prov?sn=88012BA01234", nullptr, nullptr, nullptr, "88012BA01234", nullptr},
      {"/prov?serial=CBT141100HR;ccert=Installed", nullptr, nullptr, nullptr, "CBT141100HR", "Installed"},
      {"/p?ccert=Installed", nullptr, nullptr, nullptr, nullptr, "Installed"},
      {"/p?ccert=Not%20Installed", nullptr, nullptr, nullptr, nullptr, "Not Installed"},
      {"/p?ccert=Not+Installed", nullptr, nullptr, nullptr, nullptr, "Not Installed"},
      {"/p?cc=Installed", nullptr, nullptr, nullptr, nullptr, "Installed"},
      {"/spa%30%30%30e08aabbcc.cfg", "Cisco", nullptr, "00:0e:08:aa:bb:cc", nullptr, nullptr},  // decoded first
      {"http://prov.example.net:8080/spa000e08aabbcc.cfg?ccert=Installed#frag", "Cisco", nullptr,
       "00:0e:08:aa:bb:cc", nullptr, "Installed"},  // absolute-form
      // other vendors
      {"/cfgc074ad2bd859.xml", nullptr, nullptr, "c0:74:ad:2b:d8:59", nullptr, nullptr},  // Grandstream / Htek
      {"/cfgc074ad2bd859", nullptr, nullptr, "c0:74:ad:2b:d8:59", nullptr, nullptr},
      {"/snom320-000413123456.htm", "Snom", "320", "00:04:13:12:34:56", nullptr, nullptr},
      {"/000413123456.xml", nullptr, nullptr, "00:04:13:12:34:56", nullptr, nullptr},
      {"/SIP00040D123456.cfg", "Avaya", nullptr, "00:04:0d:12:34:56", nullptr, nullptr},
      {"/Digium/000fd3123456.cfg", "Digium", nullptr, "00:0f:d3:12:34:56", nullptr, nullptr},
      {"/polycom/0004f2aabbcc-phone.cfg", "Polycom", nullptr, "00:04:f2:aa:bb:cc", nullptr, nullptr},
      {"/0004f2aabbcc-boot.log", "Polycom", nullptr, "00:04:f2:aa:bb:cc", nullptr, nullptr},
      {"/00085D237429.cfg", nullptr, nullptr, "00:08:5d:23:74:29", nullptr, nullptr},  // Aastra, uppercase
      {"/0008.5D23.7429.cfg", nullptr, nullptr, "00:08:5d:23:74:29", nullptr, nullptr},  // Cisco's dotted notation
      {"/prov?mac=0056.2b04.3616", nullptr, nullptr, "00:56:2b:04:36:16", nullptr, nullptr},
      {"/M800B00908f5b1035.ini", "AudioCodes", "M800B", "00:90:8f:5b:10:35", nullptr, nullptr},
      // exclusions: all-zero master file, Yealink model-common file, unexpanded macros
      {"/000000000000.cfg", nullptr, nullptr, nullptr, nullptr, nullptr},
      {"/y000000000025.cfg", "Yealink", nullptr, nullptr, nullptr, nullptr},
      {"/y000000000044.cfg", "Yealink", nullptr, nullptr, nullptr, nullptr},
      {"/spa$MA.cfg", nullptr, nullptr, nullptr, nullptr, nullptr},
      {"/spa%24MA.cfg", nullptr, nullptr, nullptr, nullptr, nullptr},
      {"/prov?mac=$MA&sn=$SN&ccert=$CCERT", nullptr, nullptr, nullptr, nullptr, nullptr},
      {"/prov?mac=%24MA", nullptr, nullptr, nullptr, nullptr, nullptr},
  };
  for (const UrlCase& c : cases) {
    CAPTURE(c.uri);
    const Claims got = rules.matchUrl(c.uri);
    CAPTURE(got.rule);
    CHECK(text(got.vendor) == orNone(c.vendor));
    CHECK(text(got.model) == orNone(c.model));
    CHECK(macText(got) == (c.mac ? std::string(c.mac) : std::string()));
    CHECK(text(got.serial) == orNone(c.serial));
    CHECK(text(got.ccert) == orNone(c.ccert));
  }
}

TEST_CASE("rules: URL claims name every rule that contributed") {
  const Claims c = bundledRules().matchUrl("/spa000e08aabbcc.cfg?ccert=Installed");
  CHECK(c.rule == "cisco-spa-mac-file,ccert-param");
}

TEST_CASE("rules: SPA --post body with expanded macros") {
  const auto& rules = bundledRules();
  const Claims c = rules.matchPostBody(
      R"x(Product = "SPA2102"; MAC_Addr = "000e08aabbcc"; Ser_Num = "88012BA01234"; SW_Ver = "2.0.6(b)"; CCERT = "Installed";)x");
  CHECK(text(c.vendor) == "Cisco");
  CHECK(text(c.model) == "SPA2102");
  CHECK(macText(c) == "00:0e:08:aa:bb:cc");
  CHECK(text(c.serial) == "88012BA01234");
  CHECK(text(c.firmware) == "2.0.6(b)");
  CHECK(text(c.ccert) == "Installed");
  CHECK(c.rule == "spa-post-gpp,post-ccert");
}

TEST_CASE("rules: a --post body's MAC_Addr in Cisco's dotted notation is read") {
  const Claims c = bundledRules().matchPostBody(R"x(Product = "CP-8861-3PCC"; MAC_Addr = "0056.2B04.3616";)x");
  CHECK(macText(c) == "00:56:2b:04:36:16");
}

TEST_CASE("rules: SPA --post body with unexpanded macros claims nothing from them") {
  const Claims c = bundledRules().matchPostBody(R"x(Product = "$PN"; MAC_Addr = "$MA"; Ser_Num = "$SN"; SW_Ver = "$SWVER";)x");
  CHECK(c.empty());
}

TEST_CASE("rules: CCERT = \"Not Installed\" in a body") {
  const Claims c = bundledRules().matchPostBody(R"x(MAC_Addr = "000e08aabbcc"; CCERT = "Not Installed";)x");
  CHECK(text(c.ccert) == "Not Installed");
  CHECK(macText(c) == "00:0e:08:aa:bb:cc");
}

TEST_CASE("rules: form-encoded POST body is read like a query") {
  const Claims c = bundledRules().matchPostBody("mac=000e08aabbcc&sn=88012BA01234&ccert=Not+Installed");
  CHECK(macText(c) == "00:0e:08:aa:bb:cc");
  CHECK(text(c.serial) == "88012BA01234");
  CHECK(text(c.ccert) == "Not Installed");
}

// Text past RULES_MAX_MATCH_INPUT is not read, but it is there: a pattern
// anchored at the end must not match where the text was cut. Each input
// below would match if it ended at the cut, and does when it does.
namespace {
// `head` padded in front so that it ends exactly at the cut.
std::string endingAtCut(const std::string& pad_before, const std::string& head) {
  return pad_before + std::string(provaudit::analyze::RULES_MAX_MATCH_INPUT - pad_before.size() - head.size(), 'a') + head;
}
}  // namespace

TEST_CASE("rules: a URL cut at the matching limit does not match a rule anchored at its end") {
  const auto& rules = bundledRules();
  const std::string path = endingAtCut("/", "/spa000e08aabbcc.cfg");
  REQUIRE(path.size() == provaudit::analyze::RULES_MAX_MATCH_INPUT);
  CHECK(macText(rules.matchUrl(path)) == "00:0e:08:aa:bb:cc");       // ends there: read
  CHECK(rules.matchUrl(path + ".bak").empty());                      // goes on: not this file
  const std::string absolute = endingAtCut("http://prov.example/", "/spa000e08aabbcc.cfg");
  CHECK(rules.matchUrl(absolute + "x").empty());
  const std::string query = endingAtCut("/cfg?x=", "&mac=000e08aabbcc");
  CHECK(macText(rules.matchUrl(query)) == "00:0e:08:aa:bb:cc");
  CHECK(rules.matchUrl(query + "dd").empty());                       // a 14-digit value is no MAC
}

TEST_CASE("rules: a form-encoded body cut at the matching limit does not match a value anchored at its end") {
  const auto& rules = bundledRules();
  const std::string body = endingAtCut("x=", "&mac=000e08aabbcc");
  CHECK(macText(rules.matchPostBody(body)) == "00:0e:08:aa:bb:cc");
  CHECK(rules.matchPostBody(body + "dd").empty());
}

// --- certificates ----------------------------------------------------------------------------

namespace {

CertInfo certWith(std::vector<RdnAttr> subject, std::vector<RdnAttr> issuer = {}) {
  CertInfo c;
  c.subject = std::move(subject);
  c.issuer = std::move(issuer);
  return c;
}

}  // namespace

TEST_CASE("rules: individualized SPA certificate (SPA-ATA-PG example)") {
  const CertClaims c = bundledRules().matchCertificate(
      certWith({{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000e08abcdef"}}, {{"CN", "Sipura CA Client Root"}}));
  CHECK_FALSE(c.generic);
  CHECK(c.rule == "cisco-spa-individual");
  CHECK(text(c.vendor) == "Cisco");
  CHECK(text(c.model) == "SPA-962");
  CHECK(text(c.serial) == "88012BA01234");
  CHECK(macText(c) == "00:0e:08:ab:cd:ef");
}

TEST_CASE("rules: an SPA or MPP certificate whose MAC has ':' or '-' between its bytes keeps model, serial and MAC") {
  for (const char* mac : {"00:0e:08:ab:cd:ef", "00-0E-08-AB-CD-EF"}) {
    INFO(mac);
    const CertClaims spa = bundledRules().matchCertificate(
        certWith({{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", mac}}, {{"CN", "Sipura CA Client Root"}}));
    CHECK(spa.rule == "cisco-spa-individual");
    CHECK(text(spa.model) == "SPA-962");
    CHECK(text(spa.serial) == "88012BA01234");
    CHECK(macText(spa) == "00:0e:08:ab:cd:ef");
    const CertClaims mpp = bundledRules().matchCertificate(certWith({{"OU", "CP-8841-3PCC"}, {"L", "FCH1234ABCD"}, {"ST", mac}}));
    CHECK(mpp.rule == "cisco-mpp-individual");
    CHECK(macText(mpp) == "00:0e:08:ab:cd:ef");
  }
  // Not a MAC: still no claim (a separator in one place only, or 11 digits).
  CHECK_FALSE(bundledRules()
                  .matchCertificate(certWith({{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000e08abcde"}}))
                  .mac);
}

TEST_CASE("rules: a certificate MAC in Cisco's dotted notation (0056.2b04.3616) keeps model, serial and MAC") {
  // Cisco MPP: the whole rule failed on the dotted ST, so model and serial were lost too.
  const CertClaims mpp = bundledRules().matchCertificate(
      certWith({{"OU", "CP-8861-3PCC"}, {"L", "FCH9999WXYZ"}, {"ST", "0056.2b04.3616"}}, {{"CN", "Multiplatform Phone CA"}}));
  CHECK(mpp.rule == "cisco-mpp-individual");
  CHECK(text(mpp.model) == "CP-8861-3PCC");
  CHECK(text(mpp.serial) == "FCH9999WXYZ");
  CHECK(macText(mpp) == "00:56:2b:04:36:16");
  const CertClaims spa = bundledRules().matchCertificate(
      certWith({{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000E.08AB.CDEF"}}, {{"CN", "Sipura CA Client Root"}}));
  CHECK(spa.rule == "cisco-spa-individual");
  CHECK(text(spa.serial) == "88012BA01234");
  CHECK(macText(spa) == "00:0e:08:ab:cd:ef");
  // Yealink and Polycom: CN = MAC.
  const CertClaims y = bundledRules().matchCertificate(
      certWith({{"CN", "805e.c012.3457"}}, {{"O", "Yealink"}, {"CN", "Yealink Equipment Issuing CA"}}));
  CHECK(y.rule == "yealink-unique");
  CHECK(macText(y) == "80:5e:c0:12:34:57");
  const CertClaims p =
      bundledRules().matchCertificate(certWith({{"CN", "0004.f2aa.bbcc"}}, {{"CN", "Polycom Equipment Policy CA"}}));
  CHECK(p.rule == "polycom-device");
  CHECK(macText(p) == "00:04:f2:aa:bb:cc");
  // Dots elsewhere than between groups of four are no MAC.
  for (const char* odd : {"0056.2b043616", "00562b04.3616", "005.62b0.43616", "0056.2b04.3616.", "0056.2b04.361g"}) {
    INFO(odd);
    CHECK_FALSE(bundledRules().matchCertificate(certWith({{"CN", odd}}, {{"CN", "Yealink Equipment Issuing CA"}})).mac);
  }
}

TEST_CASE("rules: a certificate serial with a space is taken as given, with the model and MAC") {
  // The rule failed as a whole on the space: product, serial and MAC were all lost.
  const CertClaims c = bundledRules().matchCertificate(
      certWith({{"OU", "SPA8000"}, {"L", "FM700F 12345"}, {"ST", "000e08445566"}}, {{"CN", "Linksys CA Client Root"}}));
  CHECK(c.rule == "cisco-spa-individual");
  CHECK(text(c.model) == "SPA8000");
  CHECK(text(c.serial) == "FM700F 12345");  // not FM700F12345: it differs from a User-Agent's FM700F123456
  CHECK(macText(c) == "00:0e:08:44:55:66");
  const CertClaims mpp = bundledRules().matchCertificate(
      certWith({{"OU", "CP-8861-3PCC"}, {"L", "FCH 9999 WXYZ"}, {"ST", "0056.2b04.3616"}}));
  CHECK(mpp.rule == "cisco-mpp-individual");
  CHECK(text(mpp.serial) == "FCH 9999 WXYZ");
}

TEST_CASE("rules: an SPA or MPP certificate whose L is no serial still gives its model and MAC") {
  for (const char* l : {" FM700F12345", "FM700F12345 ", "FM700F#12345", "FM7", "FM700F1234567890123456789", ""}) {
    INFO('"' << l << '"');
    const CertClaims spa = bundledRules().matchCertificate(
        certWith({{"OU", "SPA8000"}, {"L", l}, {"ST", "000e08445566"}}, {{"CN", "Linksys CA Client Root"}}));
    CHECK(spa.rule == "cisco-spa-model-mac");
    CHECK(text(spa.vendor) == "Cisco");
    CHECK(text(spa.model) == "SPA8000");
    CHECK_FALSE(spa.serial);
    CHECK(macText(spa) == "00:0e:08:44:55:66");
    const CertClaims mpp =
        bundledRules().matchCertificate(certWith({{"OU", "CP-8861-3PCC"}, {"L", l}, {"ST", "0056.2b04.3616"}}));
    CHECK(mpp.rule == "cisco-mpp-model-mac");
    CHECK(text(mpp.model) == "CP-8861-3PCC");
    CHECK_FALSE(mpp.serial);
    CHECK(macText(mpp) == "00:56:2b:04:36:16");
  }
  // No L at all: the same.
  const CertClaims no_l = bundledRules().matchCertificate(certWith({{"OU", "SPA8000"}, {"ST", "000e08445566"}}));
  CHECK(no_l.rule == "cisco-spa-model-mac");
  CHECK(macText(no_l) == "00:0e:08:44:55:66");
  // A Yealink certificate with a MAC CN is still the Yealink rule's, whatever its OU and ST.
  const CertClaims y = bundledRules().matchCertificate(
      certWith({{"OU", "T46G"}, {"ST", "805ec0123456"}, {"CN", "805ec0123456"}}, {{"CN", "Yealink Equipment Issuing CA"}}));
  CHECK(y.rule == "yealink-unique");
}

TEST_CASE("rules: generic Cisco certificate by literal, any case") {
  for (const char* l : {"ciscogeneric", "CiscoGeneric"}) {
    const CertClaims c = bundledRules().matchCertificate(certWith({{"OU", "cisco.com"}, {"L", l}, {"ST", l}}));
    CHECK(c.generic);
    CHECK(c.generic_marker == "cisco-generic");
    CHECK(text(c.vendor) == "Cisco");
    CHECK_FALSE(c.serial);  // a shared certificate names no unit
    CHECK_FALSE(c.mac);
  }
}

TEST_CASE("rules: generic certificate by pattern (L == ST, a '...generic' word, OU a domain)") {
  const CertClaims c = bundledRules().matchCertificate(certWith(
      {{"OU", "linksys.com"}, {"L", "linksysgeneric"}, {"ST", "linksysgeneric"}}, {{"CN", "Linksys CA Client Root"}}));
  CHECK(c.generic);
  CHECK(c.generic_marker == "generic-domain-ou-same-word");
  CHECK(text(c.vendor) == "Cisco");  // from the issuer hint
  // L != ST: not generic.
  const CertClaims d =
      bundledRules().matchCertificate(certWith({{"OU", "linksys.com"}, {"L", "linksysgeneric"}, {"ST", "other"}}));
  CHECK_FALSE(d.generic);
  // L == ST but hex (could be a serial/MAC): not generic.
  const CertClaims e =
      bundledRules().matchCertificate(certWith({{"OU", "x.com"}, {"L", "000e08abcdef"}, {"ST", "000e08abcdef"}}));
  CHECK_FALSE(e.generic);
  // An operator's per-device certificate from a city-state: L == ST, words,
  // OU a domain, and individual (its CN names the unit).
  const CertClaims berlin = bundledRules().matchCertificate(
      certWith({{"C", "DE"}, {"ST", "Berlin"}, {"L", "Berlin"}, {"O", "Example Telecom GmbH"}, {"OU", "voip.example.de"},
                {"CN", "SEP00562B043616"}}));
  CHECK_FALSE(berlin.generic);
}

TEST_CASE("rules: a Cisco MIC issued by the ACT2 SUDI CA names its model and MAC, as one from CAP-RTP does") {
  for (const char* issuer : {"ACT2 SUDI CA", "CAP-RTP-002", "Cisco Manufacturing CA SHA2"}) {
    const CertClaims c = bundledRules().matchCertificate(
        certWith({{"O", "Cisco Systems Inc."}, {"CN", "CP-8845-SEP00562B043617"}}, {{"CN", issuer}}));
    INFO(issuer);
    CHECK(c.rule == "cisco-cucm-mic");
    CHECK(text(c.vendor) == "Cisco");
    CHECK(text(c.model) == "CP-8845");
    REQUIRE(c.mac.has_value());
    CHECK(c.mac->str() == "00:56:2b:04:36:17");
  }
}

TEST_CASE("rules: a Cisco manufacturing certificate naming only SEP<MAC> gives its MAC, no model") {
  // domain.md §3.1: a public write-up shows "Subject: CN=SEP0004F23A8B6C".
  const CertClaims c = bundledRules().matchCertificate(
      certWith({{"CN", "SEP00562BAA0150"}}, {{"O", "Cisco"}, {"CN", "Cisco Manufacturing CA SHA2"}}));
  CHECK(c.rule == "cisco-cucm-mic");
  CHECK(text(c.vendor) == "Cisco");
  CHECK_FALSE(c.model.has_value());
  REQUIRE(c.mac.has_value());
  CHECK(c.mac->str() == "00:56:2b:aa:01:50");
  // Not from a Cisco manufacturing CA: only what the issuer hints, no MAC.
  const CertClaims other =
      bundledRules().matchCertificate(certWith({{"CN", "SEP00562BAA0150"}}, {{"CN", "Some Other CA"}}));
  CHECK(other.rule != "cisco-cucm-mic");
  CHECK_FALSE(other.mac.has_value());
}

TEST_CASE("rules: Cisco MPP certificate (MPP-AG layout)") {
  const CertClaims c = bundledRules().matchCertificate(
      certWith({{"OU", "CP-8841-3PCC"}, {"L", "88012BA01234"}, {"ST", "000e08abcdef"}}));
  CHECK(c.rule == "cisco-mpp-individual");
  CHECK(text(c.model) == "CP-8841-3PCC");
  CHECK(text(c.serial) == "88012BA01234");
  CHECK(macText(c) == "00:0e:08:ab:cd:ef");
}

TEST_CASE("rules: Yealink and Polycom device certificates [U]") {
  const CertClaims y = bundledRules().matchCertificate(
      certWith({{"CN", "001565aabbcc"}}, {{"O", "Yealink"}, {"CN", "Yealink Equipment Issuing CA"}}));
  CHECK(text(y.vendor) == "Yealink");
  CHECK(macText(y) == "00:15:65:aa:bb:cc");
  const CertClaims p = bundledRules().matchCertificate(
      certWith({{"CN", "00:04:f2:aa:bb:cc"}}, {{"CN", "Polycom Equipment Policy CA"}}));
  CHECK(text(p.vendor) == "Polycom");
  CHECK(macText(p) == "00:04:f2:aa:bb:cc");
}

TEST_CASE("rules: issuer-only hint gives the vendor; unknown certificates give nothing") {
  const CertClaims h =
      bundledRules().matchCertificate(certWith({{"CN", "odd-subject"}}, {{"CN", "Sipura CA Client Root"}}));
  CHECK(text(h.vendor) == "Cisco");
  CHECK(h.rule == "cisco-issuer-hint");
  CHECK_FALSE(h.mac);
  const CertClaims n =
      bundledRules().matchCertificate(certWith({{"CN", "device.example.com"}}, {{"CN", "Example Issuing CA"}}));
  CHECK(n.empty());
  CHECK_FALSE(n.generic);
  CHECK(n.rule.empty());
}

TEST_CASE("rules: a certificate with an all-zero MAC keeps model and serial, drops the MAC") {
  const CertClaims c =
      bundledRules().matchCertificate(certWith({{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000000000000"}}));
  CHECK(text(c.model) == "SPA-962");
  CHECK_FALSE(c.mac);
}

TEST_CASE("rules: hostile certificate attribute values return") {
  const std::string hostile(64 * 1024, '(');
  const CertClaims c = bundledRules().matchCertificate(certWith({{"OU", hostile}, {"L", hostile}, {"ST", hostile}}));
  CHECK_FALSE(c.generic);
}

TEST_CASE("rules: a certificate value cut at the matching limit does not match a pattern anchored at its end") {
  const auto& rules = bundledRules();
  // The generic marker's OU is a domain name up to its end ('...$').
  const std::string ou = endingAtCut("", "prov.example.com");
  CHECK(rules.matchCertificate(certWith({{"OU", ou}, {"L", "generic"}, {"ST", "generic"}})).generic);
  CHECK_FALSE(rules.matchCertificate(certWith({{"OU", ou + " and more"}, {"L", "generic"}, {"ST", "generic"}})).generic);
}

// --- OUIs, severities, fingerprints ------------------------------------------------------------

TEST_CASE("rules: vendorForMac from the OUI table (domain.md §4)") {
  const auto& rules = bundledRules();
  const auto vendor = [&](const char* mac) { return text(rules.vendorForMac(*MacAddr::parse(mac))); };
  CHECK(vendor("00:0e:08:aa:bb:cc") == "Cisco");  // Cisco-Linksys
  CHECK(vendor("00:56:2b:04:36:15") == "Cisco");
  CHECK(vendor("00:15:65:4a:a9:37") == "Yealink");
  CHECK(vendor("00:04:f2:00:00:01") == "Polycom");
  CHECK(vendor("48:25:67:00:00:01") == "Polycom");  // Poly
  CHECK(vendor("c0:74:ad:2b:d8:59") == "Grandstream");
  CHECK(vendor("00:04:13:74:17:67") == "Snom");
  CHECK(vendor("0c:38:3e:07:e1:6c") == "Fanvil");
  CHECK(vendor("00:10:bc:00:00:01") == "Mitel");  // Aastra
  CHECK(vendor("c8:1f:ea:83:e8:5a") == "Avaya");
  CHECK(vendor("7c:2f:80:4d:f9:a9") == "Gigaset");
  CHECK(vendor("00:1f:c1:1c:22:a9") == "Htek");
  CHECK(vendor("00:80:f0:c8:c3:81") == "Panasonic");
  CHECK(vendor("00:90:8f:1d:d0:d3") == "AudioCodes");
  CHECK(vendor("00:a0:ba:08:93:3c") == "Patton");
  CHECK(vendor("9c:ad:ef:00:00:01") == "Obihai");
  CHECK(vendor("12:34:56:78:9a:bc") == "<none>");
  CHECK(vendor("00:08:7b:00:00:01") == "<none>");  // RTX Telecom, deliberately not Snom
}

TEST_CASE("rules: finding severities") {
  const auto& rules = bundledRules();
  const std::vector<std::pair<const char*, const char*>> expected{
      {"generic-cert", "high"},           {"no-client-cert", "high"},       {"cert-untrusted", "critical"},
      {"cert-expired", "medium"},         {"cert-not-yet-valid", "medium"}, {"cert-weak-key", "medium"},
      {"cert-weak-signature", "medium"},  {"cert-clone", "critical"},       {"cert-mac-mismatch", "high"},
      {"serial-mismatch", "high"},        {"plaintext-provisioning", "high"}, {"legacy-tls", "medium"},
      {"weak-cipher", "high"},            {"cert-hidden", "info"},          {"server-no-cert-request", "high"},
      {"fingerprint-mismatch", "low"},    {"ccert-mismatch", "low"},        {"claim-mismatch", "medium"},
  };
  for (const auto& [code, level] : expected) {
    CAPTURE(code);
    CHECK(rules.severity(code) == level);
  }
  CHECK(rules.severity("not-a-code") == "medium");
}

TEST_CASE("rules: the bundled fingerprint table is empty") {
  CHECK(bundledRules().expectedFingerprints("Cisco", "SPA-2102").empty());
}

TEST_CASE("rules: the bundled rules load with no error and hold every kind of rule") {
  CHECK(bundledRules().ruleCount() >= 40);
}
