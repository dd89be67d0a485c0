// rules/*.toml -> RuleSet::Impl, with validation. Every problem becomes a
// RuleError carrying the line of the offending key; nothing here throws out
// (toml++ is built in its exception mode on Debian: parse errors are caught).
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <exception>
#include <initializer_list>
#include <set>
#include <string_view>

#include "analyze/rules_impl.h"

namespace provaudit::analyze {
namespace {

int lineOf(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

template <typename Names>
std::string joinNames(const Names& names) {
  std::string s;
  for (std::string_view n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool isHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// DN attribute names a rule may test: CertInfo's OpenSSL short names, "S" as the
// provisioning guides write stateOrProvinceName, or a dotted OID.
std::optional<std::string> normalizeAttr(std::string_view name) {
  static const std::set<std::string, std::less<>> known{"CN", "OU", "O",  "L",  "ST",   "C",     "serialNumber",
                                                        "emailAddress", "DC", "UID", "street", "title", "GN",
                                                        "SN", "name", "initials", "pseudonym", "dnQualifier"};
  if (name == "S") return std::string("ST");
  if (known.count(name) != 0) return std::string(name);
  bool digits = !name.empty();
  bool dot = false;
  for (char c : name) {
    if (c == '.') dot = true;
    else if (c < '0' || c > '9') digits = false;
  }
  if (digits && dot && name.front() != '.' && name.back() != '.') return std::string(name);
  return std::nullopt;
}

// "00:0E:08", "00-0e-08" or "000E08" -> 24-bit OUI.
std::optional<std::uint32_t> parseOui(std::string_view text) {
  std::uint32_t v = 0;
  int nibbles = 0;
  for (char c : text) {
    if (c == ':' || c == '-' || c == '.') continue;
    if (!isHex(c) || ++nibbles > 6) return std::nullopt;
    const int d = (c <= '9') ? c - '0' : (c | 0x20) - 'a' + 10;
    v = (v << 4) | static_cast<std::uint32_t>(d);
  }
  if (nibbles != 6) return std::nullopt;
  return v;
}

std::string ouiText(std::uint32_t oui) {
  static constexpr char HEX[] = "0123456789abcdef";
  std::string s;
  for (int shift = 20; shift >= 0; shift -= 4) {
    s.push_back(HEX[(oui >> shift) & 0xf]);
    if (shift == 16 || shift == 8) s.push_back(':');
  }
  return s;
}

// JA3 (MD5 hex) or JA4 ("t13d1516h2_8daaf6152771_e5627efa2ab1").
bool isFingerprint(std::string_view s) {
  const auto allHex = [](std::string_view t) {
    return std::all_of(t.begin(), t.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  };
  if (s.size() == 32) return allHex(s);
  if (s.size() != 36 || s[10] != '_' || s[23] != '_') return false;
  const std::string_view a = s.substr(0, 10);
  const bool head_ok = (a[0] == 't' || a[0] == 'q' || a[0] == 'd') && (a[3] == 'd' || a[3] == 'i') &&
                       std::all_of(a.begin() + 1, a.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }) &&
                       std::all_of(a.begin() + 4, a.begin() + 8, [](char c) { return c >= '0' && c <= '9'; });
  return head_ok && allHex(s.substr(11, 12)) && allHex(s.substr(24, 12));
}

class FileLoader {
 public:
  FileLoader(std::string file, RuleSet::Impl& impl, LoadSeen& seen, std::vector<RuleError>& errors)
      : file_(std::move(file)), impl_(impl), seen_(seen), errors_(errors) {}

  void load(const toml::table& root) {
    static constexpr std::array<std::string_view, 9> TOP{"generic_cert", "cert_subject", "user_agent",
                                                         "url_path",     "url_param",    "post_body",
                                                         "vendor_oui",   "severity",     "fingerprint"};
    for (const auto& [key, node] : root) {
      const std::string_view k = key.str();
      if (k == "severity") {
        loadSeverities(node);
      } else if (std::find(TOP.begin(), TOP.end(), k) != TOP.end()) {
        const toml::array* arr = node.as_array();
        if (arr == nullptr || !arr->is_array_of_tables()) {
          error(lineOf(node), "'" + std::string(k) + "' must be an array of tables: write [[" + std::string(k) + "]]");
          continue;
        }
        for (const toml::node& el : *arr) loadRule(k, *el.as_table());
      } else {
        error(lineOf(node), "unknown table '" + std::string(k) + "' (known: " + joinNames(TOP) + ")");
      }
    }
  }

 private:
  void error(int line, std::string message) { errors_.push_back(RuleError{file_, line, std::move(message)}); }
  std::string here(int line) const { return file_ + ":" + std::to_string(line); }

  // The line of a table: its first key's when toml++ gives none for the header.
  static int tableLine(const toml::table& t) {
    int line = lineOf(t);
    if (line == 0 && !t.empty()) line = lineOf(t.begin()->second);
    return line;
  }

  bool checkKeys(const toml::table& t, std::string_view what, std::initializer_list<std::string_view> allowed) {
    bool ok = true;
    for (const auto& [key, node] : t) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
        error(lineOf(node),
              "unknown key '" + std::string(key.str()) + "' in " + std::string(what) + " (allowed: " + joinNames(allowed) + ")");
        ok = false;
      }
    }
    return ok;
  }

  // A string value; `line` gets the key's line. Missing+required and wrong types are errors.
  std::optional<std::string> str(const toml::table& t, std::string_view key, std::string_view what, bool required,
                                 int* line = nullptr) {
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) error(tableLine(t), "missing key '" + std::string(key) + "' in " + std::string(what));
      return std::nullopt;
    }
    if (line != nullptr) *line = lineOf(*n);
    const auto* s = n->as_string();
    if (s == nullptr) {
      error(lineOf(*n), "key '" + std::string(key) + "' in " + std::string(what) + " must be a string");
      return std::nullopt;
    }
    if (required && s->get().empty()) {
      error(lineOf(*n), "key '" + std::string(key) + "' in " + std::string(what) + " must not be empty");
      return std::nullopt;
    }
    return s->get();
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key, std::string_view what) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return std::nullopt;
    const auto* b = n->as_boolean();
    if (b == nullptr) {
      error(lineOf(*n), "key '" + std::string(key) + "' in " + std::string(what) + " must be true or false");
      return std::nullopt;
    }
    return b->get();
  }

  // An array of strings, each with its line.
  std::vector<std::pair<std::string, int>> strList(const toml::table& t, std::string_view key, std::string_view what,
                                                   bool required) {
    std::vector<std::pair<std::string, int>> out;
    const toml::node* n = t.get(key);
    if (n == nullptr) {
      if (required) error(tableLine(t), "missing key '" + std::string(key) + "' in " + std::string(what));
      return out;
    }
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      error(lineOf(*n), "key '" + std::string(key) + "' in " + std::string(what) + " must be an array of strings");
      return out;
    }
    for (const toml::node& el : *arr) {
      const auto* s = el.as_string();
      if (s == nullptr) {
        error(lineOf(el), "key '" + std::string(key) + "' in " + std::string(what) + " must hold only strings");
        continue;
      }
      out.emplace_back(s->get(), lineOf(el) != 0 ? lineOf(el) : lineOf(*n));
    }
    if (required && out.empty() && arr->empty()) {
      error(lineOf(*n), "key '" + std::string(key) + "' in " + std::string(what) + " must not be empty");
    }
    return out;
  }

  // Reads `id` (required, unique across all files) and records where the rule is.
  bool origin(const toml::table& t, std::string_view what, RuleOrigin& out) {
    out.file = file_;
    out.line = tableLine(t);  // the [[...]] header
    int line = out.line;      // becomes the id key's line
    const std::optional<std::string> id = str(t, "id", what, true, &line);
    if (!id) return false;
    for (char c : *id) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.';
      if (!ok) {
        error(line, "rule id '" + *id + "' may only use letters, digits, '-', '_' and '.'");
        return false;
      }
    }
    const auto [it, fresh] = seen_.ids.emplace(*id, here(line));
    if (!fresh) {
      error(line, "duplicate rule id '" + *id + "' (first defined at " + it->second + ")");
      return false;
    }
    out.id = *id;
    return true;
  }

  std::optional<std::string> vendor(const toml::table& t, std::string_view what) {
    int line = 0;
    std::optional<std::string> v = str(t, "vendor", what, false, &line);
    if (v && v->empty()) {
      error(line, "key 'vendor' in " + std::string(what) + " must not be empty");
      return std::nullopt;
    }
    return v;
  }

  // Compiles an RE2 pattern (Latin-1: every byte is one character, so control
  // bytes and invalid UTF-8 in device strings match like any other byte).
  std::optional<Pattern> compile(const std::string& text, int line, std::string_view what, bool allow_groups) {
    if (text.empty()) {
      error(line, "empty pattern in " + std::string(what));
      return std::nullopt;
    }
    RE2::Options options;
    options.set_log_errors(false);
    options.set_encoding(RE2::Options::EncodingLatin1);
    Pattern p;
    p.re = std::make_unique<RE2>(text, options);
    if (!p.re->ok()) {
      error(line, "pattern in " + std::string(what) + " does not compile: " + p.re->error());
      return std::nullopt;
    }
    bool ok = true;
    for (const auto& [name, index] : p.re->NamedCapturingGroups()) {
      const auto* f = std::find(CLAIM_FIELD_NAMES.begin(), CLAIM_FIELD_NAMES.end(), name);
      if (f == CLAIM_FIELD_NAMES.end()) {
        error(line, "unknown capture group (?P<" + name + ">) in " + std::string(what) +
                        " (allowed: vendor, model, firmware, serial, mac, ccert)");
        ok = false;
      } else if (!allow_groups) {
        error(line, "capture group (?P<" + name + ">) in " + std::string(what) +
                        ": a generic-certificate marker claims nothing about one device");
        ok = false;
      } else {
        p.groups.emplace_back(index, static_cast<ClaimField>(f - CLAIM_FIELD_NAMES.begin()));
      }
    }
    if (!ok) return std::nullopt;
    return p;
  }

  void loadRule(std::string_view kind, const toml::table& t) {
    const std::string what = "[[" + std::string(kind) + "]]";
    if (kind == "generic_cert" || kind == "cert_subject") {
      loadCertRule(t, what, kind == "generic_cert");
    } else if (kind == "user_agent" || kind == "url_path") {
      loadTextRule(t, what, kind == "user_agent" ? impl_.user_agents : impl_.url_paths, false);
    } else if (kind == "post_body") {
      loadTextRule(t, what, impl_.post_bodies, true);
    } else if (kind == "url_param") {
      loadParamRule(t, what);
    } else if (kind == "vendor_oui") {
      loadOuis(t, what);
    } else if (kind == "fingerprint") {
      loadFingerprint(t, what);
    }
  }

  void loadTextRule(const toml::table& t, const std::string& what, std::vector<TextRule>& into, bool many) {
    const std::string_view pattern_key = many ? "patterns" : "pattern";
    checkKeys(t, what, {"id", "source", "vendor", pattern_key, "id_group_mac_if_oui"});
    TextRule rule;
    bool ok = origin(t, what, rule.origin);
    rule.vendor = vendor(t, what);
    rule.id_group_mac_if_oui = boolean(t, "id_group_mac_if_oui", what).value_or(false);
    str(t, "source", what, false);
    std::vector<std::pair<std::string, int>> texts;
    if (many) {
      texts = strList(t, pattern_key, what, true);
    } else {
      int line = 0;
      if (auto s = str(t, pattern_key, what, true, &line)) texts.emplace_back(*s, line);
    }
    if (texts.empty()) ok = false;
    bool groups = false;
    for (const auto& [text, line] : texts) {
      std::optional<Pattern> p = compile(text, line, what, true);
      if (!p) {
        ok = false;
        continue;
      }
      groups = groups || !p->groups.empty();
      rule.patterns.push_back(std::move(*p));
    }
    if (ok && !rule.vendor && !groups) {
      error(rule.origin.line, "rule '" + rule.origin.id + "' claims nothing: give it a vendor or a named group");
      ok = false;
    }
    if (ok) into.push_back(std::move(rule));
  }

  void loadParamRule(const toml::table& t, const std::string& what) {
    checkKeys(t, what, {"id", "source", "vendor", "names", "value", "id_group_mac_if_oui"});
    ParamRule rule;
    bool ok = origin(t, what, rule.origin);
    rule.vendor = vendor(t, what);
    rule.id_group_mac_if_oui = boolean(t, "id_group_mac_if_oui", what).value_or(false);
    str(t, "source", what, false);
    for (const auto& [name, line] : strList(t, "names", what, true)) {
      if (name.empty()) {
        error(line, "empty parameter name in " + what);
        ok = false;
      }
      rule.names.push_back(lowerAscii(name));
    }
    if (rule.names.empty()) ok = false;
    int line = 0;
    const std::optional<std::string> value = str(t, "value", what, true, &line);
    std::optional<Pattern> p = value ? compile(*value, line, what, true) : std::nullopt;
    if (!p) {
      ok = false;
    } else if (p->groups.empty()) {
      error(line, "the value pattern of " + what + " must capture a named group (mac, serial, ccert, ...)");
      ok = false;
    } else {
      rule.value = std::move(*p);
    }
    if (ok) impl_.url_params.push_back(std::move(rule));
  }

  // subject_equals / subject_match / issuer_equals / issuer_match = { ATTR = "text", ... }
  bool loadConditions(const toml::table& t, std::string_view key, const std::string& what, bool issuer,
                      bool is_pattern, bool allow_groups, std::vector<AttrCondition>& out) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return true;
    const toml::table* attrs = n->as_table();
    if (attrs == nullptr) {
      error(lineOf(*n), "key '" + std::string(key) + "' in " + what + " must be a table like { OU = \"...\" }");
      return false;
    }
    bool ok = true;
    for (const auto& [name, value] : *attrs) {
      const int line = lineOf(value) != 0 ? lineOf(value) : lineOf(*n);
      const std::optional<std::string> attr = normalizeAttr(name.str());
      if (!attr) {
        error(line, "unknown certificate attribute '" + std::string(name.str()) + "' in " + std::string(key) +
                        " (use CN, OU, O, L, ST or S, C, serialNumber, emailAddress, ... or a dotted OID)");
        ok = false;
        continue;
      }
      const auto* s = value.as_string();
      if (s == nullptr) {
        error(line, "'" + std::string(name.str()) + "' in " + std::string(key) + " must be a string");
        ok = false;
        continue;
      }
      AttrCondition c;
      c.issuer = issuer;
      c.attr = *attr;
      if (is_pattern) {
        std::optional<Pattern> p = compile(s->get(), line, what, allow_groups);
        if (!p) {
          ok = false;
          continue;
        }
        c.pattern = std::move(*p);
      } else {
        c.equals = s->get();
      }
      out.push_back(std::move(c));
    }
    return ok;
  }

  void loadCertRule(const toml::table& t, const std::string& what, bool generic) {
    checkKeys(t, what,
              {"id", "source", "vendor", "subject_equals", "subject_match", "issuer_equals", "issuer_match",
               "subject_same"});
    CertRule rule;
    bool ok = origin(t, what, rule.origin);
    rule.vendor = vendor(t, what);
    str(t, "source", what, false);
    ok = loadConditions(t, "subject_equals", what, false, false, !generic, rule.conditions) && ok;
    ok = loadConditions(t, "subject_match", what, false, true, !generic, rule.conditions) && ok;
    ok = loadConditions(t, "issuer_equals", what, true, false, !generic, rule.conditions) && ok;
    ok = loadConditions(t, "issuer_match", what, true, true, !generic, rule.conditions) && ok;
    if (t.get("subject_same") != nullptr) {
      const auto names = strList(t, "subject_same", what, true);
      for (const auto& [name, line] : names) {
        const std::optional<std::string> attr = normalizeAttr(name);
        if (!attr) {
          error(line, "unknown certificate attribute '" + name + "' in subject_same");
          ok = false;
        } else {
          rule.subject_same.push_back(*attr);
        }
      }
      if (names.size() < 2) {
        error(lineOf(*t.get("subject_same")), "subject_same needs at least two attributes");
        ok = false;
      }
    }
    if (ok && rule.conditions.empty() && rule.subject_same.empty()) {
      error(rule.origin.line,
            "rule '" + rule.origin.id + "' tests nothing: give it subject_equals, subject_match, issuer_equals, "
                                        "issuer_match or subject_same");
      ok = false;
    }
    if (ok) (generic ? impl_.generic_certs : impl_.cert_subjects).push_back(std::move(rule));
  }

  void loadOuis(const toml::table& t, const std::string& what) {
    checkKeys(t, what, {"vendor", "source", "ouis"});
    const std::optional<std::string> v = str(t, "vendor", what, true);
    str(t, "source", what, false);
    const auto list = strList(t, "ouis", what, true);
    if (!v) return;
    for (const auto& [text, line] : list) {
      const std::optional<std::uint32_t> oui = parseOui(text);
      if (!oui) {
        error(line, "bad OUI '" + text + "': want 6 hex digits like \"00:0E:08\"");
        continue;
      }
      const auto [it, fresh] = seen_.ouis.emplace(ouiText(*oui), here(line));
      if (!fresh) {
        error(line, "OUI " + ouiText(*oui) + " listed twice (first at " + it->second + ", vendor " +
                        impl_.oui_vendor[*oui] + ")");
        continue;
      }
      impl_.oui_vendor[*oui] = *v;
    }
  }

  void loadSeverities(const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr) {
      error(lineOf(node), "'severity' must be a table: write [severity] then code = \"level\" lines");
      return;
    }
    for (const auto& [key, value] : *t) {
      const std::string code(key.str());
      const int line = lineOf(value);
      if (std::find(FINDING_CODES.begin(), FINDING_CODES.end(), std::string_view(code)) == FINDING_CODES.end()) {
        error(line, "unknown finding code '" + code + "' in [severity]");
        continue;
      }
      const auto* s = value.as_string();
      const bool word_ok = s != nullptr && std::find(SEVERITY_WORDS.begin(), SEVERITY_WORDS.end(),
                                                     std::string_view(s->get())) != SEVERITY_WORDS.end();
      if (!word_ok) {
        error(line, "severity of '" + code + "' must be one of \"info\", \"low\", \"medium\", \"high\", \"critical\"");
        continue;
      }
      const auto [it, fresh] = seen_.severities.emplace(code, here(line));
      if (!fresh) {
        error(line, "severity of '" + code + "' already set at " + it->second);
        continue;
      }
      impl_.severities[code] = s->get();
    }
  }

  void loadFingerprint(const toml::table& t, const std::string& what) {
    checkKeys(t, what, {"id", "source", "vendor", "model", "fingerprints"});
    FingerprintRule rule;
    bool ok = origin(t, what, rule.origin);
    const std::optional<std::string> v = str(t, "vendor", what, true);
    rule.model = str(t, "model", what, false);
    str(t, "source", what, false);
    for (const auto& [fp, line] : strList(t, "fingerprints", what, true)) {
      if (!isFingerprint(fp)) {
        error(line, "'" + fp + "' is neither a JA3 hash (32 lowercase hex) nor a JA4 fingerprint");
        ok = false;
      }
      rule.fingerprints.push_back(fp);
    }
    if (!v || rule.fingerprints.empty()) ok = false;
    if (!ok) return;
    rule.vendor = *v;
    impl_.fingerprints.push_back(std::move(rule));
  }

  std::string file_;
  RuleSet::Impl& impl_;
  LoadSeen& seen_;
  std::vector<RuleError>& errors_;
};

}  // namespace

void loadRulesFile(const std::string& path, const std::string& display_name, RuleSet::Impl& impl, LoadSeen& seen,
                   std::vector<RuleError>& errors) {
  try {
    const toml::table root = toml::parse_file(path);
    FileLoader(display_name, impl, seen, errors).load(root);
  } catch (const toml::parse_error& e) {
    errors.push_back(RuleError{display_name, static_cast<int>(e.source().begin.line), std::string(e.description())});
  } catch (const std::exception& e) {  // I/O or allocation failure: still a line in the report, never a throw
    errors.push_back(RuleError{display_name, 0, e.what()});
  }
}

}  // namespace provaudit::analyze
