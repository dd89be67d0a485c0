#pragma once
// Transparent huge pages for a replay's heap. A replay allocates a few hundred
// MB in small pieces, and the first touch of every 4 KiB page is a fault (13 us
// on the benchmark guest: 3.3 ms a MiB of fresh memory, against 0.07 ms in
// 2 MiB pages; bench/RESULTS.md, session 10).
//
// The provaudit binary is linked with jemalloc (PROVAUDIT_JEMALLOC), built in
// with thp:always: every arena's memory is advised for huge pages, each
// thread allocates from an arena and a cache of its own, and nothing needs
// starting again. glibc's malloc, the fallback, covered only its main arena:
// the other threads' heaps grow a page at a time (mprotect) and so stayed in
// 4 KiB pages (the writer's took 16k faults on the 1 GB corpus); jemalloc
// made the replay 7 % faster and its faults 20k -> 5.5k, peak RSS +28 MB.
// MALLOC_CONF in the environment still overrides the built-in options.
//
// Without jemalloc: glibc's malloc asks for 2 MiB pages where
// glibc.malloc.hugetlb=1 (madvise(MADV_HUGEPAGE) on what it maps), a tunable
// it reads from the environment once, when the process starts. So `provaudit
// replay` starts itself again with the tunable added: 1 GB corpus 2.9 -> 2.4 s,
// faults 50k -> 18k, peak RSS +5 MB (bench/RESULTS.md, session 7).
#include <string>

namespace provaudit::app {

// The tunable added to GLIBC_TUNABLES.
inline constexpr const char* HUGE_PAGE_TUNABLE = "glibc.malloc.hugetlb=1";

// Without jemalloc: execs this program again (same arguments, descriptors
// and environment, plus HUGE_PAGE_TUNABLE) and does not return, unless:
// the binary has jemalloc, GLIBC_TUNABLES already
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
