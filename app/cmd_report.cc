// provaudit report --format json|csv|html [-o FILE]
#include <cstdio>
#include <fstream>
#include <iostream>

#include "app/commands.h"
#include "app/pipeline.h"
#include "store/report.h"
#include "store/report_html.h"
#include "store/schema.h"

namespace provaudit::app {
namespace {

struct ReportOptions {
  std::string format = "json";
  std::string output;
};

int runReport(const CommonOptions& common, const ReportOptions& opts) {
  store::Database db(common.db, store::Database::Mode::ReadOnly);
  // A report from a partial audit is still written, and said to be one.
  if (const std::int64_t left = db.stat(store::STAT_SIGHTINGS_LEFT_OUT); left > 0) {
    std::fprintf(stderr, "provaudit: warning: %s: %lld%s; a run with a higher limit audits them\n", common.db.c_str(),
                 static_cast<long long>(left), store::SIGHTINGS_LEFT_OUT_NOTICE);
  }
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!opts.output.empty() && opts.output != "-") {
    file.open(opts.output, std::ios::binary | std::ios::trunc);
    if (!file) throw std::runtime_error(opts.output + ": cannot open for writing");
    out = &file;
  }
  if (opts.format == "json") writeJsonReport(db, *out, nowIso());
  else if (opts.format == "html") writeHtmlReport(db, *out, nowIso());
  else writeCsvReport(db, *out);
  out->flush();
  if (!*out) throw std::runtime_error((opts.output.empty() ? std::string("stdout") : opts.output) + ": write failed");
  return 0;
}

}  // namespace

void setupReport(CLI::App& app, CommonOptions& common) {
  auto opts = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand("report", "export the device report");
  cmd->add_option("--db", common.db, "SQLite database file")->capture_default_str();
  cmd->add_option("--format", opts->format, "json, csv or html")->check(CLI::IsMember({"json", "csv", "html"}))->capture_default_str();
  cmd->add_option("-o,--output", opts->output, "output file (default: standard output)");
  cmd->callback([&common, opts]() {
    try {
      g_exit_status = runReport(common, *opts);
    } catch (const std::exception& e) {
      printError(e.what());
      g_exit_status = 1;
    }
  });
}

}  // namespace provaudit::app
