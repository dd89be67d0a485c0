#pragma once
// Transparent huge pages for a replay's heap. A replay allocates a few hundred
// MB in small pieces, and the first touch of every 4 KiB page is a fault (about
// 8 us on the benchmark guest: 50k faults, a fifth of the 1 GB corpus's CPU
// time). glibc's malloc can ask the kernel for 2 MiB pages instead
// (glibc.malloc.hugetlb=1: madvise(MADV_HUGEPAGE) on what it maps), but it
// reads its tunables from the environment once, when the process starts.
// So `provaudit replay` starts itself again with the tunable added: 1 GB
// corpus 2.9 -> 2.4 s, faults 50k -> 18k, peak RSS +5 MB (bench/RESULTS.md,
// session 7).
#include <string>

namespace provaudit::app {

// The tunable added to GLIBC_TUNABLES.
inline constexpr const char* HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1";

// Execs this program again (same arguments, descriptors and environment, plus
// HUGE_PAGE_TUNABLE) and does not return, unless: GLIBC_TUNABLES already
// names glibc.malloc.hugetlb (set by the user, 0 opts out, or by the restart
// itself), the kernel's transparent huge pages are off, the heap is a
// sanitizer's, the process runs under valgrind (it would not follow the exec)
// or in secure-execution mode (set-user-ID or file capabilities: glibc
// ignores the variable there), or the exec fails. Call before any thread
// starts or input is read.
void restartWithHugePageHeap(char** argv);

// The restart execs /proc/self/exe, so the kernel names the new process
// "exe" (ps, top, pgrep and pkill would not find "provaudit"). Gives it back
// the name it was started with (the last component of argv[0], as the
// kernel's first naming did). Call right after restartWithHugePageHeap.
void restoreProcessName(const char* argv0);

// One line for -vv: what the heap's pages are, and why.
std::string heapPagesDescription();

}  // namespace provaudit::app
