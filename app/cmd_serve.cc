// provaudit serve: the audit dashboard (issue 4; not built yet).
#include "app/commands.h"

namespace provaudit::app {

void setupServe(CLI::App& app, CommonOptions& common) {
  CLI::App* cmd = app.add_subcommand("serve", "serve the audit dashboard (not available in this build)");
  cmd->add_option("--db", common.db, "SQLite database file")->capture_default_str();
  cmd->add_option("--listen", common.serve, "ADDR:PORT (default 127.0.0.1:8080)");
  cmd->callback([]() {
    printError("serve: the dashboard is not part of this build yet; use 'provaudit report'");
    g_exit_status = 1;
  });
}

}  // namespace provaudit::app
