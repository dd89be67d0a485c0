#include "robust_util.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace robust {
namespace fs = std::filesystem;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);  // a child that never wrote leaves no file: ""
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::uint32_t le32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return std::uint32_t{b[at]} | (std::uint32_t{b[at + 1]} << 8) | (std::uint32_t{b[at + 2]} << 16) |
         (std::uint32_t{b[at + 3]} << 24);
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}
}  // namespace

std::string bin() {
  // PROVAUDIT_TEST_BIN runs the tests against another build of the binary.
  const char* override_bin = std::getenv("PROVAUDIT_TEST_BIN");
  return override_bin != nullptr && *override_bin != '\0' ? override_bin : PROVAUDIT_BIN;
}

std::string tmpPath(const std::string& name) {
  static std::atomic<int> counter{0};
  const fs::path dir = fs::path(PROVAUDIT_TEST_TMP) / std::to_string(::getpid());
  fs::create_directories(dir);
  const std::string p = (dir / (std::to_string(counter++) + "-" + name)).string();
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(p + suffix, ec);
  return p;
}

std::string samplePath(const std::string& name) { return std::string(PROVAUDIT_SOURCE_DIR) + "/samples/" + name; }

std::vector<std::uint8_t> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Child spawn(const std::vector<std::string>& argv, bool stdin_pipe, const std::string& stdin_file) {
  Child c;
  c.out_path = tmpPath("child.out");
  c.err_path = tmpPath("child.err");
  int fds[2] = {-1, -1};
  // Close-on-exec: other children (report readers) must not inherit the write end and hold EOF back.
  if (stdin_pipe && ::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int o = ::open(c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int i = stdin_pipe ? fds[0] : ::open(stdin_file.empty() ? "/dev/null" : stdin_file.c_str(), O_RDONLY);
    if (o < 0 || e < 0 || i < 0) ::_exit(127);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::dup2(i, 0);
    if (stdin_pipe) ::close(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  c.pid = pid;
  if (stdin_pipe) {
    ::close(fds[0]);
    c.stdin_fd = fds[1];
  }
  return c;
}

RunResult wait(Child& c) {
  if (c.stdin_fd >= 0) {
    ::close(c.stdin_fd);
    c.stdin_fd = -1;
  }
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  RunResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(c.out_path);
  r.err = slurp(c.err_path);
  return r;
}

RunResult run(const std::vector<std::string>& argv, const std::string& stdin_file) {
  Child c = spawn(argv, false, stdin_file);
  return wait(c);
}

std::vector<PcapRecord> pcapRecords(const std::vector<std::uint8_t>& file) {
  std::vector<PcapRecord> out;
  if (file.size() < 24 || le32(file, 0) != 0xA1B2C3D4) throw std::runtime_error("not a little-endian usec pcap");
  std::size_t off = 24;
  while (off + 16 <= file.size()) {
    PcapRecord r;
    r.offset = off;
    r.ts_ns = static_cast<std::int64_t>(le32(file, off)) * 1'000'000'000 + std::int64_t{le32(file, off + 4)} * 1000;
    r.caplen = le32(file, off + 8);
    r.origlen = le32(file, off + 12);
    if (r.end() > file.size()) break;
    out.push_back(r);
    off = r.end();
  }
  return out;
}

std::vector<std::uint8_t> toPcapng(const std::vector<std::uint8_t>& pcap, std::size_t extra_every) {
  std::vector<std::uint8_t> b;
  // Section Header Block (pcapng §4.1): type, length, byte-order magic, version 1.0, section length -1.
  put32(b, 0x0A0D0D0A);
  put32(b, 28);
  put32(b, 0x1A2B3C4D);
  put16(b, 1);
  put16(b, 0);
  put32(b, 0xFFFFFFFF);
  put32(b, 0xFFFFFFFF);
  put32(b, 28);
  // Interface Description Block (§4.2): link type, reserved, snap length; default resolution (microseconds).
  put32(b, 1);
  put32(b, 20);
  put16(b, static_cast<std::uint16_t>(le32(pcap, 20)));
  put16(b, 0);
  put32(b, le32(pcap, 16));
  put32(b, 20);
  std::size_t n = 0;
  for (const PcapRecord& r : pcapRecords(pcap)) {
    // Enhanced Packet Block (§4.3): interface 0, 64-bit microsecond timestamp, lengths, padded data.
    const std::uint32_t padded = (r.caplen + 3U) & ~3U;
    const std::uint32_t len = 32 + padded;
    const std::uint64_t us = static_cast<std::uint64_t>(r.ts_ns / 1000);
    put32(b, 6);
    put32(b, len);
    put32(b, 0);
    put32(b, static_cast<std::uint32_t>(us >> 32));
    put32(b, static_cast<std::uint32_t>(us));
    put32(b, r.caplen);
    put32(b, r.origlen);
    b.insert(b.end(), pcap.begin() + static_cast<std::ptrdiff_t>(r.offset + 16),
             pcap.begin() + static_cast<std::ptrdiff_t>(r.end()));
    b.insert(b.end(), padded - r.caplen, 0);
    put32(b, len);
    if (extra_every > 0 && ++n % extra_every == 0) {
      // A block type nobody defined: readers must skip it by its length.
      put32(b, 0x00000BAD);
      put32(b, 20);
      put32(b, 0xDEADBEEF);
      put32(b, 0x01020304);
      put32(b, 20);
    }
  }
  return b;
}

std::map<std::string, DeviceSummary> devicesByMac(const boost::json::value& rep) {
  std::map<std::string, DeviceSummary> out;
  for (const auto& d : rep.at("devices").as_array()) {
    const auto& o = d.as_object();
    DeviceSummary s;
    s.identity = std::string(o.at("identity").as_string());
    if (const auto* cert = o.if_contains("cert"); cert != nullptr && cert->is_object())
      s.cert_sha256 = std::string(cert->as_object().at("sha256").as_string());
    s.first_seen = std::string(o.at("first_seen").as_string());
    s.last_seen = std::string(o.at("last_seen").as_string());
    const auto* mac = o.if_contains("mac");
    const std::string key = mac != nullptr && mac->is_string() ? std::string(mac->as_string())
                                                               : std::string(o.at("id").as_string());
    out[key] = s;
  }
  return out;
}

boost::json::value report(const std::string& db) {
  const RunResult r = run({bin(), "report", "--db", db, "--format", "json"});
  if (r.status != 0) throw std::runtime_error("report failed: " + r.err);
  return boost::json::parse(r.out);
}

std::size_t lineCount(const std::string& text) {
  std::size_t n = 0;
  for (char ch : text) n += ch == '\n' ? 1 : 0;
  return n;
}

}  // namespace robust
