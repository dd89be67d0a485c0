// provaudit rules check [DIR]
#include <iostream>

#include "analyze/rules.h"
#include "app/commands.h"

namespace provaudit::app {

void setupRules(CLI::App& app, CommonOptions& /*common*/) {
  CLI::App* cmd = app.add_subcommand("rules", "work with rule files");
  cmd->require_subcommand(1);
  auto dir = std::make_shared<std::string>();
  CLI::App* check = cmd->add_subcommand("check", "validate rule files; errors are printed as FILE:LINE: message");
  check->add_option("dir", *dir, "rules directory (default: the bundled rules)");
  check->callback([dir]() {
    const std::string where = dir->empty() ? analyze::RuleSet::defaultDir() : *dir;
    auto [rules, errors] = analyze::RuleSet::load(where);
    for (const auto& e : errors) std::cerr << e.str() << '\n';
    if (!errors.empty() || !rules) {
      std::cerr << "provaudit: " << errors.size() << " error(s) in " << where << '\n';
      g_exit_status = 1;
      return;
    }
    std::cout << where << ": " << rules->ruleCount() << " rules OK\n";
    g_exit_status = 0;
  });
}

}  // namespace provaudit::app
