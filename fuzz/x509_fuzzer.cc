// Fuzz target: X.509 extraction (analyze::parseCertificate, OpenSSL underneath)
// and the DistinguishedName renderer used for CertificateRequest CA names.
// The parsed certificate then goes through the bundled certificate rules.
// parseCertificate decodes with templates of its own, not d2i_X509: what
// d2i_X509 refuses it must refuse, what d2i_X509 reads it must read, with the
// same names and serial number (d2i_X509 is the oracle; a difference traps).
#include <openssl/err.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

#include "analyze/cert_info.h"
#include "analyze/rules.h"
#include "common/c_handles.h"
#include "common/text.h"
#include "fuzz/fuzz_util.h"

namespace {
const provaudit::analyze::RuleSet* bundledRules() {
  static const auto rules = provaudit::analyze::RuleSet::load(provaudit::analyze::RuleSet::defaultDir()).first;
  return rules.get();
}

// A name of the X509 d2i_X509 read, rendered as parseCertificate renders names.
std::string nameText(const X509_NAME* name) {
  unsigned char* bytes = nullptr;
  const int len = i2d_X509_NAME(name, &bytes);
  const provaudit::OpensslBufferPtr owned(bytes);
  return len > 0 ? provaudit::analyze::distinguishedNameText(bytes, static_cast<std::size_t>(len)) : std::string("?");
}

std::string serialHex(const ASN1_INTEGER* serial) {
  const auto length = static_cast<std::size_t>(ASN1_STRING_length(serial));
  std::string out = provaudit::hexLower({ASN1_STRING_get0_data(serial), length});
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  if (out.empty()) out = "00";
  return ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" + out : out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace provaudit::analyze;
  const provaudit::fuzz::HeapChunk der({data, size});
  const auto cert = parseCertificate(der.data(), der.size());
  const unsigned char* end = der.data();
  const provaudit::X509Ptr oracle(d2i_X509(nullptr, &end, static_cast<long>(der.size())));
  ERR_clear_error();
  if ((oracle && end == der.data() + der.size()) != cert.has_value()) __builtin_trap();
  if (cert && (cert->subject_text != nameText(X509_get_subject_name(oracle.get())) ||
               cert->issuer_text != nameText(X509_get_issuer_name(oracle.get())) ||
               cert->serial_number != serialHex(X509_get0_serialNumber(oracle.get())))) {
    __builtin_trap();
  }
  if (cert) {
    if (cert->der.size() != size) __builtin_trap();  // must keep exactly the bytes given
    (void)rdnText(cert->subject);
    (void)cert->subjectGet("CN");
    if (const RuleSet* rules = bundledRules()) (void)rules->matchCertificate(*cert);
  }
  (void)distinguishedNameText(der.data(), der.size());
  return 0;
}
