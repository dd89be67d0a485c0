#pragma once
// Helpers for end-to-end tests: run commands, temp files, JSON loading.
#include <boost/json.hpp>
#include <string>
#include <vector>

namespace e2e {

struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
};

// Runs argv (no shell), capturing stdout and stderr.
RunResult run(const std::vector<std::string>& argv, const std::string& stdin_file = "");
std::string tmpPath(const std::string& name);  // fresh path under the test tmp dir (old file removed)
std::string samplePath(const std::string& name);
std::vector<std::string> expectedFiles();      // samples/expected/*.json, sorted
std::string readFile(const std::string& path);  // whole, as bytes ("" when it cannot be read)
boost::json::value readJson(const std::string& path);
boost::json::value parseJson(const std::string& text);
bool haveTool(const std::string& name);
std::string sha256Hex(const std::vector<unsigned char>& bytes);
std::vector<unsigned char> fromHex(const std::string& hex);

// provaudit replay FILES into a fresh database, then report --format json.
boost::json::value replayReport(const std::vector<std::string>& files, const std::vector<std::string>& extra_args,
                                const std::string& db_name);

}  // namespace e2e
