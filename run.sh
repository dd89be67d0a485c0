#!/usr/bin/env bash
# The main job: installs what is missing (Debian 12, as root), builds, replays
# the bundled sample captures into provaudit.db, prints the device report and
# serves the audit dashboard on http://127.0.0.1:8080/ (Ctrl-C stops).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target provaudit
DB=${PROVAUDIT_DB:-provaudit.db}
LISTEN=${PROVAUDIT_LISTEN:-127.0.0.1:8080}
rm -f "$DB" "$DB-wal" "$DB-shm"
build/app/provaudit replay --db "$DB" samples/*.pcap
build/app/provaudit report --db "$DB" --format csv
echo
echo "JSON report: build/app/provaudit report --db $DB --format json   (or --format html)"
exec build/app/provaudit serve --db "$DB" --listen "$LISTEN"
