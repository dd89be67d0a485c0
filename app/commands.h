#pragma once
// One file per subcommand; main.cc only builds the CLI and dispatches.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace provaudit::app {

// Sightings an audit holds in memory (the evidence, with what the rules read
// from it and the devices derived: about 6 KB a sighting of repeating
// devices, up to 8 KB when every sighting is a device with a certificate of
// its own; analyze/evidence_admission.h) unless --max-sightings says
// otherwise. Devices are derived afresh from all the evidence, so without a
// limit a sensor's memory grows with every handshake it sees, and under the
// systemd unit's MemoryMax (2 GiB) it would be killed, restarted, read the
// same sightings back and be killed again. At this default the worst case
// peaks at 1.3 GB in a replay and 1.4 GB live (`bench/run --certflood 250000
// --limit default`, `bench/live`; 250,000 peaked at 2.0 GB in a replay,
// bench/RESULTS.md session 14). Past the limit sightings
// are still stored; the audit takes the first four fifths by rowid, then only
// sightings that bring something new, says so once on stderr and counts the
// rest (audit_sightings_over_limit). A later run with a higher limit audits
// them; a run whose limit may need more memory than it may use says so when
// it starts (evidenceMemoryWarning).
inline constexpr std::size_t DEFAULT_MAX_SIGHTINGS = 150000;

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
  std::size_t max_sightings = DEFAULT_MAX_SIGHTINGS;  // --max-sightings; 0: no limit
  bool quiet = false;
  int verbose = 0;
};

void addCommonOptions(CLI::App& cmd, CommonOptions& o);
// An option given once per value (--ca A --ca B), each time taking one
// value only: a list option would take what follows it too, and
// `--keylog keys.log *.pcap` read every capture but the last as a key log.
CLI::Option* repeatable(CLI::Option* opt, const char* value_name);

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
