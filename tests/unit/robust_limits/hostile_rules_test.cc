// Hostile text through rule matching (issue 8): control bytes, invalid UTF-8,
// 64 KiB User-Agents/URLs/bodies and regex-killer shapes run in bounded time
// against the bundled rules (RE2 is linear; RULES_MAX_MATCH_INPUT caps the
// input), and never claim more than the text says.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "analyze/rules.h"

namespace {
using namespace provaudit::analyze;
using Clock = std::chrono::steady_clock;

// Only a hang fails: the whole batch takes milliseconds.
constexpr auto WALL_CLOCK_GUARD = std::chrono::seconds(10);

std::shared_ptr<const RuleSet> bundled() {
  auto [rules, errors] = RuleSet::load(RuleSet::defaultDir());
  REQUIRE(errors.empty());
  REQUIRE(rules);
  return rules;
}

std::vector<std::string> hostileTexts() {
  std::vector<std::string> t{
      std::string("Linksys/SPA-2102-5.2.10 (88012BA0\x01\x02\x1b[31m)", 41),
      std::string("Yealink SIP-T46G \xff\xfe\xc0\xaf\xed\xa0\x80 28.72.0.1"),
      std::string("Cisco/SPA501G-7.4.4 (8843E157DDCC)\0(CBT141100HR)", 47),
      "<script>alert(1)</script>",
      "=HYPERLINK(\"https://evil.test\",\"x\")",
      "'; DROP TABLE devices;--",
  };
  const std::size_t big = 64 * 1024;
  t.push_back("Linksys/SPA-2102-" + std::string(big, '9'));                  // firmware group runs on
  t.push_back("Linksys/" + std::string(big, 'A') + "-1.0");                   // greedy model group
  t.push_back(std::string(big, '('));                                         // nesting-shaped text
  t.push_back("Yealink SIP-T46G " + std::string(big, ' ') + "28.72.0.1");     // whitespace runs
  t.push_back("/" + std::string(big, '%'));                                   // URL of escapes
  t.push_back("/spa" + std::string(big, 'a') + ".cfg?ccert=" + std::string(big, 'I'));
  std::string invalid;
  for (std::size_t i = 0; i < big; ++i) invalid += static_cast<char>(0x80 + (i % 0x80));
  t.push_back(invalid);
  return t;
}
}  // namespace

TEST_CASE("hostile User-Agents, URLs and POST bodies match in bounded time") {
  const auto rules = bundled();
  const auto start = Clock::now();
  for (const auto& text : hostileTexts()) {
    (void)rules->matchUserAgent(text);
    (void)rules->matchUrl(text);
    (void)rules->matchPostBody(text);
  }
  CHECK(Clock::now() - start < WALL_CLOCK_GUARD);
}

TEST_CASE("claims from a 64 KiB User-Agent are bounded by the match cap") {
  const auto rules = bundled();
  const Claims c = rules->matchUserAgent("Linksys/SPA-2102-" + std::string(64 * 1024, '9'));
  if (c.firmware) CHECK(c.firmware->size() <= RULES_MAX_MATCH_INPUT);
  if (c.model) CHECK(c.model->size() <= RULES_MAX_MATCH_INPUT);
}

TEST_CASE("a real UA followed by control bytes still matches only its own text") {
  const auto rules = bundled();
  const Claims plain = rules->matchUserAgent("Linksys/SPA-2102-5.2.10 (88012BA05556)");
  REQUIRE(plain.vendor);
  const Claims padded = rules->matchUserAgent(std::string("Linksys/SPA-2102-5.2.10 (88012BA05556)\r\n\x01\x7f", 42));
  CHECK(padded.vendor == plain.vendor);
  CHECK(padded.model == plain.model);
}

TEST_CASE("hostile certificate subjects match in bounded time") {
  const auto rules = bundled();
  const auto start = Clock::now();
  for (const auto& text : hostileTexts()) {
    CertInfo cert;
    for (const char* key : {"CN", "OU", "O", "L", "ST", "serialNumber", "1.2.3.4"}) cert.subject.push_back({key, text});
    cert.issuer = cert.subject;
    cert.subject_text = rdnText(cert.subject);
    cert.issuer_text = cert.subject_text;
    (void)rules->matchCertificate(cert);
  }
  CHECK(Clock::now() - start < WALL_CLOCK_GUARD);
}

TEST_CASE("rdnText escapes separators so hostile values cannot forge attributes") {
  // A value carrying ",OU=cisco.com" must stay one value (RFC 4514 §2.4).
  const std::vector<RdnAttr> attrs{{"CN", "x,OU=cisco.com+L=ciscogeneric"}, {"ST", "\"<>;\\#= "}};
  const std::string text = rdnText(attrs);
  CHECK(text.find("x\\,OU=cisco.com") != std::string::npos);  // the comma is escaped
  CHECK(text.find("=ciscogeneric") == text.find("\\+L=ciscogeneric") + 3);
  CHECK(text.rfind("CN=", 0) == 0);
}
