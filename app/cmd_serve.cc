// provaudit serve [--db FILE] [--listen|--serve ADDR:PORT] [--token TOKEN]: the audit
// dashboard over an existing database, read-only (a replay or capture may be
// writing it at the same time).
#include <iostream>

#include "app/commands.h"
#include "web/server.h"

namespace provaudit::app {
namespace {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  std::string token;
};

int runServe(const CommonOptions& common, const ServeOptions& opts) {
  auto server = startDashboard(opts.listen, opts.token, common.db, common.quiet);
  server->wait();
  return 0;
}

}  // namespace

std::unique_ptr<web::DashboardServer> startDashboard(const std::string& listen, const std::string& token,
                                                     const std::string& db, bool quiet) {
  web::ServerOptions so = web::parseListen(listen);
  so.token = token;
  so.db_path = db;
  auto server = std::make_unique<web::DashboardServer>(so);
  server->start();
  if (!quiet) {
    const bool v6 = so.address.find(':') != std::string::npos;
    std::cerr << "provaudit: dashboard on http://" << (v6 ? "[" : "") << so.address << (v6 ? "]" : "") << ':'
              << server->port() << "/ (database " << db << ", read-only" << (so.token.empty() ? "" : ", token required")
              << "); Ctrl-C stops" << std::endl;
  }
  // Said even with -q: the page would otherwise never change, without a word.
  if (server->snapshot()) {
    std::cerr << "provaudit: warning: " << db
              << ": its directory lets this user make no -shm file beside it: served as it is now (no writer has "
                 "it open; one that opens it later is not seen)"
              << std::endl;
  }
  return server;
}

void setupServe(CLI::App& app, CommonOptions& common) {
  auto opts = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "serve the audit dashboard (read-only) over the database");
  cmd->add_option("--db", common.db, "SQLite database file")->capture_default_str();
  // --serve as well: the address option replay and capture take (design.md's
  // common options), so that the same words start the dashboard either way.
  cmd->add_option("--listen,--serve", opts->listen, "ADDR:PORT, [v6]:PORT or :PORT (loopback)")->capture_default_str();
  cmd->add_option("--token", opts->token,
                  "require this bearer token (or a login with it); mandatory for a non-loopback address");
  cmd->add_flag("-q,--quiet", common.quiet, "no startup line");
  cmd->callback([&common, opts]() {
    try {
      g_exit_status = runServe(common, *opts);
    } catch (const std::exception& e) {
      printError(e.what());
      g_exit_status = 1;
    }
  });
}

}  // namespace provaudit::app
