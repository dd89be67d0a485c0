// The memory this process may use, from cgroup trees laid out as the kernel
// lays them out (v2 unified, v1 memory controller, hybrid), in a directory of
// the test's own: the tightest limit of the process's cgroup and its
// ancestors, "max" and v1's "unlimited" as no limit, unreadable or malformed
// files skipped. (tests/live/memory_limit_test.sh runs the binary in a real
// cgroup.)
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/memory_limit.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using provaudit::cgroupMemoryLimit;

void put(const std::string& file, const std::string& text) {
  fs::create_directories(fs::path(file).parent_path());
  std::ofstream(file) << text;
}

constexpr const char* V1_UNLIMITED = "9223372036854771712\n";

}  // namespace

TEST_CASE("cgroup v2: the process's own memory.max, or the tightest of its ancestors'") {
  provaudit::testing::TempDir dir("pa-cgroup");
  const fs::path root = dir.path("fs");
  put(root / "memory.max", "max\n");  // the root has none in a real tree; a container's view may
  put(root / "system.slice/memory.max", "max\n");
  put(root / "system.slice/provaudit.service/memory.max", "2147483648\n");
  const std::string self = "0::/system.slice/provaudit.service\n";

  auto limit = cgroupMemoryLimit(self, root);
  REQUIRE(limit);
  CHECK(limit->bytes == 2147483648ULL);
  CHECK(limit->source == "memory.max of cgroup /system.slice/provaudit.service");

  put(root / "system.slice/memory.max", "1073741824\n");  // a parent's tighter limit binds the child
  limit = cgroupMemoryLimit(self, root);
  REQUIRE(limit);
  CHECK(limit->bytes == 1073741824ULL);
  CHECK(limit->source == "memory.max of cgroup /system.slice");

  put(root / "memory.max", "536870912\n");  // the namespace's root (a container's limit)
  limit = cgroupMemoryLimit(self, root);
  REQUIRE(limit);
  CHECK(limit->bytes == 536870912ULL);
  CHECK(limit->source == "memory.max of cgroup /");
}

TEST_CASE("cgroup v2: no limit anywhere, or nothing readable, is no limit") {
  provaudit::testing::TempDir dir("pa-cgroup");
  const fs::path root = dir.path("fs");
  put(root / "a/b/memory.max", "max\n");
  put(root / "a/memory.max", "max\n");
  CHECK_FALSE(cgroupMemoryLimit("0::/a/b\n", root));
  CHECK_FALSE(cgroupMemoryLimit("0::/not/there\n", root));
  CHECK_FALSE(cgroupMemoryLimit("", root));
  // Malformed values and lines are skipped, not read as numbers.
  put(root / "a/b/memory.max", "12abc\n");
  put(root / "a/memory.max", "-5\n");
  CHECK_FALSE(cgroupMemoryLimit("0::/a/b\n", root));
  CHECK_FALSE(cgroupMemoryLimit("garbage\n0:/a/b\n::\n", root));
  // Outside this cgroup namespace: "/.." is no path under the mount (and never its parent's files).
  put(root / "memory.max", "1024\n");
  put(dir.path("memory.max"), "2048\n");
  CHECK_FALSE(cgroupMemoryLimit("0::/../..\n", root / "a"));
  CHECK_FALSE(cgroupMemoryLimit("0::/..\n", root / "a"));
  fs::remove(root / "memory.max");
  // A trailing slash names the same cgroup.
  put(root / "a/b/memory.max", "4096\n");
  const auto limit = cgroupMemoryLimit("0::/a/b/\n", root);
  REQUIRE(limit);
  CHECK(limit->bytes == 4096);
  CHECK(limit->source == "memory.max of cgroup /a/b");
}

TEST_CASE("cgroup v1: memory.limit_in_bytes of the memory controller's hierarchy; unlimited is no limit") {
  provaudit::testing::TempDir dir("pa-cgroup");
  const fs::path root = dir.path("fs");
  put(root / "memory/memory.limit_in_bytes", V1_UNLIMITED);
  put(root / "memory/docker/memory.limit_in_bytes", V1_UNLIMITED);
  put(root / "memory/docker/abc/memory.limit_in_bytes", V1_UNLIMITED);
  // The cpu hierarchy's files are not memory limits, even with the same name.
  put(root / "cpu,cpuacct/docker/abc/memory.limit_in_bytes", "1024\n");
  const std::string self =
      "12:pids:/docker/abc\n5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n";
  CHECK_FALSE(cgroupMemoryLimit(self, root));

  put(root / "memory/docker/abc/memory.limit_in_bytes", "3221225472\n");
  auto limit = cgroupMemoryLimit(self, root);
  REQUIRE(limit);
  CHECK(limit->bytes == 3221225472ULL);
  CHECK(limit->source == "memory.limit_in_bytes of cgroup /docker/abc");

  // A controller list that names memory among others.
  const auto co_mounted = cgroupMemoryLimit("4:cpu,memory:/docker/abc\n", root);
  REQUIRE(co_mounted);
  CHECK(co_mounted->bytes == 3221225472ULL);
  // "memoryx" is not "memory".
  CHECK_FALSE(cgroupMemoryLimit("4:memoryx:/docker/abc\n", root));
}

TEST_CASE("hybrid layout: v2 under unified, v1 memory beside it; the tightest wins") {
  provaudit::testing::TempDir dir("pa-cgroup");
  const fs::path root = dir.path("fs");
  put(root / "unified/user.slice/memory.max", "8589934592\n");
  put(root / "memory/user.slice/memory.limit_in_bytes", "4294967296\n");
  const std::string self = "4:memory:/user.slice\n0::/user.slice\n";
  auto limit = cgroupMemoryLimit(self, root);
  REQUIRE(limit);
  CHECK(limit->bytes == 4294967296ULL);
  CHECK(limit->source == "memory.limit_in_bytes of cgroup /user.slice");

  put(root / "unified/user.slice/memory.max", "1073741824\n");
  limit = cgroupMemoryLimit(self, root);
  REQUIRE(limit);
  CHECK(limit->bytes == 1073741824ULL);
  CHECK(limit->source == "memory.max of cgroup /user.slice");
}

TEST_CASE("this process's limit is known and no larger than physical memory") {
  const auto limit = provaudit::processMemoryLimit();
  CHECK(limit.bytes > 0);
  CHECK_FALSE(limit.source.empty());
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  CHECK(limit.bytes <= static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page));
  CHECK(provaudit::gigabytes(2147483648ULL) == "2.1 GB");
  CHECK(provaudit::gigabytes(0) == "0.0 GB");
  CHECK(provaudit::byteSize(163840) == "163.8 kB");
  CHECK(provaudit::byteSize(999'999) == "1000.0 kB");
  CHECK(provaudit::byteSize(1'228'800'000) == "1.2 GB");
  CHECK(provaudit::byteSize(52'000'000) == "52.0 MB");
}
