#pragma once
// What the audit's tests build their observations from: the bundled rules and
// certificates made to measure (a SPA-962-like issuer, the subject given).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "analyze/observation.h"
#include "analyze/rules.h"

namespace provaudit::testing {

inline constexpr std::int64_t T0 = 1'750'000'000'000'000'000;  // 2025-06-15, packet time
inline constexpr std::int64_t SEC = 1'000'000'000;

inline const analyze::RuleSet& bundledRules() {
  static auto loaded = analyze::RuleSet::load(PROVAUDIT_RULES_DIR);
  REQUIRE(loaded.second.empty());
  return *loaded.first;
}

inline analyze::CertPtr makeCert(const std::string& sha, std::vector<analyze::RdnAttr> subject,
                                 std::int64_t not_after_s = 2'000'000'000, int bits = 2048,
                                 const std::string& digest = "sha256") {
  auto c = std::make_shared<analyze::CertInfo>();
  c->sha256 = sha;
  c->der = {0x30, 0x00};
  c->subject = std::move(subject);
  for (const auto& a : c->subject) c->subject_text += (c->subject_text.empty() ? "" : ",") + a.key + "=" + a.value;
  c->issuer = {{"CN", "Sipura CA Client Root"}};
  c->issuer_text = "CN=Sipura CA Client Root";
  c->not_before = 1'600'000'000;
  c->not_after = not_after_s;
  c->not_before_known = c->not_after_known = true;
  c->key_type = "RSA";
  c->key_bits = bits;
  c->signature_digest = digest;
  c->signature = digest + "WithRSAEncryption";
  return c;
}

}  // namespace provaudit::testing
