#pragma once
// A directory of its own for one test: the process id and a counter in its
// name (parallel ctest runs and several tests in one binary never share it),
// removed with everything in it when the test ends, however it ends.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace provaudit::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix)
      : dir_(std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(next()))) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] std::string path(const std::string& name) const { return (dir_ / name).string(); }

 private:
  static unsigned next() {
    static std::atomic<unsigned> n{0};
    return n++;
  }
  std::filesystem::path dir_;
};

}  // namespace provaudit::testing
