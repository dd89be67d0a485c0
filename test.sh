#!/usr/bin/env bash
# The whole test suite: installs what is missing (Debian 12, as root), builds
# with warnings as errors and runs every test through CTest (fuzz corpora
# included); then the suite again in an ASan+UBSan build. Longer fuzzing with
# libFuzzer (clang-14) is fuzz/run's job.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh --test
tests/browser/install.sh
BUILD=${PROVAUDIT_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVAUDIT_WERROR=ON >/dev/null
cmake --build "$BUILD" -j2
ctest --test-dir "$BUILD" --output-on-failure -j2
echo "== the suite again under AddressSanitizer + UndefinedBehaviorSanitizer"
tests/robust/asan.sh
