#pragma once
// Rules as data (rules/*.toml): generic-certificate markers, vendor certificate
// subject maps, User-Agent / URL / POST-body patterns, vendor OUIs and finding
// severities. Loaded once at start; matching is RE2 (linear time on hostile text).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analyze/cert_info.h"
#include "common/net_types.h"

namespace provaudit::analyze {

// Matching looks at no more than this many bytes of a User-Agent, URL, POST body
// or certificate attribute; the rest is not read (real values are < 300 bytes, and
// RE2 is linear anyway: the cap bounds the cost of hostile 64 KiB strings), but a
// pattern anchored at the end ('$') does not match where such a value was cut.
inline constexpr std::size_t RULES_MAX_MATCH_INPUT = 4096;

// What one piece of evidence claims about the device that sent it.
struct Claims {
  std::optional<std::string> vendor;    // canonical vendor name from the rules ("Cisco", "Yealink", ...)
  std::optional<std::string> model;     // product as the device names it ("SPA-962", "SIP-T46G")
  std::optional<std::string> firmware;
  std::optional<std::string> serial;
  std::optional<MacAddr> mac;
  std::optional<std::string> ccert;     // "Installed" / "Not Installed" ($CCERT), as sent
  std::string rule;                     // id of the rule that matched ("" when none)
  [[nodiscard]] bool empty() const { return !vendor && !model && !firmware && !serial && !mac && !ccert; }
};

struct CertClaims : Claims {
  bool generic = false;        // a generic-certificate marker matched
  std::string generic_marker;  // id of that marker
};

struct RuleError {
  std::string file;
  int line = 0;     // 1-based; 0 when unknown
  std::string message;
  [[nodiscard]] std::string str() const;  // "file:line: message"
};

class RuleSet {
 public:
  // Loads every *.toml in `dir` (sorted by name). Never throws: problems are
  // returned as line-numbered errors, and a rule set with errors is not usable.
  static std::pair<std::shared_ptr<const RuleSet>, std::vector<RuleError>> load(const std::string& dir);
  static std::string defaultDir();  // the bundled rules/ (PROVAUDIT_RULES_DIR or next to the binary)

  [[nodiscard]] Claims matchUserAgent(std::string_view ua) const;
  [[nodiscard]] Claims matchUrl(std::string_view uri) const;        // path and query of a request
  [[nodiscard]] Claims matchPostBody(std::string_view body) const;
  [[nodiscard]] CertClaims matchCertificate(const CertInfo& cert) const;
  [[nodiscard]] std::optional<std::string> vendorForMac(const MacAddr& mac) const;
  // Severity of a finding code ("info","low","medium","high","critical"); "medium" when unlisted.
  [[nodiscard]] std::string severity(std::string_view finding_code) const;
  // Expected JA3/JA4 fingerprints per product, when the rules name any.
  [[nodiscard]] std::vector<std::string> expectedFingerprints(std::string_view vendor, std::string_view model) const;

  [[nodiscard]] std::size_t ruleCount() const;

  struct Impl;
  explicit RuleSet(std::unique_ptr<Impl> impl);
  ~RuleSet();
  RuleSet(const RuleSet&) = delete;
  RuleSet& operator=(const RuleSet&) = delete;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace provaudit::analyze
