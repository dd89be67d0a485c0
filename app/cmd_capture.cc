// provaudit capture -i IFACE: the live SPAN-port sensor (issue 5; not built yet).
#include "app/commands.h"

namespace provaudit::app {

void setupCapture(CLI::App& app, CommonOptions& common) {
  CLI::App* cmd = app.add_subcommand("capture", "live capture from interfaces (not available in this build)");
  addCommonOptions(*cmd, common);
  auto ifaces = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-i,--interface", *ifaces, "interface (repeatable)");
  cmd->callback([]() {
    printError("capture: live capture is not part of this build yet; record with tcpdump and use 'provaudit replay'");
    g_exit_status = 1;
  });
}

}  // namespace provaudit::app
