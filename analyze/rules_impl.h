#pragma once
// Internal representation of a loaded rule set, shared by rules_load.cc (TOML ->
// these structs, with validation) and rules.cc (matching). Not part of the API.
#include <re2/re2.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyze/rules.h"

namespace provaudit::analyze {

// The claim a named capture group feeds: (?P<vendor>..), (?P<model>..), ...
enum class ClaimField : std::uint8_t { Vendor, Model, Firmware, Serial, Mac, Ccert };
inline constexpr std::size_t CLAIM_FIELD_COUNT = 6;
inline constexpr std::array<const char*, CLAIM_FIELD_COUNT> CLAIM_FIELD_NAMES{"vendor", "model", "firmware",
                                                                             "serial", "mac",   "ccert"};

// Values captured by one or more patterns, by ClaimField.
using Captures = std::array<std::optional<std::string>, CLAIM_FIELD_COUNT>;

// One compiled RE2 and the claim each of its named groups feeds.
struct Pattern {
  std::unique_ptr<RE2> re;
  std::vector<std::pair<int, ClaimField>> groups;  // RE2 group index -> claim
};

// Where a rule was written, for messages.
struct RuleOrigin {
  std::string id;
  std::string file;
  int line = 0;
};

// [[user_agent]], [[url_path]], [[post_body]]: patterns searched in a text.
struct TextRule {
  RuleOrigin origin;
  std::optional<std::string> vendor;  // fixed canonical vendor; overrides a (?P<vendor>) capture
  std::vector<Pattern> patterns;      // user_agent/url_path: one; post_body: each one adds its captures
  bool id_group_mac_if_oui = false;   // 12-hex mac/serial captures are decided by the OUI table
};

// [[url_param]]: a query (or form body) parameter by name, its decoded value matched.
struct ParamRule {
  RuleOrigin origin;
  std::optional<std::string> vendor;
  std::vector<std::string> names;  // lowercase; compared case-insensitively
  Pattern value;
  bool id_group_mac_if_oui = false;
};

// One condition on one attribute of the subject or issuer DN.
struct AttrCondition {
  bool issuer = false;
  std::string attr;                   // OpenSSL short name ("CN","OU","L","ST",...) or dotted OID
  std::optional<std::string> equals;  // literal, compared case-insensitively
  std::optional<Pattern> pattern;     // searched; its named groups feed claims
};

// [[generic_cert]] and [[cert_subject]].
struct CertRule {
  RuleOrigin origin;
  std::optional<std::string> vendor;
  std::vector<AttrCondition> conditions;  // all must hold
  std::vector<std::string> subject_same;  // subject attributes that must all be present and equal
};

// [[fingerprint]]
struct FingerprintRule {
  RuleOrigin origin;
  std::string vendor;
  std::optional<std::string> model;  // unset: every model of the vendor
  std::vector<std::string> fingerprints;
};

struct RuleSet::Impl {
  std::vector<CertRule> generic_certs;
  std::vector<CertRule> cert_subjects;
  std::vector<TextRule> user_agents;
  std::vector<TextRule> url_paths;
  std::vector<ParamRule> url_params;
  std::vector<TextRule> post_bodies;
  std::vector<FingerprintRule> fingerprints;
  std::unordered_map<std::uint32_t, std::string> oui_vendor;  // 24-bit OUI -> canonical vendor
  std::map<std::string, std::string, std::less<>> severities;  // finding code -> severity word
};

// What the files loaded so far already define (key -> "file:line"), so that a
// duplicate in a later file is reported with the place of the first one.
struct LoadSeen {
  std::map<std::string, std::string> ids;         // rule ids, all kinds together
  std::map<std::string, std::string> ouis;        // "00:0e:08"
  std::map<std::string, std::string> severities;  // finding codes
};

// Loads and validates one rules file into `impl`. Never throws. Defined in rules_load.cc.
void loadRulesFile(const std::string& path, const std::string& display_name, RuleSet::Impl& impl, LoadSeen& seen,
                   std::vector<RuleError>& errors);

// Finding codes the severity table may name (design.md "Findings catalogue" plus the
// analyzer's own codes), and the severity words.
inline constexpr std::array<const char*, 18> FINDING_CODES{
    "generic-cert",       "no-client-cert",       "cert-untrusted",         "cert-expired",
    "cert-not-yet-valid", "cert-weak-key",        "cert-weak-signature",    "cert-clone",
    "cert-mac-mismatch",  "serial-mismatch",      "plaintext-provisioning", "legacy-tls",
    "weak-cipher",        "cert-hidden",          "server-no-cert-request", "fingerprint-mismatch",
    "ccert-mismatch",     "claim-mismatch"};
inline constexpr std::array<const char*, 5> SEVERITY_WORDS{"info", "low", "medium", "high", "critical"};

}  // namespace provaudit::analyze
