// RuleSet: loading entry point, default location, and matching of device
// strings (User-Agent, URL, POST body, certificate DN) against the rules.
// Matching is RE2 only (linear time) on inputs capped at RULES_MAX_MATCH_INPUT.
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <system_error>

#include "analyze/rules_impl.h"

namespace provaudit::analyze {
namespace {

std::string_view capped(std::string_view s) { return s.substr(0, std::min(s.size(), RULES_MAX_MATCH_INPUT)); }
bool isCut(std::string_view s) { return s.size() > RULES_MAX_MATCH_INPUT; }

// A text the rules read at most RULES_MAX_MATCH_INPUT bytes of, decoded into
// `text`; when the input went on past that, one byte stands after the end for
// the text that was not read, so that a pattern anchored at the end (`$`)
// does not match where the input was cut.
struct MatchText {
  std::string text;
  bool cut = false;
  void markCut() {
    cut = true;
    text.push_back('\0');
  }
  std::string_view read() const { return cut ? std::string_view(text).substr(0, text.size() - 1) : std::string_view(text); }
};

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

// Searches the first RULES_MAX_MATCH_INPUT bytes of `text` with one pattern
// (the rest is only context: `$` does not match at the cut); on a match, each
// named group that took part adds its value to `caps` (a field captured
// earlier is kept). `end` shortens what is read further (MatchText).
bool search(const Pattern& p, std::string_view text, Captures& caps, std::size_t end = std::string_view::npos) {
  const int n = p.re->NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> sub(static_cast<std::size_t>(n));
  end = std::min({end, text.size(), RULES_MAX_MATCH_INPUT});
  if (!p.re->Match(re2::StringPiece(text.data(), text.size()), 0, end, RE2::UNANCHORED, sub.data(), n)) {
    return false;
  }
  for (const auto& [index, field] : p.groups) {
    const re2::StringPiece& s = sub[static_cast<std::size_t>(index)];
    auto& slot = caps[static_cast<std::size_t>(field)];
    if (s.data() != nullptr && !s.empty() && !slot) slot = std::string(s.data(), s.size());
  }
  return true;
}

bool isPlainHex12(std::string_view s) {
  return s.size() == 12 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// A device MAC claim: 12 hex digits in any common notation, not all-zero (the
// Polycom/Fanvil master file 000000000000.cfg) and not a group address.
std::optional<MacAddr> deviceMac(std::string_view text) {
  std::optional<MacAddr> m = MacAddr::parse(text);
  if (!m || m->isZero() || m->isMulticast()) return std::nullopt;
  return m;
}

void addRuleId(Claims& c, const std::string& id) {
  if (!c.rule.empty()) c.rule += ',';
  c.rule += id;
}

// Turns captured text into claims; fields already set in `out` are kept (the
// first source wins). With `mac_if_oui`, a 12-hex mac or serial capture is a MAC
// when its first six digits are a vendor OUI from the rules, else a serial
// (domain.md §2.1: Sipura/Linksys serials like 88012BA01234 look like MACs).
void applyCaptures(const RuleSet::Impl& impl, const Captures& caps, const std::optional<std::string>& vendor,
                   bool mac_if_oui, Claims& out) {
  const auto get = [&](ClaimField f) -> const std::optional<std::string>& { return caps[static_cast<std::size_t>(f)]; };
  if (!out.vendor) {
    if (vendor) out.vendor = vendor;
    else if (get(ClaimField::Vendor)) out.vendor = get(ClaimField::Vendor);
  }
  if (!out.model && get(ClaimField::Model)) out.model = get(ClaimField::Model);
  if (!out.firmware && get(ClaimField::Firmware)) out.firmware = get(ClaimField::Firmware);
  if (!out.ccert && get(ClaimField::Ccert)) out.ccert = get(ClaimField::Ccert);

  std::optional<std::string> mac_text = get(ClaimField::Mac);
  std::optional<std::string> serial_text = get(ClaimField::Serial);
  if (mac_if_oui) {
    const auto isVendorMac = [&](const std::optional<std::string>& s) {
      if (!s || !isPlainHex12(*s)) return false;
      const std::optional<MacAddr> m = MacAddr::parse(*s);
      return m && impl.oui_vendor.count(m->oui()) != 0;
    };
    const bool mac_is_mac = !mac_text || !isPlainHex12(*mac_text) || isVendorMac(mac_text);
    const bool serial_is_mac = isVendorMac(serial_text);
    if (mac_text && serial_text) {
      // Two ids: only swap when both agree that the groups were the other way round.
      if (!mac_is_mac && serial_is_mac) std::swap(mac_text, serial_text);
    } else if (mac_text && !mac_is_mac) {
      serial_text = std::move(mac_text);
      mac_text.reset();
    } else if (serial_text && serial_is_mac) {
      mac_text = std::move(serial_text);
      serial_text.reset();
    }
  }
  if (!out.serial && serial_text) out.serial = serial_text;
  if (!out.mac && mac_text) out.mac = deviceMac(*mac_text);
}

// RFC 3986 §2.1 percent-decoding; '+' is a space in a query (HTML form encoding).
// A '%' not followed by two hex digits is kept as it is.
std::string percentDecode(std::string_view s, bool plus_is_space) {
  const auto hexval = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hexval(s[i + 1]);
      const int lo = hexval(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>((hi << 4) | lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

// Applies the [[url_param]] rules to a query string or a form-encoded body;
// `cut`: the input went on past the query given (its last value is cut).
void matchParams(const RuleSet::Impl& impl, std::string_view query, bool cut, Claims& out) {
  std::vector<std::pair<std::string, MatchText>> params;
  while (!query.empty()) {
    const std::size_t sep = query.find_first_of("&;");
    const std::string_view item = query.substr(0, sep);
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos) {
      std::string name = percentDecode(item.substr(0, eq), true);
      for (char& c : name) c = lowerAscii(c);
      MatchText value{percentDecode(item.substr(eq + 1), true)};
      if (cut && sep == std::string_view::npos) value.markCut();
      params.emplace_back(std::move(name), std::move(value));
    }
    if (sep == std::string_view::npos) break;
    query.remove_prefix(sep + 1);
  }
  for (const ParamRule& rule : impl.url_params) {
    for (const auto& [name, value] : params) {
      if (std::find(rule.names.begin(), rule.names.end(), name) == rule.names.end()) continue;
      Captures caps;
      if (!search(rule.value, value.text, caps, value.read().size())) continue;
      applyCaptures(impl, caps, rule.vendor, rule.id_group_mac_if_oui, out);
      addRuleId(out, rule.origin.id);
      break;  // first matching parameter per rule
    }
  }
}

std::optional<std::string_view> firstAttr(const std::vector<RdnAttr>& dn, std::string_view key) {
  for (const RdnAttr& a : dn) {
    if (a.key == key) return std::string_view(a.value);
  }
  return std::nullopt;
}

// All conditions of a certificate rule; captures come from the value that matched.
bool certRuleMatches(const CertRule& rule, const CertInfo& cert, Captures& caps) {
  for (const AttrCondition& c : rule.conditions) {
    const std::vector<RdnAttr>& dn = c.issuer ? cert.issuer : cert.subject;
    bool hit = false;
    for (const RdnAttr& a : dn) {  // an attribute may repeat (several OU): any value will do
      if (a.key != c.attr) continue;
      if (c.equals) hit = iequals(a.value, *c.equals);
      else if (c.pattern) hit = search(*c.pattern, a.value, caps);
      if (hit) break;
    }
    if (!hit) return false;
  }
  std::optional<std::string_view> first;
  for (const std::string& key : rule.subject_same) {
    const std::optional<std::string_view> v = firstAttr(cert.subject, key);
    if (!v) return false;
    if (first && !iequals(*first, *v)) return false;
    if (!first) first = v;
  }
  return true;
}

}  // namespace

std::string RuleError::str() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ": " + message;
}

RuleSet::RuleSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RuleSet::~RuleSet() = default;

std::pair<std::shared_ptr<const RuleSet>, std::vector<RuleError>> RuleSet::load(const std::string& dir) {
  std::vector<RuleError> errors;
  try {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".toml" && it->is_regular_file(ec)) files.push_back(it->path());
    }
    if (ec) {
      errors.push_back(RuleError{dir, 0, "cannot read the rules directory: " + ec.message()});
      return {nullptr, errors};
    }
    if (files.empty()) {
      errors.push_back(RuleError{dir, 0, "no *.toml rule files"});
      return {nullptr, errors};
    }
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    auto impl = std::make_unique<Impl>();
    LoadSeen seen;
    // Errors name the file as the directory was given (DIR/NAME:LINE), so
    // that one of several rule directories is told from another.
    for (const fs::path& f : files) loadRulesFile(f.string(), f.string(), *impl, seen, errors);
    if (!errors.empty()) return {nullptr, errors};
    return {std::make_shared<const RuleSet>(std::move(impl)), errors};
  } catch (const std::exception& e) {  // allocation failure and the like: reported, never thrown
    errors.push_back(RuleError{dir, 0, e.what()});
    return {nullptr, errors};
  }
}

std::string RuleSet::defaultDir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("PROVAUDIT_RULES"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path bin = exe.parent_path();
    for (const fs::path& candidate : {bin / ".." / "share" / "provaudit" / "rules", bin / "rules"}) {
      if (fs::is_directory(candidate, ec)) return candidate.lexically_normal().string();
    }
  }
  return PROVAUDIT_RULES_DIR;
}

Claims RuleSet::matchUserAgent(std::string_view ua) const {
  Claims out;
  for (const TextRule& rule : impl_->user_agents) {  // first matching rule wins
    Captures caps;
    if (!search(rule.patterns.front(), ua, caps)) continue;
    applyCaptures(*impl_, caps, rule.vendor, rule.id_group_mac_if_oui, out);
    out.rule = rule.origin.id;
    break;
  }
  return out;
}

Claims RuleSet::matchUrl(std::string_view uri) const {
  Claims out;
  std::string_view s = capped(uri);
  s = s.substr(0, s.find('#'));
  // absolute-form (RFC 9112 §3.2.2): drop "scheme://authority".
  if (const std::size_t scheme = s.find("://"); scheme != std::string_view::npos && scheme < s.find('/')) {
    const std::size_t path = s.find('/', scheme + 3);
    s = path == std::string_view::npos ? std::string_view() : s.substr(path);
  }
  // Whether what is left runs up to where a long URI was cut.
  const bool cut = isCut(uri) && s.data() + s.size() == uri.data() + RULES_MAX_MATCH_INPUT;
  const std::size_t q = s.find('?');
  MatchText path{percentDecode(s.substr(0, q), false)};
  if (cut && q == std::string_view::npos) path.markCut();
  for (const TextRule& rule : impl_->url_paths) {  // first matching rule wins
    Captures caps;
    if (!search(rule.patterns.front(), path.text, caps, path.read().size())) continue;
    applyCaptures(*impl_, caps, rule.vendor, rule.id_group_mac_if_oui, out);
    addRuleId(out, rule.origin.id);
    break;
  }
  if (q != std::string_view::npos) matchParams(*impl_, s.substr(q + 1), cut, out);
  return out;
}

Claims RuleSet::matchPostBody(std::string_view body) const {
  Claims out;
  const std::string_view text = capped(body);
  for (const TextRule& rule : impl_->post_bodies) {
    Captures caps;
    bool any = false;
    for (const Pattern& p : rule.patterns) any = search(p, body, caps) || any;  // each pattern adds its captures
    if (!any) continue;
    applyCaptures(*impl_, caps, rule.vendor, rule.id_group_mac_if_oui, out);
    addRuleId(out, rule.origin.id);
  }
  // A form-encoded body (mac=...&sn=...) is read like a query string.
  if (out.empty() && text.find('=') != std::string_view::npos) matchParams(*impl_, text, isCut(body), out);
  return out;
}

CertClaims RuleSet::matchCertificate(const CertInfo& cert) const {
  CertClaims out;
  for (const CertRule& marker : impl_->generic_certs) {
    Captures unused;
    if (!certRuleMatches(marker, cert, unused)) continue;
    out.generic = true;
    out.generic_marker = marker.origin.id;
    out.rule = marker.origin.id;
    out.vendor = marker.vendor;
    break;
  }
  for (const CertRule& rule : impl_->cert_subjects) {  // first matching rule wins
    Captures caps;
    if (!certRuleMatches(rule, cert, caps)) continue;
    if (out.generic) {
      // A shared certificate says nothing about one unit: take at most the vendor (issuer hints).
      if (!out.vendor) out.vendor = rule.vendor;
    } else {
      applyCaptures(*impl_, caps, rule.vendor, false, out);
      out.rule = rule.origin.id;
    }
    break;
  }
  return out;
}

std::optional<std::string> RuleSet::vendorForMac(const MacAddr& mac) const {
  const auto it = impl_->oui_vendor.find(mac.oui());
  if (it == impl_->oui_vendor.end()) return std::nullopt;
  return it->second;
}

std::string RuleSet::severity(std::string_view finding_code) const {
  const auto it = impl_->severities.find(finding_code);
  return it == impl_->severities.end() ? std::string("medium") : it->second;
}

std::vector<std::string> RuleSet::expectedFingerprints(std::string_view vendor, std::string_view model) const {
  std::vector<std::string> out;
  for (const FingerprintRule& rule : impl_->fingerprints) {
    if (!iequals(rule.vendor, vendor)) continue;
    if (rule.model && *rule.model != model) continue;
    out.insert(out.end(), rule.fingerprints.begin(), rule.fingerprints.end());
  }
  return out;
}

std::size_t RuleSet::ruleCount() const {
  return impl_->generic_certs.size() + impl_->cert_subjects.size() + impl_->user_agents.size() +
         impl_->url_paths.size() + impl_->url_params.size() + impl_->post_bodies.size() + impl_->fingerprints.size();
}

}  // namespace provaudit::analyze
