#include "e2e_util.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace e2e {
namespace fs = std::filesystem;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

RunResult run(const std::vector<std::string>& argv, const std::string& stdin_file) {
  const std::string out_path = tmpPath("run.out");
  const std::string err_path = tmpPath("run.err");
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int i = open(stdin_file.empty() ? "/dev/null" : stdin_file.c_str(), O_RDONLY);
    if (o < 0 || e < 0 || i < 0) _exit(127);
    dup2(o, 1);
    dup2(e, 2);
    dup2(i, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  RunResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = readFile(out_path);
  r.err = readFile(err_path);
  return r;
}

std::string tmpPath(const std::string& name) {
  // One folder per process: CTest runs test cases in parallel processes.
  const std::string dir = std::string(PROVAUDIT_TEST_TMP) + "/" + std::to_string(getpid());
  fs::create_directories(dir);
  const std::string p = dir + "/" + name;
  std::error_code ec;
  fs::remove(p, ec);
  fs::remove(p + "-wal", ec);
  fs::remove(p + "-shm", ec);
  return p;
}

std::string samplePath(const std::string& name) { return std::string(PROVAUDIT_SOURCE_DIR) + "/samples/" + name; }

std::vector<std::string> expectedFiles() {
  std::vector<std::string> out;
  const fs::path dir = fs::path(PROVAUDIT_SOURCE_DIR) / "samples" / "expected";
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

boost::json::value parseJson(const std::string& text) { return boost::json::parse(text); }

boost::json::value readJson(const std::string& path) { return parseJson(readFile(path)); }

bool haveTool(const std::string& name) {
  return run({"sh", "-c", "command -v " + name + " >/dev/null 2>&1"}).status == 0;
}

std::string sha256Hex(const std::vector<unsigned char>& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < n; ++i) {
    s.push_back(digits[md[i] >> 4]);
    s.push_back(digits[md[i] & 0xf]);
  }
  return s;
}

std::vector<unsigned char> fromHex(const std::string& hex) {
  std::vector<unsigned char> out;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int hi = -1;
  for (char c : hex) {
    const int v = val(c);
    if (v < 0) continue;  // separators (':')
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<unsigned char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

boost::json::value replayReport(const std::vector<std::string>& files, const std::vector<std::string>& extra_args,
                                const std::string& db_name) {
  const std::string db = tmpPath(db_name);
  std::vector<std::string> argv{PROVAUDIT_BIN, "replay", "-q", "--db", db};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  argv.insert(argv.end(), files.begin(), files.end());
  const RunResult r = run(argv);
  if (r.status != 0) throw std::runtime_error("replay failed (" + std::to_string(r.status) + "): " + r.err);
  const RunResult rep = run({PROVAUDIT_BIN, "report", "--db", db, "--format", "json"});
  if (rep.status != 0) throw std::runtime_error("report failed: " + rep.err);
  return parseJson(rep.out);
}

}  // namespace e2e
