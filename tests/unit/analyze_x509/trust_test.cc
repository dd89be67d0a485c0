// Chain verification against a --ca bundle at packet time (analyze/trust.h):
// real certificates built and signed with OpenSSL, the bundle written as PEM.
// A certificate out of its validity window must not hide a forgery behind it,
// nor a CA out of its window pass without a finding.
#include <openssl/pem.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../../support/audit_fixtures.h"
#include "analyze/audit.h"
#include "analyze/cert_info.h"
#include "analyze/trust.h"
#include "test_certs.h"

using namespace provaudit;
using namespace provaudit::analyze;
namespace tc = provaudit::testcerts;

namespace {

constexpr std::int64_t Y2020 = 1577836800, Y2025 = 1735689600, Y2027 = 1798761600, Y2030 = 1893456000;
constexpr std::int64_t AT_2026 = 1780000000;  // 2026-05-28

CertPtr certOf(X509* x) {
  const std::vector<std::uint8_t> der = tc::der(x);
  auto info = parseCertificate(der.data(), der.size());
  REQUIRE(info.has_value());
  return std::make_shared<const CertInfo>(std::move(*info));
}

// A PEM bundle holding `ca`, removed with the object.
struct Bundle {
  std::string path;
  explicit Bundle(X509* ca) {
    path = (std::filesystem::temp_directory_path() / ("pa_trust_" + std::to_string(::getpid()) + "_" +
                                                      std::to_string(reinterpret_cast<std::uintptr_t>(this)) + ".pem"))
               .string();
    std::FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    REQUIRE(PEM_write_X509(f, ca) == 1);
    std::fclose(f);
  }
  ~Bundle() { std::filesystem::remove(path); }
};

// A root valid from `root_from` to `root_to`, a look-alike of it, and a trust
// store holding the real one (as --ca would).
struct Pki {
  EvpPkeyPtr root_key = tc::ecKey(), fake_key = tc::ecKey(), leaf_key = tc::ecKey();
  X509Ptr root, fake_root;
  std::unique_ptr<Bundle> bundle;
  std::unique_ptr<TrustStore> trust;
  Pki(std::int64_t root_from, std::int64_t root_to) {
    const tc::CertSpec spec{.subject = {{"O", "Sipura Technology, Inc."}, {"CN", "Sipura CA Client Root"}},
                            .not_before = root_from,
                            .not_after = root_to,
                            .ca = true};
    root = tc::makeCert(spec, root_key.get());
    fake_root = tc::makeCert(spec, fake_key.get());  // the same name, another key
    bundle = std::make_unique<Bundle>(root.get());
    trust = std::make_unique<TrustStore>(std::vector<std::string>{bundle->path});
  }
  X509Ptr leaf(X509* issuer, EVP_PKEY* issuer_key, std::int64_t from = Y2020, std::int64_t to = Y2030) {
    return tc::makeCert({.subject = {{"OU", "SPA-962"}, {"L", "88012BA01234"}, {"ST", "000e08abcdef"}},
                         .serial = 7,
                         .not_before = from,
                         .not_after = to},
                        leaf_key.get(), issuer, issuer_key);
  }
};

}  // namespace

TEST_CASE("trust: a chain in its window verifies; a CA expired at packet time makes it expired, named") {
  Pki pki(Y2020, Y2025);
  const TrustStore& trust = *pki.trust;
  const X509Ptr leaf = pki.leaf(pki.root.get(), pki.root_key.get());
  const std::vector<CertPtr> chain{certOf(leaf.get())};

  const ChainResult before = trust.verify(chain, Y2025 - 86400);
  CHECK(before.status == "trusted");
  CHECK(before.issuer_window.empty());

  const ChainResult after = trust.verify(chain, AT_2026);
  CHECK(after.status == "expired");
  CHECK(after.issuer_window == "cert-expired");
  CHECK(after.error == "issuing CA O=Sipura Technology\\, Inc.,CN=Sipura CA Client Root (depth 1): certificate has expired");
}

TEST_CASE("trust: a forged certificate is untrusted even when the real CA had expired at packet time") {
  Pki pki(Y2020, Y2025);
  const TrustStore& trust = *pki.trust;
  // Signed by a look-alike root: its issuer name is the real CA's, its signature is not.
  const X509Ptr forged = pki.leaf(pki.fake_root.get(), pki.fake_key.get());
  for (const std::int64_t at : {Y2025 - 86400, AT_2026, std::int64_t{0}}) {
    const ChainResult r = trust.verify({certOf(forged.get())}, at);
    CHECK(r.status == "untrusted");
    CHECK(r.error == "certificate signature failure");
    CHECK(r.issuer_window.empty());
  }
}

TEST_CASE("trust: the leaf alone out of its window is expired without an issuer finding; a CA not yet valid is named") {
  Pki pki(Y2020, Y2030);
  const TrustStore& trust = *pki.trust;
  const X509Ptr old_leaf = pki.leaf(pki.root.get(), pki.root_key.get(), Y2020, Y2025);
  const ChainResult r = trust.verify({certOf(old_leaf.get())}, AT_2026);
  CHECK(r.status == "expired");
  CHECK(r.error == "certificate has expired");
  CHECK(r.issuer_window.empty());

  Pki later(Y2027, Y2030);
  const TrustStore& later_trust = *later.trust;
  const X509Ptr leaf = later.leaf(later.root.get(), later.root_key.get());
  const ChainResult early = later_trust.verify({certOf(leaf.get())}, AT_2026);
  CHECK(early.status == "expired");
  CHECK(early.issuer_window == "cert-not-yet-valid");
}

TEST_CASE("trust: the audit gives a device whose CA had expired a cert-expired finding, a forged one cert-untrusted") {
  Pki pki(Y2020, Y2025);
  const TrustStore& trust = *pki.trust;
  const X509Ptr good = pki.leaf(pki.root.get(), pki.root_key.get());
  const X509Ptr forged = pki.leaf(pki.fake_root.get(), pki.fake_key.get());
  std::vector<TlsObservation> tls;
  for (const auto& [mac, ip, leaf] : {std::tuple{"00:0e:08:ab:cd:ef", "10.0.0.11", good.get()},
                                     std::tuple{"00:0e:08:ab:cd:01", "10.0.0.12", forged.get()}}) {
    TlsObservation t;
    t.flow.ref = {AT_2026 * 1'000'000'000, 1, 0};
    t.flow.client_mac = MacAddr::parse(mac);
    t.flow.client = {*IpAddr::parse(ip), 40000};
    t.flow.server = {*IpAddr::parse("192.0.2.1"), 443};
    t.first = t.flow.ref;
    t.version = 0x0303;
    t.server_hello_seen = t.complete = t.certificate_requested = true;
    t.client_cert = ClientCertState::Present;
    t.client_chain = {certOf(leaf)};
    tls.push_back(std::move(t));
  }
  const std::vector<HttpObservation> http;
  const AuditResult res = runAudit({&tls, &http}, testing::bundledRules(), &trust, nullptr);
  REQUIRE(res.devices.size() == 2);
  for (const DeviceRecord& d : res.devices) {
    REQUIRE(d.cert.has_value());
    std::vector<std::string> codes;
    for (const Finding& f : d.findings) {
      if (f.code == "cert-untrusted" || f.code == "cert-expired" || f.code == "cert-not-yet-valid") {
        codes.push_back(f.code);
      }
    }
    if (d.id == "mac:00:0e:08:ab:cd:ef") {
      CHECK(d.cert->chain == "expired");
      CHECK(codes == std::vector<std::string>{"cert-expired"});
      for (const Finding& f : d.findings) {
        if (f.code == "cert-expired") CHECK(f.detail.find("issuing CA") != std::string::npos);
      }
    } else {
      CHECK(d.cert->chain == "untrusted");
      CHECK(codes == std::vector<std::string>{"cert-untrusted"});
    }
  }
}
