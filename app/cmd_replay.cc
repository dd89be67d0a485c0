// provaudit replay FILE... : read capture files into the audit database.
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>

#include "app/commands.h"
#include "app/huge_page_heap.h"
#include "app/pipeline.h"
#include "capture/capture_engine.h"
#include "capture/capture_set.h"
#include "capture/packet_source.h"
#include "common/text.h"
#include "store/sqlite_util.h"
#include "web/server.h"

namespace provaudit::app {
namespace {

struct ReplayOptions {
  std::vector<std::string> files;
};

std::string humanBytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000.0 && u < 4) {
    b /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
  return buf;
}

class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO) == 1) {}
  void update(const capture::PacketSource& src, bool force = false) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double done = static_cast<double>(src.bytesRead());
    const double rate = secs > 0 ? done / secs : 0;
    std::string line = "\r" + src.name() + ": " + humanBytes(done);
    if (auto total = src.totalBytes(); total && *total > 0) {
      const double pct = 100.0 * done / static_cast<double>(*total);
      const double eta = rate > 0 ? (static_cast<double>(*total) - done) / rate : 0;
      char buf[96];
      std::snprintf(buf, sizeof buf, " / %s (%.0f%%), %s/s, ETA %.0fs", humanBytes(static_cast<double>(*total)).c_str(),
                    pct, humanBytes(rate).c_str(), eta);
      line += buf;
    } else {
      line += ", " + humanBytes(rate) + "/s";
    }
    std::fprintf(stderr, "%s\x1b[K", line.c_str());
  }
  void done() {
    if (enabled_) std::fprintf(stderr, "\r\x1b[K");
  }
  void restart() { start_ = std::chrono::steady_clock::now(); }

 private:
  bool enabled_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

// The process ends after the command: the evidence, its claims and the
// devices are millions of small allocations, and freeing them one by one took
// a quarter of a second on the 1 GB corpus (bench/RESULTS.md, session 4)
// where the system takes the memory back at once. Everything with an outside
// effect is done by then: the writer has stopped, the events file is flushed,
// and the database (not left here) closes as usual. Sanitizer builds free it
// all, so that their leak check keeps its meaning. (The pipeline holds the
// last audit's result too.)
void leaveToExit(std::unique_ptr<Pipeline> pipe) {
#if defined(__SANITIZE_ADDRESS__)
  pipe.reset();
#else
  (void)pipe.release();
#endif
}

int runReplay(const CommonOptions& common, const ReplayOptions& opts) {
#ifndef PROVAUDIT_JEMALLOC
  // glibc's malloc: two threads (reader and writer), an arena each: with one
  // shared arena, the reader spent its time waiting for the arena's lock
  // while the writer audited (1 GB corpus: reading 3.1 s with one arena,
  // 1.7 s with two; bench/RESULTS.md, session 3). No more than two:
  // dashboard threads share. (jemalloc gives threads arenas of their own, four
  // per CPU, and a cache each.)
  ::mallopt(M_ARENA_MAX, 2);
#endif
  store::Database db(common.db, store::Database::Mode::ReadWrite);
  auto owned = std::make_unique<Pipeline>(common, db);
  Pipeline& pipe = *owned;
  // --serve: the dashboard reads the same database while the replay writes it.
  std::unique_ptr<web::DashboardServer> dashboard;
  if (!common.serve.empty()) dashboard = startDashboard(common.serve, common.token, common.db, common.quiet);
  pipe.factory().setDecryption(pipe.decryption());
  capture::CaptureEngine engine(pipe.factory(), pipe.anomalies());
  Progress progress(!common.quiet);
  const auto run_start = std::chrono::steady_clock::now();
  // Reading and storing overlap: this thread reads and analyses, the
  // pipeline's writer stores the observations and audits as it goes.
  pipe.findingEventsFromLastAudit();
  pipe.startWriter(dashboard != nullptr);
  std::uint32_t source_id = 0;
  // The last source saved, and its anomalies: the audit's own are added to
  // them at the end (where the dashboard lists anomalies).
  std::optional<std::pair<store::SourceRecord, AnomalyCounters>> last_saved;
  // The files as one capture (capture/capture_set.h): in the time order of
  // their first packets, the flows open at the end of one carrying on into
  // the next file when it starts where that one stopped.
  const std::vector<capture::CaptureFile> files = capture::inTimeOrder(opts.files);
  if (common.verbose > 0 && !std::equal(files.begin(), files.end(), opts.files.begin(), opts.files.end(),
                                        [](const capture::CaptureFile& f, const std::string& p) { return f.path == p; })) {
    std::fprintf(stderr, "provaudit: reading the %zu files in the time order of their first packets\n", files.size());
  }
  std::optional<PacketRef> carried;  // the last packet of the previous file, whose flows are still open
  for (std::size_t file_index = 0; file_index < files.size(); ++file_index) {
    const std::string& path = files[file_index].path;
    ++source_id;
    std::string err;
    auto src = capture::openCaptureFile(path, source_id, err);
    if (!src) {
      printError(err);
      ++pipe.totals().sources_failed;
      continue;
    }
    pipe.factory().setSourceName(source_id, path == "-" ? std::string("<stdin>") : path);
    AnomalyCounters before = pipe.anomalies();
    store::SourceRecord rec;
    rec.name = path == "-" ? "<stdin>" : path;
    rec.kind = path == "-" ? "stdin" : "file";
    progress.restart();
    capture::RawPacket pkt;
    PacketRef last{};
    capture::ReadStatus st;
    std::uint64_t packets = 0;
    while ((st = src->next(pkt)) == capture::ReadStatus::Packet) {
      if (packets == 0) {
        rec.first_ts_ns = pkt.ref.ts_ns;
        // (Read again, a file could have changed since its first packet was read ahead.)
        if (carried && !capture::continuesCapture(carried->ts_ns, pkt.ref.ts_ns, engine.limits().idle_timeout_ns)) {
          engine.finish(*carried);
        }
        carried.reset();
      }
      ++packets;
      rec.bytes += pkt.orig_len;
      last = pkt.ref;
      engine.onPacket(pkt);
      if ((packets & 0x3ff) == 0) {
        progress.update(*src);
        // Nothing read from here on could be stored: stop, and say why (stopWriter).
        if (pipe.writerFailed()) break;
      }
    }
    progress.update(*src, true);
    progress.done();
    rec.packets = packets;
    rec.last_ts_ns = last.ts_ns;
    rec.status = "complete";
    if (st == capture::ReadStatus::Error) {
      // Everything read before the damage is kept and audited.
      printError(src->error());
      rec.status = "error";
      rec.error = src->error();
    }
    if (packets > 0 || st != capture::ReadStatus::Error) ++pipe.totals().sources_ok;
    else ++pipe.totals().sources_failed;
    pipe.totals().packets += packets;
    pipe.totals().bytes += rec.bytes;
    // Flows end with their file, unless the next file continues it.
    const std::optional<std::int64_t> next_first =
        file_index + 1 < files.size() ? files[file_index + 1].first_ns : std::nullopt;
    if (packets > 0 && next_first &&
        capture::continuesCapture(last.ts_ns, *next_first, engine.limits().idle_timeout_ns)) {
      carried = last;
      if (common.verbose > 0) {
        std::fprintf(stderr, "provaudit: %s continues in %s: its flows carry over (%s in the table)\n",
                     rec.name.c_str(), files[file_index + 1].path.c_str(),
                     counted(engine.activeFlows(), "flow", "flows").c_str());
      }
    } else {
      engine.finish(last);
      if (packets > 0 && next_first && capture::overlapsCapture(last.ts_ns, *next_first)) {
        // Read apart, a tap's two directions lose the server's half (its
        // version, certificate and certificate request) to the client's.
        const std::string& next = files[file_index + 1].path;
        std::fprintf(stderr,
                     "provaudit: warning: %s starts before %s ends: read as a capture of its own; if the two hold "
                     "one link's two directions (a tap's two ports), merge them first (mergecap -w both.pcap %s %s)\n",
                     next.c_str(), rec.name.c_str(), rec.name.c_str(), next.c_str());
      }
    }
    rec.key = rec.name + "@" + std::to_string(rec.first_ts_ns);
    AnomalyCounters delta;
    {
      // This source's own anomalies: the run's counters minus those before it.
      std::map<std::string, std::uint64_t> prior;
      before.forEach([&](const std::string& n, std::uint64_t c) { prior[n] = c; });
      pipe.anomalies().forEach([&](const std::string& n, std::uint64_t c) {
        if (c > prior[n]) delta.inc(registerAnomaly(n), c - prior[n]);
      });
    }
    if (const std::uint64_t cut = delta.get("snaplen_truncated"); cut > 0) {
      // Said, not only counted: with a short snap length (tcpdump -s 96) no
      // ClientHello or certificate is read whole, and the devices are missing.
      std::fprintf(stderr,
                   "provaudit: warning: %s: %s cut short by the capture's snap length: TLS handshakes and HTTP "
                   "requests in them cannot be read whole (capture with tcpdump -s 0)\n",
                   rec.name.c_str(), counted(cut, "packet was", "packets were").c_str());
    }
    if (pipe.writerFailed()) break;  // the writer's error, below, says why
    pipe.withDatabase([&](store::Database& d) { d.transaction([&] { d.saveSource(rec, delta); }); });
    last_saved.emplace(std::move(rec), std::move(delta));
  }
  if (carried) engine.finish(*carried);  // the next file could not be read after all
  pipe.stopWriter();
  const auto read_done = std::chrono::steady_clock::now();
  // A dashboard serves the result after this (and holds the process): the
  // evidence is released then; otherwise the process ends with it.
  const analyze::AuditResult& result = pipe.lastAudit(dashboard == nullptr);
  pipe.anomalies().merge(pipe.auditAnomalies());
  if (last_saved && pipe.auditAnomalies().total() > 0) {
    // Sightings past --max-sightings, rows that did not decode: with the last file read.
    last_saved->second.merge(pipe.auditAnomalies());
    db.transaction([&] { db.saveSource(last_saved->first, last_saved->second); });
  }
  const auto audit_done = std::chrono::steady_clock::now();
  const auto& t = pipe.totals();
  if (common.verbose > 0) {
    std::fprintf(stderr, "provaudit: reading %.2f s, audit and store %.2f s\n",
                 std::chrono::duration<double>(read_done - run_start).count(),
                 std::chrono::duration<double>(audit_done - read_done).count());
    if (common.verbose > 1) std::fprintf(stderr, "provaudit: %s\n", heapPagesDescription().c_str());
    const auto& at = pipe.auditTimes();
    std::fprintf(stderr,
                 "provaudit: sightings written in %.2f s; %s: load sightings %.2f s, derive %.2f s, "
                 "write %.2f s (%s; rows %.2f, indexes %.2f, search index %.2f), commit %.2f s; "
                 "WAL writeback started %s\n",
                 at.sightings_s, counted(static_cast<std::uint64_t>(at.audits), "audit", "audits").c_str(), at.load_s,
                 at.derive_s, at.store_s, counted(at.rows_written, "device row", "device rows").c_str(),
                 at.store_parts.rows_s, at.store_parts.indexes_s, at.store_parts.search_s, at.commit_s,
                 counted(db.walWritebacks(), "time", "times").c_str());
    const auto& fs = engine.stats();
    const capture::FlowLimits& limits = engine.limits();
    const auto mib = [](std::uint64_t b) { return static_cast<double>(b) / (1 << 20); };
    std::fprintf(stderr,
                 "provaudit: reassembly held at most %.1f MiB out of order (limit %.0f) and %.1f MiB in parsers "
                 "(limit %.0f); %llu flows cut at that limit; the writer's queue held at most %.1f MiB (limit %.0f)\n",
                 mib(fs.buffered_bytes_peak), mib(limits.max_buffered_total), mib(fs.handler_bytes_peak),
                 mib(limits.max_handler_bytes_total), static_cast<unsigned long long>(fs.flows_cut),
                 mib(pipe.pendingPeakBytes()), mib(MAX_PENDING_BYTES));
  }
  {
    const auto& fs = engine.stats();
    const std::pair<const char*, std::uint64_t> stats[] = {
        {"packets", t.packets},          {"bytes", t.bytes},
        {"flows", fs.flows_created},     {"flows_bypassed", fs.flows_bypassed},
        {"flows_evicted", fs.flows_evicted}, {"tls_handshakes", t.tls_handshakes},
        {"http_requests", t.http_requests},  {"client_certificates", t.client_certs},
        {"sources_read", t.sources_ok},  {"sources_failed", t.sources_failed},
        {"cert_cache_evictions", pipe.certs().evictions()}};
    db.transaction([&] {
      for (const auto& [name, value] : stats) db.addStat(name, static_cast<std::int64_t>(value));
    });
  }
  if (!common.quiet) {
    std::map<std::string, int> classes;
    for (const auto& d : result.devices) classes[d.identity]++;
    std::uint64_t findings = 0;
    for (const auto& d : result.devices) findings += d.findings.size();
    const auto& fs = engine.stats();
    std::fprintf(stderr, "provaudit: %s, %s, %s (%s), %s; %s (individualized %d, generic %d, none %d, unknown %d), %s, %s\n",
                 counted(t.packets, "packet", "packets").c_str(), counted(fs.flows_created, "flow", "flows").c_str(),
                 counted(t.tls_handshakes, "TLS handshake", "TLS handshakes").c_str(),
                 counted(t.client_certs, "client certificate", "client certificates").c_str(),
                 counted(t.http_requests, "HTTP request", "HTTP requests").c_str(),
                 counted(result.devices.size(), "device", "devices").c_str(), classes["individualized"],
                 classes["generic"], classes["none"], classes["unknown"],
                 counted(findings, "finding", "findings").c_str(),
                 counted(pipe.anomalies().total(), "anomaly", "anomalies").c_str());
    if (common.verbose > 0) {
      pipe.anomalies().forEach([](const std::string& n, std::uint64_t c) {
        std::fprintf(stderr, "  anomaly %s: %llu\n", n.c_str(), static_cast<unsigned long long>(c));
      });
    }
  }
  if (dashboard) dashboard->wait();  // keep serving the result until Ctrl-C
  if (pipe.eventsLost() > 0) {
    printError(common.events + ": " + std::to_string(pipe.eventsLost()) + " events could not be written");
  }
  // Exit status 1 when nothing at all could be read, or events were lost.
  const int status = t.sources_ok == 0 || pipe.eventsLost() > 0 ? 1 : 0;
  leaveToExit(std::move(owned));
  return status;
}

}  // namespace

void setupReplay(CLI::App& app, CommonOptions& common) {
  auto opts = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand("replay", "read pcap/pcapng files ('-' for stdin) into the audit database");
  addCommonOptions(*cmd, common);
  cmd->add_option("--serve", common.serve, "also serve the dashboard on ADDR:PORT (updates live; keeps serving after)");
  cmd->add_option("--token", common.token, "dashboard bearer token (required for a non-loopback --serve)");
  cmd->add_option("files", opts->files, "capture files (pcap or pcapng); '-' reads standard input")->required();
  cmd->callback([&common, opts]() {
    try {
      g_exit_status = runReplay(common, *opts);
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
