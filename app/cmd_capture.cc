// provaudit capture -i IFACE: the live SPAN-port sensor (issue 5).
//
// Threads: one capture thread per interface (read, decode, hash), N analysis
// workers (flow table + analyzers each, fed by bounded rings), and this thread,
// the writer: it waits for signals and every second flushes observations to the
// database, audits, and stores counters (see app/live_sensor.h).
#include <pthread.h>
#include <pwd.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/ip/address.hpp>

#include "analyze/flow_analyzer.h"
#include "analyze/tls_decrypt.h"
#include "app/commands.h"
#include "web/server.h"
#include "app/live_privileges.h"
#include "app/live_sensor.h"
#include "app/pipeline.h"
#include "capture/evidence_writer.h"
#include "capture/interface_reader.h"
#include "capture/live_source.h"
#include "capture/worker_pool.h"
#include "store/database.h"
#include "store/sqlite_util.h"

namespace provaudit::app {
namespace {

// The writer's period: findings reach the database (and the dashboard) within about this.
constexpr std::chrono::milliseconds WRITER_INTERVAL{1000};
constexpr int MIN_SNAPLEN = 64;
constexpr int MAX_SNAPLEN = 262144;
constexpr int SIGTIMEDWAIT_NO_SIGNAL = -1;
constexpr long NS_PER_MS = 1'000'000;

struct CaptureOptions {
  std::vector<std::string> interfaces;
  std::string filter = capture::DEFAULT_LIVE_FILTER;
  int snaplen = capture::DEFAULT_SNAPLEN;
  int buffer_mib = capture::DEFAULT_BUFFER_MIB;
  bool no_promisc = false;
  int workers = 0;  // 0: cores - 1, at least 1
  std::string user;
  std::string evidence;
};

int defaultWorkers() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 1 ? static_cast<int>(cores - 1) : 1;
}

// --serve as the dashboard will take it, checked before anything is created
// (a typo must leave no empty database behind). web::parseListen speaks of
// --listen, serve's own name for it; here the user typed --serve. Throws
// std::invalid_argument with a one-line reason.
void checkServe(const std::string& serve, const std::string& token) {
  web::ServerOptions so;
  try {
    so = web::parseListen(serve);
  } catch (const std::invalid_argument& e) {
    std::string why = e.what();
    static constexpr std::string_view LISTEN = "--listen: ";
    if (why.starts_with(LISTEN)) why = "--serve: " + why.substr(LISTEN.size());
    throw std::invalid_argument(why);
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(so.address, ec);
  if (ec) throw std::invalid_argument("--serve: '" + so.address + "' is not an IP address");
  // The dashboard's own rule (web::DashboardServer), said before the database exists.
  if (!address.is_loopback() && token.empty()) {
    throw std::invalid_argument("--serve " + serve + " without --token: only loopback addresses are served without "
                                "authentication");
  }
}

// -Z USER names a user that exists, checked before anything is created
// (dropPrivileges looks it up again when the time comes). Single-threaded
// here: getpwnam is fine. False with `err` = one line.
bool checkUser(const std::string& user, std::string& err) {
  errno = 0;
  if (::getpwnam(user.c_str()) != nullptr) return true;
  err = "-Z " + user + ": " + (errno != 0 ? std::strerror(errno) : "no such user");
  return false;
}

// Per analysis worker: its analyzers and their counters (never shared).
struct WorkerState {
  AnomalyCounters anomalies;
  std::unique_ptr<analyze::FlowAnalyzerFactory> factory;
};

int runCapture(const CommonOptions& common, const CaptureOptions& opts) {
  const int workers = opts.workers > 0 ? opts.workers : defaultWorkers();
  if (workers > static_cast<int>(capture::MAX_WORKERS)) {
    printError("capture: --workers must be between 1 and " + std::to_string(capture::MAX_WORKERS));
    return 1;
  }
  if (!common.serve.empty()) checkServe(common.serve, common.token);
  if (!opts.user.empty()) {
    std::string err;
    if (!checkUser(opts.user, err)) {
      printError(err);
      return 1;
    }
  }
  // Signals are taken synchronously by this thread (sigtimedwait); every thread
  // started below inherits the blocked mask, so none is interrupted by them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::unique_ptr<capture::LivePacketSource>> sources;
  for (std::size_t i = 0; i < opts.interfaces.size(); ++i) {
    capture::LiveOptions lo;
    lo.interface = opts.interfaces[i];
    lo.filter = opts.filter;
    lo.snaplen = opts.snaplen;
    lo.buffer_mib = opts.buffer_mib;
    lo.promisc = !opts.no_promisc;
    std::string err;
    std::vector<std::string> warnings;
    auto src = capture::LivePacketSource::open(lo, static_cast<std::uint32_t>(i + 1), err, warnings);
    for (const auto& w : warnings) std::fprintf(stderr, "provaudit: warning: %s\n", w.c_str());
    if (!src) {
      printError(err);
      return 1;
    }
    sources.push_back(std::move(src));
  }

  // After the interfaces and the rules: a typo in -i or -f, or a rule set that
  // does not load, leaves no database behind.
  std::shared_ptr<const analyze::RuleSet> rules = loadRules(common.rules);
  store::Database db(common.db, store::Database::Mode::ReadWrite);
  // Interfaces past the first, or a larger -B, need memory that the warning
  // about --max-sightings (if any) counts in.
  analyze::MemoryExtra capture_memory;
  capture_memory.bytes = capture::captureMemoryBeyondBase(opts.interfaces.size(), opts.buffer_mib,
                                                          capture::DEFAULT_BUFFER_MIB);
  capture_memory.what = "the capture buffers of " + std::to_string(opts.interfaces.size()) +
                        (opts.interfaces.size() == 1 ? " interface" : " interfaces") + " at -B " +
                        std::to_string(opts.buffer_mib);
  Pipeline pipe(common, std::move(rules), db, /*auto_flush=*/false, capture_memory);  // opens --events
  pipe.retryStoreErrors();  // a full disk is waited out, not died of
  // A server next to us writes its key log as it goes: a key may be logged a
  // moment after the first record that needs it went by (tls_decrypt.h).
  if (pipe.decryption()) pipe.decryption()->setAwaitLateKeys(true);

  std::unique_ptr<capture::PcapngWriter> evidence;
  if (!opts.evidence.empty()) {
    std::string err;
    evidence = capture::PcapngWriter::create(opts.evidence, err);
    if (!evidence) {
      printError(err);
      return 1;
    }
    for (const auto& s : sources) {
      evidence->addInterface(static_cast<std::uint32_t>(&s - sources.data() + 1), s->name(), s->linktype(),
                             static_cast<std::uint32_t>(s->snaplen()));
    }
  }

  // The dashboard binds before privileges are dropped (a low port needs root);
  // it reads the database the writer thread fills, and stops when we return.
  std::unique_ptr<web::DashboardServer> dashboard;
  if (!common.serve.empty()) dashboard = startDashboard(common.serve, common.token, common.db, common.quiet);

  if (!opts.user.empty()) {
    std::vector<std::string> owned = {common.db, common.db + "-wal", common.db + "-shm"};
    if (!common.events.empty()) owned.push_back(common.events);
    if (!opts.evidence.empty()) owned.push_back(opts.evidence);
    std::string err;
    if (!dropPrivileges(opts.user, owned, err)) {
      printError(err);
      return 1;
    }
  }


  CountingSink sink(pipe);
  std::vector<std::unique_ptr<WorkerState>> states;
  std::vector<capture::WorkerSetup> setups;
  for (int i = 0; i < workers; ++i) {
    auto st = std::make_unique<WorkerState>();
    // Each worker's analyzers share the sink (a thread-safe queue) and the certificate cache.
    st->factory = std::make_unique<analyze::FlowAnalyzerFactory>(sink, st->anomalies, pipe.certs());
    st->factory->setDecryption(pipe.decryption());
    for (std::size_t s = 0; s < sources.size(); ++s) {
      st->factory->setSourceName(static_cast<std::uint32_t>(s + 1), sources[s]->name());
    }
    capture::WorkerSetup setup;
    setup.factory = st->factory.get();
    setup.anomalies = &st->anomalies;
    if (evidence) {
      setup.evidence = evidence.get();
      const analyze::FlowAnalyzerFactory* f = st->factory.get();
      setup.detection = [f] { return capture::DetectionCounts{f->tlsFlows(), f->httpFlows()}; };
    }
    setups.push_back(std::move(setup));
    states.push_back(std::move(st));
  }

  // Declared in this order so that readers stop before the pool, and the pool
  // before the analyzers and the pipeline it feeds.
  capture::WorkerPool pool(sources.size(), std::move(setups));
  pool.start();
  std::vector<std::unique_ptr<capture::InterfaceReader>> readers;
  std::vector<capture::InterfaceReader*> reader_ptrs;
  for (std::size_t i = 0; i < sources.size(); ++i) {
    readers.push_back(std::make_unique<capture::InterfaceReader>(std::move(sources[i]), i, pool));
    reader_ptrs.push_back(readers.back().get());
  }
  for (auto& r : readers) r->start();

  LiveSensor sensor(db, pipe, pool, reader_ptrs, sink, evidence.get(), common.quiet, common.verbose);
  if (!common.quiet) {
    std::string names;
    for (const auto& r : readers) names += (names.empty() ? "" : ", ") + r->name();
    std::fprintf(stderr, "provaudit: capturing on %s (filter '%s', %d worker%s); Ctrl-C to stop\n", names.c_str(),
                 opts.filter.c_str(), workers, workers == 1 ? "" : "s");
  }

  auto next_tick = std::chrono::steady_clock::now() + WRITER_INTERVAL;
  bool all_failed = false;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now);
    timespec ts{0, 0};
    if (wait.count() > 0) {
      ts.tv_sec = static_cast<std::time_t>(wait.count() / 1000);
      ts.tv_nsec = static_cast<long>(wait.count() % 1000) * NS_PER_MS;
    }
    const int sig = sigtimedwait(&signals, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (sig == SIGHUP) {
      std::string err;
      if (pipe.reloadRules(err)) {
        if (!common.quiet) std::fprintf(stderr, "provaudit: rules reloaded\n");
      } else {
        std::fprintf(stderr, "provaudit: warning: rules not reloaded, the old ones stay: %s\n", err.c_str());
      }
      continue;
    }
    if (sig == SIGTIMEDWAIT_NO_SIGNAL && errno != EAGAIN && errno != EINTR) {
      printError(std::string("sigtimedwait: ") + std::strerror(errno));
      break;
    }
    if (std::chrono::steady_clock::now() < next_tick) continue;
    next_tick += WRITER_INTERVAL;
    if (next_tick < std::chrono::steady_clock::now()) next_tick = std::chrono::steady_clock::now() + WRITER_INTERVAL;
    sensor.tick(false);
    bool any_running = false;
    for (const auto& r : readers) {
      const auto c = r->snapshot();
      if (!c.finished) any_running = true;
    }
    if (!any_running) {
      all_failed = true;  // every interface failed (went away): stop, so a supervisor can restart us
      break;
    }
  }
  // A second Ctrl-C (or SIGTERM) while draining ends the process at once
  // (without the final write). SIGHUP only ever means "reload the rules": it
  // stays blocked, so one that comes now (a log rotation, a reload racing
  // the shutdown) is never taken, and never kills us before the final write.
  sigset_t stop_now;
  sigemptyset(&stop_now);
  sigaddset(&stop_now, SIGINT);
  sigaddset(&stop_now, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &stop_now, nullptr);

  for (auto& r : readers) r->stop();
  for (auto& r : readers) r->join();
  pipe.releaseProducers();  // a database that cannot be written must not hold the workers' last flows
  pool.finish();  // workers drain their rings and close every flow
  sensor.tick(true);
  sensor.summary();
  for (const auto& r : readers) {
    const auto c = r->snapshot();
    if (!c.error.empty()) printError(c.error);
  }
  if (pipe.eventsLost() > 0) {
    std::fprintf(stderr, "provaudit: warning: %s: %llu events could not be written\n", common.events.c_str(),
                 static_cast<unsigned long long>(pipe.eventsLost()));
  }
  if (pipe.storeFailing()) {
    printError(store::dbErrorText(common.db, pipe.storeError()) + "; " + std::to_string(pipe.pendingCount()) +
               " observations could not be stored");
    return 1;
  }
  return all_failed ? 1 : 0;
}

}  // namespace

void setupCapture(CLI::App& app, CommonOptions& common) {
  auto opts = std::make_shared<CaptureOptions>();
  CLI::App* cmd = app.add_subcommand("capture", "live capture from network interfaces (a SPAN/mirror port sensor)");
  addCommonOptions(*cmd, common);
  repeatable(cmd->add_option("-i,--interface", opts->interfaces, "interface to capture on (repeatable; 'any' for all)"),
             "IFACE")
      ->required();
  cmd->add_option("-f,--filter", opts->filter, "BPF filter (default 'tcp': TLS and HTTP are found on any port)")
      ->capture_default_str();
  cmd->add_option("--serve", common.serve, "serve the dashboard on ADDR:PORT while capturing");
  cmd->add_option("--token", common.token, "dashboard bearer token (required for a non-loopback --serve)");
  cmd->add_option("-s,--snaplen", opts->snaplen, "bytes captured per packet")
      ->capture_default_str()
      ->check(CLI::Range(MIN_SNAPLEN, MAX_SNAPLEN));
  cmd->add_option("-B,--buffer-size", opts->buffer_mib, "kernel capture buffer per interface, MiB")
      ->capture_default_str()
      ->check(CLI::Range(1, capture::MAX_BUFFER_MIB));
  cmd->add_flag("-p,--no-promisc", opts->no_promisc, "do not put the interfaces into promiscuous mode");
  cmd->add_option("--workers", opts->workers, "analysis threads (default: cores - 1, at least 1)")
      ->check(CLI::Range(1, static_cast<int>(capture::MAX_WORKERS)));
  cmd->add_option("-Z,--user", opts->user, "after opening interfaces and files, drop privileges to USER");
  cmd->add_option("-w,--write", opts->evidence,
                  "also save the packets of provisioning flows (TLS handshakes, HTTP requests) to FILE (pcapng)");
  cmd->callback([&common, opts]() {
    try {
      g_exit_status = runCapture(common, *opts);
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
