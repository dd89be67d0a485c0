#!/usr/bin/env bash
# The test suite again in an ASan+UBSan build (issue 8, "Sanitizers in CI"):
# configures build-asan with -DPROVAUDIT_SANITIZE=ON (g++, warnings as errors),
# builds everything, and runs the unit, end-to-end, robustness tests and the
# fuzz corpus replays (fuzz_replay_*) through CTest. Browser, live-capture and
# benchmark tests are skipped here: they test the environment more than the
# code, and the plain build runs them.
#
# Usage: tests/robust/asan.sh [extra ctest args]
# Environment: PROVAUDIT_ASAN_BUILD_DIR (default build-asan), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${PROVAUDIT_ASAN_BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVAUDIT_WERROR=ON -DPROVAUDIT_SANITIZE=ON >/dev/null
cmake --build "$BUILD" -j"$JOBS"
# Any report fails the test: ASan aborts, UBSan halts (-fno-sanitize-recover=undefined).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$BUILD" --output-on-failure -j"$JOBS" \
  -E '^(browser|live|capture_live|bench)[:_ ]' -LE '^(browser|live|bench)$' "$@"
