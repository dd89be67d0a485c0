// Fuzz target: X.509 extraction (analyze::parseCertificate, OpenSSL underneath)
// and the DistinguishedName renderer used for CertificateRequest CA names.
// The parsed certificate then goes through the bundled certificate rules.
#include <cstdint>

#include "analyze/cert_info.h"
#include "analyze/rules.h"
#include "fuzz/fuzz_util.h"

namespace {
const provaudit::analyze::RuleSet* bundledRules() {
  static const auto rules = provaudit::analyze::RuleSet::load(provaudit::analyze::RuleSet::defaultDir()).first;
  return rules.get();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace provaudit::analyze;
  const provaudit::fuzz::HeapChunk der({data, size});
  if (auto cert = parseCertificate(der.data(), der.size())) {
    if (cert->der.size() != size) __builtin_trap();  // must keep exactly the bytes given
    (void)rdnText(cert->subject);
    (void)cert->subjectGet("CN");
    if (const RuleSet* rules = bundledRules()) (void)rules->matchCertificate(*cert);
  }
  (void)distinguishedNameText(der.data(), der.size());
  return 0;
}
