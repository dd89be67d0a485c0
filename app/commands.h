#pragma once
// One file per subcommand; main.cc only builds the CLI and dispatches.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

namespace provaudit::app {

struct CommonOptions {
  std::string db = "provaudit.db";
  std::string rules;                  // empty: the bundled rules
  std::vector<std::string> ca;        // trusted device CA bundles
  std::vector<std::string> server_ca; // trusted server CA bundles
  std::string serve;                  // ADDR:PORT
  std::string token;                  // dashboard bearer token (--serve)
  std::string events;                 // JSON Lines output
  std::vector<std::string> keylog;    // NSS key log files (TLS decryption)
  std::vector<std::string> rsa_key;   // [IP:PORT=]FILE server RSA keys (TLS_RSA_* decryption)
  bool quiet = false;
  int verbose = 0;
};

void addCommonOptions(CLI::App& cmd, CommonOptions& o);

// Each returns the process exit status.
void setupReplay(CLI::App& app, CommonOptions& common);
void setupReport(CLI::App& app, CommonOptions& common);
void setupRules(CLI::App& app, CommonOptions& common);
void setupServe(CLI::App& app, CommonOptions& common);
void setupCapture(CLI::App& app, CommonOptions& common);

}  // namespace provaudit::app

namespace provaudit::web {
class DashboardServer;
}

namespace provaudit::app {

// Starts the dashboard over `db` (read-only) and prints where it listens.
// Throws std::runtime_error / std::invalid_argument with a one-line reason.
std::unique_ptr<web::DashboardServer> startDashboard(const std::string& listen, const std::string& token,
                                                     const std::string& db, bool quiet);

// Set by the subcommand callbacks.
extern int g_exit_status;

// "provaudit: error: <reason>" on stderr, one line.
void printError(const std::string& reason);

}  // namespace provaudit::app
