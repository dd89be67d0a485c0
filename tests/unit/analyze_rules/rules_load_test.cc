// RuleSet::load on broken rule files written to a temporary directory: each
// problem is reported with its file and the line of the offending key, and
// load() never throws. Also defaultDir() and a small valid custom rule set.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "analyze/rules.h"

using provaudit::analyze::RuleError;
using provaudit::analyze::RuleSet;

namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed at the end of the test.
class TempRulesDir {
 public:
  TempRulesDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("provaudit-rules-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempRulesDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempRulesDir(const TempRulesDir&) = delete;
  TempRulesDir& operator=(const TempRulesDir&) = delete;

  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
  }
  [[nodiscard]] std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// The minimum a valid file needs: one UA rule.
const std::string OK_RULE = "[[user_agent]]\nid = \"ok\"\nvendor = \"V\"\npattern = '^V/'\n";

// Loads `content` as the only file and returns its errors.
std::vector<RuleError> errorsOf(const std::string& content) {
  TempRulesDir dir;
  dir.write("a.toml", content);
  auto [rules, errors] = RuleSet::load(dir.str());
  CHECK((rules == nullptr) == !errors.empty());  // a rule set with errors is not handed out
  for (const RuleError& e : errors) UNSCOPED_INFO(e.str());
  return errors;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("rules load: TOML syntax error gives the parser's line") {
  const auto errors = errorsOf("# comment\n[[user_agent]\nid = 'x'\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].file.ends_with("/a.toml"));  // DIR/a.toml: the directory as given
  CHECK(errors[0].line == 2);
}

TEST_CASE("rules load: unknown key") {
  const auto errors = errorsOf(OK_RULE + "\n[[user_agent]]\nid = 'b'\nvendor = 'V'\npatern = 'x'\npattern = 'y'\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 9);
  CHECK(contains(errors[0].message, "unknown key 'patern'"));
}

TEST_CASE("rules load: unknown table") {
  const auto errors = errorsOf("\n[[user_agents]]\nid = 'b'\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 2);
  CHECK(contains(errors[0].message, "unknown table 'user_agents'"));
}

TEST_CASE("rules load: a rule kind written as a plain table") {
  const auto errors = errorsOf("[user_agent]\nid = 'b'\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 1);
  CHECK(contains(errors[0].message, "[[user_agent]]"));
}

TEST_CASE("rules load: wrong type") {
  const auto errors = errorsOf("[[user_agent]]\nid = 'x'\nvendor = 'V'\npattern = 5\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 4);
  CHECK(contains(errors[0].message, "must be a string"));
}

TEST_CASE("rules load: missing field is reported at the table header") {
  const auto errors = errorsOf("\n\n[[url_path]]\nid = 'x'\nvendor = 'V'\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 3);
  CHECK(contains(errors[0].message, "missing key 'pattern'"));
}

TEST_CASE("rules load: RE2 compile error carries RE2's message and the pattern's line") {
  const auto errors = errorsOf("[[user_agent]]\nid = 'x'\nvendor = 'V'\n\npattern = '(unclosed'\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 5);
  CHECK(contains(errors[0].message, "does not compile"));
  CHECK(contains(errors[0].message, "missing )"));
}

TEST_CASE("rules load: a named group outside the claim names") {
  const auto errors = errorsOf("[[user_agent]]\nid = 'x'\npattern = '^(?P<version>[0-9.]+)'\n");
  REQUIRE_FALSE(errors.empty());
  CHECK(errors[0].line == 3);
  CHECK(contains(errors[0].message, "unknown capture group (?P<version>)"));
}

TEST_CASE("rules load: a rule that claims nothing") {
  const auto errors = errorsOf("[[url_path]]\nid = 'x'\npattern = '^/a'\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 1);
  CHECK(contains(errors[0].message, "claims nothing"));
}

TEST_CASE("rules load: duplicate ids across files name the first place") {
  TempRulesDir dir;
  dir.write("10-a.toml", OK_RULE);
  dir.write("20-b.toml", "# b\n\n[[url_path]]\nid = \"ok\"\nvendor = \"V\"\npattern = '^/x'\n");
  auto [rules, errors] = RuleSet::load(dir.str());
  CHECK(rules == nullptr);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].file == dir.str() + "/20-b.toml");
  CHECK(errors[0].line == 4);
  CHECK(contains(errors[0].message, "duplicate rule id 'ok'"));
  CHECK(contains(errors[0].message, dir.str() + "/10-a.toml:2"));
}

TEST_CASE("rules load: bad OUI text and a duplicate OUI") {
  const auto errors = errorsOf(
      "[[vendor_oui]]\n"
      "vendor = 'A'\n"
      "ouis = ['00:0E:08',\n"
      "        '00:0E:0G',\n"     // not hex
      "        '00:0E']\n"        // too short
      "[[vendor_oui]]\n"
      "vendor = 'B'\n"
      "ouis = ['000e08']\n");   // already A's
  REQUIRE(errors.size() == 3);
  CHECK(errors[0].line == 4);
  CHECK(contains(errors[0].message, "bad OUI '00:0E:0G'"));
  CHECK(errors[1].line == 5);
  CHECK(errors[2].line == 8);
  CHECK(contains(errors[2].message, "listed twice"));
}

TEST_CASE("rules load: bad MAC-like text in a certificate attribute name") {
  const auto errors = errorsOf("[[cert_subject]]\nid = 'x'\nvendor = 'V'\nsubject_match = { MACADDR = '^x$' }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 4);
  CHECK(contains(errors[0].message, "unknown certificate attribute 'MACADDR'"));
}

TEST_CASE("rules load: unknown severity word and unknown finding code") {
  const auto errors = errorsOf("[severity]\ngeneric-cert = 'severe'\ncert-clone = 'critical'\nno-such-code = 'low'\n");
  REQUIRE(errors.size() == 2);
  // toml++ walks keys in sorted order: generic-cert, then no-such-code.
  CHECK(errors[0].line == 2);
  CHECK(contains(errors[0].message, "must be one of"));
  CHECK(errors[1].line == 4);
  CHECK(contains(errors[1].message, "unknown finding code 'no-such-code'"));
}

TEST_CASE("rules load: a generic-certificate marker may not capture claims") {
  const auto errors =
      errorsOf("[[generic_cert]]\nid = 'g'\nsubject_match = { L = '^(?P<serial>x)$' }\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 3);
  CHECK(contains(errors[0].message, "generic-certificate marker"));
}

TEST_CASE("rules load: bad fingerprint text") {
  const auto errors = errorsOf("[[fingerprint]]\nid = 'f'\nvendor = 'V'\nfingerprints = ['nope']\n");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 4);
}

TEST_CASE("rules load: empty and missing directories are errors, not exceptions") {
  TempRulesDir empty;
  auto [a, errors_a] = RuleSet::load(empty.str());
  CHECK(a == nullptr);
  REQUIRE(errors_a.size() == 1);
  CHECK(contains(errors_a[0].message, "no *.toml"));
  auto [b, errors_b] = RuleSet::load(empty.str() + "/does-not-exist");
  CHECK(b == nullptr);
  REQUIRE(errors_b.size() == 1);
  CHECK(errors_b[0].line == 0);
  CHECK(errors_b[0].str().find(": ") != std::string::npos);
}

TEST_CASE("rules load: a binary file is reported, not thrown") {
  const auto errors = errorsOf(std::string("\x00\xff\xfe[[x", 6));
  CHECK_FALSE(errors.empty());
}

TEST_CASE("rules load: RuleError::str() is file:line: message") {
  CHECK(RuleError{"a.toml", 7, "boom"}.str() == "a.toml:7: boom");
  CHECK(RuleError{"dir", 0, "boom"}.str() == "dir: boom");
}

TEST_CASE("rules load: a small custom rule set works end to end") {
  TempRulesDir dir;
  dir.write("rules.toml",
            "[[user_agent]]\n"
            "id = 'acme'\n"
            "vendor = 'Acme'\n"
            "id_group_mac_if_oui = true\n"
            "pattern = '^Acme/(?P<model>\\w+) \\((?P<serial>[0-9A-F]{12})\\)'\n"
            "[[vendor_oui]]\n"
            "vendor = 'Acme'\n"
            "ouis = ['AC:DE:48']\n"
            "[[fingerprint]]\n"
            "id = 'acme-fp'\n"
            "vendor = 'Acme'\n"
            "fingerprints = ['t12d1516h2_8daaf6152771_e5627efa2ab1', '0123456789abcdef0123456789abcdef']\n");
  auto [rules, errors] = RuleSet::load(dir.str());
  REQUIRE(errors.empty());
  REQUIRE(rules != nullptr);
  CHECK(rules->ruleCount() == 2);
  const auto mac = rules->matchUserAgent("Acme/Phone1 (ACDE48000001)");
  REQUIRE(mac.mac);  // OUI listed: a MAC
  CHECK(mac.mac->str() == "ac:de:48:00:00:01");
  const auto serial = rules->matchUserAgent("Acme/Phone1 (ABCDEF000001)");
  CHECK(serial.serial == std::optional<std::string>("ABCDEF000001"));  // OUI unknown: a serial
  CHECK(rules->expectedFingerprints("acme", "Phone1").size() == 2);
  CHECK(rules->expectedFingerprints("Other", "Phone1").empty());
  CHECK(rules->severity("generic-cert") == "medium");  // no [severity] table: the default
}

TEST_CASE("rules: defaultDir prefers PROVAUDIT_RULES, else the bundled directory") {
  ::setenv("PROVAUDIT_RULES", "/etc/provaudit/rules", 1);
  CHECK(RuleSet::defaultDir() == "/etc/provaudit/rules");
  ::unsetenv("PROVAUDIT_RULES");
  // The test binary has no share/provaudit/rules nor rules/ next to it.
  CHECK(RuleSet::defaultDir() == PROVAUDIT_RULES_DIR);
}
