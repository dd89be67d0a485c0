#!/usr/bin/env bash
# The main job: installs what is missing (Debian 12, as root), builds, replays
# the bundled sample captures into provaudit.db and shows the device report.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target provaudit
DB=${PROVAUDIT_DB:-provaudit.db}
rm -f "$DB" "$DB-wal" "$DB-shm"
build/app/provaudit replay --db "$DB" samples/*.pcap
build/app/provaudit report --db "$DB" --format csv
echo
echo "JSON report: build/app/provaudit report --db $DB --format json"
if build/app/provaudit serve --help >/dev/null 2>&1 && ! build/app/provaudit serve --db "$DB" 2>/dev/null; then
  echo "(the dashboard is not part of this build yet)"
fi
