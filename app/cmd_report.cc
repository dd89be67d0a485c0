// provaudit report --format json|csv|html [-o FILE]
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/commands.h"
#include "app/pipeline.h"
#include "common/text.h"
#include "store/report.h"
#include "store/schema.h"
#include "store/sqlite_util.h"

namespace provaudit::app {
namespace {

struct ReportOptions {
  std::string format = "json";
  std::string output;
};

namespace fs = std::filesystem;

// The same file, or one of SQLite's beside it: a report written there would
// destroy the audit it is read from.
bool isDatabaseFile(const std::string& output, const std::string& db) {
  // Made absolute first: libstdc++ leaves a relative path that does not exist relative.
  const auto resolved = [](const std::string& p) {
    std::error_code ec;
    fs::path abs = fs::absolute(p, ec);
    if (ec) return fs::path(p);
    fs::path canon = fs::weakly_canonical(abs, ec);
    return ec ? abs.lexically_normal() : canon;
  };
  const fs::path out = resolved(output);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string name = db + suffix;
    std::error_code ec;
    if (resolved(name) == out) return true;
    if (fs::equivalent(output, name, ec) && !ec) return true;  // a hard link to it
  }
  return false;
}

// A report file is written beside its destination and renamed over it when
// complete: a report that fails half-way (a damaged database, a full disk)
// leaves the previous one as it was. A symbolic link's target is the one
// replaced (the link stays). A destination that is not a regular file
// (/dev/stdout, a pipe), or one in a directory where no file can be made
// beside it, is written directly.
class ReportFile {
 public:
  explicit ReportFile(const std::string& path) : name_(path), path_(path) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (fs::exists(st) && fs::is_regular_file(st) && fs::is_symlink(fs::symlink_status(path, ec))) {
      if (const fs::path target = fs::canonical(path, ec); !ec) path_ = target.string();
    }
    if (!fs::exists(st) || fs::is_regular_file(st)) {
      std::string tmpl = path_ + ".partial-XXXXXX";
      if (const int fd = ::mkstemp(tmpl.data()); fd >= 0) {
        // The mode of the file it replaces, or the one a new file would get
        // (mkstemp makes it 0600).
        struct stat old {};
        const mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd, ::stat(path_.c_str(), &old) == 0 ? old.st_mode & 07777 : 0666 & ~mask);
        ::close(fd);
        temp_ = tmpl;
      }
    }
    if (!temp_.empty()) file_.open(temp_, std::ios::binary | std::ios::trunc);
    else file_.open(path_, std::ios::binary | std::ios::trunc);
    if (!file_) throw std::runtime_error(path + ": cannot open for writing: " + std::strerror(errno));
  }
  ~ReportFile() {
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }
  ReportFile(const ReportFile&) = delete;
  ReportFile& operator=(const ReportFile&) = delete;
  std::ostream& stream() { return file_; }
  void commit() {
    file_.close();
    if (!file_) throw std::runtime_error(name_ + ": write failed");
    if (temp_.empty()) return;
    if (::rename(temp_.c_str(), path_.c_str()) != 0) {
      throw std::runtime_error(name_ + ": cannot replace: " + std::strerror(errno));
    }
    temp_.clear();
  }

 private:
  std::string name_, path_, temp_;  // as given; the file replaced; the one written
  std::ofstream file_;
};

int runReport(const CommonOptions& common, const ReportOptions& opts) {
  const bool to_file = !opts.output.empty() && opts.output != "-";
  if (to_file && isDatabaseFile(opts.output, common.db)) {
    throw std::runtime_error(opts.output + ": is the database (--db); the report needs a file of its own");
  }
  store::Database db(common.db, store::Database::Mode::ReadOnly);
  // A report from a partial audit is still written, and said to be one.
  if (const std::int64_t left = db.stat(store::STAT_SIGHTINGS_LEFT_OUT); left > 0 && !common.quiet) {
    std::fprintf(stderr, "provaudit: warning: %s: %lld%s; a run with a higher limit audits them\n", common.db.c_str(),
                 static_cast<long long>(left), store::SIGHTINGS_LEFT_OUT_NOTICE);
  }
  std::unique_ptr<ReportFile> file;
  std::ostream* out = &std::cout;
  if (to_file) {
    file = std::make_unique<ReportFile>(opts.output);
    out = &file->stream();
  }
  const auto format = store::parseReportFormat(opts.format);
  if (!format) throw std::runtime_error("--format " + opts.format + ": not json, csv or html");
  const store::ReportStream::Damage damage = store::writeReport(db, *format, *out, nowIso());
  if (file) {
    file->commit();
  } else {
    out->flush();
    if (!*out) throw std::runtime_error("stdout: write failed");
  }
  // What could be read is written (as a damaged capture is still audited);
  // what could not is said, and the exit status is 1.
  if (damage.rows > 0) {
    printError(common.db + ": " + counted(damage.rows, "row", "rows") +
               " could not be read (not a stored report: the database was damaged outside provaudit; first: " +
               damage.first + ") and " + (damage.rows == 1 ? "is" : "are") +
               " left out of the report; a replay of the captures into a new database rebuilds them");
    return 1;
  }
  return 0;
}

}  // namespace

void setupReport(CLI::App& app, CommonOptions& common) {
  auto opts = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand("report", "export the device report");
  cmd->add_option("--db", common.db, "SQLite database file")->capture_default_str();
  cmd->add_option("--format", opts->format, "json, csv or html")->check(CLI::IsMember({"json", "csv", "html"}))->capture_default_str();
  cmd->add_option("-o,--output", opts->output, "output file (default: standard output)");
  // Accepted as on every subcommand (design.md: common options); the report
  // itself prints nothing but its warnings and errors.
  cmd->add_flag("-q,--quiet", common.quiet, "no warnings");
  cmd->add_flag("-v,--verbose", common.verbose, "more detail on stderr (repeatable)");
  cmd->callback([&common, opts]() {
    try {
      g_exit_status = runReport(common, *opts);
    } catch (const store::DbError& e) {
      printError(store::dbErrorText(common.db, e.what()));  // SQLite's messages do not name the file
      g_exit_status = 1;
    } catch (const std::exception& e) {
      printError(e.what());
      g_exit_status = 1;
    }
  });
}

}  // namespace provaudit::app
