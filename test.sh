#!/usr/bin/env bash
# The whole test suite: installs what is missing (Debian 12, as root), builds
# with warnings as errors and runs every test through CTest (fuzz corpora
# included); then every libFuzzer target for a short, fixed number of inputs
# (clang-14, fuzz/run --ci); then the suite again in an ASan+UBSan build.
# Longer fuzzing is `fuzz/run SECONDS`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh --test
tests/browser/install.sh
BUILD=${PROVAUDIT_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROVAUDIT_WERROR=ON >/dev/null
cmake --build "$BUILD" -j2
ctest --test-dir "$BUILD" --output-on-failure -j2
echo "== libFuzzer targets, fixed number of inputs each (fuzz/run --ci)"
fuzz/run --ci
echo "== the suite again under AddressSanitizer + UndefinedBehaviorSanitizer"
tests/robust/asan.sh
