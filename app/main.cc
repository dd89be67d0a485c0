// provaudit: passive audit of VoIP device provisioning (see README.md).
#include <cstring>
#include <iostream>

#include "app/commands.h"
#include "app/huge_page_heap.h"
#include "common/text.h"

namespace provaudit::app {

int g_exit_status = 0;

void printError(const std::string& reason) {
  std::string line = reason;
  for (auto& c : line) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';  // one line, always
  }
  // What else it holds (a file name's escape sequences) is shown, not obeyed.
  std::cerr << "provaudit: error: " << terminalText(line) << '\n';
}

CLI::Option* repeatable(CLI::Option* opt, const char* value_name) {
  return opt->type_name(value_name)->expected(1)->allow_extra_args(false)->multi_option_policy(
      CLI::MultiOptionPolicy::TakeAll);
}

void addCommonOptions(CLI::App& cmd, CommonOptions& o) {
  cmd.add_option("--db", o.db, "SQLite database file")->capture_default_str();
  cmd.add_option("--rules", o.rules, "rules directory (default: the bundled rules)");
  repeatable(cmd.add_option("--ca", o.ca,
                            "trusted device CA bundle (PEM; repeatable); kept in the database for later runs "
                            "without --ca; 'none' forgets it"),
             "FILE");
  repeatable(cmd.add_option("--server-ca", o.server_ca,
                            "trusted provisioning-server CA bundle (PEM; repeatable); kept as --ca is"),
             "FILE");
  repeatable(cmd.add_option("--keylog", o.keylog,
                            "NSS key log (SSLKEYLOGFILE) to decrypt TLS with; re-read as it grows (repeatable)"),
             "FILE");
  repeatable(cmd.add_option("--rsa-key", o.rsa_key,
                            "provisioning server's PEM RSA key (for the server at IP:PORT, or any), decrypts TLS_RSA_* sessions "
                            "(repeatable)"),
             "[IP:PORT=]FILE");
  cmd.add_option("--events", o.events, "write one JSON object per observation to FILE (JSON Lines)");
  cmd.add_option("--max-sightings", o.max_sightings,
                 "sightings the audit holds in memory, 6 to 8 KB each (0: no limit), and N x 8 KiB by their size "
                 "(long User-Agents and large certificates count for more); its last fifth only for sightings "
                 "that bring something new (a client, certificate, fingerprint, User-Agent); the rest are stored, "
                 "not audited")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](const std::string& v) {
            return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos
                       ? std::string()
                       : std::string("not a whole number, 0 or more");
          },
          "N"));
  cmd.add_flag("-q,--quiet", o.quiet, "no progress and no summary");
  cmd.add_flag("-v,--verbose", o.verbose, "more detail on stderr (repeatable)");
}

}  // namespace provaudit::app

int main(int argc, char** argv) {
  using namespace provaudit::app;
  // Before anything else: a replay may start itself again (huge_page_heap.h).
  if (argc > 1 && std::strcmp(argv[1], "replay") == 0) restartWithHugePageHeap(argv);
  restoreProcessName(argv[0]);
  CLI::App app{"provaudit: passive audit of VoIP device provisioning (client certificates, User-Agents, findings)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "provaudit 0.1.0");
  CommonOptions common;
  setupReplay(app, common);
  setupReport(app, common);
  setupRules(app, common);
  setupServe(app, common);
  setupCapture(app, common);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 says "A subcommand is required" of a misspelt one: name it.
    if (argc > 1 && argv[1][0] != '-' && app.get_subcommands().empty()) {
      printError(std::string("unknown command '") + argv[1] + "': expected replay, capture, report, serve or rules (see --help)");
      return 1;
    }
    // ... and of a command's own commands ("rules chek").
    CLI::App* parsed = &app;
    while (!parsed->get_subcommands().empty()) parsed = parsed->get_subcommands().front();
    const std::vector<std::string> rest = parsed->remaining();
    if (parsed != &app && parsed->get_require_subcommand_min() > 0 && !rest.empty() && rest.front()[0] != '-') {
      std::string names;
      for (const CLI::App* sub : parsed->get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
      printError("unknown command '" + parsed->get_name() + " " + rest.front() + "': expected " + names + " (see " +
                 parsed->get_name() + " --help)");
      return 1;
    }
    printError(std::string(e.what()) + " (see --help)");
    return 1;
  } catch (const std::exception& e) {
    printError(e.what());
    return 1;
  }
  return g_exit_status;
}
