#include "common/memory_limit.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace provaudit {
namespace {

// At or above this a limit means "none" (cgroup v1 reports PAGE_COUNTER_MAX
// pages as 9223372036854771712 bytes).
constexpr std::uint64_t NO_LIMIT_FROM = std::uint64_t{1} << 62;

// The first line of `file`, or nothing when it cannot be read.
std::optional<std::string> firstLine(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// A limit file's value: bytes, or nothing for "max", no limit, or a value
// that is not a number.
std::optional<std::uint64_t> limitValue(const std::filesystem::path& file) {
  const auto line = firstLine(file);
  if (!line) return std::nullopt;
  std::uint64_t v = 0;
  const char* end = line->data() + line->size();
  const auto [p, ec] = std::from_chars(line->data(), end, v);
  if (ec != std::errc() || p != end || v >= NO_LIMIT_FROM) return std::nullopt;
  return v;
}

// A cgroup and each one above it: its directory under `base` and its name.
struct Level {
  std::filesystem::path dir;
  std::string name;
};

// "/a/b" under BASE gives BASE/a/b, BASE/a and BASE ("/a/b", "/a", "/").
std::vector<Level> selfAndAncestors(const std::filesystem::path& base, std::string_view path) {
  std::vector<Level> out;
  std::string p(path);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  for (;;) {
    const bool top = p.empty() || p == "/";
    out.push_back({top ? base : base / std::filesystem::path(p).relative_path(), top ? "/" : p});
    if (top) break;
    p.resize(p.rfind('/'));
  }
  return out;
}

void tighten(std::optional<MemoryLimit>& best, const std::vector<Level>& levels, const char* file) {
  for (const auto& level : levels) {
    const auto v = limitValue(level.dir / file);
    if (!v || (best && best->bytes <= *v)) continue;
    best = MemoryLimit{*v, fmt::format("{} of cgroup {}", file, level.name)};
  }
}

}  // namespace

std::optional<MemoryLimit> cgroupMemoryLimit(std::string_view proc_self_cgroup, const std::filesystem::path& root) {
  std::optional<MemoryLimit> best;
  std::istringstream lines{std::string(proc_self_cgroup)};
  std::string line;
  while (std::getline(lines, line)) {
    // hierarchy-ID:controller-list:cgroup-path (the path may hold colons)
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string::npos ? std::string::npos : line.find(':', c1 + 1);
    if (c2 == std::string::npos) continue;
    const std::string_view id = std::string_view(line).substr(0, c1);
    const std::string_view controllers = std::string_view(line).substr(c1 + 1, c2 - c1 - 1);
    const std::string path = line.substr(c2 + 1);
    // A cgroup outside this process's cgroup namespace shows as "/../..":
    // nothing under the mount names it.
    if (path.empty() || path.front() != '/' || (path + '/').find("/../") != std::string::npos) continue;
    if (id == "0" && controllers.empty()) {
      for (const auto& base : {root, root / "unified"}) tighten(best, selfAndAncestors(base, path), "memory.max");
      continue;
    }
    bool memory = false;
    for (std::size_t from = 0; from <= controllers.size();) {
      const auto comma = controllers.find(',', from);
      const auto to = comma == std::string_view::npos ? controllers.size() : comma;
      if (controllers.substr(from, to - from) == "memory") memory = true;
      from = to + 1;
    }
    if (memory) tighten(best, selfAndAncestors(root / "memory", path), "memory.limit_in_bytes");
  }
  return best;
}

MemoryLimit processMemoryLimit() {
  MemoryLimit out;
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    out = {static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size), "physical memory"};
  }
  std::ifstream in("/proc/self/cgroup");
  std::stringstream text;
  text << in.rdbuf();
  if (const auto cg = cgroupMemoryLimit(text.str(), "/sys/fs/cgroup"); cg && (out.bytes == 0 || cg->bytes < out.bytes)) {
    out = *cg;
  }
  return out;
}

std::string gigabytes(std::uint64_t bytes) { return fmt::format("{:.1f} GB", static_cast<double>(bytes) / 1e9); }

std::string byteSize(std::uint64_t bytes) {
  const auto b = static_cast<double>(bytes);
  if (b >= 1e9) return gigabytes(bytes);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  return fmt::format("{:.1f} kB", b / 1e3);
}

}  // namespace provaudit
