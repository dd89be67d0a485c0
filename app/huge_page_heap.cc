#include "app/huge_page_heap.h"

#include <sys/auxv.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string_view>

#ifdef PROVAUDIT_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc's built-in options (MALLOC_CONF in the environment comes after
// them, and wins): transparent huge pages for the heap and jemalloc's own
// metadata, where the kernel offers them (huge_page_heap.h); and no separate
// arena for allocations over 8 MiB (oversize_threshold:0). That arena gives
// its memory back as soon as it is freed, so every large buffer was fresh
// memory: each step of the growing evidence vectors (11 MB of handshakes on
// the 1 GB corpus), each audit's device list (880 bytes a device, 21 MB);
// and fresh memory is what costs on a virtual machine (bench/RESULTS.md,
// session 13). In the thread's own arena a freed buffer is reused, within
// the decay time, like any other (session 17: page faults 4.9k -> 2.8k, the
// replay 5 % faster, the same peak RSS).
const char* malloc_conf = "thp:always,metadata_thp:always,oversize_threshold:0";
#endif

namespace provaudit::app {
namespace {

constexpr std::string_view TUNABLE_NAME = "glibc.malloc.hugetlb";
constexpr const char* THP_MODE_FILE = "/sys/kernel/mm/transparent_hugepage/enabled";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// The kernel's mode, the bracketed word of "always [madvise] never"; "" when unknown.
std::string thpMode() {
  std::ifstream in(THP_MODE_FILE);
  std::string line;
  std::getline(in, line);
  const std::size_t open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return line.substr(open + 1, close - open - 1);
}

constexpr bool sanitizerHeap() {
#if defined(__SANITIZE_ADDRESS__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

bool underValgrind() { return env("LD_PRELOAD").find("vgpreload") != std::string::npos; }

// Set-user-ID or file capabilities: glibc then erases GLIBC_TUNABLES.
bool secureExecution() { return ::getauxval(AT_SECURE) != 0; }

}  // namespace

void restartWithHugePageHeap(char** argv) {
#ifdef PROVAUDIT_JEMALLOC
  (void)argv;  // jemalloc reads its options in this process
  return;
#endif
  const std::string tunables = env("GLIBC_TUNABLES");
  if (tunables.find(TUNABLE_NAME) != std::string::npos) return;
  const std::string mode = thpMode();
  if (mode != "always" && mode != "madvise") return;
  if (sanitizerHeap() || underValgrind() || secureExecution()) return;
  const std::string value = tunables.empty() ? HUGE_PAGE_TUNABLE : tunables + ":" + HUGE_PAGE_TUNABLE;
  if (::setenv("GLIBC_TUNABLES", value.c_str(), 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // No /proc (or no exec): go on as we are, without the tunable claimed.
  if (tunables.empty()) ::unsetenv("GLIBC_TUNABLES");
  else ::setenv("GLIBC_TUNABLES", tunables.c_str(), 1);
}

void restoreProcessName(const char* argv0) {
  // The kernel's name for an exec through /proc/self/exe.
  constexpr std::string_view RESTARTED_NAME = "exe";
  constexpr std::size_t NAME_BYTES = 16;  // TASK_COMM_LEN, with the terminating NUL
  if (argv0 == nullptr) return;
  char current[NAME_BYTES] = {};
  if (::prctl(PR_GET_NAME, current) != 0 || std::string_view(current) != RESTARTED_NAME) return;
  std::string_view name(argv0);
  if (const std::size_t slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  if (name.empty() || name == RESTARTED_NAME) return;
  const std::string truncated(name.substr(0, NAME_BYTES - 1));
  ::prctl(PR_SET_NAME, truncated.c_str());
}

std::string heapPagesDescription() {
  if (sanitizerHeap()) return "heap: the address sanitizer's allocator";
#ifdef PROVAUDIT_JEMALLOC
  // What jemalloc made of its options (built in, then MALLOC_CONF).
  const char* thp = nullptr;
  std::size_t thp_len = sizeof thp;
  if (::mallctl("opt.thp", static_cast<void*>(&thp), &thp_len, nullptr, 0) != 0 || thp == nullptr) {
    return "heap: jemalloc (its options unknown)";
  }
  const std::string jemalloc_mode = thp, kernel_mode = thpMode();
  if (jemalloc_mode != "always") return "heap: jemalloc, thp:" + jemalloc_mode + " (MALLOC_CONF)";
  if (kernel_mode == "always" || kernel_mode == "madvise") return "heap: jemalloc, transparent huge pages (thp:always)";
  return "heap: jemalloc, base pages (the kernel's transparent huge pages are " +
         (kernel_mode.empty() ? std::string("unknown") : kernel_mode) + ")";
#endif
  if (secureExecution()) return "heap: base pages (secure execution: glibc ignores GLIBC_TUNABLES)";
  const std::string tunables = env("GLIBC_TUNABLES");
  const std::string mode = thpMode();
  if (tunables.find(HUGE_PAGE_TUNABLE) != std::string::npos) {
    if (mode == "always" || mode == "madvise") return "heap: transparent huge pages (" + std::string(HUGE_PAGE_TUNABLE) + ")";
    return "heap: base pages (" + std::string(HUGE_PAGE_TUNABLE) + ", but the kernel's transparent huge pages are " +
           (mode.empty() ? "unknown" : mode) + ")";
  }
  if (tunables.find(TUNABLE_NAME) != std::string::npos) return "heap: as GLIBC_TUNABLES says (" + tunables + ")";
  if (underValgrind()) return "heap: base pages (under valgrind)";
  return "heap: base pages (the kernel's transparent huge pages are " + (mode.empty() ? std::string("unknown") : mode) +
         ")";
}

}  // namespace provaudit::app
