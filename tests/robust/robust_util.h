#pragma once
// Helpers for the end-to-end robustness tests (tests/robust/): run the real
// binary (blocking or in the background), scratch paths unique per test
// process (CTest runs test cases in parallel), pcap/pcapng surgery, and the
// device table of a report.
#include <boost/json.hpp>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace robust {

struct RunResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs argv (no shell) with stdin from `stdin_file` ("" = /dev/null).
RunResult run(const std::vector<std::string>& argv, const std::string& stdin_file = "");

// A child running in the background; its stdout/stderr go to files.
struct Child {
  int pid = -1;
  int stdin_fd = -1;  // write end of its stdin pipe when started with a pipe, else -1
  std::string out_path, err_path;
};
// stdin: a pipe (write to Child::stdin_fd), else `stdin_file`, else /dev/null.
Child spawn(const std::vector<std::string>& argv, bool stdin_pipe, const std::string& stdin_file = "");
RunResult wait(Child& c);  // closes the stdin pipe if still open, waits, collects output

std::string bin();                                // the provaudit binary under test
std::string tmpPath(const std::string& name);     // fresh scratch path, unique to this process
std::string samplePath(const std::string& name);  // samples/<name>
std::vector<std::uint8_t> readFile(const std::string& path);
void writeFile(const std::string& path, const std::vector<std::uint8_t>& bytes);

// Classic pcap (as tcpdump writes it: little-endian, microseconds).
struct PcapRecord {
  std::size_t offset = 0;  // of the 16-byte record header
  std::uint32_t caplen = 0;
  std::uint32_t origlen = 0;
  std::int64_t ts_ns = 0;
  [[nodiscard]] std::size_t end() const { return offset + 16 + caplen; }
};
std::vector<PcapRecord> pcapRecords(const std::vector<std::uint8_t>& file);
// The same packets as pcapng (SHB, one IDB, EPBs); `extra_every` > 0 inserts an
// unknown block (type 0x00000BAD, valid length) after every that many EPBs.
std::vector<std::uint8_t> toPcapng(const std::vector<std::uint8_t>& pcap, std::size_t extra_every);

// One device of a JSON report, reduced to what a cut file must reproduce.
struct DeviceSummary {
  std::string identity;
  std::string cert_sha256;  // "" without a certificate
  std::string first_seen, last_seen;
};
std::map<std::string, DeviceSummary> devicesByMac(const boost::json::value& report);
boost::json::value report(const std::string& db);  // provaudit report --format json, parsed

std::size_t lineCount(const std::string& text);  // '\n'-terminated lines

}  // namespace robust
