// Fuzz target: rule matching with the bundled rules (RE2 patterns on hostile
// text): User-Agent, URL, POST body and certificate subject/issuer.
//
// Input: u8 selector (low 2 bits: which matcher), then the text. For the
// certificate matcher the text is "KEY=value" lines forming the subject; a
// line starting with '!' goes to the issuer instead.
#include <cstdint>
#include <string>
#include <string_view>

#include "analyze/rules.h"
#include "fuzz/fuzz_util.h"

namespace {
using namespace provaudit::analyze;

const RuleSet* bundledRules() {
  static const auto rules = RuleSet::load(RuleSet::defaultDir()).first;
  return rules.get();
}

CertInfo certFromText(std::string_view text) {
  CertInfo cert;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    const bool issuer = !line.empty() && line.front() == '!';
    if (issuer) line.remove_prefix(1);
    const std::size_t eq = line.find('=');
    RdnAttr attr{std::string(line.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(line.substr(eq + 1))};
    (issuer ? cert.issuer : cert.subject).push_back(std::move(attr));
  }
  cert.subject_text = rdnText(cert.subject);
  cert.issuer_text = rdnText(cert.issuer);
  return cert;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const RuleSet* rules = bundledRules();
  if (rules == nullptr) __builtin_trap();  // the bundled rules must load
  provaudit::fuzz::InputReader in(data, size);
  const std::uint8_t selector = in.u8();
  const provaudit::fuzz::HeapChunk chunk(in.rest());
  const std::string_view text(reinterpret_cast<const char*>(chunk.data()), chunk.size());
  switch (selector & 0x3) {
    case 0: (void)rules->matchUserAgent(text); break;
    case 1: (void)rules->matchUrl(text); break;
    case 2: (void)rules->matchPostBody(text); break;
    default: (void)rules->matchCertificate(certFromText(text)); break;
  }
  return 0;
}
