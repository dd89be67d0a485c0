#pragma once
// How much memory this process may use: the smallest of its cgroup's limit
// and the machine's physical memory. The cgroup limit is what systemd's
// MemoryMax= (packaging/provaudit.service: 2G) and container runtimes set:
// cgroup v2's memory.max, or v1's memory.limit_in_bytes, of the process's
// cgroup and of every cgroup above it (a parent's limit binds its children).
// Past it the kernel kills the process, so a run whose configured limits may
// need more says so when it starts (app: --max-sightings).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace provaudit {

struct MemoryLimit {
  std::uint64_t bytes = 0;  // 0: unknown
  std::string source;       // "memory.max of cgroup /system.slice/provaudit.service", "physical memory"
};

// The tightest cgroup memory limit, from the text of /proc/self/cgroup and
// the root where the cgroup file systems are mounted (/sys/fs/cgroup):
// v2 ("0::/path") under ROOT or ROOT/unified (hybrid layouts), v1 (a line
// whose controllers include "memory") under ROOT/memory. Values at or above
// 2^62 (v1's "unlimited") and "max" are no limit; unreadable files are skipped.
std::optional<MemoryLimit> cgroupMemoryLimit(std::string_view proc_self_cgroup, const std::filesystem::path& root);

// The smaller of this process's cgroup limit and physical memory.
MemoryLimit processMemoryLimit();

// "2.3 GB" (decimal, one decimal place): for messages.
std::string gigabytes(std::uint64_t bytes);
// The same in kB, MB or GB, whichever reads best ("163.8 kB", "1.2 GB").
std::string byteSize(std::uint64_t bytes);

}  // namespace provaudit
