// provaudit replay FILE... : read capture files into the audit database.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "app/commands.h"
#include "app/huge_page_heap.h"
#include "app/pipeline.h"
#include "capture/capture_engine.h"
#include "capture/capture_set.h"
#include "capture/packet_source.h"
#include "capture/pcapng_reader.h"
#include "common/text.h"
#include "store/sqlite_util.h"
#include "web/server.h"

namespace provaudit::app {
namespace {

// The link types of one file kept to be named (a pcapng's interfaces may
// each have one; a hostile file, thousands).
constexpr std::size_t LINKTYPES_NAMED_MAX = 8;

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
    std::string line = "\r" + terminalText(src.name()) + ": " + humanBytes(done);
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

// The files to read: each directory among `args` stands for the capture
// files in it and below (capture::capturesIn); the other files there are
// named in one line each directory (unless quiet). A directory with no
// capture file stays as given: reading it says so, as for a missing file.
std::vector<std::string> withDirectoriesRead(const std::vector<std::string>& args, bool quiet) {
  constexpr std::size_t NAMED_MAX = 3;
  std::vector<std::string> out;
  for (const auto& arg : args) {
    struct stat st {};
    if (arg == "-" || ::stat(arg.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      out.push_back(arg);
      continue;
    }
    const capture::DirectoryCaptures found = capture::capturesIn(arg);
    if (found.captures.empty()) out.push_back(arg);
    out.insert(out.end(), found.captures.begin(), found.captures.end());
    if (quiet || found.left_out.empty()) continue;
    std::string named;
    for (std::size_t i = 0; i < found.left_out.size() && i < NAMED_MAX; ++i) {
      named +=
          (i ? ", " : "") + terminalText(std::filesystem::path(found.left_out[i]).lexically_relative(arg).string());
    }
    if (found.left_out.size() > NAMED_MAX) named += " and " + std::to_string(found.left_out.size() - NAMED_MAX) + " more";
    std::fprintf(stderr, "provaudit: %s: left out, not captures: %s\n", terminalText(arg).c_str(), named.c_str());
  }
  return out;
}

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
  // The rules first: a rule set that does not load leaves no database behind.
  std::shared_ptr<const analyze::RuleSet> rules = loadRules(common.rules);
  store::Database db(common.db, store::Database::Mode::ReadWrite);
  auto owned = std::make_unique<Pipeline>(common, std::move(rules), db);
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
  // The files as one capture (capture/capture_set.h), in the time order of
  // their first packets: files that overlap in time are read merged, packet
  // by packet in time order (a tap's two directions captured apart), and the
  // flows open when one file ends carry on into the next if it starts within
  // their idle timeout (a rotated capture). With standard input or a pipe
  // among them, each file is read on its own, in the order given.
  const std::vector<std::string> given = withDirectoriesRead(opts.files, common.quiet);
  const std::vector<capture::CaptureFile> files = capture::inTimeOrder(given);
  const bool one_capture =
      std::any_of(files.begin(), files.end(), [](const capture::CaptureFile& f) { return f.first_ns.has_value(); });
  if (common.verbose > 0 && !std::equal(files.begin(), files.end(), given.begin(), given.end(),
                                        [](const capture::CaptureFile& f, const std::string& p) { return f.path == p; })) {
    std::fprintf(stderr, "provaudit: reading the %zu files in the time order of their first packets\n", files.size());
  }
  // A file being read: its next packet, read ahead, and what it has given so far.
  struct Reading {
    std::unique_ptr<capture::PacketSource> src;
    capture::RawPacket pkt;     // its next packet (valid until src->next())
    capture::ReadStatus st = capture::ReadStatus::End;
    store::SourceRecord rec;
    AnomalyCounters anomalies;  // counted while its packets were analysed
    PacketRef last{};
    // The link types of its packets, as first met (a pcapng's interfaces may
    // differ), so that those not decoded can be named; the last packet's.
    std::vector<int> linktypes;
    int linktype = -1;
    // The decryption secrets it carried (pcapng Decryption Secrets Blocks).
    bool tls_key_logs = false;          // a TLS key log among them
    std::uint64_t tls_keys = 0;         // its lines taken as keys
    std::uint64_t secrets_skipped = 0;  // secrets of other kinds (SSH, WireGuard, ...): not ours to use
    std::set<std::string> kinds_skipped;
    std::uint64_t secrets_damaged = 0;
    std::string first_secrets_damage;
  };
  std::vector<std::unique_ptr<Reading>> reading;  // open files (more than one only while they overlap)
  std::size_t next_file = 0;
  std::uint64_t read_packets = 0;
  // The latest packet read, and whether the flows since the capture began are still open.
  PacketRef capture_last{};
  bool flows_open = false;
  bool stop = false;
  bool merge_limit_said = false;
  std::uint64_t sources_cut = 0;  // read up to damage (a truncated file): what came before it is audited
  const std::int64_t idle_ns = engine.limits().idle_timeout_ns;
  // Opens the next file and reads its first packet (one that cannot be opened is said and counted).
  const auto openNext = [&]() {
    const std::string& path = files[next_file++].path;
    ++source_id;
    std::string err;
    auto r = std::make_unique<Reading>();
    r->src = capture::openCaptureFile(path, source_id, err);
    if (!r->src) {
      printError(err);
      ++pipe.totals().sources_failed;
      return;
    }
    pipe.factory().setSourceName(source_id, path == "-" ? std::string("<stdin>") : path);
    // A TLS key log in the capture (editcap --inject-secrets, Wireshark's
    // "Inject TLS secrets") opens the sessions after it as --keylog would.
    Reading* const file = r.get();  // owns the source, so outlives the handler
    r->src->setSecretsHandler([&pipe, file](const capture::CaptureSecrets& s) {
      if (!s.damage.empty()) {
        if (file->secrets_damaged++ == 0) file->first_secrets_damage = s.damage;
      } else if (s.type == capture::PCAPNG_SECRETS_TLS_KEY_LOG) {
        file->tls_key_logs = true;
        file->tls_keys +=
            pipe.addCaptureKeyLog(std::string_view(reinterpret_cast<const char*>(s.data.data()), s.data.size()));
      } else {
        ++file->secrets_skipped;
        file->kinds_skipped.insert(capture::pcapngSecretsTypeName(s.type));
      }
    });
    r->rec.name = path == "-" ? "<stdin>" : path;
    r->rec.kind = path == "-" ? "stdin" : "file";
    r->st = r->src->next(r->pkt);
    if (r->st == capture::ReadStatus::Packet) r->rec.first_ts_ns = r->pkt.ref.ts_ns;
    if (common.verbose > 0 && !reading.empty() && r->st == capture::ReadStatus::Packet) {
      std::fprintf(stderr, "provaudit: %s overlaps %s in time: their packets are read merged, in time order\n",
                   terminalText(r->rec.name).c_str(), terminalText(reading.front()->rec.name).c_str());
    }
    progress.restart();
    reading.push_back(std::move(r));
  };
  // A file read to its end (or its damage): recorded, and if the capture ends
  // with it (no other file open, and the next does not continue it), so do its flows.
  const auto close = [&](std::size_t at) {
    Reading& r = *reading[at];
    progress.update(*r.src, true);
    progress.done();
    r.rec.last_ts_ns = r.last.ts_ns;
    r.rec.status = "complete";
    if (r.st == capture::ReadStatus::Error) {
      // Everything read before the damage is kept and audited.
      printError(r.src->error());
      r.rec.status = "error";
      r.rec.error = r.src->error();
    }
    if (const std::uint64_t damaged = r.src->damagedSkipped(); damaged > 0) {
      // Packets the file damaged, each in a block of its own: the ones after
      // them were read. Without any packet read, the file is as good as unreadable.
      const std::string what = terminalText(r.src->name()) + ": " +
                               counted(damaged, "damaged packet block", "damaged packet blocks") +
                               " skipped, the packets after " + (damaged == 1 ? "it" : "them") +
                               " read (the first: " + r.src->firstDamage() + ")";
      r.anomalies.inc(PA_ANOMALY("capture_block_damaged"), damaged);
      pipe.anomalies().inc(PA_ANOMALY("capture_block_damaged"), damaged);
      if (r.rec.packets == 0 && r.st != capture::ReadStatus::Error) {
        printError(what);
        r.rec.status = "error";
        r.rec.error = what;
      } else {
        std::fprintf(stderr, "provaudit: warning: %s\n", what.c_str());
      }
    }
    if (r.tls_key_logs && !common.quiet) {
      std::fprintf(stderr, "provaudit: %s: %s taken from the TLS key log the capture carries, as --keylog's\n",
                   terminalText(r.rec.name).c_str(), counted(r.tls_keys, "TLS key", "TLS keys").c_str());
    }
    if (r.secrets_skipped > 0) {
      r.anomalies.inc(PA_ANOMALY("capture_secrets_unsupported"), r.secrets_skipped);
      pipe.anomalies().inc(PA_ANOMALY("capture_secrets_unsupported"), r.secrets_skipped);
      if (common.verbose > 0) {
        std::string kinds;
        for (const auto& k : r.kinds_skipped) kinds += (kinds.empty() ? "" : ", ") + k;
        std::fprintf(
            stderr, "provaudit: %s: %s skipped (%s): only TLS key logs are used\n", terminalText(r.rec.name).c_str(),
            counted(r.secrets_skipped, "decryption secrets block", "decryption secrets blocks").c_str(), kinds.c_str());
      }
    }
    if (r.secrets_damaged > 0) {
      // Its keys are lost: the sessions they open stay encrypted (counted by reason as they go by).
      r.anomalies.inc(PA_ANOMALY("capture_secrets_damaged"), r.secrets_damaged);
      pipe.anomalies().inc(PA_ANOMALY("capture_secrets_damaged"), r.secrets_damaged);
      std::fprintf(
          stderr, "provaudit: warning: %s: %s skipped, the keys in %s lost (the first: %s)\n",
          terminalText(r.rec.name).c_str(),
          counted(r.secrets_damaged, "damaged decryption secrets block", "damaged decryption secrets blocks").c_str(),
          r.secrets_damaged == 1 ? "it" : "them", terminalText(r.first_secrets_damage).c_str());
    }
    if (const std::uint64_t unknown = r.src->timesUnknown(); unknown > 0) {
      // Read all the same (counted as packet_time_unknown as they went by):
      // only their time is lost, and no validity is judged against it.
      std::fprintf(stderr,
                   "provaudit: warning: %s: %s read with an unknown time (the first: %s); no certificate was judged "
                   "expired or not yet valid against %s\n",
                   terminalText(r.src->name()).c_str(), counted(unknown, "packet", "packets").c_str(),
                   terminalText(r.src->firstTimeUnknown()).c_str(), unknown == 1 ? "it" : "them");
    }
    // Packets in a link type the decoder does not read: said, naming it. A
    // file none of whose packets could be decoded was not read at all: an
    // error (exit status 1), as tcpdump refuses a link type it cannot print.
    bool none_decoded = false;
    if (const std::uint64_t undecoded = r.anomalies.get("unsupported_linktype"); undecoded > 0) {
      std::string types;
      std::size_t named = 0;
      for (const int lt : r.linktypes) {
        if (capture::isDecodedLinkType(lt)) continue;
        types += (named++ == 0 ? "" : ", ") + capture::linkTypeText(lt);
      }
      const std::string in = std::string(undecoded == 1 ? " is in " : " are in ") +
                             (named == 1 ? "link type " : "link types ") + types + ", which provaudit does not decode: ";
      none_decoded = undecoded >= r.rec.packets;
      if (none_decoded) {
        const std::string what = terminalText(r.rec.name) + ": " +
                                 (undecoded == 1 ? std::string("its packet") : "its " + std::to_string(undecoded) + " packets") +
                                 in + "nothing in it was read";
        printError(what);
        r.rec.status = "error";
        if (r.rec.error.empty()) r.rec.error = what;
      } else {
        std::fprintf(stderr, "provaudit: warning: %s: %s of its %s%s%s\n", terminalText(r.rec.name).c_str(),
                     std::to_string(undecoded).c_str(), counted(r.rec.packets, "packet", "packets").c_str(), in.c_str(),
                     undecoded == 1 ? "it was not read" : "they were not read");
      }
    }
    if (!none_decoded && (r.rec.packets > 0 || r.rec.status != "error")) ++pipe.totals().sources_ok;
    else ++pipe.totals().sources_failed;
    if (!none_decoded && r.rec.packets > 0 && r.rec.status == "error") ++sources_cut;
    pipe.totals().packets += r.rec.packets;
    pipe.totals().bytes += r.rec.bytes;
    if (reading.size() == 1 && flows_open) {
      const std::optional<std::int64_t> next_first = next_file < files.size() ? files[next_file].first_ns : std::nullopt;
      if (one_capture && next_first && capture::continuesCapture(capture_last.ts_ns, *next_first, idle_ns)) {
        if (common.verbose > 0) {
          std::fprintf(stderr, "provaudit: %s continues in %s: its flows carry over (%s in the table)\n",
                       terminalText(r.rec.name).c_str(), terminalText(files[next_file].path).c_str(),
                       counted(engine.activeFlows(), "flow", "flows").c_str());
        }
      } else {
        const AnomalyCounters before = pipe.anomalies();
        engine.finish(capture_last);  // the end of a capture: its flows end here
        flows_open = false;
        r.anomalies.mergeSince(pipe.anomalies(), before);
      }
    }
    r.rec.key = r.rec.name + "@" + std::to_string(r.rec.first_ts_ns);
    if (const std::uint64_t cut = r.anomalies.get("snaplen_truncated"); cut > 0) {
      // Said, not only counted: with a short snap length (tcpdump -s 96) no
      // ClientHello or certificate is read whole, and the devices are missing.
      std::fprintf(stderr,
                   "provaudit: warning: %s: %s cut short by the capture's snap length: TLS handshakes and HTTP "
                   "requests in them cannot be read whole (capture with tcpdump -s 0)\n",
                   terminalText(r.rec.name).c_str(), counted(cut, "packet was", "packets were").c_str());
    }
    if (!pipe.writerFailed()) {  // (otherwise the writer's error, below, says why)
      pipe.withDatabase([&](store::Database& d) { d.transaction([&] { d.saveSource(r.rec, r.anomalies); }); });
      last_saved.emplace(std::move(r.rec), std::move(r.anomalies));
    }
    reading.erase(reading.begin() + static_cast<std::ptrdiff_t>(at));
  };
  // The open files, the one with the earliest next packet first (among
  // equals, the one opened first).
  const auto earliestFirst = [&reading]() {
    std::stable_sort(reading.begin(), reading.end(),
                     [](const auto& a, const auto& b) { return a->pkt.ref.ts_ns < b->pkt.ref.ts_ns; });
  };
  // The run's anomaly counters when the current file's run began (kept, so
  // that merged files alternating often do not allocate a copy each time).
  AnomalyCounters mark;
  while (!stop) {
    // Every file whose first packet is due (in one capture: no later than the
    // earliest packet of the files open), or the next one when none is open.
    while (next_file < files.size() && (reading.empty() || (one_capture && files[next_file].first_ns &&
                                                            *files[next_file].first_ns <= reading.front()->pkt.ref.ts_ns))) {
      if (reading.size() >= capture::MAX_MERGED_FILES) {
        if (!merge_limit_said) {
          merge_limit_said = true;
          std::fprintf(stderr,
                       "provaudit: warning: more than %zu files overlap in time: %s and those after it are read as "
                       "the others end, their packets out of time order\n",
                       capture::MAX_MERGED_FILES, terminalText(files[next_file].path).c_str());
        }
        break;
      }
      openNext();
      if (!reading.empty() && reading.back()->st != capture::ReadStatus::Packet) close(reading.size() - 1);
      earliestFirst();
    }
    if (reading.empty()) break;
    // Read the earliest file alone up to the next packet due from another
    // file: with one file open, that is to its end (or the next file's start).
    Reading& r = *reading.front();
    std::int64_t horizon = std::numeric_limits<std::int64_t>::max();
    if (reading.size() > 1) horizon = reading[1]->pkt.ref.ts_ns;
    if (one_capture && next_file < files.size() && files[next_file].first_ns &&
        reading.size() < capture::MAX_MERGED_FILES) {
      horizon = std::min(horizon, *files[next_file].first_ns - 1);
    }
    mark = pipe.anomalies();
    do {
      ++r.rec.packets;
      r.rec.bytes += r.pkt.orig_len;
      r.last = r.pkt.ref;
      if (r.pkt.linktype != r.linktype) {
        r.linktype = r.pkt.linktype;
        if (r.linktypes.size() < LINKTYPES_NAMED_MAX &&
            std::find(r.linktypes.begin(), r.linktypes.end(), r.linktype) == r.linktypes.end()) {
          r.linktypes.push_back(r.linktype);
        }
      }
      engine.onPacket(r.pkt);
      if ((++read_packets & 0x3ff) == 0) {
        progress.update(*r.src);
        // Nothing read from here on could be stored: stop, and say why (stopWriter).
        if (pipe.writerFailed()) {
          stop = true;
          break;
        }
      }
    } while ((r.st = r.src->next(r.pkt)) == capture::ReadStatus::Packet && r.pkt.ref.ts_ns <= horizon);
    r.anomalies.mergeSince(pipe.anomalies(), mark);
    capture_last = r.last;
    flows_open = true;
    if (stop) break;
    if (r.st != capture::ReadStatus::Packet) {
      close(0);
    } else {
      earliestFirst();
    }
  }
  if (flows_open) engine.finish(capture_last);  // stopped early: the flows end with the reading
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
  // Nothing read at all: the errors said why, and a summary of nothing adds a line.
  if (!common.quiet && t.sources_ok > 0) {
    std::map<std::string, int> classes;
    for (const auto& d : result.devices) classes[d.identity]++;
    std::uint64_t findings = 0;
    for (const auto& d : result.devices) findings += d.findings.size();
    for (const auto& srv : result.servers) findings += srv.findings.size();  // as the dashboard counts them
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
  // Exit status 1 (design.md: bad input) when an input could not be read, or
  // only up to damage, or events were lost; whatever could be read is audited
  // and stored all the same, and each error was said on its own line.
  const bool bad_input = t.sources_ok == 0 || t.sources_failed > 0 || sources_cut > 0;
  const int status = bad_input || pipe.eventsLost() > 0 ? 1 : 0;
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
  cmd->add_option("files", opts->files,
                  "capture files (pcap or pcapng, or either gzip- or zstd-compressed); a directory: the capture files "
                  "in it and below; '-' reads standard input")
      ->required();
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
