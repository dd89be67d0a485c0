#pragma once
// The bundled rules/ directory, loaded once per test binary.
#include <catch2/catch.hpp>

#include <memory>

#include "analyze/rules.h"

namespace provaudit::analyze::test {

inline const RuleSet& bundledRules() {
  static const std::shared_ptr<const RuleSet> rules = [] {
    auto [set, errors] = RuleSet::load(PROVAUDIT_RULES_DIR);
    for (const RuleError& e : errors) UNSCOPED_INFO(e.str());
    REQUIRE(errors.empty());
    REQUIRE(set != nullptr);
    return set;
  }();
  return *rules;
}

// "aa:bb:cc:dd:ee:ff" of a claim, or "" when there is none.
inline std::string macText(const Claims& c) { return c.mac ? c.mac->str() : std::string(); }
inline std::string text(const std::optional<std::string>& s) { return s ? *s : std::string("<none>"); }
inline std::string orNone(const char* s) { return s ? std::string(s) : std::string("<none>"); }

}  // namespace provaudit::analyze::test
